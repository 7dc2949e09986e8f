"""Snapshot lookup vs. a live getOperatorByOcpi eth_call.

    python bench/registry_lookup.py

Embedded chain (py-evm) in-process, JSON-RPC server on 127.0.0.1 (tcp:0) in
the same process; prints one line per figure, ratios relative to the
snapshot lookup.  Runs in well under 30 s.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

from twisted.internet import defer, task

SNAPSHOT_N = 200_000
CALL_N = 200


async def main(reactor):
    from ocnd.registry.chain import EmbeddedChain
    from ocnd.registry.client import EmbeddedBackend, JsonRpcBackend, RegistryClient
    from ocnd.registry.devchain import make_rpc_service
    from ocnd.registry.snapshot import RegistrySnapshot
    from ocnd.store import Store

    tmp = tempfile.mkdtemp(prefix="ocnd-bench-")
    chain = EmbeddedChain(reactor, None)
    await chain.start()
    client = RegistryClient(EmbeddedBackend(chain), chain.registry_address, chain.permissions_address)
    (op_addr, op), (_, party) = chain.dev_accounts[1], chain.dev_accounts[2]
    await client.set_node(op, "https://bench.example")
    await client.set_party(party, "DE", "BEN", [0], op_addr)

    store = Store(os.path.join(tmp, "bench.sqlite"), reactor)
    await store.start()
    snap = RegistrySnapshot(store, client, reactor)
    await snap.start()
    await snap.sync()
    assert snap.get_operator("de", "ben") is not None

    t0 = time.perf_counter()
    for _ in range(SNAPSHOT_N):
        snap.get_operator("de", "ben")
    snap_s = (time.perf_counter() - t0) / SNAPSHOT_N

    def in_thread(w3):
        reg = client.sync_for(w3)
        reg.get_operator_by_ocpi("DE", "BEN")
        t = time.perf_counter()
        for _ in range(CALL_N):
            reg.get_operator_by_ocpi("DE", "BEN")
        return (time.perf_counter() - t) / CALL_N

    embedded_raw_s = await chain.run(in_thread)

    await client.get_operator_by_ocpi("DE", "BEN")
    t0 = time.perf_counter()
    for _ in range(CALL_N):
        await client.get_operator_by_ocpi("DE", "BEN")
    embedded_s = (time.perf_counter() - t0) / CALL_N

    svc = make_rpc_service(reactor, chain, "tcp:0:interface=127.0.0.1")
    svc.startService()
    port = (await svc._waitingForPort).getHost().port
    backend = JsonRpcBackend(reactor, f"http://127.0.0.1:{port}", timeout=5)
    rpc_client = RegistryClient(backend, chain.registry_address, chain.permissions_address)
    await rpc_client.get_operator_by_ocpi("DE", "BEN")
    t0 = time.perf_counter()
    for _ in range(CALL_N):
        await rpc_client.get_operator_by_ocpi("DE", "BEN")
    rpc_s = (time.perf_counter() - t0) / CALL_N

    print(f"snapshot get_operator:                      {snap_s * 1e6:10.3f} us/lookup")
    print(f"embedded eth_call, on chain thread:         {embedded_raw_s * 1e6:10.1f} us/lookup"
          f"  ({embedded_raw_s / snap_s:,.0f}x snapshot)")
    print(f"embedded eth_call via RegistryClient:       {embedded_s * 1e6:10.1f} us/lookup"
          f"  ({embedded_s / snap_s:,.0f}x snapshot)")
    print(f"JSON-RPC loopback eth_call (JsonRpcBackend): {rpc_s * 1e6:9.1f} us/lookup"
          f"  ({rpc_s / snap_s:,.0f}x snapshot)")

    await backend.stop()
    await defer.maybeDeferred(svc.stopService)
    await store.stop()
    await chain.stop()


if __name__ == "__main__":
    started = time.perf_counter()
    try:
        task.react(lambda r: defer.ensureDeferred(main(r)))
    finally:
        print(f"(total {time.perf_counter() - started:.1f}s)", file=sys.stderr)
