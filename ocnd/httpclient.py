"""The node's outbound HTTP client: one treq HTTPClient with its own pool."""

from __future__ import annotations

from treq.client import HTTPClient
from twisted.web.client import Agent, BrowserLikePolicyForHTTPS, HTTPConnectionPool


def make_http_client(reactor, *, max_per_host: int, connect_timeout: float,
                     tls_policy=None) -> tuple[HTTPClient, HTTPConnectionPool]:
    """A treq client whose pool keeps ``max_per_host`` persistent connections.

    treq's default pool keeps 2 connections per host, which caps throughput
    when many requests go to the same node; HTTPS verifies certificates
    (service-identity) unless a different policy is given.
    """
    pool = HTTPConnectionPool(reactor, persistent=True)
    pool.maxPersistentPerHost = max_per_host
    pool.cachedConnectionTimeout = 60
    agent = Agent(reactor, contextFactory=tls_policy or BrowserLikePolicyForHTTPS(),
                  connectTimeout=connect_timeout, pool=pool)
    return HTTPClient(agent), pool
