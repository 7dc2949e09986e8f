"""RegistrySnapshot (embedded chain + real SQLite file) and RegistryPoller (task.Clock)."""

from __future__ import annotations

import pytest
import pytest_twisted
from eth_account import Account
from twisted.internet import defer, task

from ocnd.registry.chain import EmbeddedChain
from ocnd.registry.client import EmbeddedBackend, RegistryClient, RegistryUnavailable
from ocnd.registry.model import NodeListing, Role
from ocnd.registry.snapshot import RegistryPoller, RegistrySnapshot
from ocnd.store import Store


def addr(key):
    return Account.from_key(key).address


@pytest_twisted.async_yield_fixture
async def chain():
    from twisted.internet import reactor

    c = EmbeddedChain(reactor, None)
    await c.start()
    yield c
    await c.stop()


@pytest_twisted.async_yield_fixture
async def store(tmp_path):
    from twisted.internet import reactor

    s = Store(str(tmp_path / "ocnd.sqlite"), reactor)
    await s.start()
    yield s
    await s.stop()


class DownClient:
    """A client whose every RPC fails, as when the chain endpoint is down."""

    def __init__(self, registry_address):
        self.registry_address = registry_address
        self.calls = 0

    def __getattr__(self, name):
        def fail(*a, **kw):
            self.calls += 1
            return defer.fail(RegistryUnavailable("registry RPC unreachable: connection refused"))
        return fail


@pytest_twisted.ensureDeferred
async def test_incremental_sync_and_case_insensitive(chain, tmp_path):
    from twisted.internet import reactor

    store = Store(str(tmp_path / "ocnd.sqlite"), reactor)
    await store.start()

    client = RegistryClient(EmbeddedBackend(chain), chain.registry_address, chain.permissions_address)
    op, party, party2 = (k for _, k in chain.dev_accounts[1:4])
    snap = RegistrySnapshot(store, client, reactor)
    await snap.start()
    assert snap.nodes() == [] and snap.last_sync is None and snap.age() is None
    await snap.sync()  # first sync = full reconcile of an empty registry
    assert snap.ok and snap.last_block is not None

    await client.set_node(op, "https://a.example")
    await client.set_party(party, "de", "abc", [Role.CPO], addr(op))
    await client.set_party(party2, "NL", "XYZ", [Role.EMSP], addr(op))
    await snap.sync()
    assert snap.get_operator("de", "AbC") == NodeListing(addr(op), "https://a.example")
    p = snap.get_party(" De ", "abc")
    assert p.address == addr(party) and p.url == "https://a.example" and p.roles == (Role.CPO,)
    assert snap.get_party_by_address(addr(party).lower()) == p
    assert snap.get_node(addr(op)).url == "https://a.example"
    assert len(snap.parties()) == 2

    await client.delete_party(party)
    await snap.sync()
    assert snap.get_party("DE", "ABC") is None and snap.get_operator("DE", "ABC") is None
    assert snap.get_party("nl", "xyz") is not None

    await client.delete_node(op)
    await snap.sync()
    assert snap.nodes() == [] and snap.get_operator("NL", "XYZ") is None
    assert snap.get_party("NL", "XYZ").url == ""

    await client.set_node(op, "https://b.example")
    head = await snap.sync()
    assert snap.get_operator("nl", "xyz").url == "https://b.example"

    # A new instance on the same SQLite file, with the RPC down: same answers.
    await store.stop()
    store2 = Store(str(tmp_path / "ocnd.sqlite"), reactor)
    await store2.start()
    try:
        down = DownClient(chain.registry_address)
        snap2 = RegistrySnapshot(store2, down, reactor)
        await snap2.start()
        assert down.calls == 0
        assert snap2.get_operator("NL", "xyz") == NodeListing(addr(op), "https://b.example")
        assert snap2.get_party("nl", "XYZ") == snap.get_party("NL", "XYZ")
        assert snap2.last_block == head and snap2.last_sync is not None
        # refresh falls back to the snapshot, sync failure is recorded
        assert (await snap2.refresh_party("nl", "xyz")).address == addr(party2)
        with pytest.raises(RegistryUnavailable):
            await snap2.sync()
        assert not snap2.ok and snap2.rpc_errors == 2 and "unreachable" in snap2.last_error
        assert snap2.get_operator("NL", "XYZ") is not None
    finally:
        await store2.stop()


@pytest_twisted.ensureDeferred
async def test_full_reconcile_and_refresh(chain, store):
    from twisted.internet import reactor

    client = RegistryClient(EmbeddedBackend(chain), chain.registry_address, chain.permissions_address)
    op, party = (k for _, k in chain.dev_accounts[1:3])
    await client.set_node(op, "https://n.example")
    await client.set_party(party, "FR", "QQQ", [Role.CPO], addr(op))
    snap = RegistrySnapshot(store, client, reactor)
    await snap.start()
    # refresh_party sees it live before any sync
    p = await snap.refresh_party("fr", "qqq")
    assert p.address == addr(party) and snap.get_operator("FR", "QQQ").url == "https://n.example"
    await snap.full_reconcile()
    assert [n.url for n in snap.nodes()] == ["https://n.example"]
    assert snap.last_full is not None
    await client.delete_party(party)
    assert await snap.refresh_party("FR", "QQQ") is None
    assert snap.get_party("FR", "QQQ") is None


# -- poller ------------------------------------------------------------------------


class FakeSnapshot:
    def __init__(self):
        self.calls = []
        self.pending = None
        self.fail_next = False

    def _go(self, kind):
        self.calls.append(kind)
        if self.fail_next:
            self.fail_next = False
            return defer.fail(RegistryUnavailable("down"))
        self.pending = defer.Deferred()
        return self.pending

    def sync(self):
        return self._go("sync")

    def full_reconcile(self):
        return self._go("full")


def test_poller_schedule_no_overlap_and_survives_failures():
    clock = task.Clock()
    snap = FakeSnapshot()
    poller = RegistryPoller(snap, clock, interval=10, full_interval=55)
    poller.startService()
    assert snap.calls == []
    clock.advance(0)
    assert snap.calls == ["full"]              # first run immediately, a full reconcile
    clock.advance(20)                           # still in flight: nothing overlaps
    assert snap.calls == ["full"]
    snap.pending.callback(None)                 # t=20: next poll due at t=30
    clock.advance(9.9)
    assert snap.calls == ["full"]
    clock.advance(0.1)
    assert snap.calls == ["full", "sync"]
    snap.pending.callback(None)
    snap.fail_next = True
    clock.advance(10)                           # t=40
    assert snap.calls == ["full", "sync", "sync"]   # that one failed ...
    assert poller.failures == 1
    clock.advance(10)                           # t=50
    assert snap.calls[-1] == "sync" and len(snap.calls) == 4  # ... and the loop kept going
    snap.pending.callback(None)
    clock.advance(10)                           # t=60: 60 s after the first full one
    assert snap.calls[-1] == "full"
    snap.pending.callback(None)
    poller.stopService()
    assert not clock.getDelayedCalls()


def test_poller_poll_now_and_clean_stop():
    clock = task.Clock()
    snap = FakeSnapshot()
    poller = RegistryPoller(snap, clock, interval=10, full_interval=1000)
    poller.startService()
    clock.advance(0)
    snap.pending.callback(None)
    done = poller.poll_now()
    assert snap.calls == ["full", "sync"] and not done.called
    again = poller.poll_now()                       # while in flight: queued, not overlapped
    assert snap.calls == ["full", "sync"]
    snap.pending.callback(None)
    assert done.called
    clock.advance(0)
    assert snap.calls == ["full", "sync", "sync"] and not again.called
    stopped = poller.stopService()                  # waits for the in-flight poll
    assert not stopped.called
    snap.pending.callback(None)
    assert stopped.called and again.called
    clock.advance(100)
    assert len(snap.calls) == 3 and not clock.getDelayedCalls()


def test_poller_logs_failure(caplog):
    from twisted.logger import globalLogPublisher

    seen = []
    observer = seen.append
    globalLogPublisher.addObserver(observer)
    try:
        clock = task.Clock()
        snap = FakeSnapshot()
        snap.fail_next = True
        poller = RegistryPoller(snap, clock, interval=5, full_interval=1000)
        poller.startService()
        clock.advance(0)
        clock.advance(5)
        assert snap.calls == ["full", "full"]       # full retried until it succeeds
        snap.pending.callback(None)
        poller.stopService()
    finally:
        globalLogPublisher.removeObserver(observer)
    assert any("registry full reconcile failed" in str(e.get("log_format", "")).replace(
        "{what}", e.get("what", "")) for e in seen)


# -- RPC down: JsonRpcBackend against the embedded chain's JSON-RPC on 127.0.0.1 --------


async def _listen(reactor, chain, port=0):
    from ocnd.registry.devchain import make_rpc_service

    svc = make_rpc_service(reactor, chain, f"tcp:{port}:interface=127.0.0.1", builtin=True)
    svc.startService()
    listening = await svc._waitingForPort
    return svc, listening.getHost().port


async def _sleep(reactor, seconds):
    await task.deferLater(reactor, seconds, lambda: None)


@pytest_twisted.ensureDeferred
async def test_rpc_down_served_from_snapshot_then_resumes(chain, store):
    from twisted.internet import reactor

    from ocnd.registry.client import JsonRpcBackend

    svc, port = await _listen(reactor, chain)
    backend = JsonRpcBackend(reactor, f"http://127.0.0.1:{port}", timeout=2)
    client = RegistryClient(backend, chain.registry_address, chain.permissions_address)
    writer = RegistryClient(EmbeddedBackend(chain), chain.registry_address, chain.permissions_address)
    op, party, party2 = (k for _, k in chain.dev_accounts[1:4])
    snap = RegistrySnapshot(store, client, reactor)
    await snap.start()
    poller = RegistryPoller(snap, reactor, interval=0.1, full_interval=3600)
    try:
        await client.set_node(op, "https://rpc.example")     # a write over JSON-RPC too
        await client.set_party(party, "be", "rpc", [Role.CPO], addr(op))
        poller.startService()
        await poller.poll_now()
        assert snap.ok and snap.get_operator("BE", "rpc").url == "https://rpc.example"

        # outage: stop listening and drop the kept-alive connections
        await svc.stopService()
        svc.site.drop_connections()
        await writer.set_party(party2, "BE", "NEW", [Role.EMSP], addr(op))  # happens meanwhile
        failures = poller.failures
        for _ in range(50):
            await _sleep(reactor, 0.1)
            if poller.failures >= failures + 2:
                break
        assert poller.failures >= failures + 2            # the loop keeps going
        assert not snap.ok and snap.rpc_errors >= 2
        assert "unreachable" in snap.last_error
        assert snap.age() > 0
        assert snap.get_operator("be", "RPC").url == "https://rpc.example"  # still served
        assert snap.get_party("BE", "NEW") is None
        assert (await snap.refresh_party("BE", "RPC")).address == addr(party)

        # back up on the same port: sync resumes and picks up what happened meanwhile
        svc, _ = await _listen(reactor, chain, port)
        for _ in range(50):
            await _sleep(reactor, 0.1)
            if snap.ok:
                break
        assert snap.ok and snap.last_error is None
        assert snap.get_party("be", "new").address == addr(party2)
    finally:
        await defer.maybeDeferred(poller.stopService)
        await backend.stop()
        await defer.maybeDeferred(svc.stopService)
        svc.site.drop_connections()
