"""Resident memory with a big registry snapshot and many connected platforms.

    python bench/memory.py [--parties 10000] [--platforms 1000] [--quick]

Two fresh subprocesses:

* **bare**: Python with ocnd imported (store, registry snapshot, router,
  node), nothing loaded;
* **loaded**: the same imports, then a store file is filled directly
  (``registry_parties`` with N parties spread over 50 operators,
  ``registry_operators``, ``registry_sync``; ``platforms`` with M CONNECTED
  platforms, one role and 8 endpoints each), a :class:`Store` and a
  :class:`RegistrySnapshot` are started (the snapshot loads every party into
  memory, as at node start), and every platform is looked up once through
  the store (the router's query) so SQLite's page cache is warm.

RSS comes from ``/proc/self/status`` (VmRSS; VmHWM for the peak).  Also
prints snapshot lookup time at that size and the router's per-request
platform lookup through the store.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import peak_rss_kb, rss_kb  # noqa: E402

REGISTRY = "0x345cA3e014Aaf5dcA488057592ee47305D9B3e10"


def _imports() -> None:
    import ocnd.node  # noqa: F401
    import ocnd.registry.snapshot  # noqa: F401
    import ocnd.routing.router  # noqa: F401
    import ocnd.store  # noqa: F401


def _party_key(i: int) -> tuple[str, str]:
    a = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return a[i % 26] + a[(i // 26) % 26], a[(i // 676) % 26] + a[(i // 17576) % 26] + str(i // 456976 % 10)


def _fill(conn, parties: int, platforms_n: int) -> list[tuple[str, str]]:
    operators = [f"0x{(0xA0000 + k):040x}" for k in range(50)]
    conn.executemany("INSERT INTO registry_operators (address, url) VALUES (?, ?)",
                     [(op, f"https://node{k}.example.com") for k, op in enumerate(operators)])
    keys = [_party_key(i) for i in range(parties)]
    conn.executemany("INSERT INTO registry_parties VALUES (?,?,?,?,?,?,?)",
                     [(f"0x{(0xB000000 + i):040x}", cc, pid, "0", "0,1,2", "3,4", operators[i % 50])
                      for i, (cc, pid) in enumerate(keys)])
    conn.execute("UPDATE registry_sync SET registry_address = ?, last_block = 100, last_sync = 0, last_full = 0 "
                 "WHERE id = 1", (REGISTRY,))
    now = time.time()
    modules = ("locations", "sessions", "cdrs", "tariffs", "tokens", "commands", "chargingprofiles", "credentials")
    for i in range(platforms_n):
        pid = conn.execute(
            "INSERT INTO platforms (status, ocpi_version, versions_url, token_b, token_c_hash, signatures, "
            "created_at, last_updated) VALUES ('CONNECTED', '2.2', ?, ?, ?, 0, ?, ?)",
            (f"https://party{i}.example.com/ocpi/versions", f"token-b-{i:08d}-" + "x" * 32,
             f"{i:064x}", now, now)).lastrowid
        cc, party = keys[i]
        conn.execute("INSERT INTO roles (platform_id, role, country_code, party_id, business_details) "
                     "VALUES (?, 'CPO', ?, ?, ?)", (pid, cc, party, json.dumps({"name": f"Party {i}"})))
        conn.executemany("INSERT INTO endpoints (platform_id, identifier, role, url) VALUES (?, ?, ?, ?)",
                         [(pid, m, "RECEIVER", f"https://party{i}.example.com/ocpi/2.2/{m}") for m in modules])
    return keys


async def _loaded(reactor, parties: int, platforms_n: int, lookups: int) -> dict:
    from ocnd.store import Store

    tmp = tempfile.mkdtemp(prefix="ocnd-bench-memory-")
    store = Store(os.path.join(tmp, "node.sqlite"), reactor)
    await store.start()
    try:
        return await _measure(reactor, store, tmp, parties, platforms_n, lookups)
    finally:
        await store.stop()


async def _measure(reactor, store, tmp, parties, platforms_n, lookups) -> dict:
    from ocnd import platforms
    from ocnd.registry.snapshot import RegistrySnapshot

    keys = await store.run(_fill, parties, platforms_n)

    class _Client:  # snapshot.start() only needs the contract address
        registry_address = REGISTRY

    snap = RegistrySnapshot(store, _Client(), reactor)
    t0 = time.perf_counter()
    await snap.start()
    load_s = time.perf_counter() - t0
    assert snap.status()["parties"] == parties, snap.status()

    def warm(conn, ks):
        return sum(platforms.find_by_party(conn, cc, pid) is not None for cc, pid in ks)

    found = await store.read(warm, keys[:platforms_n])
    assert found == platforms_n, found

    rnd = random.Random(1)
    probe = [keys[rnd.randrange(parties)] for _ in range(lookups)]
    t0 = time.perf_counter()
    for cc, pid in probe:
        snap.get_operator(cc, pid)
    op_s = (time.perf_counter() - t0) / lookups
    t0 = time.perf_counter()
    for cc, pid in probe:
        snap.get_party(cc, pid)
    party_s = (time.perf_counter() - t0) / lookups
    small = RegistrySnapshot(store, _Client(), reactor)  # same lookup in a 1-party map
    small._state.put_party(snap._state.parties[snap._state.by_ocpi[probe[0]]])
    small._state.operators.update(snap._state.operators)
    t0 = time.perf_counter()
    for _ in range(lookups):
        small.get_operator(*probe[0])
    small_s = (time.perf_counter() - t0) / lookups
    n_db = min(2000, lookups)
    pprobe = [keys[rnd.randrange(platforms_n)] for _ in range(n_db)]
    t0 = time.perf_counter()
    for cc, pid in pprobe:
        await store.read(platforms.find_by_party, cc, pid)
    db_s = (time.perf_counter() - t0) / n_db
    out = {"rss_kb": rss_kb(), "peak_kb": peak_rss_kb(), "load_s": load_s, "get_operator_s": op_s,
           "get_party_s": party_s, "get_operator_1party_s": small_s, "find_by_party_s": db_s,
           "db_bytes": os.path.getsize(os.path.join(tmp, "node.sqlite"))
           + os.path.getsize(os.path.join(tmp, "node.sqlite-wal"))}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parties", type=int, default=10_000)
    parser.add_argument("--platforms", type=int, default=1_000)
    parser.add_argument("--lookups", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="tiny run for the smoke test")
    parser.add_argument("--child", choices=("bare", "loaded"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.parties, args.platforms, args.lookups = 500, 50, 2000
    if args.child == "bare":
        _imports()
        print(json.dumps({"rss_kb": rss_kb(), "peak_kb": peak_rss_kb()}))
        return
    if args.child == "loaded":
        # task.react exits the process; print from an exit hook
        import atexit

        from twisted.internet import defer, task

        holder = {}
        atexit.register(lambda: print(json.dumps(holder)) if holder else None)
        _imports()

        async def run(reactor):
            holder.update(await _loaded(reactor, args.parties, args.platforms, args.lookups))

        task.react(lambda r: defer.ensureDeferred(run(r)))
        return
    started = time.perf_counter()
    me = os.path.abspath(__file__)

    def sub(*extra):
        out = subprocess.run([sys.executable, me, *extra], check=True, capture_output=True, text=True,
                             timeout=240).stdout
        return json.loads(out.strip().splitlines()[-1])

    bare = sub("--child", "bare")
    loaded = sub("--child", "loaded", "--parties", str(args.parties), "--platforms", str(args.platforms),
                 "--lookups", str(args.lookups))
    delta = loaded["rss_kb"] - bare["rss_kb"]
    print(f"# {args.parties} registry parties (50 operators), {args.platforms} connected platforms "
          f"(1 role, 8 endpoints each); DB file {loaded['db_bytes'] / 1e6:.1f} MB")
    print(f"RSS bare (ocnd imported)                  {bare['rss_kb'] / 1024:8.1f} MiB")
    print(f"RSS loaded (snapshot + platforms + cache) {loaded['rss_kb'] / 1024:8.1f} MiB   "
          f"ratio {loaded['rss_kb'] / bare['rss_kb']:.2f}x of bare  delta {delta / 1024:+.1f} MiB  "
          f"({delta * 1024 / max(args.parties, 1):.0f} B per registry party, platforms included)  "
          f"peak {loaded['peak_kb'] / 1024:.1f} MiB")
    print(f"snapshot load at start ({args.parties} parties)      {loaded['load_s'] * 1e3:8.1f} ms")
    print(f"snapshot get_operator at {args.parties} parties     {loaded['get_operator_s'] * 1e6:8.2f} us   "
          f"ratio {loaded['get_operator_s'] / loaded['get_operator_1party_s']:.2f}x of a 1-party snapshot")
    print(f"snapshot get_party at {args.parties} parties        {loaded['get_party_s'] * 1e6:8.2f} us   "
          f"ratio {loaded['get_party_s'] / loaded['get_operator_s']:.2f}x of get_operator")
    print(f"store.read(find_by_party) at {args.platforms} platforms {loaded['find_by_party_s'] * 1e6:8.1f} us   "
          f"ratio {loaded['find_by_party_s'] / loaded['get_operator_s']:.0f}x of snapshot get_operator")
    print(f"(total {time.perf_counter() - started:.1f}s)", file=sys.stderr)


if __name__ == "__main__":
    main()
