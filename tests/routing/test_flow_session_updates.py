"""Flow: START_SESSION with the async result back to the MSP, session PUT/PATCH, STOP_SESSION."""

from __future__ import annotations

import json

import pytest_twisted

from flowkit import answer, bodies, status
from ocnd.signing import notary, rawjson


def start_body(msp) -> bytes:
    return (b'{"response_url":"' + msp.base.encode() + b'/ocpi/2.2/sender/commands/START_SESSION/42",'
            b'"token":{"country_code":"NL","party_id":"MSP","uid":"TOK1","type":"RFID",'
            b'"contract_id":"NL-MSP-C1","issuer":"MSP","valid":true,"whitelist":"ALLOWED",'
            b'"last_updated":"2020-01-01T00:00:00Z"},"location_id":"LOC1","evse_uid":"E1"}')


SESSION = (b'{"country_code":"DE","party_id":"CPA","id":"S1","start_date_time":"2020-03-09T10:17:09Z",'
           b'"kwh":0.0,"cdr_token":{"country_code":"NL","party_id":"MSP","uid":"TOK1","type":"RFID",'
           b'"contract_id":"NL-MSP-C1"},"auth_method":"COMMAND","location_id":"LOC1","evse_uid":"E1",'
           b'"connector_id":"1","currency":"EUR","status":"PENDING","last_updated":"2020-03-09T10:17:09Z"}')


async def run_flow(net, msp):
    cpo = net.cpo
    cpo.handler = lambda r: answer(cpo, {"result": "ACCEPTED", "timeout": 30}) \
        if r.method == "POST" and "/commands/" in r.path else None
    code, _, body = await msp.send("POST", msp.node.base + "/ocpi/receiver/2.2/commands/START_SESSION",
                                   ("DE", "CPA"), body=start_body(msp))
    assert code == 200, body
    env = rawjson.loads(body)
    assert env["status_code"] == 1000 and env["data"]["result"] == "ACCEPTED"
    got = bodies(cpo, "POST", "/commands/START_SESSION")
    assert len(got) == 1
    sent = rawjson.loads(got[0].body)
    # everything but response_url arrives unchanged; response_url now points at the CPO's node
    original = rawjson.loads(start_body(msp))
    assert {k: v for k, v in sent.items() if k != "response_url"} == \
        {k: v for k, v in original.items() if k != "response_url"}
    rewritten = sent["response_url"]
    assert rewritten.startswith(cpo.node.base + "/ocpi/sender/2.2/commands/START_SESSION/")
    assert msp.base not in got[0].body.decode()
    # the CPO posts the CommandResult to the rewritten URL; the MSP receives it at its original URL
    result = b'{"result":"ACCEPTED"}'
    code, _, body = await cpo.send("POST", rewritten, (msp.country_code, msp.party_id), body=result)
    assert code == 200 and status(body) == 1000, body
    delivered = bodies(msp, "POST", "/ocpi/2.2/sender/commands/START_SESSION/42")
    assert len(delivered) == 1 and delivered[0].body == result
    assert delivered[0].headers["authorization"] == f"Token {msp.token_b}"
    # session created and updated by the CPO
    base = cpo.node.base + "/ocpi/receiver/2.2/sessions/DE/CPA/S1"
    code, _, body = await cpo.send("PUT", base, (msp.country_code, msp.party_id), body=SESSION)
    assert status(body) == 1000
    patch = b'{"kwh":15.342,"status":"ACTIVE","last_updated":"2020-03-09T11:17:09Z"}'
    code, _, body = await cpo.send("PATCH", base, (msp.country_code, msp.party_id), body=patch)
    assert status(body) == 1000
    assert [(r.method, r.body) for r in bodies(msp, suffix="/sessions/DE/CPA/S1")] == \
        [("PUT", SESSION), ("PATCH", patch)]
    # STOP_SESSION
    stop = (b'{"response_url":"' + msp.base.encode() + b'/ocpi/2.2/sender/commands/STOP_SESSION/43",'
            b'"session_id":"S1"}')
    code, _, body = await msp.send("POST", msp.node.base + "/ocpi/receiver/2.2/commands/STOP_SESSION",
                                   ("DE", "CPA"), body=stop)
    assert status(body) == 1000
    stop_sent = rawjson.loads(bodies(cpo, "POST", "/commands/STOP_SESSION")[0].body)
    assert stop_sent["session_id"] == "S1"
    code, _, body = await cpo.send("POST", stop_sent["response_url"], (msp.country_code, msp.party_id),
                                   body=b'{"result":"ACCEPTED"}')
    assert status(body) == 1000
    assert len(bodies(msp, "POST", "/commands/STOP_SESSION/43")) == 1
    return got[0]


@pytest_twisted.ensureDeferred
async def test_session_updates_across_nodes(network):
    await run_flow(network, network.msp)


@pytest_twisted.ensureDeferred
async def test_session_updates_same_node(network):
    await run_flow(network, network.msp_local)


@pytest_twisted.ensureDeferred
async def test_session_updates_signed_keep_valid_stash_chain(signed_network):
    net = signed_network
    received = await run_flow(net, net.msp)
    # the CPO got the MSP's signature with the response_url rewrite stashed by the MSP's node
    n = notary.deserialize(received.headers["ocn-signature"])
    assert n.signatory == net.msp.node.node_address
    assert [r.signatory for r in n.rewrites] == [net.msp.address]
    values = notary.request_values(received.headers, None, rawjson.loads(received.body))
    assert notary.verify(n, values)


@pytest_twisted.ensureDeferred
async def test_command_result_url_cannot_be_used_by_another_party(network):
    net = network
    cpo, msp = net.cpo, net.msp
    cpo.handler = lambda r: answer(cpo, {"result": "ACCEPTED", "timeout": 30}) if r.method == "POST" else None
    await msp.send("POST", msp.node.base + "/ocpi/receiver/2.2/commands/START_SESSION", ("DE", "CPA"),
                   body=start_body(msp))
    rewritten = rawjson.loads(bodies(cpo, "POST", "/commands/START_SESSION")[0].body)["response_url"]
    # the local MSP (same node as the CPO) tries to post a result to that URL
    code, _, body = await net.msp_local.send("POST", rewritten, ("NL", "MSP"), body=b'{"result":"REJECTED"}')
    assert json.loads(body)["status_code"] == 2003
    assert not bodies(msp, "POST", "/commands/START_SESSION/42")
