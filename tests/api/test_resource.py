"""AppResource: the node's routes served without per-request reference cycles."""

from __future__ import annotations

import gc
import json
import socket

import pytest
import pytest_twisted
from klein import Klein
from twisted.internet import defer, reactor, task
from twisted.web import server

from ocnd.api import build_app
from ocnd.api.common import Responder
from ocnd.ocpi import OcpiError
from ocnd.web import OcndSite
from support import call


class _Routes:
    def __init__(self) -> None:
        self.cancelled = defer.Deferred()
        self.started = defer.Deferred()

    def install(self, app: Klein) -> None:
        app.route("/ocn/message", methods=["POST"], endpoint="static")(self.static)
        app.route("/items/<item_id>", methods=["GET", "PUT"], endpoint="item")(self.item)
        app.route("/slow", endpoint="slow")(self.slow)
        app.route("/wrong", endpoint="wrong")(self.wrong)
        app.route("/refused", endpoint="refused")(self.refused)
        app.route("/defaults", defaults={"page": "1"}, endpoint="defaults")(self.defaults)

    def static(self, request):
        request.setHeader(b"content-type", b"application/json")
        return b'{"static":true,"n":1.50}'

    async def item(self, request, item_id):
        await task.deferLater(reactor, 0, lambda: None)
        return json.dumps({"item": item_id}).encode()

    async def slow(self, request):
        self.started.callback(None)
        try:
            await defer.Deferred()  # never fires: only cancellation ends it
        except defer.CancelledError:
            self.cancelled.callback(True)
            raise

    def wrong(self, request):
        return {"not": "bytes"}

    def refused(self, request):
        raise OcpiError(2001, "no such thing", 400)

    def defaults(self, request, page):
        return page


@pytest.fixture
def base():
    routes = _Routes()
    site = OcndSite(build_app(Responder(reactor), [routes]).resource(), max_body=10000, clock=reactor)
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    yield f"http://127.0.0.1:{port.getHost().port}", routes, port.getHost().port
    port.stopListening()


def _server_requests_in_cycles(garbage) -> int:
    return sum(1 for o in garbage if isinstance(o, server.Request))


async def _cyclic_server_requests(url: str, n: int) -> int:
    """Server-side Request objects that only the cyclic GC could free, after ``n`` requests."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(n):
            code, _, _ = await call("GET", url)
            assert code == 200
        await task.deferLater(reactor, 0.05, lambda: None)  # let the connections close
        gc.collect()
        return _server_requests_in_cycles(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


@pytest_twisted.ensureDeferred
async def test_finished_requests_are_freed_without_the_cyclic_gc(base):
    url, routes, _ = base
    assert await _cyclic_server_requests(f"{url}/items/A1", 20) == 0
    # the measurement can fail: the same routes served by Klein's own resource leave every request in a cycle
    app = Klein()
    routes.install(app)
    port = reactor.listenTCP(0, server.Site(app.resource()), interface="127.0.0.1")
    try:
        assert await _cyclic_server_requests(f"http://127.0.0.1:{port.getHost().port}/items/A1", 20) >= 20
    finally:
        await defer.maybeDeferred(port.stopListening)


@pytest_twisted.ensureDeferred
async def test_bodies_keep_their_bytes_and_carry_a_content_length(base):
    url, _, port = base
    code, body, response = await call("POST", f"{url}/ocn/message", data=b"{}")
    assert code == 200 and body == b'{"static":true,"n":1.50}'
    head = (await _raw(port, b"POST /ocn/message HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                             b"Connection: close\r\n\r\n{}")).split(b"\r\n\r\n")[0].lower()
    assert b"\r\ncontent-length: 24" in head and b"transfer-encoding" not in head
    code, body, _ = await call("PUT", f"{url}/items/%C3%A9t%C3%A9")  # percent-decoded like werkzeug/Klein
    assert code == 200 and json.loads(body) == {"item": "été"}
    code, body, _ = await call("GET", f"{url}/defaults")
    assert code == 200 and body == b"1"


@pytest.mark.parametrize("method, path, http, status, message, allow", [
    ("GET", "/nope", 404, 2000, "Not found", None),
    ("GET", "/ocn/message", 405, 2000, "Method not allowed", b"POST"),   # static route, other method
    ("DELETE", "/items/x", 405, 2000, "Method not allowed", b"GET, HEAD, PUT"),
    ("GET", "/refused", 400, 2001, "no such thing", None),
])
@pytest_twisted.ensureDeferred
async def test_failures_are_ocpi_envelopes(base, method, path, http, status, message, allow):
    url, _, _ = base
    code, body, response = await call(method, url + path)
    env = json.loads(body)
    assert (code, env["status_code"], env["status_message"]) == (http, status, message)
    assert response.headers.getRawHeaders(b"allow", [None])[0] == allow


@pytest.mark.allow_server_errors
@pytest_twisted.ensureDeferred
async def test_a_route_returning_no_bytes_is_an_internal_error_not_a_hang(base):
    url, _, _ = base
    code, body, _ = await call("GET", f"{url}/wrong")
    assert code == 500 and json.loads(body)["status_code"] == 3000 and b"Traceback" not in body


@pytest_twisted.ensureDeferred
async def test_url_that_is_not_utf8_is_a_400(base):
    url, _, _ = base
    code, body, _ = await call("GET", f"{url}/items/%FF")
    assert code == 400 and json.loads(body)["status_code"] == 2000


@pytest_twisted.ensureDeferred
async def test_client_going_away_cancels_the_pending_handler(base):
    _, routes, port = base
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    await routes.started
    sock.close()
    assert await defer.Deferred.fromCoroutine(_within(routes.cancelled, 5)) is True


async def _raw(port: int, request: bytes) -> bytes:
    """One raw HTTP exchange (no client-side decoding), read until the server closes."""
    from twisted.internet import endpoints, protocol

    done = defer.Deferred()

    class _Client(protocol.Protocol):
        data = b""

        def connectionMade(self):
            self.transport.write(request)

        def dataReceived(self, data):
            self.data += data

        def connectionLost(self, reason):
            done.callback(self.data)

    await endpoints.connectProtocol(endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", port), _Client())
    return await _within(done, 5)


async def _within(d: defer.Deferred, seconds: float):
    d.addTimeout(seconds, reactor)
    return await d


_SEGMENTS = ["ocpi", "2.2", "2.2.1", "versions", "hubclientinfo", "credentials", "sender", "receiver",
             "locations", "DE", "CPO", "", "admin", "trace", "platforms", "7", "ocn", "message", "client-info",
             "registry", "node", "node-info", "health", "metrics", "status", "é", "a b", "x.y"]


@pytest_twisted.ensureDeferred
async def test_fast_routes_agree_with_werkzeug_on_the_node_routes(tmp_path):
    from hypothesis import example, given, settings, strategies as st
    from werkzeug.exceptions import HTTPException

    from ocnd.api.resource import FastRoutes
    from support import start_node

    node = await start_node(tmp_path)
    try:
        url_map = node.service.site.resource._map
    finally:
        await node.service.stopService()
    fast = FastRoutes(url_map)
    # the module catch-all is looked up without werkzeug, except for DELETE (OcnRules entries)
    assert [(p[0], sorted(p[2])) for p in fast._prefixes] == [("/ocpi/", ["GET", "HEAD", "PATCH", "POST", "PUT"])]
    answered = []

    def werkzeug(path, method):
        try:
            rule, kwargs = url_map.bind("node.test", "", path_info=path, default_method=method).match(
                return_rule=True)
            return rule.endpoint, kwargs
        except HTTPException as e:
            return type(e).__name__

    @settings(max_examples=400, deadline=None, database=None)
    @given(st.sampled_from(["ocpi", "ocpi", "ocpi", "ocn", "admin", "health", "metrics", ""]),
           st.lists(st.sampled_from(_SEGMENTS), min_size=0, max_size=6), st.booleans(),
           st.sampled_from(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]))
    @example("ocpi", ["", "locations"], False, "GET")      # werkzeug redirects //
    @example("ocpi", ["locations", "", "x"], False, "PUT")  # ... but not // after the prefix
    @example("ocpi", [""], True, "GET")                     # nothing after the prefix
    @example("ocpi", ["versions"], True, "GET")             # a static route with a trailing slash
    def agree(first, segments, trailing_slash, method):
        segments = [first, *segments]
        path = "/" + "/".join(segments) + ("/" if trailing_slash else "")
        got = fast.static(path, method) or fast.prefixed(path, method)
        if got is not None:
            answered.append(path)
            rule, kwargs = got
            assert (rule.endpoint, kwargs) == werkzeug(path, method), (path, method)

    agree()
    assert len(answered) > 50  # the comparison really covered fast answers
