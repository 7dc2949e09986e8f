"""The node's outbound HTTP client (ocnd.httpclient): the lean ``send`` path over real loopback HTTP."""

from __future__ import annotations

import gzip
import time

import attrs
import pytest
import pytest_twisted
from twisted.internet import defer, task
from twisted.python.failure import Failure
from twisted.web import resource, server
from twisted.web.client import URI, BrowserLikePolicyForHTTPS
from twisted.web.error import SchemeNotSupported

from ocnd.httpclient import Answer, BytesProducer, CachedEndpoints, NodeHTTPClient, make_http_client

GZIP_PAYLOAD = b'{"status_code":1000,"data":"' + b"compressible " * 200 + b'"}'


@attrs.define
class Seen:
    method: bytes
    uri: bytes
    headers: dict
    body: bytes


class _Resource(resource.Resource):
    isLeaf = True

    def __init__(self, server_):
        super().__init__()
        self.server = server_

    def render(self, request):
        body = request.content.read()
        self.server.seen.append(Seen(
            request.method, request.uri,
            {k.lower(): list(v) for k, v in request.requestHeaders.getAllRawHeaders()}, body))
        path = request.path
        if path == b"/echo":
            request.setResponseCode(201)
            request.setHeader(b"X-Echo-Length", str(len(body)).encode())
            request.responseHeaders.addRawHeader(b"X-Multi", b"one")
            request.responseHeaders.addRawHeader(b"X-Multi", b"two")
            return b"got:" + body
        if path == b"/gzip":
            if b"gzip" in (request.getHeader(b"accept-encoding") or b""):
                request.setHeader(b"Content-Encoding", b"gzip")
                return gzip.compress(GZIP_PAYLOAD)
            return b"not compressed"
        if path == b"/redirect":
            request.setResponseCode(302)
            request.setHeader(b"Location", b"/target")
            return b"moved"
        if path == b"/target":
            return b"target reached"
        if path == b"/stall":
            # headers and part of the body now, the rest never
            request.setHeader(b"Content-Length", b"100")
            request.write(b"x" * 10)
            self.server.pending.append(request)
            return server.NOT_DONE_YET
        if path == b"/silent":
            self.server.pending.append(request)
            return server.NOT_DONE_YET
        return b"path:" + request.uri


class _CountingSite(server.Site):
    def __init__(self, resource_, server_):
        super().__init__(resource_, timeout=None)  # no idle-timeout delayed calls
        self.server = server_

    def buildProtocol(self, addr):
        proto = super().buildProtocol(addr)
        srv = self.server
        srv.protocols.append(proto)
        original = proto.connectionLost

        def connectionLost(reason):
            srv.lost += 1
            return original(reason)

        proto.connectionLost = connectionLost
        return proto


class LoopbackServer:
    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.pending: list = []
        self.protocols: list = []
        self.lost = 0
        self.port = None

    @property
    def connections(self) -> int:
        return len(self.protocols)

    async def start(self, reactor):
        self.port = reactor.listenTCP(0, _CountingSite(_Resource(self), self), interface="127.0.0.1")
        self.base = f"http://127.0.0.1:{self.port.getHost().port}"
        return self

    async def stop(self, reactor):
        await defer.maybeDeferred(self.port.stopListening)
        for proto in self.protocols:
            transport = getattr(proto, "transport", None)
            if transport is not None and transport.connected:
                transport.abortConnection()
        # let the aborted connections finish closing
        for _ in range(20):
            if self.lost >= len(self.protocols):
                break
            await task.deferLater(reactor, 0.01, lambda: None)


@pytest_twisted.async_yield_fixture
async def env():
    from twisted.internet import reactor

    before = set(reactor.getDelayedCalls())
    srv = await LoopbackServer().start(reactor)
    client, pool = make_http_client(reactor, max_per_host=4, connect_timeout=2)
    yield reactor, srv, client
    await pool.closeCachedConnections()
    await srv.stop(reactor)
    left = [c for c in reactor.getDelayedCalls() if c not in before and c.active()
            and getattr(c.func, "__module__", "") != "pytest_twisted"]  # its own fixture scheduling
    assert not left, f"delayed calls left behind: {left}"


async def wait_for(reactor, predicate, timeout=2.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await task.deferLater(reactor, 0.01, lambda: None)
    return True


def test_make_http_client_builds_node_client_with_pool():
    from twisted.internet import reactor

    client, pool = make_http_client(reactor, max_per_host=7, connect_timeout=3)
    assert isinstance(client, NodeHTTPClient)
    assert client.guard is None
    assert pool.maxPersistentPerHost == 7
    assert pool.persistent is True


def test_bytes_producer_writes_all_at_once():
    written = []

    class Consumer:
        def write(self, data):
            written.append(data)

    p = BytesProducer(b"\x00abc\xff")
    assert p.length == 5
    d = p.startProducing(Consumer())
    assert written == [b"\x00abc\xff"]
    assert d.called


@pytest_twisted.ensureDeferred
async def test_put_body_arrives_byte_for_byte_with_headers(env):
    reactor, srv, client = env
    body = b'{"id":"L1","name":"Caf\xc3\xa9"}\r\n\x00\xff' + bytes(range(256))
    answer = await client.send("PUT", srv.base + "/echo",
                               {"Content-Type": "application/json", "X-Request-ID": "req-1",
                                "Authorization": "Token abc"},
                               body, 5, reactor)
    assert isinstance(answer, Answer)
    assert answer.code == 201
    assert answer.body == b"got:" + body
    assert answer.headers.getRawHeaders(b"x-echo-length") == [str(len(body)).encode()]
    assert answer.headers.getRawHeaders("X-Multi") == ["one", "two"]
    [seen] = srv.seen
    assert seen.method == b"PUT"
    assert seen.uri == b"/echo"
    assert seen.body == body
    assert seen.headers[b"content-length"] == [str(len(body)).encode()]
    assert b"transfer-encoding" not in seen.headers
    assert seen.headers[b"content-type"] == [b"application/json"]
    assert seen.headers[b"x-request-id"] == [b"req-1"]
    assert seen.headers[b"authorization"] == [b"Token abc"]


@pytest_twisted.ensureDeferred
async def test_empty_body_is_sent_with_content_length_zero(env):
    reactor, srv, client = env
    answer = await client.send("POST", srv.base + "/echo", {}, b"", 5, reactor)
    assert (answer.code, answer.body) == (201, b"got:")
    [seen] = srv.seen
    assert seen.headers[b"content-length"] == [b"0"]


@pytest_twisted.ensureDeferred
async def test_get_without_body_has_no_content_length(env):
    reactor, srv, client = env
    answer = await client.send("GET", srv.base + "/echo?x=1&y=%20z", {"Accept": "application/json"}, None, 5,
                               reactor)
    assert (answer.code, answer.body) == (201, b"got:")
    [seen] = srv.seen
    assert seen.method == b"GET"
    assert seen.uri == b"/echo?x=1&y=%20z"  # an ASCII URL goes out unchanged
    assert seen.body == b""
    assert b"content-length" not in seen.headers
    assert b"transfer-encoding" not in seen.headers
    assert seen.headers[b"accept"] == [b"application/json"]


@pytest_twisted.ensureDeferred
async def test_gzip_response_is_decoded(env):
    reactor, srv, client = env
    answer = await client.send("GET", srv.base + "/gzip", {}, None, 5, reactor)
    [seen] = srv.seen
    assert b"gzip" in b",".join(seen.headers[b"accept-encoding"])
    assert answer.code == 200
    assert answer.body == GZIP_PAYLOAD
    # the decoded answer no longer claims to be gzip
    assert b"gzip" not in b",".join(answer.headers.getRawHeaders(b"content-encoding", []))


@pytest_twisted.ensureDeferred
async def test_redirect_on_get_is_followed(env):
    reactor, srv, client = env
    answer = await client.send("GET", srv.base + "/redirect", {"X-Request-ID": "r"}, None, 5, reactor)
    assert (answer.code, answer.body) == (200, b"target reached")
    assert [s.uri for s in srv.seen] == [b"/redirect", b"/target"]


@pytest_twisted.ensureDeferred
async def test_non_ascii_path_is_percent_encoded(env):
    reactor, srv, client = env
    answer = await client.send("GET", srv.base + "/ocpi/émsp", {}, None, 5, reactor)
    assert answer.body == b"path:/ocpi/%C3%A9msp"
    assert srv.seen[0].uri == b"/ocpi/%C3%A9msp"
    await client.send("GET", srv.base + "/a b", {}, None, 5, reactor)
    assert srv.seen[1].uri == b"/a%20b"


def _is_cancelled(failure: Failure) -> bool:
    """CancelledError itself, or an agent failure (ResponseNeverReceived...) that wraps it."""
    if failure.check(defer.CancelledError):
        return True
    return any(_is_cancelled(f) for f in getattr(failure.value, "reasons", ()) if isinstance(f, Failure))


async def _send_failure(client, reactor, url, timeout):
    """The failure of a send expected to time out, and how long it took (a hang fails the test)."""
    started = time.monotonic()
    outcome = []
    client.send("GET", url, {}, None, timeout, reactor).addBoth(
        lambda result: outcome.append((result, time.monotonic() - started)))
    if not await wait_for(reactor, lambda: outcome, timeout=timeout + 3):
        pytest.fail(f"send still pending {timeout + 3:g}s after a {timeout:g}s timeout")
    result, elapsed = outcome[0]
    if not isinstance(result, Failure):
        pytest.fail(f"send did not fail: {result!r}")
    return result, elapsed


@pytest.mark.parametrize("path", ["/stall", "/silent"])  # headers and part of the body / nothing at all
@pytest_twisted.ensureDeferred
async def test_timeout_fails_the_send_and_closes_the_connection(env, path):
    """The timeout covers the body too, and cancelling drops the connection at once (``_read_body``:
    "like readBody"): a stalled party must not keep a socket open per timed-out request."""
    reactor, srv, client = env
    failure, elapsed = await _send_failure(client, reactor, srv.base + path, 0.3)
    assert _is_cancelled(failure), failure
    assert 0.25 <= elapsed < 1.5
    assert len(srv.pending) == 1 and srv.connections == 1  # the server got the request
    closed = await wait_for(reactor, lambda: srv.lost == 1, timeout=1.0)
    assert closed, "the connection of the timed-out request is still open"


@pytest_twisted.ensureDeferred
async def test_answer_in_time_leaves_no_timer(env):
    reactor, srv, client = env
    before = set(reactor.getDelayedCalls())
    await client.send("GET", srv.base + "/echo", {}, None, 30, reactor)
    # the 30 s timeout was cancelled (the pool's 60 s idle timer for the kept connection remains)
    left = [c for c in set(reactor.getDelayedCalls()) - before if 25 < c.getTime() - reactor.seconds() <= 30]
    assert not left


@pytest_twisted.ensureDeferred
async def test_sequential_requests_reuse_one_pooled_connection(env):
    reactor, srv, client = env
    first = await client.send("PUT", srv.base + "/echo", {}, b"one", 5, reactor)
    second = await client.send("GET", srv.base + "/echo", {}, None, 5, reactor)
    third = await client.send("PUT", srv.base + "/echo", {}, b"three", 5, reactor)
    assert [first.body, second.body, third.body] == [b"got:one", b"got:", b"got:three"]
    assert len(srv.seen) == 3
    assert srv.connections == 1
    assert srv.lost == 0


# -- CachedEndpoints ------------------------------------------------------------------------------

def _endpoints(max_entries=1024):
    from twisted.internet import reactor

    return CachedEndpoints(reactor, BrowserLikePolicyForHTTPS(), connect_timeout=2, max_entries=max_entries)


def test_cached_endpoints_same_scheme_host_port_share_one_endpoint():
    eps = _endpoints()
    a = eps.endpointForURI(URI.fromBytes(b"http://party.example:8080/ocpi/versions"))
    b = eps.endpointForURI(URI.fromBytes(b"http://party.example:8080/other?q=1"))
    assert a is b
    assert eps.endpointForURI(URI.fromBytes(b"http://party.example:8081/ocpi")) is not a
    assert eps.endpointForURI(URI.fromBytes(b"http://other.example:8080/ocpi")) is not a
    https = eps.endpointForURI(URI.fromBytes(b"https://party.example:8080/ocpi"))
    assert https is not a
    assert eps.endpointForURI(URI.fromBytes(b"https://party.example:8080/x")) is https


def test_cached_endpoints_evict_beyond_max_entries():
    eps = _endpoints(max_entries=2)
    first = eps.endpointForURI(URI.fromBytes(b"http://a.example/"))
    second = eps.endpointForURI(URI.fromBytes(b"http://b.example/"))
    eps.endpointForURI(URI.fromBytes(b"http://c.example/"))
    assert len(eps._endpoints) == 2
    assert eps.endpointForURI(URI.fromBytes(b"http://b.example/")) is second
    assert eps.endpointForURI(URI.fromBytes(b"http://a.example/")) is not first  # evicted, built anew


def test_cached_endpoints_reject_other_schemes():
    eps = _endpoints()
    with pytest.raises(SchemeNotSupported):
        eps.endpointForURI(URI.fromBytes(b"ftp://party.example/file"))
    assert len(eps._endpoints) == 0
