"""Shared helpers for the Klein API classes: JSON I/O, auth, errors."""

from __future__ import annotations

import json
from typing import Any

from twisted.logger import Logger
from werkzeug.exceptions import HTTPException

from .. import ocpi
from ..ocpi import OcpiError
from ..store import StoreError

log = Logger(namespace="ocnd.api")


def send_json(request, obj: Any, code: int = 200) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"Content-Type", b"application/json")
    return ocpi.dumps(obj)


def send_text(request, text: str, code: int = 200) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
    return text.encode("utf-8")


class Responder:
    """Builds OCPI envelopes with the node's clock."""

    def __init__(self, clock) -> None:
        self.clock = clock

    def ok(self, request, data: Any = None, message: str | None = None, code: int = 200) -> bytes:
        return send_json(request, ocpi.envelope(ocpi.SUCCESS, self.clock.seconds(), data, message), code)

    def error(self, request, err: OcpiError) -> bytes:
        return send_json(request, ocpi.envelope(err.status_code, self.clock.seconds(), None, err.message),
                         err.http_status)


def header(request, name: str) -> str | None:
    value = request.getHeader(name)
    return value if value is None else str(value)


def read_json(request, *, required: bool = True) -> Any:
    """Parse the request body as JSON or raise OCPI 2001."""
    raw = request.content.read() if request.content is not None else b""
    if not raw.strip():
        if required:
            raise OcpiError(ocpi.INVALID_PARAMS, "Request body is missing", 400)
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise OcpiError(ocpi.INVALID_PARAMS, f"Malformed JSON body: {e}", 400) from None


def error_mapper(responder: Responder):
    """``on_error`` for :class:`ocnd.api.resource.AppResource`: every failure becomes an OCPI envelope,
    never a traceback."""

    def on_error(request, failure) -> bytes:
        exc = failure.value
        if isinstance(exc, OcpiError):
            return responder.error(request, exc)
        if isinstance(exc, StoreError):
            log.error("store error on {method} {path}: {error}", method=request.method.decode("latin-1", "replace"),
                      path=request.path.decode("latin-1", "replace"), error=str(exc))
            return responder.error(request, OcpiError(ocpi.SERVER_ERROR, f"Storage unavailable: {exc}", 503))
        if isinstance(exc, HTTPException):
            code = exc.code or 500
            status = ocpi.CLIENT_ERROR if code < 500 else ocpi.SERVER_ERROR
            message = {404: "Not found", 405: "Method not allowed"}.get(code, exc.name)
            if code == 405 and exc.valid_methods:
                request.setHeader(b"Allow", ", ".join(sorted(exc.valid_methods)).encode("ascii"))
            return responder.error(request, OcpiError(status, message, code))
        log.failure("unhandled error on {method} {path}", failure,
                    method=request.method.decode("latin-1", "replace"),
                    path=request.path.decode("latin-1", "replace"))
        return responder.error(request, OcpiError(ocpi.SERVER_ERROR, "Internal server error", 500))

    return on_error
