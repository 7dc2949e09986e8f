"""OCPI 2.2.1 parties (base64 tokens, 2.2.1 paths) route across nodes like 2.2 ones."""

from __future__ import annotations

import base64
import json

import pytest_twisted

from flowkit import bodies
from networks import CPO_MODULES, MSP_MODULES
from ocnd.testing import TwoNodeNetwork

LOC = b'{"country_code":"DE","party_id":"CP1","id":"L1","last_updated":"2020-01-01T00:00:00Z"}'


@pytest_twisted.async_yield_fixture
async def net221(tmp_path):
    from twisted.internet import reactor

    net = TwoNodeNetwork(reactor, str(tmp_path))
    await net.start()
    net.cpo = await net.add_party(net.node_a, country_code="DE", party_id="CP1", role="CPO", modules=CPO_MODULES,
                                  key="0x" + "c5" * 32, versions=("2.2.1",))
    net.msp = await net.add_party(net.node_b, country_code="NL", party_id="MS1", role="EMSP", modules=MSP_MODULES,
                                  key="0x" + "e5" * 32, versions=("2.2.1",))
    yield net
    await net.stop()


@pytest_twisted.ensureDeferred
async def test_2_2_1_push_and_pull(net221):
    net = net221
    b64 = base64.b64encode(net.cpo.token_c.encode()).decode()
    code, _, body = await net.cpo.send("PUT", net.node_a.base + "/ocpi/receiver/2.2.1/locations/DE/CP1/L1",
                                       ("NL", "MS1"), body=LOC, headers={"Authorization": f"Token {b64}"})
    assert code == 200 and json.loads(body)["status_code"] == 1000, body
    got = bodies(net.msp, "PUT")[0]
    assert got.path == "/ocpi/2.2.1/receiver/locations/DE/CP1/L1" and got.body == LOC
    # the node calls a 2.2.1 party with its Token B base64-encoded
    assert got.headers["authorization"] == "Token " + base64.b64encode(net.msp.token_b.encode()).decode()
    code, _, body = await net.msp.send("GET", net.node_b.base + "/ocpi/sender/2.2.1/locations", ("DE", "CP1"))
    assert json.loads(body)["status_code"] == 1000
    assert bodies(net.cpo, "GET", "/ocpi/2.2.1/sender/locations")
