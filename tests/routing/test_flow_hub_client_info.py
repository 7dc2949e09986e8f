"""Flow: the MSP sees the CPO go CONNECTED -> OFFLINE (server stops) and SUSPENDED (unregisters)."""

from __future__ import annotations

import json

import pytest_twisted
import treq

from flowkit import wait_for
from networks import CPO_KEY, CPO_MODULES, MSP_KEY, MSP_MODULES
from ocnd.testing import TwoNodeNetwork

HCI = (("hubclientinfo", "RECEIVER"),)


def pushes(party, cc, pid):
    return [json.loads(r.body) for r in party.received
            if r.method == "PUT" and r.path.endswith(f"/hubclientinfo/{cc}/{pid}")]


@pytest_twisted.async_yield_fixture
async def hci_network(tmp_path):
    from twisted.internet import reactor

    net = TwoNodeNetwork(reactor, str(tmp_path), env={"OCND_TASKS_STILL_ALIVE_INTERVAL": "0.3",
                                                      "OCND_TASKS_LIVENESS_WRITE_INTERVAL": "0"})
    await net.start()
    net.msp = await net.add_party(net.node_b, country_code="NL", party_id="MSP", role="EMSP",
                                  modules=MSP_MODULES + HCI, key=MSP_KEY)
    net.msp_local = await net.add_party(net.node_a, country_code="CH", party_id="MSL", role="EMSP",
                                        modules=MSP_MODULES + HCI, key="0x" + "e2" * 32)
    yield net
    await net.stop()


async def hci_list(party, params=""):
    r = await treq.get(party.node.base + "/ocpi/2.2/hubclientinfo" + params, persistent=False, headers={
        "Authorization": f"Token {party.token_c}", "X-Request-ID": "1", "X-Correlation-ID": "2",
        "OCPI-from-country-code": party.country_code, "OCPI-from-party-id": party.party_id,
        "OCPI-to-country-code": "CH", "OCPI-to-party-id": "OCN"})
    return r, json.loads(await r.content())


@pytest_twisted.ensureDeferred
async def test_hub_client_info(hci_network):
    net = hci_network
    cpo = await net.add_party(net.node_a, country_code="DE", party_id="CPA", role="CPO", modules=CPO_MODULES,
                              key=CPO_KEY)
    # CONNECTED reaches the local MSP directly and the remote MSP through node B
    await wait_for(lambda: pushes(net.msp, "DE", "CPA") and pushes(net.msp_local, "DE", "CPA"))
    first = pushes(net.msp, "DE", "CPA")[0]
    assert first["status"] == "CONNECTED" and first["role"] == "CPO"
    assert pushes(net.msp_local, "DE", "CPA")[0]["status"] == "CONNECTED"
    push = [r for r in net.msp.received if r.path.endswith("/hubclientinfo/DE/CPA")][0]
    assert push.headers["authorization"] == f"Token {net.msp.token_b}"
    # the list on node B shows the remote CPO with its real status, paginated
    r, body = await hci_list(net.msp)
    entries = {(e["country_code"], e["party_id"]): e["status"] for e in body["data"]}
    assert entries[("DE", "CPA")] == "CONNECTED" and entries[("NL", "MSP")] == "CONNECTED"
    total = int(r.headers.getRawHeaders("X-Total-Count")[0])
    r, body = await hci_list(net.msp, "?limit=1")
    assert len(body["data"]) == 1 and r.headers.getRawHeaders("X-Limit") == ["1"]
    link = r.headers.getRawHeaders("Link")[0]
    assert "offset=1&limit=1" in link and total >= 3
    # the CPO's server stops: still-alive marks it OFFLINE and everyone hears about it
    await cpo.stop()
    await wait_for(lambda: any(p["status"] == "OFFLINE" for p in pushes(net.msp, "DE", "CPA")))
    await wait_for(lambda: any(p["status"] == "OFFLINE" for p in pushes(net.msp_local, "DE", "CPA")))
    r, body = await hci_list(net.msp)
    assert {(e["country_code"], e["party_id"]): e["status"] for e in body["data"]}[("DE", "CPA")] == "OFFLINE"


@pytest_twisted.ensureDeferred
async def test_unregistering_pushes_suspended(hci_network):
    net = hci_network
    cpo = await net.add_party(net.node_a, country_code="DE", party_id="CPB", role="CPO", modules=CPO_MODULES,
                              key="0x" + "c3" * 32)
    await wait_for(lambda: pushes(net.msp, "DE", "CPB"))
    r = await treq.delete(cpo.node.base + "/ocpi/2.2/credentials", headers={"Authorization": f"Token {cpo.token_c}"},
                          persistent=False)
    assert (await r.json())["status_code"] == 1000
    await wait_for(lambda: any(p["status"] == "SUSPENDED" for p in pushes(net.msp, "DE", "CPB")))
    await wait_for(lambda: any(p["status"] == "SUSPENDED" for p in pushes(net.msp_local, "DE", "CPB")))


@pytest_twisted.ensureDeferred
async def test_forged_client_info_is_refused(hci_network):
    from ocnd.signing import wire

    net = hci_network
    body = b'{"party_id":"MSL","country_code":"CH","role":"EMSP","status":"OFFLINE","last_updated":"2020-01-01T00:00:00Z"}'
    r = await treq.put(net.node_b.base + "/ocn/client-info", data=body, persistent=False,
                       headers={"OCN-Signature": wire.sign_body(body, "0x" + "77" * 32)})
    assert r.code == 400
    text = (await r.content()).decode()
    assert text.startswith("Invalid OCN-Signature header. Client registered with operator")
    assert not [p for p in pushes(net.msp, "CH", "MSL") if p["status"] == "OFFLINE"]
