"""The node's outbound HTTP client: one treq HTTPClient with its own pool."""

from __future__ import annotations

from collections import OrderedDict

import attrs
from hyperlink import EncodedURL
from treq.client import HTTPClient
from twisted.internet import defer, protocol
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.web.client import (
    Agent, BrowserLikePolicyForHTTPS, ContentDecoderAgent, GzipDecoder, HTTPConnectionPool, RedirectAgent,
    ResponseDone,
)
from twisted.web.error import SchemeNotSupported
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers
from twisted.web.iweb import IBodyProducer
from zope.interface import implementer


@implementer(IBodyProducer)
class BytesProducer:
    """A request body that is already in memory: written in one go.

    (treq wraps bytes in a ``FileBodyProducer``, which hands them over from a
    cooperator task on a later reactor turn.)
    """

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.length = len(body)

    def startProducing(self, consumer) -> defer.Deferred:
        consumer.write(self.body)
        return defer.succeed(None)

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


class _Collect(protocol.Protocol):
    def __init__(self, done: defer.Deferred) -> None:
        self.done = done
        self.parts: list[bytes] = []

    def dataReceived(self, data: bytes) -> None:
        self.parts.append(data)

    def connectionLost(self, reason=protocol.connectionDone) -> None:
        if self.done.called:
            return
        if reason.check(ResponseDone, PotentialDataLoss):
            self.done.callback(b"".join(self.parts))
        else:
            self.done.errback(reason)


@attrs.frozen
class Answer:
    code: int
    headers: Headers
    body: bytes


def _uri(url: str) -> bytes:
    if url.isascii() and not any(c <= " " or c == "\x7f" for c in url):
        return url.encode("ascii")
    # IRI (non-ASCII host or path): IDNA host and percent-encoded path, as treq would send it
    return EncodedURL.from_text(url).to_uri().to_text().encode("ascii")


def _read_body(response) -> defer.Deferred:
    """The whole body; cancelling closes the connection at once (like ``readBody``)."""

    def cancel(d: defer.Deferred) -> None:
        # the body protocol sees a TransportProxyProducer, which has loseConnection but no abortConnection
        transport = collector.transport
        close = getattr(transport, "abortConnection", None) or getattr(transport, "loseConnection", None)
        if close is not None:
            close()

    done = defer.Deferred(cancel)
    collector = _Collect(done)
    response.deliverBody(collector)
    return done


class CachedEndpoints:
    """Agent endpoint factory that keeps one endpoint per (scheme, host, port).

    Agent asks for an endpoint on every request, even when the pool already
    holds a connection; building one IDNA-checks the host name each time.
    Endpoints are reusable, so the recent ones are kept.
    """

    def __init__(self, reactor, tls_policy, connect_timeout: float, max_entries: int = 1024) -> None:
        self.reactor = reactor
        self.tls_policy = tls_policy
        self.connect_timeout = connect_timeout
        self.max_entries = max_entries
        self._endpoints: OrderedDict[tuple, object] = OrderedDict()

    def endpointForURI(self, uri):
        key = (uri.scheme, uri.host, uri.port)
        endpoint = self._endpoints.get(key)
        if endpoint is not None:
            self._endpoints.move_to_end(key)
        else:
            endpoint = self._new(uri)
            self._endpoints[key] = endpoint
            if len(self._endpoints) > self.max_entries:
                self._endpoints.popitem(last=False)
        return endpoint

    def _new(self, uri):
        if uri.scheme not in (b"http", b"https"):
            raise SchemeNotSupported(f"Unsupported scheme: {uri.scheme!r}")
        endpoint = HostnameEndpoint(self.reactor, uri.host, uri.port, timeout=self.connect_timeout)
        if uri.scheme == b"https":
            endpoint = wrapClientTLS(self.tls_policy.creatorForNetloc(uri.host, uri.port), endpoint)
        return endpoint


class NodeHTTPClient(HTTPClient):
    """treq client that carries the SSRF guard it applies (``guard`` is None when inactive).

    :meth:`send` is the lean request path the router uses for every forwarded
    message; the treq methods serve everything else.
    """

    guard = None

    def __init__(self, agent) -> None:
        super().__init__(agent)
        self._lean = ContentDecoderAgent(RedirectAgent(agent), [(b"gzip", GzipDecoder)])

    def send(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
              timeout: float, reactor) -> defer.Deferred:
        """One request on the routing path; fires with an :class:`Answer` (status, headers, whole body).

        The same agent (pool, TLS policy, SSRF guard) as the treq methods, with
        redirects and gzip handled like treq, but without a cookie jar (the node
        keeps no cookies between parties), URL re-parsing or a cooperator for the
        body.  ``timeout`` covers the whole exchange, body included.
        """
        h = Headers()
        for name, value in headers.items():
            h.addRawHeader(name, value)
        d = self._lean.request(method.encode("ascii"), _uri(url), h,
                               BytesProducer(body) if body is not None else None)

        def got(response):
            return _read_body(response).addCallback(lambda raw: Answer(response.code, response.headers, raw))

        d.addCallback(got)
        timer = reactor.callLater(timeout, d.cancel)

        def stop_timer(result):
            if timer.active():
                timer.cancel()
            return result

        return d.addBoth(stop_timer)


def make_http_client(reactor, *, max_per_host: int, connect_timeout: float,
                     tls_policy=None, guard=None) -> tuple[HTTPClient, HTTPConnectionPool]:
    """A treq client whose pool keeps ``max_per_host`` persistent connections.

    treq's default pool keeps 2 connections per host, which caps throughput
    when many requests go to the same node; HTTPS verifies certificates
    (service-identity) unless a different policy is given.  With an active
    :class:`ocnd.security.UrlGuard` every connection is resolved, checked and
    pinned to the checked address (see ``ocnd.security``).
    """
    pool = HTTPConnectionPool(reactor, persistent=True)
    pool.maxPersistentPerHost = max_per_host
    pool.cachedConnectionTimeout = 60
    policy = tls_policy or BrowserLikePolicyForHTTPS()
    if guard is not None and guard.active:
        from .security import GuardedEndpointFactory

        agent = Agent.usingEndpointFactory(
            reactor, GuardedEndpointFactory(reactor, guard, policy, connect_timeout), pool=pool)
    else:
        guard = None
        agent = Agent.usingEndpointFactory(reactor, CachedEndpoints(reactor, policy, connect_timeout), pool=pool)
    client = NodeHTTPClient(agent)
    client.guard = guard
    return client, pool
