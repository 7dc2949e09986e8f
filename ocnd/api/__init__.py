"""The node's HTTP API: one Klein app, one class per OCPI module group."""

from __future__ import annotations

from klein import Klein

from .common import Responder, install_error_handlers


def build_app(responder: Responder, groups) -> Klein:
    """A Klein app with every group's routes and the OCPI error mapping."""
    app = Klein()
    install_error_handlers(app, responder)
    for group in groups:
        group.install(app)
    return app
