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


