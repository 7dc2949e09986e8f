"""Observability: Prometheus metrics, one log line per routed hop, message traces.

:class:`Observability` is a child service of the node.  Its
:meth:`Observability.observe` method is a router observer (it receives every
:class:`~ocnd.routing.router.RoutedEvent`) and feeds three consumers:

* **metrics** in a per-node :class:`prometheus_client.CollectorRegistry`
  (several nodes may share one process, e.g. in tests), rendered by
  ``GET /metrics`` (:mod:`ocnd.api.status`);
* a **hop log** line through ``twisted.logger`` with named fields
  (``request_id``, ``correlation_id``, ``module``, ...; never bodies, tokens or
  signatures), so a JSON log observer emits them as separate keys;
* the **trace**: every hop's metadata per X-Correlation-ID, appended in
  memory and written to the node's SQLite store in one transaction per
  ``[observability] trace_flush_interval`` (no fsync per routed message; a
  crash loses at most that interval), kept ``trace_retention`` seconds and at
  most ``trace_max_hops`` rows, swept by a timer.  Traces survive restarts.

JSON logs for journald: run ``twist --log-format json ocnd ...`` or
``twistd --logger ocnd.observe.json_log_observer ocnd ...``.
"""

from __future__ import annotations

import json
import sys
import time
from collections import deque
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from twisted.application import service
from twisted.internet import defer, task
from twisted.logger import Logger, jsonFileLogObserver

from . import __version__

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)
RECENT_WINDOW = 3600.0
RECENT_ERRORS = 20

hop_log = Logger(namespace="ocnd.routing.hop")


def json_log_observer():
    """Log observer factory for ``twistd --logger``: one JSON object per line on stdout.

    Unlike ``jsonFileLogObserver``'s default (RFC 7464, each record prefixed
    with 0x1E) the lines are plain JSON, which journald and most log
    shippers take as they are.
    """
    return jsonFileLogObserver(sys.stdout, recordSeparator="")


def _party(p: tuple[str, str] | None) -> str:
    return f"{p[0]}/{p[1]}" if p else ""


def _norm_url(url: str | None) -> str:
    return (url or "").rstrip("/").lower()


def hop_failed(hop: dict) -> bool:
    """A hop counts as an error when it did not end in HTTP 200 with OCPI 1000."""
    return bool(hop.get("error")) or hop.get("http_status") != 200 or hop.get("status_code") != 1000


class _RegistryCollector:
    """Gauges read from ``registry.status(now)`` and the store at scrape time."""

    def __init__(self, obs: "Observability") -> None:
        self.obs = obs

    def collect(self):
        obs = self.obs
        now = obs.clock.seconds()
        try:
            reg = obs.registry.status(now)
        except Exception:  # noqa: BLE001 - a scrape must not fail because the registry is starting
            reg = {}
        info = GaugeMetricFamily("ocnd_info", "Node identity (value is always 1).",
                                 labels=["version", "address", "url", "registry_mode"])
        info.add_metric([__version__, obs.node_address.lower(), obs.public_url, str(reg.get("mode", ""))], 1)
        yield info
        ok = GaugeMetricFamily("ocnd_registry_ok", "1 when the last registry sync succeeded.")
        ok.add_metric([], 1 if reg.get("ok") else 0)
        yield ok
        age = reg.get("last_sync_age")
        if age is not None:
            g = GaugeMetricFamily("ocnd_registry_snapshot_age_seconds",
                                  "Seconds since the registry snapshot was last synced.")
            g.add_metric([], float(age))
            yield g
        if reg.get("rpc_errors") is not None:
            c = CounterMetricFamily("ocnd_registry_rpc_errors", "Failed registry syncs since start.")
            c.add_metric([], float(reg["rpc_errors"]))
            yield c
        if reg.get("last_block") is not None:
            g = GaugeMetricFamily("ocnd_registry_last_block", "Chain block the snapshot is synced to.")
            g.add_metric([], float(reg["last_block"]))
            yield g
        for key, name in (("nodes", "ocnd_registry_nodes"), ("parties", "ocnd_registry_parties")):
            if reg.get(key) is not None:
                g = GaugeMetricFamily(name, f"Listings of {key} in the registry snapshot.")
                g.add_metric([], float(reg[key]))
                yield g
        last = getattr(obs.store, "last_latency", None)
        if last is not None:
            g = GaugeMetricFamily("ocnd_store_last_latency_seconds",
                                  "Duration of the most recent database transaction.")
            g.add_metric([], float(last))
            yield g
        g = GaugeMetricFamily("ocnd_trace_hops", "Hops held in the message trace (stored and pending).")
        g.add_metric([], float(obs.trace.size))
        yield g


class Trace:
    """Hop metadata per correlation id, kept in the node's database (table ``trace_hops``).

    Routing only appends to an in-memory list; a timer writes the list to the
    store in one transaction every ``flush_interval`` seconds (and at stop),
    so a trace survives restarts and costs the hot path no database round
    trip.  A crash loses at most the last interval of hops.  Rows older than
    ``retention`` are swept, and at most ``max_hops`` rows are kept (the
    oldest go first).
    """

    log = Logger()

    def __init__(self, store, clock, retention: float, max_hops: int, flush_interval: float = 1.0) -> None:
        self.store = store
        self.clock = clock
        self.retention = retention
        self.max_hops = max_hops
        self.flush_interval = flush_interval
        self.pending: list[dict] = []
        self.stored = 0          # rows in trace_hops (known after load())
        self.dropped = 0         # hops lost to a failed write
        self._flushing: defer.Deferred | None = None
        self._timer: task.LoopingCall | None = None

    @property
    def enabled(self) -> bool:
        return self.retention > 0

    @property
    def size(self) -> int:
        return self.stored + len(self.pending)

    def add(self, hop: dict) -> None:
        if not self.enabled:
            return
        self.pending.append(hop)
        if len(self.pending) >= 5000:
            self.flush()

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> defer.Deferred:
        """Count stored rows, then flush on a timer."""
        d = self.store.read(lambda conn: conn.execute("SELECT count(*) FROM trace_hops").fetchone()[0])

        def loaded(n: int) -> None:
            self.stored = n
            self._timer = task.LoopingCall(self.flush)
            self._timer.clock = self.clock
            self._timer.start(self.flush_interval, now=False)

        return d.addCallback(loaded)

    def stop(self) -> defer.Deferred:
        if self._timer is not None and self._timer.running:
            self._timer.stop()
        self._timer = None
        return self.flush()

    # -- writing --------------------------------------------------------------------

    def flush(self) -> defer.Deferred:
        """Write the pending hops (one transaction); fires when they are on disk."""
        if self._flushing is not None:  # one write at a time; the next tick takes the rest
            return self._flushing
        if not self.pending:
            return defer.succeed(0)
        batch, self.pending = self.pending, []
        d = self.store.run_side(_write_hops, batch, self.max_hops)

        def written(kept: int) -> int:
            self.stored = kept
            return len(batch)

        def failed(f) -> int:
            self.dropped += len(batch)
            self.log.warn("trace: {n} hops not stored: {error}", n=len(batch), error=f.getErrorMessage())
            return 0

        def done(result):
            self._flushing = None
            return result

        d.addCallbacks(written, failed).addBoth(done)
        if not d.called:
            self._flushing = d
        return d

    def sweep(self) -> defer.Deferred:
        """Delete hops older than the retention; fires with the number deleted."""
        cutoff = self.clock.seconds() - self.retention
        self.pending = [h for h in self.pending if h["time"] >= cutoff]
        d = self.store.run_side(_sweep_hops, cutoff)

        def swept(n: int) -> int:
            self.stored = max(0, self.stored - n)
            return n

        d.addCallback(swept)
        d.addErrback(lambda f: self.log.failure("trace sweep failed", f) and 0)
        return d

    # -- reading --------------------------------------------------------------------

    async def get(self, correlation_id: str) -> list[dict]:
        """Every hop of ``correlation_id`` within the retention, oldest first."""
        if not self.enabled:
            return []
        cutoff = self.clock.seconds() - self.retention
        stored = await self.store.read(_read_hops, correlation_id, cutoff)
        return stored + [h for h in self.pending if h["correlation_id"] == correlation_id and h["time"] >= cutoff]


def _write_hops(conn, hops: list[dict], max_hops: int) -> int:
    conn.executemany("INSERT INTO trace_hops (correlation_id, time, hop) VALUES (?, ?, ?)",
                     [(h["correlation_id"], h["time"], json.dumps(h, separators=(",", ":"))) for h in hops])
    count = conn.execute("SELECT count(*) FROM trace_hops").fetchone()[0]
    if count > max_hops:
        conn.execute("DELETE FROM trace_hops WHERE id IN (SELECT id FROM trace_hops ORDER BY id LIMIT ?)",
                     (count - max_hops,))
        count = max_hops
    return count


def _sweep_hops(conn, cutoff: float) -> int:
    return conn.execute("DELETE FROM trace_hops WHERE time < ?", (cutoff,)).rowcount


def _read_hops(conn, correlation_id: str, cutoff: float) -> list[dict]:
    rows = conn.execute("SELECT hop FROM trace_hops WHERE correlation_id = ? AND time >= ? ORDER BY id",
                        (correlation_id, cutoff))
    return [json.loads(r[0]) for r in rows]


class Observability(service.Service):
    """Metrics, hop log and trace of one node; a child service (runs the trace sweep)."""

    def __init__(self, *, config, clock, registry, store, node_address: str) -> None:
        obs_cfg = config["observability"]
        self.config = config
        self.clock = clock
        self.registry = registry
        self.store = store
        self.node_address = node_address
        self.public_url = config["node"]["public_url"]
        self.metrics_mode = obs_cfg["metrics"]
        self.hop_log = obs_cfg["hop_log"]
        self.sweep_interval = obs_cfg["trace_sweep_interval"]
        self.trace = Trace(store, clock, obs_cfg["trace_retention"], obs_cfg["trace_max_hops"],
                           obs_cfg["trace_flush_interval"])
        self._sweeper: task.LoopingCall | None = None
        self.module_totals: dict[str, list[int]] = {}   # module -> [count, errors] since start
        self.recent: deque[tuple[float, str, bool]] = deque(maxlen=200_000)
        self.recent_errors: deque[dict] = deque(maxlen=RECENT_ERRORS)

        self.metrics = CollectorRegistry(auto_describe=True)
        self._children: dict[tuple, tuple] = {}
        self.requests = Counter("ocnd_routed_requests", "Routed OCPI requests per hop.",
                                ["direction", "module", "interface", "target", "status"],
                                registry=self.metrics)
        self.latency = Histogram("ocnd_routing_latency_seconds",
                                 "Time a routed request spent in this node, forwarding included.",
                                 ["direction", "target"], buckets=LATENCY_BUCKETS, registry=self.metrics)
        self.forwarded = Counter("ocnd_forwarded_bytes", "Request and response body bytes of routed hops.",
                                 ["direction", "kind"], registry=self.metrics)
        self.store_latency = Histogram("ocnd_store_seconds",
                                       "Database calls as seen by the reactor (queue wait included).",
                                       ["op"], buckets=STORE_BUCKETS, registry=self.metrics)
        self.metrics.register(_RegistryCollector(self))
        self._instrument_store()

    # -- service ----------------------------------------------------------------------

    def start_trace(self) -> defer.Deferred:
        """Start writing and sweeping the trace; call once the store is open."""
        if not self.trace.enabled:
            return defer.succeed(None)
        self._sweeper = task.LoopingCall(self.trace.sweep)
        self._sweeper.clock = self.clock
        self._sweeper.start(self.sweep_interval, now=False)
        return self.trace.start()

    def stopService(self):
        super().stopService()
        if self._sweeper is not None and self._sweeper.running:
            self._sweeper.stop()
        self._sweeper = None
        return self.trace.stop()  # the store closes after the node's children stopped

    # -- store timing ---------------------------------------------------------------

    def _instrument_store(self) -> None:
        """Time ``store.read``/``store.run`` on this instance (the class stays untouched)."""
        store = self.store
        if store is None or getattr(store, "_ocnd_timed", False):
            return
        for name, op in (("read", "read"), ("run", "write"), ("run_side", "write")):
            original = getattr(store, name, None)
            if original is None:
                continue
            hist = self.store_latency.labels(op=op)

            def timed(*args, _original=original, _hist=hist, **kw):
                started = time.perf_counter()
                d = _original(*args, **kw)

                def done(result):
                    _hist.observe(time.perf_counter() - started)
                    return result

                return d.addBoth(done)

            setattr(store, name, timed)
        store._ocnd_timed = True

    # -- the router observer ------------------------------------------------------------

    def observe(self, event) -> None:
        hop = self.hop_of(event)
        status = str(event.status_code) if event.status_code is not None else "none"
        module = event.module or "unknown"
        target = event.target or "none"
        key = (event.direction, module, event.interface or "", target, status)
        children = self._children.get(key)
        if children is None:  # labels() validates and locks on every call: resolve each series once
            children = (self.requests.labels(direction=event.direction, module=module, interface=key[2],
                                             target=target, status=status),
                        self.latency.labels(direction=event.direction, target=target),
                        self.forwarded.labels(direction=event.direction, kind="request"),
                        self.forwarded.labels(direction=event.direction, kind="response"))
            if len(self._children) < 10_000:
                self._children[key] = children
        children[0].inc()
        children[1].observe(event.latency)
        children[2].inc(event.bytes_in)
        children[3].inc(event.bytes_out)
        failed = hop_failed(hop)
        totals = self.module_totals.setdefault(module, [0, 0])
        totals[0] += 1
        totals[1] += int(failed)
        self.recent.append((hop["time"], module, failed))
        if failed:
            self.recent_errors.append(hop)
        if hop["correlation_id"]:
            self.trace.add(hop)
        if self.hop_log:
            hop_log.info(
                "routed {direction} {method} {module}/{interface} {sender} -> {receiver} via {target} "
                "{http_status}/{status_code} in {latency_ms}ms (request {request_id}, correlation "
                "{correlation_id}){error_text}",
                direction=hop["direction"], method=hop["method"], module=hop["module"],
                interface=hop["interface"], sender=hop["sender"], receiver=hop["receiver"],
                target=hop["target"] or "nowhere", target_node=hop["target_node"], http_status=hop["http_status"],
                status_code=hop["status_code"], latency_ms=hop["latency_ms"], request_id=hop["request_id"],
                correlation_id=hop["correlation_id"], bytes_in=hop["bytes_in"], bytes_out=hop["bytes_out"],
                error=hop["error"], error_text=f": {hop['error']}" if hop["error"] else "")

    def hop_of(self, event) -> dict:
        """The trace record of one hop (metadata only)."""
        peer = ""
        if event.target == "remote":
            peer = event.target_node
        elif event.direction == "node" and event.sender is not None:
            try:
                listing = self.registry.get_operator(*event.sender)
            except Exception:  # noqa: BLE001
                listing = None
            peer = listing.url if listing is not None else ""
        return {
            "node": self.public_url,
            "time": float(event.started),
            "direction": event.direction,
            "module": event.module,
            "interface": event.interface,
            "method": event.method,
            "sender": _party(event.sender),
            "receiver": _party(event.receiver),
            "request_id": event.request_id,
            "correlation_id": event.correlation_id,
            "target": event.target,
            "target_node": event.target_node,
            "peer_node": peer,
            "http_status": event.http_status,
            "status_code": event.status_code,
            "latency_ms": round(event.latency * 1000, 3),
            "bytes_in": event.bytes_in,
            "bytes_out": event.bytes_out,
            "error": event.error,
        }

    @property
    def observers(self) -> list:
        return [self.observe]

    # -- queries -------------------------------------------------------------------------

    async def hops_for_peer(self, correlation_id: str, peer_url: str) -> list[dict]:
        """This node's hops of a message that involved the node at ``peer_url``."""
        want = _norm_url(peer_url)
        return [h for h in await self.trace.get(correlation_id) if _norm_url(h["peer_node"]) == want]

    def recent_by_module(self, window: float = RECENT_WINDOW) -> dict[str, tuple[int, int]]:
        """(messages, errors) per module over the last ``window`` seconds."""
        cutoff = self.clock.seconds() - window
        while self.recent and self.recent[0][0] < cutoff:
            self.recent.popleft()
        out: dict[str, list[int]] = {}
        for _t, module, failed in self.recent:
            row = out.setdefault(module, [0, 0])
            row[0] += 1
            row[1] += int(failed)
        return {k: (v[0], v[1]) for k, v in sorted(out.items())}


def peer_urls(hops: list[dict], own_url: str) -> list[str]:
    """Distinct other nodes named by ``hops`` (next node or previous node), in order."""
    seen: list[str] = []
    own = _norm_url(own_url)
    for h in hops:
        url = h.get("peer_node") or ""
        if url and _norm_url(url) != own and url not in seen:
            seen.append(url)
    return seen

