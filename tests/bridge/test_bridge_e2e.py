"""Bridges for a CPO (node A) and an eMSP (node B) talking across two real nodes."""

from __future__ import annotations

import pytest_twisted

CPO = ("DE", "CPB")
MSP = ("NL", "MSB")


@pytest_twisted.ensureDeferred
async def test_onboarding(both):
    net = both
    assert net.cpo.state.token_c and net.msp.state.token_c
    assert net.cpo.handshakes == 1
    listing = net.node_a.registry.get_party("DE", "CPB")
    assert listing.operator.lower() == net.node_a.node_address.lower()


@pytest_twisted.ensureDeferred
async def test_location_push_patch_and_paginated_pull(both):
    net = both
    loc = net.cpo_bo.locations.items[0]
    await net.cpo.push_location(MSP, loc)
    await net.cpo.patch_location(MSP, loc["id"], {"status": "CHARGING", "last_updated": "2024-01-02T00:00:00Z"},
                                 evse_uid="E1")
    calls = net.msp_bo.named("locations.on_update")
    assert calls[0] == ("DE", "CPB", "LOC1", loc, False, None, None)
    assert list(calls[0][3]) == list(loc)      # key order survives
    assert calls[0][3]["x_extra"] == {"kwh": 10.0}
    assert calls[1] == ("DE", "CPB", "LOC1", {"status": "CHARGING", "last_updated": "2024-01-02T00:00:00Z"},
                        True, "E1", None)
    # pull across nodes, 2 per page -> 3 pages
    got = await net.msp.get_locations(CPO, offset=0, limit=2)
    assert [x["id"] for x in got] == ["LOC1", "LOC2", "LOC3", "LOC4", "LOC5"]
    assert got == net.cpo_bo.locations.items
    assert net.cpo_bo.named("locations.get_list") == [(0, 2, None, None), (2, 2, None, None), (4, 2, None, None)]
    # object / EVSE / connector and unknown
    assert (await net.msp.get_location(CPO, "LOC2"))["id"] == "LOC2"
    assert (await net.msp.get_location(CPO, "LOC2", "E2"))["uid"] == "E2"
    assert (await net.msp.get_location(CPO, "LOC2", "E2", "1"))["id"] == "1"
    from ocnd.bridge import OcpiRequestError
    try:
        await net.msp.get_location(CPO, "NOPE")
    except OcpiRequestError as e:
        assert (e.http_status, e.status_code) == (404, 2003)
    else:
        raise AssertionError("expected 2003")
    assert net.cpo_bo.named("locations.get")[-1] == ("NOPE", None, None)


@pytest_twisted.ensureDeferred
async def test_session_push_and_patch(both):
    net = both
    session = {"country_code": "DE", "party_id": "CPB", "id": "S1", "start_date_time": "2024-01-01T10:00:00Z",
               "kwh": 0.0, "status": "ACTIVE", "last_updated": "2024-01-01T10:00:00Z"}
    await net.cpo.push_session(MSP, session)
    await net.cpo.patch_session(MSP, "S1", {"kwh": 1.5, "last_updated": "2024-01-01T10:05:00Z"})
    calls = net.msp_bo.named("sessions.on_update")
    assert calls == [("DE", "CPB", "S1", session, False),
                     ("DE", "CPB", "S1", {"kwh": 1.5, "last_updated": "2024-01-01T10:05:00Z"}, True)]
    # pull sessions and charging preferences towards the CPO
    assert [s["id"] for s in await net.msp.get_sessions(CPO)] == ["S1"]
    result = await net.msp.set_charging_preferences(CPO, "S1", {"profile_type": "FAST"})
    assert result == "ACCEPTED"
    assert net.cpo_bo.named("sessions.set_charging_preferences") == [("S1", {"profile_type": "FAST"}, MSP)]


@pytest_twisted.ensureDeferred
async def test_tariff_put_and_delete(both):
    net = both
    tariff = {"country_code": "DE", "party_id": "CPB", "id": "T1", "currency": "EUR",
              "elements": [{"price_components": [{"type": "ENERGY", "price": 0.25, "vat": 10.0, "step_size": 1}]}],
              "last_updated": "2024-01-01T00:00:00Z"}
    await net.cpo.push_tariff(MSP, tariff)
    await net.cpo.delete_tariff(MSP, "T1")
    assert net.msp_bo.named("tariffs.on_update") == [("DE", "CPB", "T1", tariff)]
    assert net.msp_bo.named("tariffs.on_delete") == [("DE", "CPB", "T1")]
    assert [t["id"] for t in await net.msp.get_tariffs(CPO)] == ["T1"]


@pytest_twisted.ensureDeferred
async def test_cdr_post_and_get_through_proxied_location(both):
    net = both
    cdr = {"country_code": "DE", "party_id": "CPB", "id": "CDR1", "start_date_time": "2024-01-01T10:00:00Z",
           "end_date_time": "2024-01-01T11:00:00Z", "currency": "EUR", "total_energy": 12.5,
           "total_cost": {"excl_vat": 3.0}, "last_updated": "2024-01-01T11:00:00Z"}
    location = await net.cpo.push_cdr(MSP, cdr)
    assert net.msp_bo.named("cdrs.on_new") == [(cdr,)]
    assert location.startswith(net.node_a.base + "/ocpi/receiver/2.2/cdrs/")   # proxied by the CPO's node
    assert str(net.msp.port.getHost().port) not in location
    got = await net.cpo.get_cdr(MSP, location)
    assert got == cdr
    assert net.msp_bo.named("cdrs.get") == [("cdr-CDR1",)]
    assert [c["id"] for c in await net.msp.get_cdrs(CPO, limit=2)] == ["C0", "C1", "C2"]


@pytest_twisted.ensureDeferred
async def test_token_push_and_realtime_authorize(both):
    net = both
    token = net.msp_bo.tokens.items[0]
    await net.msp.push_token(CPO, token)
    assert net.cpo_bo.named("tokens.on_update") == [("NL", "MSB", "TOKEN1", "RFID", token, False)]
    refs = {"location_id": "LOC1", "evse_uids": ["E1"]}
    info = await net.cpo.authorize(MSP, "TOKEN1", location_references=refs)
    assert info["allowed"] == "ALLOWED" and info["token"]["uid"] == "TOKEN1"
    assert net.msp_bo.named("tokens.authorize") == [("TOKEN1", "RFID", refs)]
    from ocnd.bridge import OcpiRequestError
    try:
        await net.cpo.authorize(MSP, "NOPE")
    except OcpiRequestError as e:
        assert e.status_code == 2004
    else:
        raise AssertionError("expected 2004")
    assert [t["uid"] for t in await net.cpo.get_tokens(MSP)] == ["TOKEN1"]


START = {"token": {"country_code": "NL", "party_id": "MSB", "uid": "TOKEN1", "type": "RFID",
                   "contract_id": "NL-MSB-C1", "issuer": "MSB", "valid": True, "whitelist": "ALLOWED",
                   "last_updated": "2024-01-01T00:00:00Z"},
         "location_id": "LOC1", "evse_uid": "E1"}


@pytest_twisted.ensureDeferred
async def test_start_session_with_async_result(both):
    net = both
    response, result = await net.msp.send_command(CPO, "START_SESSION", START)
    assert response == {"result": "ACCEPTED", "timeout": 30}
    final = await result
    assert final == {"result": "ACCEPTED"}
    (request, sender), = net.cpo_bo.named("commands.start_session")
    assert request == START and sender == MSP      # response_url is not handed to the backoffice
    (command, uid, res), = net.msp_bo.named("commands.on_result")
    assert command == "START_SESSION" and res == {"result": "ACCEPTED"}
    # STOP with a plain-value async result; a rejected command has no result
    response, result = await net.msp.send_command(CPO, "STOP_SESSION", {"session_id": "S1"})
    assert (await result) == {"result": "ACCEPTED"}
    response, result = await net.msp.send_command(CPO, "START_SESSION", dict(START, location_id="UNKNOWN"))
    assert response["result"] == "REJECTED" and (await result) is None
    # not implemented by the backoffice -> NOT_SUPPORTED
    response, result = await net.msp.send_command(CPO, "UNLOCK_CONNECTOR",
                                                  {"location_id": "LOC1", "evse_uid": "E1", "connector_id": "1"})
    assert response["result"] == "NOT_SUPPORTED"


@pytest_twisted.ensureDeferred
async def test_set_charging_profile_with_async_result(both):
    net = both
    profile = {"charging_rate_unit": "W", "charging_profile_period": [{"start_period": 0, "limit": 11000.0}]}
    response, result = await net.msp.set_charging_profile(CPO, "S1", profile)
    assert response == {"result": "ACCEPTED", "timeout": 20}
    assert (await result) == {"result": "ACCEPTED"}
    assert net.cpo_bo.named("chargingprofiles.set") == [("S1", profile, MSP)]
    (kind, session_id, uid, res), = net.msp_bo.named("chargingprofiles.on_result")
    assert (kind, session_id, res) == ("set", "S1", {"result": "ACCEPTED"})
    # ActiveChargingProfile push from the CPO
    active = {"start_date_time": "2024-01-01T00:00:00Z", "charging_profile": profile}
    await net.cpo.push_active_charging_profile(MSP, "S1", active)
    assert net.msp_bo.named("chargingprofiles.on_active_profile") == [("DE", "CPB", "S1", active)]


@pytest_twisted.ensureDeferred
async def test_get_and_clear_charging_profile(both):
    net = both
    response, result = await net.msp.get_active_charging_profile(CPO, "S1", 900)
    assert response["result"] == "ACCEPTED"
    assert (await result)["profile"]["charging_profile"]["charging_rate_unit"] == "W"
    assert net.cpo_bo.named("chargingprofiles.get_active") == [("S1", 900, MSP)]
    response, result = await net.msp.clear_charging_profile(CPO, "S1")
    assert response["result"] == "ACCEPTED"
    assert (await result) == {"result": "ACCEPTED"}
    assert net.cpo_bo.named("chargingprofiles.clear") == [("S1", MSP)]
