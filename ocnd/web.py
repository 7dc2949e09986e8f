"""HTTP server plumbing: a Site with request-size limits and no tracebacks."""

from __future__ import annotations

from typing import Any

from twisted.logger import Logger
from twisted.web import server

from . import ocpi


class LimitedRequest(server.Request):
    """A Request that refuses bodies over ``max_body`` bytes with OCPI 413.

    The check happens as soon as Content-Length is known (and while a chunked
    body streams in), so an oversize body is never buffered.
    """

    max_body = 1 << 20
    clock: Any = None
    _rejected = False
    _received = 0

    def gotLength(self, length: int | None) -> None:
        if length is not None and length > self.max_body:
            self._reject()
            return
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self._rejected:
            return
        self._received += len(data)
        if self._received > self.max_body:
            self._reject()
            return
        super().handleContentChunk(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        if self._rejected:
            return
        super().requestReceived(command, path, version)

    def _reject(self) -> None:
        self._rejected = True
        now = self.clock.seconds() if self.clock is not None else 0.0
        body = ocpi.dumps(ocpi.envelope(
            ocpi.INVALID_PARAMS, now,
            message=f"Request body too large (limit {self.max_body} bytes)"))
        raw = (b"HTTP/1.1 413 Request Entity Too Large\r\n"
               b"Content-Type: application/json\r\n"
               b"Connection: close\r\n"
               b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        transport = self.channel.transport if self.channel else None
        if transport is not None:
            transport.write(raw)
            self.channel.loseConnection()


class OcndSite(server.Site):
    """Site that never shows tracebacks and can switch its access log off."""

    log = Logger()

    def __init__(self, resource, *, max_body: int, clock, idle_timeout: float = 60.0,
                 access_log: bool = False) -> None:
        limit, clk = max_body, clock

        class _Request(LimitedRequest):
            max_body = limit
            clock = clk

        super().__init__(resource, requestFactory=_Request, timeout=idle_timeout)
        self.displayTracebacks = False
        self._access_log = access_log

    def log(self, request) -> None:  # type: ignore[override]
        if self._access_log:
            # path without query string: query parameters may carry tokens
            path = request.path.decode("latin-1", "replace")
            OcndSite._logger.info(
                "{method} {path} {code} {length}",
                method=request.method.decode("latin-1", "replace"), path=path,
                code=request.code, length=request.sentLength)

    _logger = Logger(namespace="ocnd.access")
