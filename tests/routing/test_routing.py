"""Routing between parties across two real nodes and on one node."""

from __future__ import annotations

import json

import pytest_twisted

from ocnd.signing import notary, rawjson

LOCATION = (b'{"country_code":"DE","party_id":"CPA","id":"LOC1","publish":true,"name":"Gent Zuid",'
            b'"address":"F.Rooseveltlaan 3A","city":"Gent","country":"BEL","coordinates":{"latitude":"51.047599",'
            b'"longitude":"3.729944"},"x_vendor_field":{"kwh":10.0,"big":1e+21},"time_zone":"Europe/Brussels",'
            b'"last_updated":"2015-06-29T20:39:09Z"}')


async def push_location(net, target, **kw):
    return await net.cpo.send("PUT", net.cpo.node.base + "/ocpi/receiver/2.2/locations/DE/CPA/LOC1",
                              (target.country_code, target.party_id), body=LOCATION, **kw)


@pytest_twisted.ensureDeferred
async def test_remote_push_is_byte_faithful(network):
    code, headers, body = await push_location(network, network.msp)
    assert code == 200, body
    assert json.loads(body)["status_code"] == 1000
    got = [r for r in network.msp.received if r.path.endswith("/locations/DE/CPA/LOC1")]
    assert len(got) == 1
    r = got[0]
    assert r.body == LOCATION
    assert r.method == "PUT"
    assert r.path == "/ocpi/2.2/receiver/locations/DE/CPA/LOC1"
    assert r.headers["authorization"] == f"Token {network.msp.token_b}"
    assert r.headers["ocpi-from-country-code"] == "DE" and r.headers["ocpi-to-party-id"] == "MSP"
    assert r.headers["x-correlation-id"] == "corr-1"


@pytest_twisted.ensureDeferred
async def test_local_push_is_byte_faithful(network):
    code, headers, body = await push_location(network, network.msp_local)
    assert code == 200, body
    got = [r for r in network.msp_local.received if r.path.endswith("/locations/DE/CPA/LOC1")]
    assert len(got) == 1 and got[0].body == LOCATION
    assert not network.msp.received


@pytest_twisted.ensureDeferred
async def test_signed_remote_push_keeps_recipient_signature(signed_network):
    net = signed_network
    code, headers, body = await push_location(net, net.msp)
    assert code == 200, body
    envelope = rawjson.loads(body)
    n = notary.deserialize(envelope["ocn_signature"])
    assert n.signatory == net.msp.address
    assert notary.verify(n, notary.response_values({}, envelope))
    # the MSP got the CPO's signature untouched
    r = [r for r in net.msp.received if r.method == "PUT"][0]
    sig = notary.deserialize(r.headers["ocn-signature"])
    assert sig.signatory == net.cpo.address
    assert r.body == LOCATION


@pytest_twisted.ensureDeferred
async def test_signature_required_refuses_unsigned(signed_network):
    net = signed_network
    code, headers, body = await push_location(net, net.msp, sign=False)
    assert code == 400
    b = json.loads(body)
    assert (b["status_code"], b["status_message"]) == (2001, "Missing OCN Signature")
    assert not [r for r in net.msp.received if r.method == "PUT"]
    # error bodies are signed by the node
    n = notary.deserialize(b["ocn_signature"])
    assert n.signatory == net.node_a.node_address


@pytest_twisted.ensureDeferred
async def test_tampered_body_is_refused(signed_network):
    net = signed_network
    values = notary.request_values({"X-Correlation-ID": "corr-1", "OCPI-from-country-code": "DE",
                                    "OCPI-from-party-id": "CPA", "OCPI-to-country-code": "NL",
                                    "OCPI-to-party-id": "MSP"}, None, rawjson.loads(LOCATION))
    sig = notary.serialize(notary.sign(values, net.cpo.key))
    tampered = LOCATION.replace(b"Gent Zuid", b"Gent Noord")
    code, headers, body = await net.cpo.send("PUT", net.node_a.base + "/ocpi/receiver/2.2/locations/DE/CPA/LOC1",
                                             ("NL", "MSP"), body=tampered, sign=False,
                                             headers={"OCN-Signature": sig})
    b = json.loads(body)
    assert code == 400 and b["status_message"] == "Invalid signature: Request has been modified"


@pytest_twisted.ensureDeferred
async def test_unknown_receiver_and_bad_headers(network):
    net = network
    code, headers, body = await net.cpo.send("GET", net.node_a.base + "/ocpi/sender/2.2/locations", ("FR", "XXX"))
    b = json.loads(body)
    assert (code, b["status_code"], b["status_message"]) == (200, 4001, "Receiver not registered on Open Charging Network")
    code, headers, body = await net.cpo.send("GET", net.node_a.base + "/ocpi/sender/2.2/locations", ("FRA", "XXX"))
    assert code == 400 and json.loads(body)["status_message"] == 'Given country_code "FRA" not 2 characters'
    code, headers, body = await net.cpo.send("GET", net.node_a.base + "/ocpi/sender/2.2/locations", ("NL", "MSP"),
                                             headers={"Authorization": "Token nope"})
    assert code == 401 and json.loads(body)["status_message"] == "Invalid CREDENTIALS_TOKEN_C"
    code, headers, body = await net.cpo.send("GET", net.node_a.base + "/ocpi/sender/2.2/locations", ("NL", "MSP"),
                                             headers={"OCPI-from-party-id": "ZZZ"})
    assert code == 400
    assert json.loads(body)["status_message"] == "Could not find role on sending platform using OCPI-from-* headers"


@pytest_twisted.ensureDeferred
async def test_spoofed_owner_is_refused(network):
    net = network
    # URL names another owner than OCPI-from
    code, headers, body = await net.cpo.send("PUT", net.node_a.base + "/ocpi/receiver/2.2/locations/NL/MSP/LOC1",
                                             ("NL", "MSP"), body=LOCATION)
    b = json.loads(body)
    assert code == 400 and b["status_code"] == 2001
    assert b["status_message"] == "Ownership mismatch: URL names NL/MSP but OCPI-from is DE/CPA"
    # body names another owner
    spoof = LOCATION.replace(b'"party_id":"CPA"', b'"party_id":"XXX"')
    code, headers, body = await net.cpo.send("PUT", net.node_a.base + "/ocpi/receiver/2.2/locations/DE/CPA/LOC1",
                                             ("NL", "MSP"), body=spoof)
    assert json.loads(body)["status_message"] == "Ownership mismatch: body names DE/XXX but OCPI-from is DE/CPA"
    assert not [r for r in net.msp.received if r.method == "PUT"]


@pytest_twisted.ensureDeferred
async def test_forged_node_message_is_refused(network):
    import treq

    from ocnd.routing import message as msgcodec
    from ocnd.routing.message import OcpiRequest
    from ocnd.signing import wire

    net = network
    req = OcpiRequest("2.2", "locations", "RECEIVER", "PUT", "r1", "c1", ("DE", "CPA"), ("NL", "MSP"), {},
                      url_path="/DE/CPA/LOC1", body=LOCATION)
    payload = msgcodec.encode(req)
    forged = wire.sign_body(payload, "0x" + "66" * 32)
    response = await treq.post(net.node_b.base + "/ocn/message", data=payload, persistent=False,
                               headers={"X-Request-ID": "x", "OCN-Signature": forged})
    b = json.loads(await response.content())
    assert (b["status_code"], b["status_message"]) == (4003, "Could not verify OCN-Signature of request")
    # correctly signed by node A: accepted once, a replay is refused, another body with the old signature too
    good = wire.sign_body(payload, net.node_a.node_key)
    response = await treq.post(net.node_b.base + "/ocn/message", data=payload, persistent=False,
                               headers={"X-Request-ID": "x", "OCN-Signature": good})
    assert json.loads(await response.content())["status_code"] == 1000
    response = await treq.post(net.node_b.base + "/ocn/message", data=payload, persistent=False,
                               headers={"X-Request-ID": "x", "OCN-Signature": good})
    assert json.loads(await response.content())["status_code"] == 2001
    other = payload.replace(b"Gent Zuid", b"Gent Noord")
    response = await treq.post(net.node_b.base + "/ocn/message", data=other, persistent=False,
                               headers={"X-Request-ID": "x", "OCN-Signature": good})
    assert json.loads(await response.content())["status_code"] == 4003
    assert len([r for r in net.msp.received if r.method == "PUT"]) == 1
