"""The node's outbound HTTP client: one treq HTTPClient with its own pool."""

from __future__ import annotations

from treq.client import HTTPClient
from twisted.web.client import Agent, BrowserLikePolicyForHTTPS, HTTPConnectionPool


class NodeHTTPClient(HTTPClient):
    """treq client that carries the SSRF guard it applies (``guard`` is None when inactive)."""

    guard = None


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
        agent = Agent(reactor, contextFactory=policy, connectTimeout=connect_timeout, pool=pool)
    client = NodeHTTPClient(agent)
    client.guard = guard
    return client, pool
