"""OcnRules change routing outcomes as documented (local and remote)."""

from __future__ import annotations

import json

import pytest
import pytest_twisted

from flowkit import bodies, rules_call


@pytest.mark.parametrize("where", ["local", "remote"])
@pytest_twisted.ensureDeferred
async def test_whitelist_and_blacklist(network, where):
    net = network
    # the CPO restricts who may reach it; the MSP (local or remote) pulls locations
    msp = net.msp_local if where == "local" else net.msp
    cpo = net.cpo
    url = msp.node.base + "/ocpi/sender/2.2/locations"
    code, body = await rules_call(cpo, "PUT", "/whitelist", [{"country_code": "FR", "party_id": "ABC",
                                                              "modules": ["locations"]}])
    assert body["status_code"] == 1000
    code, _, raw = await msp.send("GET", url, ("DE", "CPA"))
    b = json.loads(raw)
    assert (code, b["status_code"], b["status_message"]) == (400, 2000, "Message receiver not in sender's whitelist.")
    await rules_call(cpo, "POST", "/whitelist", {"country_code": msp.country_code, "party_id": msp.party_id,
                                                 "modules": ["tariffs"]})
    code, _, raw = await msp.send("GET", url, ("DE", "CPA"))
    assert json.loads(raw)["status_message"] == "Sender not whitelisted to request locations from receiver."
    await rules_call(cpo, "DELETE", f"/whitelist/{msp.country_code.lower()}/{msp.party_id.lower()}")
    await rules_call(cpo, "POST", "/whitelist", {"country_code": msp.country_code, "party_id": msp.party_id,
                                                 "modules": ["locations"]})
    code, _, raw = await msp.send("GET", url, ("DE", "CPA"))
    assert json.loads(raw)["status_code"] == 1000
    # blacklist only the tariffs module: locations still pass, tariffs don't
    await rules_call(cpo, "PUT", "/whitelist", [])
    await rules_call(cpo, "PUT", "/blacklist", [{"country_code": msp.country_code, "party_id": msp.party_id,
                                                 "modules": ["lite-locations"]}])
    code, _, raw = await msp.send("GET", url, ("DE", "CPA"))
    assert json.loads(raw)["status_code"] == 1000
    code, _, raw = await msp.send("GET", msp.node.base + "/ocpi/custom/sender/lite-locations", ("DE", "CPA"))
    b = json.loads(raw)
    assert (b["status_code"], b["status_message"]) == (2000, "Sender not whitelisted to request lite-locations "
                                                             "from receiver.")
    assert not bodies(cpo, suffix="/lite-locations")


@pytest_twisted.ensureDeferred
async def test_signature_rule_requires_signed_requests(network):
    net = network
    code, body = await rules_call(net.cpo, "PUT", "/signatures")
    assert body["status_code"] == 1000
    code, _, raw = await net.msp.send("GET", net.msp.node.base + "/ocpi/sender/2.2/locations", ("DE", "CPA"),
                                      sign=False)
    b = json.loads(raw)
    assert (code, b["status_code"], b["status_message"]) == (400, 2001, "Missing OCN Signature")
    code, _, raw = await net.msp.send("GET", net.msp.node.base + "/ocpi/sender/2.2/locations", ("DE", "CPA"),
                                      sign=True)
    assert json.loads(raw)["status_code"] == 1000
