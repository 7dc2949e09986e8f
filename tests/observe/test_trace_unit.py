"""Trace retention, size bound and sweep timer with a fake clock; no network."""

from __future__ import annotations

import pytest_twisted
from twisted.internet import task

from ocnd.observe import Observability, peer_urls
from ocnd.routing.router import RoutedEvent
from ocnd.store import Store
from ocnd.testing import FakeRegistry
from support import make_config


def make(tmp_path, clock, store=None, **env):
    config = make_config(tmp_path, **{f"OCND_OBSERVABILITY_{k.upper()}": str(v) for k, v in env.items()})
    return Observability(config=config, clock=clock, registry=FakeRegistry(), store=store,
                         node_address="0x" + "ab" * 20)


async def open_store(tmp_path):
    from twisted.internet import reactor

    store = Store(str(tmp_path / "trace.sqlite"), reactor)
    await store.start()
    return store


async def settled(store):
    """Wait until every store call queued so far has fired (one DB thread, results in order)."""
    await store.read(lambda conn: None)


async def started(tmp_path, clock, **env):
    """A store and an Observability writing its trace to it (stop both with ``stop(obs)``)."""
    store = await open_store(tmp_path)
    obs = make(tmp_path, clock, store, **env)
    obs.startService()
    await obs.start_trace()
    return obs


async def stop(obs):
    await obs.stopService()
    await obs.store.stop()


def stored_rows(store):
    return store.read(lambda conn: [(r[0], r[1]) for r in conn.execute(
        "SELECT correlation_id, time FROM trace_hops ORDER BY id")])


def hop(clock, cid, module="sessions", status=1000, **kw):
    return RoutedEvent("party", clock.seconds(), module=module, interface="RECEIVER", method="PUT",
                       sender=("DE", "CPA"), receiver=("NL", "MSP"), request_id="r-" + cid, correlation_id=cid,
                       target="local", http_status=200, status_code=status, latency=0.01, **kw)


@pytest_twisted.ensureDeferred
async def test_trace_is_written_in_batches_swept_by_its_timer_and_survives_a_restart(tmp_path):
    clock = task.Clock()
    store = await open_store(tmp_path)
    obs = make(tmp_path, clock, store, trace_retention=100, trace_sweep_interval=10, trace_flush_interval=1)
    obs.startService()
    await obs.start_trace()
    obs.observe(hop(clock, "c1"))
    assert await stored_rows(store) == []                 # nothing written on the routing path
    assert len(await obs.trace.get("c1")) == 1              # pending hops are visible
    clock.advance(1)                                        # the flush timer writes them
    await settled(store)
    assert await stored_rows(store) == [("c1", 0.0)]
    clock.advance(49)
    obs.observe(hop(clock, "c2"))
    await obs.trace.flush()
    assert obs.trace.size == 2 and len(await obs.trace.get("c1")) == 1
    clock.advance(60)  # c1 is 110 s old: gone at the sweep at t=110; c2 is 60 s old
    await settled(store)
    assert await obs.trace.get("c1") == [] and len(await obs.trace.get("c2")) == 1 and obs.trace.size == 1
    obs.observe(hop(clock, "c2"))  # a new hop of c2, written at stop
    await obs.stopService()
    assert not clock.getDelayedCalls()
    await store.stop()

    obs = await started(tmp_path, clock, trace_retention=100)  # restart: the trace is still there
    assert obs.trace.size == 2
    hops = await obs.trace.get("c2")
    assert [h["time"] for h in hops] == [50.0, 110.0] and hops[0]["request_id"] == "r-c2"
    await stop(obs)


@pytest_twisted.ensureDeferred
async def test_trace_keeps_at_most_max_hops(tmp_path):
    clock = task.Clock()
    obs = await started(tmp_path, clock, trace_max_hops=3)
    for i in range(5):
        obs.observe(hop(clock, f"c{i}"))
        await obs.trace.flush()
    assert obs.trace.size == 3
    assert [c for c in ("c0", "c1", "c2", "c3", "c4") if await obs.trace.get(c)] == ["c2", "c3", "c4"]
    await stop(obs)


@pytest_twisted.ensureDeferred
async def test_a_failed_trace_write_is_counted_and_logged_never_raised(tmp_path):
    clock = task.Clock()
    obs = await started(tmp_path, clock)
    await obs.store.run(lambda conn: conn.execute("DROP TABLE trace_hops"))
    obs.observe(hop(clock, "c1"))
    assert await obs.trace.flush() == 0
    assert obs.trace.dropped == 1 and obs.trace.pending == []
    await stop(obs)


def test_trace_disabled_and_counts_still_kept(tmp_path):
    clock = task.Clock()
    obs = make(tmp_path, clock, trace_retention=0)
    obs.startService()
    assert not clock.getDelayedCalls()
    obs.observe(hop(clock, "c1"))
    obs.observe(hop(clock, "c2", module="cdrs", status=2001, error="Malformed JSON body"))
    assert obs.trace.size == 0
    assert obs.module_totals == {"sessions": [1, 0], "cdrs": [1, 1]}
    assert obs.recent_by_module() == {"cdrs": (1, 1), "sessions": (1, 0)}
    clock.advance(3601)
    assert obs.recent_by_module() == {}
    assert obs.module_totals == {"sessions": [1, 0], "cdrs": [1, 1]}
    assert [h["error"] for h in obs.recent_errors] == ["Malformed JSON body"]
    obs.stopService()


@pytest_twisted.ensureDeferred
async def test_peer_of_a_node_hop_is_the_sender_node_from_the_registry(tmp_path):
    clock = task.Clock()
    store = await open_store(tmp_path)
    obs = make(tmp_path, clock, store)
    obs.registry.list_party("DE", "CPA", "0x" + "cd" * 20, "http://node-a.test")
    event = hop(clock, "c1")
    event.direction, event.target = "node", "local"
    obs.observe(event)
    remote = hop(clock, "c1")
    remote.target, remote.target_node = "remote", "http://node-b.test"
    obs.observe(remote)
    hops = await obs.trace.get("c1")
    assert [h["peer_node"] for h in hops] == ["http://node-a.test", "http://node-b.test"]
    assert peer_urls(hops, "http://node-b.test/") == ["http://node-a.test"]
    assert await obs.hops_for_peer("c1", "http://NODE-A.test/") == hops[:1]
    await store.stop()


def test_two_nodes_in_one_process_have_separate_metrics(tmp_path):
    clock = task.Clock()
    one, two = make(tmp_path, clock), make(tmp_path, clock)
    one.observe(hop(clock, "c1"))
    labels = {"direction": "party", "module": "sessions", "interface": "RECEIVER", "target": "local",
              "status": "1000"}
    assert one.metrics.get_sample_value("ocnd_routed_requests_total", labels) == 1
    assert two.metrics.get_sample_value("ocnd_routed_requests_total", labels) is None
    assert one.metrics.get_sample_value("ocnd_registry_ok") == 1


def test_json_log_observer_writes_one_plain_json_line_per_event(tmp_path, monkeypatch):
    import io
    import json

    from twisted.logger import Logger

    from ocnd.observe import json_log_observer

    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    observer = json_log_observer()
    log = Logger(namespace="ocnd.routing.hop", observer=observer)
    log.info("routed {module}", module="sessions", correlation_id="c-1", request_id="r-1")
    log.info("second")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    event = json.loads(lines[0])
    assert event["correlation_id"] == "c-1" and event["request_id"] == "r-1" and event["module"] == "sessions"
    assert event["log_namespace"] == "ocnd.routing.hop"
