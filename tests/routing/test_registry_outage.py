"""The registry RPC endpoint goes down: routing continues from the snapshot, sync resumes."""

from __future__ import annotations

import json

import pytest_twisted
import treq

from networks import CPO_KEY, CPO_MODULES, MSP_KEY, MSP_MODULES
from ocnd.testing import TwoNodeNetwork

LOC = b'{"country_code":"DE","party_id":"CPA","id":"L1","last_updated":"2020-01-01T00:00:00Z"}'


@pytest_twisted.async_yield_fixture
async def rpc_network(tmp_path):
    from twisted.internet import reactor

    net = TwoNodeNetwork(reactor, str(tmp_path), rpc=True)
    await net.start()
    net.cpo = await net.add_party(net.node_a, country_code="DE", party_id="CPA", role="CPO", modules=CPO_MODULES,
                                  key=CPO_KEY)
    net.msp = await net.add_party(net.node_b, country_code="NL", party_id="MSP", role="EMSP", modules=MSP_MODULES,
                                  key=MSP_KEY)
    yield net
    await net.stop()


async def health(node):
    r = await treq.get(node.base + "/health?format=json", persistent=False)
    return json.loads(await r.content())


@pytest_twisted.ensureDeferred
async def test_routing_survives_rpc_outage(rpc_network):
    net = rpc_network
    assert (await health(net.node_a))["registry"]["mode"] == "jsonrpc"
    port = net.rpc_port
    await net.stop_rpc()
    # a sync attempt fails: the error is visible, the snapshot stays
    for node in net.nodes:
        try:
            await node.registry.snapshot.sync()
        except Exception:  # noqa: BLE001
            pass
    reg = (await health(net.node_a))["registry"]
    assert reg["ok"] is False and reg["last_error"] and reg["rpc_errors"] >= 1
    # routing still works in both directions, from the snapshot
    code, _, body = await net.cpo.send("PUT", net.node_a.base + "/ocpi/receiver/2.2/locations/DE/CPA/L1",
                                       ("NL", "MSP"), body=LOC)
    assert json.loads(body)["status_code"] == 1000
    code, _, body = await net.msp.send("GET", net.node_b.base + "/ocpi/sender/2.2/locations", ("DE", "CPA"))
    assert json.loads(body)["status_code"] == 1000
    # the endpoint comes back: the next sync succeeds
    await net.start_rpc(port)
    await net.node_a.registry.snapshot.sync()
    reg = (await health(net.node_a))["registry"]
    assert reg["ok"] is True and reg["last_error"] is None
