"""Flow: set / get / clear charging profiles with async results delivered back (v1 bugs fixed)."""

from __future__ import annotations

import pytest_twisted

from flowkit import answer, bodies, status
from ocnd.signing import rawjson


async def _flow(net, msp):
    cpo = net.cpo
    cpo.handler = lambda r: answer(cpo, {"result": "ACCEPTED", "timeout": 10}) \
        if "/chargingprofiles/" in r.path else None
    to = (msp.country_code, msp.party_id)
    base = msp.node.base
    own = msp.base + "/ocpi/2.2/sender/chargingprofiles"
    # SET (response_url in the body)
    set_body = (b'{"charging_profile":{"charging_rate_unit":"W","charging_profile_period":'
                b'[{"start_period":0,"limit":11000.0}]},"response_url":"' + own.encode() + b'/S1/set-1"}')
    code, _, body = await msp.send("PUT", base + "/ocpi/receiver/2.2/chargingprofiles/S1", ("DE", "CPA"),
                                   body=set_body)
    assert status(body) == 1000, body
    sent = bodies(cpo, "PUT", "/chargingprofiles/S1")[0]
    sent_obj = rawjson.loads(sent.body)
    assert sent_obj["charging_profile"] == rawjson.loads(set_body)["charging_profile"]
    result_url = sent_obj["response_url"]
    assert result_url.startswith(cpo.node.base + "/ocpi/sender/2.2/chargingprofiles/S1/")
    code, _, body = await cpo.send("POST", result_url, to, body=b'{"result":"ACCEPTED"}')
    assert status(body) == 1000, body
    assert bodies(msp, "POST", "/chargingprofiles/S1/set-1")[0].body == b'{"result":"ACCEPTED"}'
    # GET (response_url in the query)
    code, _, body = await msp.send("GET", base + "/ocpi/2.2/receiver/chargingprofiles/S1", ("DE", "CPA"),
                                   params={"duration": "900", "response_url": own + "/S1/get-1"})
    assert status(body) == 1000, body
    got = bodies(cpo, "GET", "/chargingprofiles/S1")[0]
    assert got.query["duration"] == ["900"]
    get_result_url = got.query["response_url"][0]
    assert get_result_url.startswith(cpo.node.base)
    active = b'{"result":"ACCEPTED","profile":{"start_date_time":"2020-01-01T00:00:00Z","charging_profile":{}}}'
    code, _, body = await cpo.send("POST", get_result_url, to, body=active)
    assert status(body) == 1000
    assert bodies(msp, "POST", "/chargingprofiles/S1/get-1")[0].body == active
    # CLEAR (DELETE keeps its query parameters, unlike v1)
    code, _, body = await msp.send("DELETE", base + "/ocpi/receiver/2.2/chargingprofiles/S1", ("DE", "CPA"),
                                   params={"response_url": own + "/S1/clear-1"})
    assert status(body) == 1000, body
    cleared = bodies(cpo, "DELETE", "/chargingprofiles/S1")[0]
    clear_url = cleared.query["response_url"][0]
    # the v1 result path spelling is served too
    v1_style = clear_url.replace("/ocpi/sender/2.2/chargingprofiles/S1/", "/ocpi/2.2/sender/chargingprofiles/result/")
    code, _, body = await cpo.send("POST", v1_style, to, body=b'{"result":"ACCEPTED"}')
    assert status(body) == 1000
    assert len(bodies(msp, "POST", "/chargingprofiles/S1/clear-1")) == 1
    # the CPO pushes an ActiveChargingProfile update to the MSP
    code, _, body = await cpo.send("PUT", cpo.node.base + "/ocpi/2.2/sender/chargingprofiles/S1", to,
                                   body=b'{"start_date_time":"2020-01-01T00:00:00Z","charging_profile":{}}')
    assert status(body) == 1000
    assert bodies(msp, "PUT", "/sender/chargingprofiles/S1")


@pytest_twisted.ensureDeferred
async def test_charging_profiles_across_nodes(network):
    await _flow(network, network.msp)


@pytest_twisted.ensureDeferred
async def test_charging_profiles_same_node(network):
    await _flow(network, network.msp_local)


@pytest_twisted.ensureDeferred
async def test_charging_profiles_signed(signed_network):
    await _flow(signed_network, signed_network.msp)
