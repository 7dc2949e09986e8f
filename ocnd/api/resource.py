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
handlers still running), static and catch-all routes looked up without
werkzeug where the answer is certain (:class:`FastRoutes`), failures mapped
by one function (``on_error``) instead of a chain of error-handler Deferreds.

What Klein features the node does not use (branch routes, returning
resources, renderables or ``klein.Response`` objects) are not supported:
returning one is a programming error answered by ``on_error`` as such.
"""

from __future__ import annotations

import re
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
        self._fast = FastRoutes(self._map)

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
        method = request.method.decode("latin-1")
        found = self._fast.static(request.path.decode("latin-1"), method) if not request.prepath else None
        if found is not None:
            return found
        # the path below this resource, percent-decoded per segment by twisted.web (as Klein does)
        try:
            path = ("/" + b"/".join(request.postpath).decode("utf-8")) if request.postpath else "/"
            script = ("/" + b"/".join(request.prepath).decode("utf-8").lstrip("/")) if request.prepath else ""
            host = request.getRequestHostname().decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("URL is not valid UTF-8") from None
        found = self._fast.prefixed(path, method) if not script else None
        if found is not None:
            return found
        adapter = self._map.bind(host, script, path_info=path, default_method=method,
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


_CATCH_ALL = re.compile(r"(/(?:[^<>]*/)?)<path:(\w+)>")


class FastRoutes:
    """Route lookups that skip werkzeug's matcher where the answer is certain.

    werkzeug's matcher costs more than the lookup itself and leaves a reference cycle per call (a
    closure that recurses through itself).  Two shapes are answered here, with werkzeug's result:

    * routes without variables (``/ocn/message``, ``/health``): by exact path and method;
    * catch-all routes ``/prefix/<path:name>`` (``/ocpi/<path:rest>``), for the methods no other route
      with variables could take a path under that prefix for: by prefix and method.

    Anything else, including near misses (a method the route does not allow, an empty or ``/``-led
    remainder, ``//`` that werkzeug might redirect), returns None and goes through werkzeug as before.
    Routes are read once: declare them before the resource is made.
    """

    def __init__(self, url_map) -> None:
        self._static: dict[tuple[str, str], tuple[Any, dict]] = {}
        self._prefixes: list[tuple[str, str, frozenset, Any]] = []
        self._merge_slashes = url_map.merge_slashes
        if url_map.host_matching:
            return
        rules = [r for r in url_map.iter_rules() if r.methods and not r.subdomain and not r.websocket]
        dynamic = [r for r in url_map.iter_rules() if r.arguments]
        for rule in rules:
            if not rule.arguments:
                for method in rule.methods:
                    self._static.setdefault((rule.rule, method), (rule, dict(rule.defaults or ())))
                continue
            m = _CATCH_ALL.fullmatch(rule.rule)
            if m is None or rule.defaults:
                continue
            prefix = m.group(1)
            # methods no other route with variables could take a path under this prefix for
            methods = set(rule.methods)
            for other in dynamic:
                if other is not rule and _may_overlap(prefix, _static_head(other.rule)):
                    methods -= set(other.methods or rule.methods)
            if methods:
                self._prefixes.append((prefix, m.group(2), frozenset(methods), rule))

    def static(self, path: str, method: str):
        return self._static.get((path, method))

    def prefixed(self, path: str, method: str):
        """``path`` percent-decoded, as werkzeug gets it."""
        for prefix, name, methods, rule in self._prefixes:
            if path.startswith(prefix) and method in methods:
                rest = path[len(prefix):]
                if not rest or rest[0] == "/" or (self._merge_slashes and "//" in path):
                    return None
                return rule, {name: rest}
        return None


def _static_head(rule: str) -> str:
    """The literal text a rule starts with, before its first variable."""
    return rule.split("<", 1)[0]


def _may_overlap(prefix: str, head: str) -> bool:
    return prefix.startswith(head) or head.startswith(prefix)


def _cancel(reason: Failure, d: defer.Deferred) -> None:
    d.cancel()


class App(Klein):
    """A Klein app (routes declared with ``route`` as usual) served by :class:`AppResource`."""

    def __init__(self, on_error: ErrorMapper) -> None:
        super().__init__()
        self.on_error = on_error

    def resource(self) -> AppResource:
        return AppResource(self, self.on_error)
