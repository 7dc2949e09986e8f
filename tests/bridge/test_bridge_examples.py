"""ExampleCpo (node A) and ExampleMsp (node B): a whole charging session across two nodes."""

from __future__ import annotations

import pytest_twisted
from twisted.internet import defer, task

from ocnd.bridge.examples import ExampleCpo, ExampleMsp
from ocnd.bridge.testing import CPO_KEY, MSP_KEY, start_bridge
from ocnd.testing import TwoNodeNetwork


async def wait_for(predicate, timeout=10.0):
    from twisted.internet import reactor

    waited = 0.0
    while not predicate():
        await task.deferLater(reactor, 0.02, lambda: None)
        waited += 0.02
        if waited > timeout:
            raise AssertionError("condition not reached")


@pytest_twisted.ensureDeferred
async def test_example_cpo_and_msp_charging_session(tmp_path):
    from twisted.internet import reactor

    net = TwoNodeNetwork(reactor, str(tmp_path), signatures=True)
    await net.start()
    bridges = []
    try:
        cpo_bo = ExampleCpo("DE", "EXC", tick=0.1, time_scale=600.0)
        msp_bo = ExampleMsp("NL", "EXM")
        cpo = await start_bridge(net, net.node_a, cc="DE", pid="EXC", roles=("CPO",), key=CPO_KEY,
                                 backoffice=cpo_bo, signatures=True, db_dir=str(tmp_path))
        bridges.append(cpo)
        msp = await start_bridge(net, net.node_b, cc="NL", pid="EXM", roles=("EMSP",), key=MSP_KEY,
                                 backoffice=msp_bo, signatures=True, db_dir=str(tmp_path))
        bridges.append(msp)
        await net.sync()
        CPO, MSP = ("DE", "EXC"), ("NL", "EXM")

        locations = await msp.get_locations(CPO, limit=1)
        assert [x["id"] for x in locations] == ["LOC1", "3e7b39c2-10d0-4138-a8b3-8509a25f9920"]
        assert all(x["party_id"] == "EXC" for x in locations)
        tariffs = await msp.get_tariffs(CPO)
        assert {t["id"] for t in tariffs} == {"12", "13", "16"}

        token = msp_bo.tokens_data[1]
        await msp.push_token(CPO, token)
        info = await cpo.authorize(MSP, token["uid"], token["type"])
        assert info["allowed"] == "ALLOWED"

        response, result = await msp.send_command(CPO, "START_SESSION", {
            "token": token, "location_id": "LOC1", "evse_uid": "3256", "connector_id": "1"})
        assert response["result"] == "ACCEPTED"
        assert (await result)["result"] == "ACCEPTED"
        await wait_for(lambda: len(msp_bo.of_kind("session")) >= 3)
        sessions = msp_bo.of_kind("session")
        assert sessions[0]["patch"] is False and sessions[0]["obj"]["status"] == "ACTIVE"
        kwhs = [s["obj"]["kwh"] for s in sessions[1:]]
        assert kwhs == sorted(kwhs) and kwhs[-1] > 0
        statuses = [e["obj"].get("status") for e in msp_bo.of_kind("location")]
        assert statuses[0] == "CHARGING"
        sid = sessions[0]["id"]

        response, result = await msp.send_command(CPO, "STOP_SESSION", {"session_id": sid})
        assert response["result"] == "ACCEPTED"
        assert (await result)["result"] == "ACCEPTED"
        await wait_for(lambda: msp_bo.of_kind("cdr") and cpo_bo.cdr_locations)
        stored = msp_bo.sessions_store[("DE", "EXC", sid)]
        assert stored["status"] == "COMPLETED"
        cdr = msp_bo.of_kind("cdr")[0]["obj"]
        assert cdr["session_id"] == sid and cdr["total_energy"] == stored["kwh"] > 0
        assert cdr["total_cost"]["excl_vat"] > 0
        assert [e["obj"].get("status") for e in msp_bo.of_kind("location")][-1] == "AVAILABLE"
        # the CPO reads its CDR back through the node-proxied Location
        again = await cpo.get_cdr(MSP, cpo_bo.cdr_locations[cdr["id"]])
        assert again == cdr
        assert not cpo_bo.errors
        results = [e["result"]["result"] for e in msp_bo.of_kind("command result")]
        assert results == ["ACCEPTED", "ACCEPTED"]
    finally:
        for b in bridges:
            await b.stopService()
        await net.stop()
        await defer.succeed(None)
