"""Serving the node's Klein app without per-request reference cycles.

``KleinResource.render`` keeps its per-request state in closures, one of
which refers to itself; so every request it serves (the Request, its
headers, body buffer, Klein adapter and URL adapter) ends up in a reference
cycle that only Python's cyclic garbage collector can free.  At a few hundred
routed messages per second that made each young-generation collection free
tens of thousands of objects at once: 12-20 ms pauses stalling every request
in flight, which was the node's p99 latency at 10 concurrent requests.

``AppResource`` dispatches to the same routes (``Klein.route`` is still how
the API classes declare them) with module-level state only, so a finished
request is freed by reference counting the moment it is done.  It also does
less per request: no Klein request adapter, one ``notifyFinish`` (only for
handlers still running), failures mapped by one function (``on_error``)
instead of a chain of error-handler Deferreds.

What Klein features the node does not use (branch routes, returning
resources, renderables or ``klein.Response`` objects) are not supported:
returning one is a programming error answered by ``on_error`` as such.
"""

from __future__ import annotations

from typing import Any, Callable

from klein import Klein
from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import resource, server
from werkzeug.exceptions import BadRequest

log = Logger(namespace="ocnd.api")

#: ``on_error(request, failure) -> bytes``: set the status and headers, return the body
ErrorMapper = Callable[[Any, Failure], bytes]


class AppResource(resource.Resource):
    """A leaf resource answering every path with the routes of ``app``."""

    isLeaf = True

    def __init__(self, app: Klein, on_error: ErrorMapper) -> None:
        super().__init__()
        self._app = app
        self._map = app.url_map
        self._on_error = on_error
        # routes without variables (/ocn/message, /health, ...) looked up directly: werkzeug's matcher
        # costs more and leaves a reference cycle per call (a closure that recurses through itself);
        # anything else, including near misses such as a trailing slash, goes through werkzeug as before.
        # Routes are read here, so they must be declared before the resource is made.
        self._static: dict[tuple[str, str], Any] = {}
        if not self._map.host_matching:
            for rule in self._map.iter_rules():
                if not rule.arguments and rule.methods and not rule.subdomain and not rule.websocket:
                    for method in rule.methods:
                        self._static.setdefault((rule.rule, method), rule)

    def render(self, request) -> int:
        try:
            rule, kwargs = self._match(request)
            d = defer.maybeDeferred(self._app.execute_endpoint, rule.endpoint, request, **kwargs)
        except Exception:  # noqa: BLE001 - werkzeug's 404/405, undecodable URLs
            self._failed(Failure(), request)
            return server.NOT_DONE_YET
        if not d.called:
            # a client that goes away cancels what its request is still waiting for
            request.notifyFinish().addErrback(_cancel, d)
        d.addCallbacks(self._respond, self._failed, callbackArgs=(request,), errbackArgs=(request,))
        return server.NOT_DONE_YET

    def _match(self, request):
        rule = self._static.get((request.path.decode("latin-1"), request.method.decode("latin-1")))
        if rule is not None and not request.prepath:
            return rule, dict(rule.defaults or ())
        # the path below this resource, percent-decoded per segment by twisted.web (as Klein does)
        try:
            path = ("/" + b"/".join(request.postpath).decode("utf-8")) if request.postpath else "/"
            script = ("/" + b"/".join(request.prepath).decode("utf-8").lstrip("/")) if request.prepath else ""
            host = request.getRequestHostname().decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("URL is not valid UTF-8") from None
        adapter = self._map.bind(host, script, path_info=path, default_method=request.method.decode("latin-1"),
                                 url_scheme="https" if request.isSecure() else "http")
        return adapter.match(return_rule=True)

    def _respond(self, body: Any, request) -> None:
        if request.finished or request._disconnected:
            return
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif body is not None and not isinstance(body, bytes):
            self._failed(Failure(TypeError(f"route returned {type(body).__name__}, not bytes")), request)
            return
        if body:
            # a known length instead of chunked framing: fewer bytes, and Twisted's client frees its
            # identity decoder when done (its chunked decoder stays in a cycle with the parser)
            request.setHeader(b"content-length", b"%d" % len(body))
            request.write(body)
        request.finish()

    def _failed(self, failure: Failure, request) -> None:
        if request.finished or request._disconnected:
            if not failure.check(defer.CancelledError):
                log.failure("error after the response was finished on {path}", failure,
                            path=request.path.decode("latin-1", "replace"))
            return
        try:
            body = self._on_error(request, failure)
        except Exception:  # noqa: BLE001 - the mapper itself failed: still answer, never hang
            log.failure("error mapping a failure on {path}", path=request.path.decode("latin-1", "replace"))
            request.setResponseCode(500)
            body = b""
        self._respond(body, request)


def _cancel(reason: Failure, d: defer.Deferred) -> None:
    d.cancel()


class App(Klein):
    """A Klein app (routes declared with ``route`` as usual) served by :class:`AppResource`."""

    def __init__(self, on_error: ErrorMapper) -> None:
        super().__init__()
        self.on_error = on_error

    def resource(self) -> AppResource:
        return AppResource(self, self.on_error)
