"""The other commands route with their async result; proxies expire; v1 wire serialization."""

from __future__ import annotations

import json

import pytest
import pytest_twisted

from flowkit import answer, bodies, status
from networks import network_with_parties
from ocnd import proxies
from ocnd.signing import rawjson, wire

BODIES = {
    "RESERVE_NOW": b'{"token":{"uid":"T1","type":"RFID"},"expiry_date":"2020-01-01T12:00:00Z",'
                   b'"reservation_id":"R1","location_id":"LOC1"}',
    "CANCEL_RESERVATION": b'{"reservation_id":"R1"}',
    "UNLOCK_CONNECTOR": b'{"location_id":"LOC1","evse_uid":"E1","connector_id":"1"}',
}


@pytest.mark.parametrize("command", sorted(BODIES))
@pytest_twisted.ensureDeferred
async def test_other_commands_round_trip(network, command):
    net = network
    cpo, msp = net.cpo, net.msp
    cpo.handler = lambda r: answer(cpo, {"result": "ACCEPTED", "timeout": 30}) if "/commands/" in r.path else None
    body = BODIES[command][:-1] + b',"response_url":"' + msp.base.encode() + b'/cb/' + command.encode() + b'"}'
    code, _, raw = await msp.send("POST", msp.node.base + f"/ocpi/receiver/2.2/commands/{command}", ("DE", "CPA"),
                                  body=body)
    assert status(raw) == 1000, raw
    sent = rawjson.loads(bodies(cpo, "POST", f"/commands/{command}")[0].body)
    code, _, raw = await cpo.send("POST", sent["response_url"], ("NL", "MSP"), body=b'{"result":"ACCEPTED"}')
    assert status(raw) == 1000
    assert bodies(msp, "POST", f"/cb/{command}")[0].body == b'{"result":"ACCEPTED"}'


@pytest_twisted.ensureDeferred
async def test_unknown_command_is_2001(network):
    code, _, raw = await network.msp.send("POST", network.msp.node.base + "/ocpi/receiver/2.2/commands/SELF_DESTRUCT",
                                          ("DE", "CPA"), body=b"{}")
    assert code == 400 and json.loads(raw)["status_code"] == 2001


@pytest_twisted.ensureDeferred
async def test_expired_proxy_resources_are_refused_and_swept(network):
    net = network
    node = net.node_a
    now = node.reactor.seconds()
    await node.store.run(proxies.put, "old", ("DE", "CPA"), ("NL", "MSP"), "http://x/old", now - 100, 10)
    await node.store.run(proxies.put, "new", ("DE", "CPA"), ("NL", "MSP"), "http://x/new", now, 3600)
    assert await node.store.read(proxies.get, "old", ("DE", "CPA"), ("NL", "MSP"), now) is None
    code, _, raw = await net.cpo.send("GET", node.base + "/ocpi/receiver/2.2/cdrs/old", ("NL", "MSP"))
    assert (code, json.loads(raw)["status_code"]) == (404, 2003)
    await node.sweep_proxies()
    uids = await node.store.read(lambda c: [r[0] for r in c.execute("SELECT uid FROM proxy_resources")])
    assert "old" not in uids and "new" in uids


@pytest_twisted.async_yield_fixture
async def v1_wire_network(tmp_path):
    net = await network_with_parties(tmp_path, env={"OCND_ROUTING_V1_WIRE": "true"})
    yield net
    await net.stop()


@pytest_twisted.ensureDeferred
async def test_v1_wire_sends_jackson_style_bodies(v1_wire_network):
    net = v1_wire_network
    body = b'{"country_code":"DE","party_id":"CPA","id":"L1","x":1e+21,"y":10.0}'
    code, _, raw = await net.cpo.send("PUT", net.node_a.base + "/ocpi/receiver/2.2/locations/DE/CPA/L1",
                                      ("NL", "MSP"), body=body)
    assert status(raw) == 1000
    got = bodies(net.msp, "PUT")[0].body
    # what a v1 node would deliver after its typed round trip: Java number style
    assert got == wire.jackson_dumps(rawjson.loads(body)) == \
        b'{"country_code":"DE","party_id":"CPA","id":"L1","x":1.0E21,"y":10.0}'
