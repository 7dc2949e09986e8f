"""Helpers shared by tests (importable because pytest puts tests/ on sys.path)."""

from __future__ import annotations

import attrs
import treq

from ocnd.config import load

NODE_KEY = "0x" + "42" * 32
ADMIN_KEY = "admin-key-for-tests-0123456789"
PUBLIC_URL = "http://node.test:8080"


def make_config(tmp_path, **env):
    environ = {
        "OCND_NODE_DATA_DIR": str(tmp_path),
        "OCND_NODE_PUBLIC_URL": PUBLIC_URL,
        "OCND_NODE_LISTEN": "tcp:0:interface=127.0.0.1",
    }
    environ.update(env)
    return load([], environ)


async def call(method, url, *, headers=None, json_body=None, data=None):
    """One request over loopback with a fresh connection; returns (code, body bytes, response)."""
    kw = {"headers": headers or {}, "persistent": False}
    if json_body is not None:
        kw["json"] = json_body
    if data is not None:
        kw["data"] = data
    response = await treq.request(method, url, **kw)
    body = await response.content()
    return response.code, body, response


EXAMPLES_DIR = __import__("os").path.join(__import__("os").path.dirname(__file__), "data", "ocpi-2.2.1-examples")


def example(name: str) -> bytes:
    """Raw bytes of an official OCPI 2.2.1 example message (tests/data/ocpi-2.2.1-examples)."""
    with open(__import__("os").path.join(EXAMPLES_DIR, name), "rb") as fh:
        return fh.read()


@attrs.define
class RunningNode:
    """A NodeService on 127.0.0.1 with a fake registry (see :func:`start_node`)."""

    service: object
    store: object
    registry: object
    base: str
    address: str

    def url(self, path: str) -> str:
        return self.base + path

    def admin_headers(self):
        return {"Authorization": f"Token {ADMIN_KEY}"}

    def list_party(self, cc, pid, party_url=None):
        """List a party in the fake registry with this node as operator."""
        self.registry.list_party(cc, pid, self.address, PUBLIC_URL if party_url is None else party_url)


async def start_node(tmp_path, cls=RunningNode, **env):
    """Start a real node (real SQLite file, HTTP on a free loopback port) with a FakeRegistry;
    ``env`` are OCND_* settings.  Stop it with ``await node.service.stopService()``."""
    from twisted.internet import reactor

    from ocnd.keys import address_of
    from ocnd.node import NodeService
    from ocnd.store import Store
    from ocnd.testing import FakeRegistry

    config = make_config(tmp_path, **env)
    store = Store(config.path("store", "path"), reactor)
    registry = FakeRegistry()
    svc = NodeService(config=config, reactor=reactor, store=store, registry=registry,
                      node_key=NODE_KEY, admin_key=ADMIN_KEY)
    svc.startService()
    await svc.ready
    return cls(svc, store, registry, f"http://127.0.0.1:{svc.port.getHost().port}", address_of(NODE_KEY))
