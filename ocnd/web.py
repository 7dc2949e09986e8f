"""HTTP server plumbing: a Site with request-size limits and no tracebacks.

Hostile clients are bounded by: the body limit (413 before buffering), the
idle timeout (``[limits] idle_timeout``, reset by every received byte), an
absolute header deadline (``[limits] header_timeout``: request line and all
headers must arrive within it, however slowly the bytes trickle in, so a
slow-loris client cannot hold a connection by sending one byte per idle
period), an absolute body deadline (``[limits] body_timeout``), Twisted's
header count/size caps, and the auth-failure limiter (HTTP 429, see
:mod:`ocnd.security`).
"""

from __future__ import annotations

import math
import re
from typing import Any

from twisted.logger import Logger
from twisted.web import http, server

from . import ocpi
from .security import client_ip


class LimitedRequest(server.Request):
    """A Request that refuses bodies over ``max_body`` bytes with OCPI 413.

    The check happens as soon as Content-Length is known (and while a chunked
    body streams in), so an oversize body is never buffered.
    """

    max_body = 1 << 20
    clock: Any = None
    limiter: Any = None          # ocnd.security.AuthLimiter or None
    trusted_proxies: tuple = ()
    _rejected = False
    _received = 0
    _counted = False

    def __init__(self, channel, *args, **kwargs) -> None:
        # OCPI bodies are JSON: no HTML-form parsing of POST bodies, which also runs every POST's
        # Content-Type through the email package (~1-3% of a routed message's CPU).  Twisted sets this
        # per instance in Request.__init__, so a class attribute would be overwritten.
        kwargs["parsePOSTFormSubmission"] = False
        super().__init__(channel, *args, **kwargs)

    # -- auth-failure limiting ----------------------------------------------------

    def process(self) -> None:
        limiter = self.limiter
        if limiter is not None and self.requestHeaders.hasHeader(b"authorization"):
            wait = limiter.retry_after(client_ip(self, self.trusted_proxies))
            if wait > 0:
                now = self.clock.seconds() if self.clock is not None else 0.0
                self._counted = True  # our own refusal is not another failure
                self.site = self.channel.site
                self.setResponseCode(429)
                self.setHeader(b"Content-Type", b"application/json")
                self.setHeader(b"Retry-After", str(max(1, math.ceil(wait))).encode())
                self.write(ocpi.dumps(ocpi.envelope(
                    ocpi.CLIENT_ERROR, now,
                    message="Too many failed authentication attempts from this address; "
                            f"retry in {max(1, math.ceil(wait))} s")))
                self.finish()
                return
        super().process()

    def finish(self):
        if self.code == 401 and self.limiter is not None and not self._counted:
            self._counted = True
            self.limiter.failure(client_ip(self, self.trusted_proxies))
        return super().finish()

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


class DeadlineChannel(http.HTTPChannel):
    """HTTP/1.1 channel with absolute deadlines for reading a request.

    The idle timeout of ``HTTPChannel`` restarts with every byte; these do not:
    the clock starts with the first byte of a request, the headers must be
    complete ``header_timeout`` seconds later and the body ``body_timeout``
    seconds after the headers, or the connection is aborted.
    """

    header_timeout: float | None = 10.0
    body_timeout: float | None = 60.0
    _deadline = None
    _reading = False
    _dlog = Logger(namespace="ocnd.web")

    def _arm(self, seconds: float | None, what: str) -> None:
        self._disarm()
        if seconds:
            self._deadline = self.callLater(seconds, self._expired, what, seconds)

    def _disarm(self) -> None:
        if self._deadline is not None:
            if self._deadline.active():
                self._deadline.cancel()
            self._deadline = None

    def _expired(self, what: str, seconds: float) -> None:
        self._deadline = None
        self._dlog.info("dropping slow client {peer}: {what} not complete within {seconds:g}s",
                        peer=str(self.transport.getPeer()), what=what, seconds=seconds)
        self.transport.abortConnection()

    def dataReceived(self, data):
        if data and not self._reading and not self._handlingRequest:
            self._reading = True
            self._arm(self.header_timeout, "request headers")
        return super().dataReceived(data)

    def allHeadersReceived(self):
        super().allHeadersReceived()
        if self._reading:
            self._arm(self.body_timeout, "request body")

    def allContentReceived(self):
        self._disarm()
        self._reading = False
        super().allContentReceived()

    def connectionLost(self, reason):
        self._disarm()
        super().connectionLost(reason)


class TrackingSite(server.Site):
    """A Site that knows its open connections, so they can be closed on shutdown (or, in tests,
    to take a server down the way a crash would)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.connections: set = set()

    def buildProtocol(self, addr):
        proto = super().buildProtocol(addr)
        if proto is None:
            return None
        connections = self.connections
        original = proto.connectionLost

        def lost(reason, _orig=original):
            connections.discard(proto)
            # drop the wrapper: it refers to proto, which refers to it (a reference cycle per connection)
            proto.__dict__.pop("connectionLost", None)
            return _orig(reason)

        proto.connectionLost = lost
        connections.add(proto)
        return proto

    def drop_connections(self, abort: bool = False) -> None:
        """Close every open connection (``abort``: reset it without flushing)."""
        for proto in list(self.connections):
            transport = getattr(proto, "transport", None) or getattr(getattr(proto, "_channel", None),
                                                                     "transport", None)
            if transport is not None:
                transport.abortConnection() if abort else transport.loseConnection()

    @property
    def open(self) -> set:
        return self.connections


class OcndSite(TrackingSite):
    """Site that never shows tracebacks and can switch its access log off."""

    log = Logger()

    def __init__(self, resource, *, max_body: int, clock, idle_timeout: float = 60.0,
                 access_log: bool = False, header_timeout: float | None = 10.0,
                 body_timeout: float | None = 60.0, limiter=None, trusted_proxies: tuple = ()) -> None:
        limit, clk, lim, proxies = max_body, clock, limiter, tuple(trusted_proxies)

        class _Request(LimitedRequest):
            max_body = limit
            clock = clk
            limiter = lim
            trusted_proxies = proxies

        class _Channel(DeadlineChannel):
            pass

        _Channel.header_timeout = header_timeout
        _Channel.body_timeout = body_timeout
        self.protocol = _Channel
        super().__init__(resource, requestFactory=_Request, timeout=idle_timeout)
        self.displayTracebacks = False
        self._access_log = access_log

    def log(self, request) -> None:  # type: ignore[override]
        if request.code == 500:  # 503 from /health is a deliberate answer, not an error
            OcndSite._logger.error("HTTP {code} answered to {method} {path}", code=request.code,
                                   method=request.method.decode("latin-1", "replace"),
                                   path=request.path.decode("latin-1", "replace"), http_5xx=True)
        if self._access_log:
            # path without query string: query parameters may carry tokens
            path = request.path.decode("latin-1", "replace")
            OcndSite._logger.info(
                "{method} {path} {code} {length}",
                method=request.method.decode("latin-1", "replace"), path=path,
                code=request.code, length=request.sentLength)

    _logger = Logger(namespace="ocnd.access")


_BACKLOG_TYPES = ("tcp", "tcp6", "ssl", "unix")


def with_backlog(listen: str, backlog: int) -> str:
    """``listen`` (a Twisted server endpoint string) with ``backlog=`` added where the endpoint type takes
    one and the string sets none; anything else (``systemd:``: the socket unit's Backlog=) unchanged."""
    kind = listen.split(":", 1)[0].strip().lower()
    if kind not in _BACKLOG_TYPES or re.search(r"(?:^|(?<!\\):)backlog=", listen):
        return listen
    return f"{listen}:backlog={backlog}"
