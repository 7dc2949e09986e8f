"""The node's HTTP API: one Klein app, one class per OCPI module group."""

from __future__ import annotations

from .common import Responder, error_mapper
from .resource import App


def build_app(responder: Responder, groups) -> App:
    """The node's app with every group's routes and the OCPI error mapping."""
    app = App(error_mapper(responder))
    for group in groups:
        group.install(app)
    return app
