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
* the **trace**: every hop's metadata kept in memory per X-Correlation-ID for
  ``[observability] trace_retention`` seconds (bounded by ``trace_max_hops``),
  swept by a timer.  Traces deliberately stay out of SQLite: the store writes
  with ``synchronous=FULL`` and one fsync per routed message is too high a
  price for diagnostics.  They do not survive a restart.

JSON logs for journald: run ``twist --log-format json ocnd ...`` or
``twistd --logger ocnd.observe.json_log_observer ocnd ...``.
"""

from __future__ import annotations

import sys
import time
from collections import OrderedDict, deque
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from twisted.application import service
from twisted.internet import task
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
        g = GaugeMetricFamily("ocnd_trace_hops", "Hops held in the in-memory message trace.")
        g.add_metric([], float(obs.trace.size))
        yield g


class Trace:
    """Hop metadata per correlation id, in memory, with time and size bounds."""

    def __init__(self, clock, retention: float, max_hops: int) -> None:
        self.clock = clock
        self.retention = retention
        self.max_hops = max_hops
        self._by_id: OrderedDict[str, list[dict]] = OrderedDict()  # oldest last-touched first
        self.size = 0

    @property
    def enabled(self) -> bool:
        return self.retention > 0

    def add(self, hop: dict) -> None:
        if not self.enabled:
            return
        cid = hop["correlation_id"]
        hops = self._by_id.get(cid)
        if hops is None:
            hops = self._by_id[cid] = []
        else:
            self._by_id.move_to_end(cid)
        hops.append(hop)
        self.size += 1
        while self.size > self.max_hops and self._by_id:
            _, dropped = self._by_id.popitem(last=False)
            self.size -= len(dropped)

    def get(self, correlation_id: str) -> list[dict]:
        return list(self._by_id.get(correlation_id, ()))

    def sweep(self) -> int:
        """Drop correlation ids whose newest hop is older than the retention; returns hops dropped."""
        cutoff = self.clock.seconds() - self.retention
        dropped = 0
        while self._by_id:
            cid, hops = next(iter(self._by_id.items()))
            if hops[-1]["time"] >= cutoff:
                break
            del self._by_id[cid]
            dropped += len(hops)
        self.size -= dropped
        return dropped


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
        self.trace = Trace(clock, obs_cfg["trace_retention"], obs_cfg["trace_max_hops"])
        self._sweeper: task.LoopingCall | None = None
        self.module_totals: dict[str, list[int]] = {}   # module -> [count, errors] since start
        self.recent: deque[tuple[float, str, bool]] = deque(maxlen=200_000)
        self.recent_errors: deque[dict] = deque(maxlen=RECENT_ERRORS)

        self.metrics = CollectorRegistry(auto_describe=True)
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

    def startService(self) -> None:
        super().startService()
        if self.trace.enabled:
            self._sweeper = task.LoopingCall(self.trace.sweep)
            self._sweeper.clock = self.clock
            self._sweeper.start(self.sweep_interval, now=False)

    def stopService(self):
        if self._sweeper is not None and self._sweeper.running:
            self._sweeper.stop()
        self._sweeper = None
        return super().stopService()

    # -- store timing ---------------------------------------------------------------

    def _instrument_store(self) -> None:
        """Time ``store.read``/``store.run`` on this instance (the class stays untouched)."""
        store = self.store
        if store is None or getattr(store, "_ocnd_timed", False):
            return
        for name, op in (("read", "read"), ("run", "write")):
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
        self.requests.labels(direction=event.direction, module=module, interface=event.interface or "",
                             target=event.target or "none", status=status).inc()
        self.latency.labels(direction=event.direction, target=event.target or "none").observe(event.latency)
        self.forwarded.labels(direction=event.direction, kind="request").inc(event.bytes_in)
        self.forwarded.labels(direction=event.direction, kind="response").inc(event.bytes_out)
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

    def hops_for_peer(self, correlation_id: str, peer_url: str) -> list[dict]:
        """This node's hops of a message that involved the node at ``peer_url``."""
        want = _norm_url(peer_url)
        return [h for h in self.trace.get(correlation_id) if _norm_url(h["peer_node"]) == want]

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

