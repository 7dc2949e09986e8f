"""Shared fixtures.  No module-level reactor import (pytest-twisted installs it)."""

from __future__ import annotations

import attrs
import pytest
import pytest_twisted
from twisted.internet import defer

from ocnd.keys import address_of
from ocnd.node import NodeService
from ocnd.store import Store
from ocnd.testing import FakeRegistry, MockParty

from support import ADMIN_KEY, NODE_KEY, PUBLIC_URL, make_config


@attrs.define
class RunningNode:
    service: NodeService
    store: Store
    registry: FakeRegistry
    base: str
    address: str

    def url(self, path: str) -> str:
        return self.base + path

    def admin_headers(self):
        return {"Authorization": f"Token {ADMIN_KEY}"}

    def list_party(self, cc, pid, party_url=None):
        """List a party in the fake registry with this node as operator."""
        self.registry.list_party(cc, pid, self.address, PUBLIC_URL if party_url is None else party_url)


def pytest_sessionfinish(session, exitstatus):
    """A test that failed during setup may leave store/chain threads running: stop them so
    the interpreter can exit (a hung CI job tells nobody anything)."""
    from ocnd.store import stop_all_pools

    stop_all_pools()


def _is_server_error(event) -> bool:
    """An HTTP 5xx answered by an ocnd site, or a failure caught by the API's catch-all."""
    if event.get("http_5xx"):
        return True
    return event.get("log_namespace") == "ocnd.api" and "log_failure" in event


@pytest.fixture(autouse=True)
def no_server_errors(request):
    """Every test fails if any node in this process answered HTTP 5xx or hit the catch-all handler."""
    from twisted.logger import globalLogPublisher

    seen = []

    def observer(event):
        if _is_server_error(event):
            seen.append(event)

    globalLogPublisher.addObserver(observer)
    yield seen
    globalLogPublisher.removeObserver(observer)
    if seen and not request.node.get_closest_marker("allow_server_errors"):
        from twisted.logger import formatEvent

        pytest.fail("server error logged: " + "; ".join(formatEvent(e) for e in seen), pytrace=False)


@pytest_twisted.async_yield_fixture
async def node(tmp_path):
    from twisted.internet import reactor

    config = make_config(tmp_path)
    store = Store(config.path("store", "path"), reactor)
    registry = FakeRegistry()
    svc = NodeService(config=config, reactor=reactor, store=store, registry=registry,
                      node_key=NODE_KEY, admin_key=ADMIN_KEY)
    svc.startService()
    await svc.ready
    port = svc.port.getHost().port
    yield RunningNode(svc, store, registry, f"http://127.0.0.1:{port}", address_of(NODE_KEY))
    await svc.stopService()


@pytest_twisted.async_yield_fixture
async def party():
    from twisted.internet import reactor

    p = MockParty(reactor)
    await p.start()
    yield p
    await p.stop()


