"""The routing view cache (ocnd.routing.viewcache): unit tests over a real Store, and end-to-end
checks that a changed OcnRules list takes effect on the very next routed request."""

from __future__ import annotations

import json

import pytest
import pytest_twisted
from twisted.internet import defer

from flowkit import rules_call
from ocnd.routing.viewcache import ViewCache
from ocnd.store import Store


@pytest_twisted.async_yield_fixture
async def store(tmp_path):
    from twisted.internet import reactor

    s = Store(str(tmp_path / "s.sqlite"), reactor)
    await s.start()
    await s.run(lambda conn: conn.execute("CREATE TABLE vc_test (k TEXT PRIMARY KEY, v TEXT)"))
    yield s
    await s.stop()


class Reader:
    """A store read function that counts its calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, conn, k: str):
        self.calls.append(k)
        row = conn.execute("SELECT v FROM vc_test WHERE k = ?", (k,)).fetchone()
        return ("view", k, row[0] if row else "-")


def put(conn, k: str, v: str) -> None:
    conn.execute("INSERT OR REPLACE INTO vc_test (k, v) VALUES (?, ?)", (k, v))


@pytest_twisted.ensureDeferred
async def test_second_get_is_served_from_memory(store):
    cache, read = ViewCache(store), Reader()
    await store.run(put, "a", "1")
    first = await cache.get("a", read, "a")
    second = await cache.get("a", read, "a")
    assert first == second == ("view", "a", "1")
    assert second is first
    assert read.calls == ["a"]
    assert (cache.hits, cache.misses) == (1, 1)
    assert cache.peek("a") is first
    assert cache.peek("other") is None
    # another key is another read
    assert await cache.get("b", read, "b") == ("view", "b", "-")
    assert read.calls == ["a", "b"]


@pytest_twisted.ensureDeferred
async def test_view_refused_by_keep_is_not_cached(store):
    cache, read = ViewCache(store), Reader()
    seen = []

    def keep(view):
        seen.append(view)
        return False

    assert await cache.get("a", read, "a", keep=keep) == ("view", "a", "-")
    assert await cache.get("a", read, "a", keep=keep) == ("view", "a", "-")
    assert read.calls == ["a", "a"]
    assert seen == [("view", "a", "-")] * 2
    assert cache.peek("a") is None
    # keep is decided per view: an accepted one is cached
    await cache.get("a", read, "a", keep=lambda v: True)
    await cache.get("a", read, "a")
    assert read.calls == ["a", "a", "a"]


@pytest_twisted.ensureDeferred
async def test_any_write_makes_the_next_get_read_again(store):
    cache, read = ViewCache(store), Reader()
    assert await cache.get("a", read, "a") == ("view", "a", "-")
    assert await cache.get("b", read, "b") == ("view", "b", "-")
    generation = store.generation
    # a write to an unrelated row still drops every view
    await store.run(put, "zzz", "unrelated")
    assert store.generation == generation + 1
    assert await cache.get("a", read, "a") == ("view", "a", "-")
    assert read.calls == ["a", "b", "a"]
    await store.run(put, "a", "2")
    assert await cache.get("a", read, "a") == ("view", "a", "2")
    assert await cache.get("b", read, "b") == ("view", "b", "-")
    assert read.calls == ["a", "b", "a", "a", "b"]
    # and now both are cached again
    await cache.get("a", read, "a")
    await cache.get("b", read, "b")
    assert len(read.calls) == 5


@pytest_twisted.ensureDeferred
async def test_failed_write_also_invalidates(store):
    cache, read = ViewCache(store), Reader()
    await cache.get("a", read, "a")

    def boom(conn):
        put(conn, "a", "never")
        raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        await store.run(boom)
    assert await cache.get("a", read, "a") == ("view", "a", "-")
    assert read.calls == ["a", "a"]


@pytest_twisted.ensureDeferred
async def test_run_side_leaves_views_cached(store):
    """Documented contract of Store.run_side: it does not move the generation."""
    cache, read = ViewCache(store), Reader()
    await cache.get("a", read, "a")
    generation = store.generation
    await store.run_side(put, "zzz", "side")
    assert store.generation == generation
    await cache.get("a", read, "a")
    assert read.calls == ["a"]


@pytest_twisted.ensureDeferred
async def test_read_racing_a_pending_write_is_not_kept(store):
    cache, read = ViewCache(store), Reader()
    await store.run(put, "a", "old")
    # the write is queued first, then the get's read: on the single DB thread the read runs
    # after the write, and its result arrives after the write's generation bump
    write = store.run(put, "a", "new")
    got = defer.ensureDeferred(cache.get("a", read, "a"))
    assert not write.called
    view = await got
    await write
    assert view == ("view", "a", "new")
    assert cache.peek("a") is None
    assert await cache.get("a", read, "a") == ("view", "a", "new")
    assert read.calls == ["a", "a"]
    # with no write pending the view is kept again
    await cache.get("a", read, "a")
    assert read.calls == ["a", "a"]


@pytest_twisted.ensureDeferred
async def test_read_started_before_a_write_is_dropped_by_it(store):
    """The other order: the read runs first (sees the old row), the write then invalidates it."""
    cache, read = ViewCache(store), Reader()
    await store.run(put, "a", "old")
    got = defer.ensureDeferred(cache.get("a", read, "a"))
    write = store.run(put, "a", "new")
    assert await got == ("view", "a", "old")
    await write
    assert await cache.get("a", read, "a") == ("view", "a", "new")
    assert read.calls == ["a", "a"]


@pytest_twisted.ensureDeferred
async def test_failed_read_is_not_cached(store):
    cache = ViewCache(store)
    calls = []

    def broken(conn):
        calls.append(1)
        raise ValueError("bad read")

    with pytest.raises(ValueError):
        await cache.get("a", broken)
    with pytest.raises(ValueError):
        await cache.get("a", broken)
    assert len(calls) == 2
    assert cache.peek("a") is None


@pytest_twisted.ensureDeferred
async def test_least_recently_used_view_is_evicted(store):
    cache, read = ViewCache(store, max_entries=2), Reader()
    await cache.get("a", read, "a")
    await cache.get("b", read, "b")
    await cache.get("a", read, "a")        # hit: a becomes the most recently used
    await cache.get("c", read, "c")        # evicts b, the least recently used
    assert read.calls == ["a", "b", "c"]
    assert len(cache._views) == 2
    await cache.get("a", read, "a")
    await cache.get("c", read, "c")
    assert read.calls == ["a", "b", "c"]
    await cache.get("b", read, "b")        # was evicted: read again (and evicts a)
    assert read.calls == ["a", "b", "c", "b"]
    await cache.get("a", read, "a")
    assert read.calls == ["a", "b", "c", "b", "a"]


@pytest_twisted.ensureDeferred
async def test_clear_drops_everything(store):
    cache, read = ViewCache(store), Reader()
    await cache.get("a", read, "a")
    cache.clear()
    await cache.get("a", read, "a")
    assert read.calls == ["a", "a"]


# -- end to end: OcnRules changes are seen by the very next routed request ---------------------------

LOC = b'{"country_code":"DE","party_id":"CPA","id":"L1","last_updated":"2020-01-01T00:00:00Z"}'


async def push(cpo, to):
    code, _, raw = await cpo.send("PUT", cpo.node.base + "/ocpi/receiver/2.2/locations/DE/CPA/L1",
                                  (to.country_code, to.party_id), body=LOC)
    return code, json.loads(raw)


@pytest.mark.parametrize("where", ["remote", "local"])
@pytest_twisted.ensureDeferred
async def test_rules_change_applies_to_the_next_routed_request(network, where):
    net = network
    cpo = net.cpo
    msp = net.msp if where == "remote" else net.msp_local
    # the node that checks the MSP's rules (node B for a remote route, node A for a local one)
    router = msp.node.router

    for _ in range(2):
        code, b = await push(cpo, msp)
        assert (code, b["status_code"]) == (200, 1000), b
    assert len(msp.received) == 2
    assert router.views.hits >= 1  # the routing view really is cached between requests

    code, body = await rules_call(msp, "PUT", "/blacklist", [{"country_code": "DE", "party_id": "CPA",
                                                              "modules": ["locations"]}])
    assert body["status_code"] == 1000, body
    code, b = await push(cpo, msp)
    assert (code, b["status_code"], b["status_message"]) == (
        400, 2000, "Sender not whitelisted to request locations from receiver."), b
    assert len(msp.received) == 2

    # and lifting the block is seen at once as well
    code, body = await rules_call(msp, "PUT", "/blacklist", [])
    assert body["status_code"] == 1000, body
    code, b = await push(cpo, msp)
    assert (code, b["status_code"]) == (200, 1000), b
    assert len(msp.received) == 3
