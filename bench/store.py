"""Store write rate: ``Store.run`` transactions vs raw sqlite3.

    python bench/store.py [--n 2000] [--quick]

All on one file per figure in a temp dir, WAL + synchronous=FULL everywhere
(the Store's settings), so every figure pays the same fsync policy:

* ``Store.run`` registration-token inserts (``platforms.create_planned``: one
  PLANNED platform + one registration token per transaction, as the admin API
  does), issued one at a time (await each) and 32 in flight;
* ``Store.run`` proxy-resource puts (``proxies.put``, as the router does for
  Link/Location/response_url rewrites), one at a time and 32 in flight;
* raw sqlite3, one ``executemany`` in a single transaction (upper bound);
* raw sqlite3, one commit per insert (the fsync-bound baseline);
* ``Store.read`` round trip (trivial SELECT) vs the same SELECT called
  directly: the cost of the thread hop the router pays per request.

Prints one line per figure with ratios against the one-commit-per-insert
baseline.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
import uuid

from twisted.internet import defer, task

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _raw_conn(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, uid TEXT NOT NULL UNIQUE, sender_cc TEXT, "
                 "sender_pid TEXT, receiver_cc TEXT, receiver_pid TEXT, resource TEXT, created_at REAL, "
                 "expires_at REAL)")
    return conn


def _rows(n: int) -> list[tuple]:
    now = time.time()
    return [(uuid.uuid4().hex, "DE", "CPA", "NL", "MSP", f"https://cpo.example/ocpi/cdrs/{i}", now, now + 600)
            for i in range(n)]


SQL = ("INSERT INTO t (uid, sender_cc, sender_pid, receiver_cc, receiver_pid, resource, created_at, "
       "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")


def raw_executemany(tmp: str, n: int) -> float:
    conn = _raw_conn(os.path.join(tmp, "raw-many.sqlite"))
    rows = _rows(n)
    t0 = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(SQL, rows)
    conn.execute("COMMIT")
    dt = time.perf_counter() - t0
    conn.close()
    return n / dt


def raw_commit_each(tmp: str, n: int) -> float:
    conn = _raw_conn(os.path.join(tmp, "raw-each.sqlite"))
    rows = _rows(n)
    t0 = time.perf_counter()
    for row in rows:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(SQL, row)
        conn.execute("COMMIT")
    dt = time.perf_counter() - t0
    conn.close()
    return n / dt


async def _rate(make_call, n: int, in_flight: int) -> float:
    t0 = time.perf_counter()
    if in_flight <= 1:
        for i in range(n):
            await make_call(i)
    else:
        sem = defer.DeferredSemaphore(in_flight)
        await defer.gatherResults([sem.run(make_call, i) for i in range(n)], consumeErrors=True)
    return n / (time.perf_counter() - t0)


async def store_figures(reactor, tmp: str, n: int) -> dict:
    from ocnd import platforms, proxies
    from ocnd.store import Store

    out = {}
    store = Store(os.path.join(tmp, "store.sqlite"), reactor)
    await store.start()
    now = time.time()

    # party ids must be unique: vary country code and a 3-char id per insert
    counter = iter(range(10**9))

    def reg_token(_i):
        k = next(counter)
        cc = chr(65 + k % 26) + chr(65 + (k // 26) % 26)
        pid = chr(65 + (k // 676) % 26) + chr(65 + (k // 17576) % 26) + chr(48 + (k // 456976) % 10)
        return store.run(platforms.create_planned, [(cc, pid)], uuid.uuid4().hex, now, now + 3600)

    def proxy_put(_i):
        return store.run(proxies.put, uuid.uuid4().hex, ("DE", "CPA"), ("NL", "MSP"),
                         "https://cpo.example/ocpi/cdrs/1", now, 600.0)

    out["Store.run registration token (create_planned), 1 in flight"] = await _rate(reg_token, n, 1)
    out["Store.run registration token (create_planned), 32 in flight"] = await _rate(reg_token, n, 32)
    out["Store.run proxy resource put, 1 in flight"] = await _rate(proxy_put, n, 1)
    out["Store.run proxy resource put, 32 in flight"] = await _rate(proxy_put, n, 32)

    # read round trip (thread hop) vs direct call
    def select(conn):
        return conn.execute("SELECT 1").fetchone()[0]

    reads = max(n, 2000)
    t0 = time.perf_counter()
    for _ in range(reads):
        await store.read(select)
    hop = (time.perf_counter() - t0) / reads
    conn = sqlite3.connect(os.path.join(tmp, "store.sqlite"), isolation_level=None)
    t0 = time.perf_counter()
    for _ in range(reads):
        conn.execute("BEGIN")
        select(conn)
        conn.execute("COMMIT")
    direct = (time.perf_counter() - t0) / reads
    conn.close()
    await store.stop()
    out["_read_hop_us"] = hop * 1e6
    out["_read_direct_us"] = direct * 1e6
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="inserts per figure")
    parser.add_argument("--quick", action="store_true", help="tiny run for the smoke test")
    args = parser.parse_args()
    n = 100 if args.quick else args.n
    started = time.perf_counter()
    tmp = tempfile.mkdtemp(prefix="ocnd-bench-store-")
    each = raw_commit_each(tmp, n)
    many = raw_executemany(tmp, max(n, 1000))
    try:
        task.react(lambda r: defer.ensureDeferred(_report(r, tmp, n, each, many)))
    finally:
        print(f"(total {time.perf_counter() - started:.1f}s)", file=sys.stderr)


async def _report(reactor, tmp, n, each, many):
    figs = await store_figures(reactor, tmp, n)
    print(f"# {n} inserts per figure, WAL + synchronous=FULL, {tmp}")
    print(f"{'raw sqlite3, one commit per insert (baseline)':<62} {each:9.0f}/s   ratio  1.00x")
    print(f"{'raw sqlite3, executemany in one transaction':<62} {many:9.0f}/s   ratio {many / each:5.2f}x")
    for name, rate in figs.items():
        if name.startswith("_"):
            continue
        print(f"{name:<62} {rate:9.0f}/s   ratio {rate / each:5.2f}x")
    hop, direct = figs["_read_hop_us"], figs["_read_direct_us"]
    print(f"{'Store.read round trip (SELECT 1) vs direct call':<62} {hop:9.1f} us vs {direct:.1f} us   "
          f"ratio {hop / direct:5.1f}x")


if __name__ == "__main__":
    main()
