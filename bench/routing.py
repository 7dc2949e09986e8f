"""Routed throughput and latency: CPO -> node A -> node B -> MSP vs a bare two-hop proxy.

    python bench/routing.py [--seconds 3] [--warmup 1] [--rounds 3] [--concurrency 1,10,100]
                            [--open-fraction 0.3] [--no-signed] [--quick]

Process layout (the same for every variant, so ratios are fair):

* one **server process** runs everything on the server side in one Twisted
  reactor: for ``routed`` the embedded chain, node A, node B, the CPO and the
  MSP (``ocnd.testing.TwoNodeNetwork``); for ``proxy`` two tiny Klein proxies
  (treq, own ``HTTPConnectionPool`` with maxPersistentPerHost >= concurrency)
  in front of the same kind of backend (a ``MockParty``); for ``direct`` the
  backend alone;
* one **load process** (``bench/_common.load``: asyncio, raw keep-alive
  HTTP/1.1, closed loop with N connections) plays the CPO.

On a 2-core box this gives the server side one core and the load generator
the other.  Both nodes share one process here (and one GIL), as do the two
proxies of the baseline.

The request is ``PUT /ocpi/receiver/2.2/locations/DE/CPA/LOC1`` with a
~380-byte location; a reply counts only if it is HTTP 200 with status_code
1000.  While the load runs, the server process counts calls into the
registry backends (``read``/``transact``) and into the embedded chain
(``chain.run``): that is "RPC calls on the routing hot path" (target 0).
It also counts store round trips and server CPU time per request.

Prints one line per figure; ratios are against the bare proxy measured in
the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import load, percentile  # noqa: E402

CPO_KEY = "0x" + "c0" * 32
MSP_KEY = "0x" + "e1" * 32
TOKEN_B = "token-b-bench-msp"
LOCATION = (b'{"country_code":"DE","party_id":"CPA","id":"LOC1","publish":true,"name":"Gent Zuid",'
            b'"address":"F.Rooseveltlaan 3A","city":"Gent","country":"BEL","coordinates":{"latitude":"51.047599",'
            b'"longitude":"3.729944"},"parking_type":"ON_STREET","time_zone":"Europe/Brussels",'
            b'"last_updated":"2015-06-29T20:39:09Z"}')
OCPI_PATH = "/ocpi/2.2/receiver/locations/DE/CPA/LOC1"      # at the MSP
NODE_PATH = "/ocpi/receiver/2.2/locations/DE/CPA/LOC1"      # at node A
ROUTING = {"X-Correlation-ID": "bench-corr", "OCPI-from-country-code": "DE", "OCPI-from-party-id": "CPA",
           "OCPI-to-country-code": "NL", "OCPI-to-party-id": "MSP"}


# -- server process -------------------------------------------------------------------


class Counters:
    def __init__(self) -> None:
        self.reset()

    profile_path = None
    profiler = None

    def reset(self) -> None:
        if self.profile_path:
            import cProfile

            self.profiler = cProfile.Profile()
            self.profiler.enable()
        self.c: dict[str, int] = {}
        self.where: set[str] = set()
        self.hop: dict[str, list[float]] = {}
        self.gc: dict[int, list[float]] = {}
        self.cpu0 = _cpu()

    _gc_started = 0.0

    def gc_callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.gc.setdefault(info["generation"], []).append(time.perf_counter() - self._gc_started)

    def inc(self, name: str) -> None:
        self.c[name] = self.c.get(name, 0) + 1

    def wrap(self, obj, attr: str, name: str, where: bool = False) -> None:
        original = getattr(obj, attr)

        def counted(*a, **kw):
            self.inc(name)
            if where:
                self.where.add(_caller())
            return original(*a, **kw)

        setattr(obj, attr, counted)

    def stats(self) -> dict:
        if self.profiler is not None:
            self.profiler.disable()
            self.profiler.dump_stats(self.profile_path)
            self.profiler = None
        hops = {}
        for k, v in self.hop.items():
            v = sorted(v)
            hops[k] = {"n": len(v), "p50_ms": v[len(v) // 2] * 1e3 if v else None,
                       "mean_ms": sum(v) / len(v) * 1e3 if v else None}
        gc_pauses = {str(g): {"n": len(v), "max_ms": max(v) * 1e3, "total_ms": sum(v) * 1e3}
                     for g, v in self.gc.items()}
        return {"counts": dict(self.c), "hops": hops, "cpu_s": _cpu() - self.cpu0, "where": sorted(self.where),
                "gc": gc_pauses}


def _caller() -> str:
    """The innermost ocnd frames that led to a registry/chain call."""
    import traceback

    frames = [f for f in traceback.extract_stack()[:-2] if "/ocnd/" in f.filename]
    return " <- ".join(f"{f.filename.rsplit('/ocnd/', 1)[1]}:{f.name}" for f in reversed(frames[-3:]))


def _print_cycles(garbage: list) -> None:
    """One reference cycle through an object of each kind found (a debugging aid)."""
    import gc

    ids = {id(o): o for o in garbage}
    done = set()
    for start in garbage:
        kind = _kind(start)
        if kind in done or kind in ("list", "dict", "tuple", "cell", "set"):
            continue
        done.add(kind)
        prev = {id(start): None}
        queue = [start]
        found = None
        while queue and found is None:
            nxt = []
            for o in queue:
                for r in gc.get_referents(o):
                    if r is start:
                        found = o
                        break
                    if id(r) in ids and id(r) not in prev:
                        prev[id(r)] = o
                        nxt.append(r)
                if found is not None:
                    break
            queue = nxt
        if found is None:
            continue
        path = []
        o = found
        while o is not None:
            path.append(_kind(o))
            o = prev[id(o)]
        sys.stderr.write(f"# cycle: {' -> '.join(reversed(path))} -> {kind}\n")


def _kind(o) -> str:
    name = type(o).__name__
    if name == "function":
        return f"function {o.__qualname__}"
    if name == "cell":
        return "cell"
    if name in ("frame", "coroutine"):
        return f"{name} {getattr(o, 'f_code', getattr(o, 'cr_code', None)).co_name}"
    if name == "method":
        return f"method {o.__qualname__}"
    return name


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _quiet_site(site) -> None:
    site.log = lambda request: None  # no access log, as ocnd's default


async def _start_routed(reactor, tmp: str, signed: bool, pool: int, counters: Counters) -> dict:
    from ocnd.signing import notary, rawjson
    from ocnd.testing import TwoNodeNetwork

    env = {"OCND_LIMITS_MAX_CONNECTIONS_PER_HOST": str(pool)}
    net = TwoNodeNetwork(reactor, tmp, signatures=signed, env=env)
    await net.start()
    cpo = await net.add_party(net.node_a, country_code="DE", party_id="CPA", role="CPO",
                              modules=(("locations", "SENDER"),), key=CPO_KEY)
    msp = await net.add_party(net.node_b, country_code="NL", party_id="MSP", role="EMSP",
                              modules=(("locations", "RECEIVER"),), key=MSP_KEY, token_b=TOKEN_B)
    for p in (cpo, msp):
        _quiet_site(p.site)
    msp.received = _Discard()  # don't grow a list per request during the load
    if not signed:
        msp.key = None  # MockParty signs every reply when it has a key; an unsigned network doesn't
    counters.wrap(net.chain, "run", "chain.run", where=True)
    for name, node in (("A", net.node_a), ("B", net.node_b)):
        backend = node.registry.client.backend
        counters.wrap(backend, "read", "registry.read", where=True)
        counters.wrap(backend, "transact", "registry.transact", where=True)
        counters.wrap(node.store, "read", f"store.read {name}")
        counters.wrap(node.store, "run", f"store.run {name}")

        def observe(event, _name=name):
            counters.hop.setdefault(_name, []).append(event.latency)

        node.router.observers.append(observe)
    headers = {"Authorization": f"Token {cpo.token_c}", "Content-Type": "application/json", **ROUTING}
    if signed:
        values = notary.request_values(ROUTING, None, rawjson.loads(LOCATION))
        headers["OCN-Signature"] = notary.serialize(notary.sign(values, CPO_KEY))
    port = int(net.node_a.base.rsplit(":", 1)[1])
    _start_routed.net = net
    return {"port": port, "path": NODE_PATH, "headers": headers}


class _Discard(list):
    def append(self, item) -> None:  # keep only the latest request
        self[:] = [item]


async def _start_backend(reactor):
    from ocnd.testing import MockParty

    party = MockParty(reactor, token_b=TOKEN_B, modules=(("locations", "RECEIVER"),), country_code="NL",
                      party_id="MSP", role="EMSP")
    await party.start()
    _quiet_site(party.site)
    party.received = _Discard()
    return party


def _proxy_site(reactor, upstream: str, pool_size: int):
    from klein import Klein
    from treq.client import HTTPClient
    from twisted.web.client import Agent, HTTPConnectionPool
    from twisted.web.http_headers import Headers
    from twisted.web.server import Site

    pool = HTTPConnectionPool(reactor, persistent=True)
    pool.maxPersistentPerHost = pool_size
    http = HTTPClient(Agent(reactor, pool=pool))
    app = Klein()
    skip = {b"host", b"content-length", b"connection"}

    @app.route("/", branch=True, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def forward(request):
        body = request.content.read()
        headers = Headers({k: v for k, v in request.requestHeaders.getAllRawHeaders() if k.lower() not in skip})
        response = await http.request(request.method.decode(), upstream + request.uri.decode(),
                                      headers=headers, data=body or None)
        raw = await response.content()
        request.setResponseCode(response.code)
        ctype = response.headers.getRawHeaders(b"content-type")
        if ctype:
            request.setHeader(b"content-type", ctype[0])
        return raw

    site = Site(app.resource())
    _quiet_site(site)
    return site


async def _listen(reactor, site) -> int:
    from twisted.internet import endpoints

    # the node's default backlog (limits.listen_backlog), not Twisted's 50
    port = await endpoints.TCP4ServerEndpoint(reactor, 0, backlog=1024, interface="127.0.0.1").listen(site)
    return port.getHost().port


async def _start_proxy(reactor, pool: int, counters: Counters) -> dict:
    backend = await _start_backend(reactor)
    p2 = await _listen(reactor, _proxy_site(reactor, backend.base, pool))
    p1 = await _listen(reactor, _proxy_site(reactor, f"http://127.0.0.1:{p2}", pool))
    return {"port": p1, "path": OCPI_PATH,
            "headers": {"Authorization": f"Token {TOKEN_B}", "Content-Type": "application/json", **ROUTING}}


async def _start_direct(reactor, counters: Counters) -> dict:
    backend = await _start_backend(reactor)
    return {"port": int(backend.base.rsplit(":", 1)[1]), "path": OCPI_PATH,
            "headers": {"Authorization": f"Token {TOKEN_B}", "Content-Type": "application/json", **ROUTING}}


def server_main(layout: str, tmp: str, pool: int) -> None:
    from twisted.internet import defer, reactor

    import gc

    counters = Counters()
    counters.profile_path = os.environ.get("OCND_BENCH_PROFILE")
    gc.callbacks.append(counters.gc_callback)
    state = {"quitting": False}
    out = sys.stdout

    def emit(obj) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    def command(line: str) -> None:
        if line == "reset":
            if os.environ.get("OCND_BENCH_GC_GARBAGE"):
                # keep what the collector frees (reference cycles) so "stats" can say what it was
                gc.collect()
                gc.garbage.clear()
                gc.set_debug(gc.DEBUG_SAVEALL)
            counters.reset()
            emit({"ok": True})
        elif line == "stats":
            if os.environ.get("OCND_BENCH_GC_TYPES"):
                import collections

                types = collections.Counter(type(o).__name__ for o in gc.get_objects())
                sys.stderr.write(f"# {layout}: {sum(types.values())} GC-tracked objects outside the frozen set: "
                                 f"{types.most_common(15)}\n")
            if os.environ.get("OCND_BENCH_GC_GARBAGE"):
                import collections

                gc.collect()
                gc.set_debug(0)
                kinds = collections.Counter(_kind(o) for o in gc.garbage)
                sys.stderr.write(f"# {layout}: {len(gc.garbage)} objects in reference cycles: "
                                 f"{kinds.most_common(40)}\n")
                if os.environ.get("OCND_BENCH_GC_CYCLES"):
                    _print_cycles(gc.garbage)
                gc.garbage.clear()
            emit(counters.stats())
        elif line == "quit" and not state["quitting"]:
            state["quitting"] = True
            # tidy stop of the network, but never hang the bench on it
            reactor.callLater(10, os._exit, 0)
            d = defer.succeed(None)
            net = getattr(_start_routed, "net", None)
            if net is not None:
                d = defer.ensureDeferred(net.stop())
            d.addBoth(lambda _: os._exit(0))

    def control() -> None:
        for line in sys.stdin:
            reactor.callFromThread(command, line.strip())
        reactor.callFromThread(command, "quit")

    async def start():
        if layout in ("routed", "signed"):
            spec = await _start_routed(reactor, tmp, layout == "signed", pool, counters)
        elif layout == "proxy":
            spec = await _start_proxy(reactor, pool, counters)
        else:
            spec = await _start_direct(reactor, counters)
        # what `twistd ocnd` does once started ([node] gc_young_threshold, gc_freeze), for every layout alike;
        # OCND_BENCH_GC_YOUNG overrides the threshold (700 = Python's default)
        from ocnd.config import SCHEMA
        from ocnd.node import freeze_startup_objects, tune_gc

        tune_gc(int(os.environ.get("OCND_BENCH_GC_YOUNG", SCHEMA["node"]["gc_young_threshold"][0])))
        freeze_startup_objects()
        spec.update(host="127.0.0.1", method="PUT", body=LOCATION.decode(), ok_marker='"status_code":1000')
        emit(spec)
        threading.Thread(target=control, daemon=True).start()

    def failed(f):
        sys.stderr.write(f"server start failed: {f.getTraceback()}\n")
        os._exit(2)

    reactor.callWhenRunning(lambda: defer.ensureDeferred(start()).addErrback(failed))
    reactor.run()


# -- orchestration ---------------------------------------------------------------------


class Server:
    def __init__(self, layout: str, tmp: str, pool: int) -> None:
        self.layout = layout
        self.errlog = open(os.path.join(tmp, f"{layout}.stderr"), "w+")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--child", "server", "--layout", layout,
             "--tmp", os.path.join(tmp, layout), "--pool", str(pool)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errlog, text=True)
        self.spec: dict = {}

    def wait_ready(self) -> None:
        self.spec = self._line()

    def _line(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.errlog.seek(0)
            raise RuntimeError(f"{self.layout} server died:\n{self.errlog.read()[-3000:]}")
        return json.loads(line)

    def ask(self, command: str) -> dict:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._line()

    def close(self) -> None:
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except Exception:  # noqa: BLE001
            self.proc.kill()
            self.proc.wait()


def run_load(spec: dict) -> dict:
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", "load", "--spec",
                          json.dumps(spec)], check=True, capture_output=True, text=True, timeout=120).stdout
    return json.loads(out.strip().splitlines()[-1])


def measure_all(layouts: list[str], tmp: str, levels: list[int], warmup: float, seconds: float,
                pool: int, rounds: int = 1, open_fraction: float = 0.0) -> dict:
    """All servers up at once (idle ones cost nothing); per level and round, the layouts run back to
    back, so a baseline and its routed figure are measured seconds apart.  Returns, per layout and
    level, the list of rounds."""
    servers = {}
    res: dict = {layout: {c: [] for c in levels} for layout in layouts}
    try:
        for layout in layouts:
            servers[layout] = Server(layout, tmp, pool)
        for server in servers.values():
            server.wait_ready()
        for c in levels:
            for _ in range(rounds):
                for layout in layouts:
                    server = servers[layout]
                    server.ask("reset")
                    r = run_load(dict(server.spec, concurrency=c, warmup=warmup, seconds=seconds, samples=True))
                    r["server"] = server.ask("stats")
                    if r["errors"]:
                        print(f"# {layout} c={c}: {r['errors']} bad replies, first: {r['first_error']}",
                              file=sys.stderr)
                    res[layout][c].append(r)
        if open_fraction:
            # open loop below saturation: latency added by a hop itself, not queueing behind the CPU
            base = 10 if 10 in levels else levels[-1]
            rate = open_fraction * statistics.median(r["rps"] for r in res["proxy"][base])
            res["open_rate"] = rate
            for layout in layouts:
                res[layout]["open"] = []
            for _ in range(rounds):
                for layout in layouts:
                    if layout == "direct":
                        continue
                    server = servers[layout]
                    server.ask("reset")
                    r = run_load(dict(server.spec, concurrency=10, warmup=warmup, seconds=seconds, rate=rate,
                                      samples=True))
                    r["server"] = server.ask("stats")
                    res[layout]["open"].append(r)
    finally:
        for server in servers.values():
            server.close()
    return res


def merge(rounds: list[dict]) -> dict:
    """One result from several rounds: medians of rates and percentiles, sums of counts."""
    out = {k: statistics.median(r[k] for r in rounds) for k in ("rps", "p50_ms", "p99_ms", "mean_ms")}
    if all("lat_ms" in r for r in rounds):
        # percentiles over every round's samples together: a round's p99 is set by one or two stalls
        # (its 1% slowest replies), so the median of three such figures moves far more than this
        pooled = sorted(x for r in rounds for x in r["lat_ms"])
        out["p50_ms"], out["p99_ms"] = percentile(pooled, 50), percentile(pooled, 99)
        for r in rounds:
            r["lat_ms"] = None  # the pooled figures are all that is kept
    out.update({k: sum(r[k] for r in rounds) for k in ("requests", "total_requests", "errors")})
    out["first_error"] = next((r["first_error"] for r in rounds if r["first_error"]), None)
    counts: dict[str, int] = {}
    for r in rounds:
        for k, v in r["server"]["counts"].items():
            counts[k] = counts.get(k, 0) + v
    hops = {}
    for name in {h for r in rounds for h in r["server"]["hops"]}:
        means = [r["server"]["hops"][name]["mean_ms"] for r in rounds
                 if r["server"]["hops"].get(name, {}).get("mean_ms") is not None]
        hops[name] = {"mean_ms": statistics.median(means) if means else None}
    gc_pauses = {}
    for r in rounds:
        for g, v in r["server"].get("gc", {}).items():
            m = gc_pauses.setdefault(g, {"n": 0, "max_ms": 0.0})
            m["n"] += v["n"]
            m["max_ms"] = max(m["max_ms"], v["max_ms"])
    out["server"] = {"counts": counts, "hops": hops, "gc": gc_pauses,
                     "cpu_s": sum(r["server"]["cpu_s"] for r in rounds),
                     "where": sorted({w for r in rounds for w in r["server"]["where"]})}
    out["rounds"] = len(rounds)
    return out


def paired(a: list[dict], b: list[dict], fn) -> float:
    """Median over rounds of ``fn(a_round, b_round)``: each pair was measured seconds apart."""
    return statistics.median(fn(x, y) for x, y in zip(a, b))


def _ratio(x: dict, y: dict) -> float:
    return x["rps"] / y["rps"]


def _added(key: str):
    return lambda x, y: (x[key] - y[key]) / 2


def _spread(a: list[dict], b: list[dict]) -> str:
    """Range of the per-round added p99 (each round's routed and baseline measured seconds apart)."""
    added = [_added("p99_ms")(x, y) for x, y in zip(a, b)]
    return f"[{min(added):+.1f}..{max(added):+.1f}]"


def _cpu_per_req(r: dict) -> float:
    """Server-process CPU microseconds per request (warm-up requests included on both sides)."""
    return r["server"]["cpu_s"] / max(r["total_requests"], 1) * 1e6


def _gc_note(r: dict) -> str:
    """Garbage-collector pauses in the server process during the level (oldest generation)."""
    g2 = r["server"].get("gc", {}).get("2")
    return f"  gen2 GC {g2['n']}x max {g2['max_ms']:.1f} ms" if g2 else "  gen2 GC 0x"


def _hot_rpc(r: dict) -> int:
    # the registry backend is the RPC boundary (JsonRpcBackend = one HTTP JSON-RPC call per read);
    # embedded chain.run calls are shown separately, most of them come through the backend
    counts = r["server"]["counts"]
    return counts.get("registry.read", 0) + counts.get("registry.transact", 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per level")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each level")
    parser.add_argument("--concurrency", default="1,10,100")
    parser.add_argument("--pool", type=int, default=128,
                        help="maxPersistentPerHost for node and proxy clients (>= concurrency)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="measurements per level and layout, interleaved (medians are reported)")
    parser.add_argument("--open-fraction", type=float, default=0.3,
                        help="also run open loop at this fraction of the bare proxy's c=10 throughput over 10 "
                             "connections (0: skip)")
    parser.add_argument("--no-signed", action="store_true", help="skip the signatures-on variant")
    parser.add_argument("--quick", action="store_true", help="tiny run for the smoke test")
    parser.add_argument("--child", choices=("server", "load"), help=argparse.SUPPRESS)
    parser.add_argument("--layout", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "server":
        os.makedirs(args.tmp, exist_ok=True)
        server_main(args.layout, args.tmp, args.pool)
        return
    if args.child == "load":
        print(json.dumps(load(json.loads(args.spec))))
        return
    levels = [int(x) for x in args.concurrency.split(",")]
    if args.quick:
        levels, args.seconds, args.warmup, args.no_signed, args.rounds = [10], 0.5, 0.3, True, 1
    started = time.perf_counter()
    tmp = tempfile.mkdtemp(prefix="ocnd-bench-routing-")
    layouts = ["direct", "proxy", "routed"] + ([] if args.no_signed else ["signed"])
    if args.quick:
        layouts.remove("direct")
    rounds = measure_all(layouts, tmp, levels, args.warmup, args.seconds, args.pool, args.rounds,
                         args.open_fraction)
    open_rate = rounds.pop("open_rate", None)
    res = {layout: {c: merge(rs) for c, rs in per_level.items() if rs} for layout, per_level in rounds.items()}
    print(f"# layout: server side in 1 process, load generator in another; {os.cpu_count()} cpus; "
          f"{args.rounds} x {args.seconds:g}s per level after {args.warmup:g}s warm-up each; PUT location, "
          f"closed loop; rates are medians over the rounds, ratios medians of per-round pairs; p50/p99 "
          f"over all rounds' replies pooled, added latency = (routed - baseline) / 2 hops of those, "
          f"[per-round added p99 min..max]")
    for c in levels:
        d, p = res.get("direct", {}).get(c), res["proxy"][c]
        if d is not None:
            print(f"direct MSP          c={c:<3} {d['rps']:8.0f} req/s  p50 {d['p50_ms']:6.2f} ms"
                  f"  p99 {d['p99_ms']:6.2f} ms  cpu {_cpu_per_req(d):5.0f} us/req")
        print(f"bare 2-hop proxy    c={c:<3} {p['rps']:8.0f} req/s  p50 {p['p50_ms']:6.2f} ms  p99 {p['p99_ms']:6.2f} ms"
              f"  cpu {_cpu_per_req(p):5.0f} us/req"
              + (f"  ratio {p['rps'] / d['rps']:.2f}x of direct" if d else ""))
        for layout, label in (("routed", "routed A->B"), ("signed", "routed A->B signed")):
            if layout not in res:
                continue
            r = res[layout][c]
            hops = r["server"]["hops"]
            inner = ""
            if "A" in hops and "B" in hops and hops["A"]["mean_ms"] is not None:
                inner = (f"  in-node mean A {hops['A']['mean_ms'] - hops['B']['mean_ms']:.2f} ms"
                         f" B {hops['B']['mean_ms']:.2f} ms (B incl. MSP)")
            rr, pr = rounds[layout][c], rounds["proxy"][c]
            print(f"{label:<19} c={c:<3} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms"
                  f"  cpu {_cpu_per_req(r):5.0f} us/req"
                  f"  ratio {paired(rr, pr, _ratio):.2f}x of bare proxy"
                  f"  added/hop vs proxy p50 {_added('p50_ms')(r, p):+.2f} ms"
                  f" p99 {_added('p99_ms')(r, p):+.2f} ms {_spread(rr, pr)}"
                  + (f"  vs direct p99 {_added('p99_ms')(r, d):+.2f} ms" if d else "")
                  + inner + _gc_note(r))
    add99_open = None
    if open_rate:
        p = res["proxy"]["open"]
        print(f"bare 2-hop proxy    open loop {open_rate:5.0f} req/s over 10 connections"
              f"  p50 {p['p50_ms']:6.2f} ms  p99 {p['p99_ms']:6.2f} ms  cpu {_cpu_per_req(p):5.0f} us/req")
        for layout, label in (("routed", "routed A->B"), ("signed", "routed A->B signed")):
            if layout not in res:
                continue
            r = res[layout]["open"]
            rr, pr = rounds[layout]["open"], rounds["proxy"]["open"]
            added = _added("p99_ms")(r, p)
            if layout == "routed":
                add99_open = added
            print(f"{label:<19} open loop {open_rate:5.0f} req/s over 10 connections"
                  f"  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  cpu {_cpu_per_req(r):5.0f} us/req"
                  f"  added/hop vs proxy p50 {_added('p50_ms')(r, p):+.2f} ms p99 {added:+.2f} ms {_spread(rr, pr)}"
                  f"  (achieved {r['rps']:.0f} req/s)" + _gc_note(r))
    routed = [r for layout in ("routed", "signed") if layout in res for r in res[layout].values()]
    total = sum(r["requests"] for r in routed)
    rpc = sum(_hot_rpc(r) for r in routed)
    stores = {}
    for r in res["routed"].values():
        for k, v in r["server"]["counts"].items():
            if k.startswith("store."):
                stores[k] = stores.get(k, 0) + v
    n_routed = sum(r["total_requests"] for r in res["routed"].values()) or 1
    where = sorted({w for r in routed for w in r["server"]["where"]})
    print(f"RPC calls on routing hot path: {rpc} during {total} routed requests "
          f"(registry backend reads/writes; embedded chain.run calls "
          f"{sum(r['server']['counts'].get('chain.run', 0) for r in routed)}; target 0)"
          + (f"; callers: {' | '.join(where)}" if where else ""))
    print("store round trips per routed request: " + ", ".join(
        f"{k} {v / n_routed:.2f}" for k, v in sorted(stores.items())))
    errors = sum(r["errors"] for lay in res.values() for r in lay.values())
    print(f"bad replies: {errors}")
    c10 = 10 if 10 in levels else levels[-1]
    thr = paired(rounds["routed"][c10], rounds["proxy"][c10], _ratio)
    add99 = _added("p99_ms")(res["routed"][c10], res["proxy"][c10])
    print(f"targets (c={c10}): throughput {thr:.2f}x of bare proxy (target >= 0.50: "
          f"{'met' if thr >= 0.5 else 'NOT met'}); p99 added per hop vs proxy {add99:+.2f} ms (target < 5 ms: "
          f"{'met' if add99 < 5 else 'NOT met'}, closed loop at saturation)"
          + (f"; p99 added per hop at {open_rate:.0f} req/s over 10 connections {add99_open:+.2f} ms "
             f"({'met' if add99_open < 5 else 'NOT met'}, open loop)" if add99_open is not None else "")
          + f"; RPC calls {rpc} (target 0: {'met' if rpc == 0 else 'NOT met'})")
    print(f"(total {time.perf_counter() - started:.1f}s)", file=sys.stderr)


if __name__ == "__main__":
    main()
