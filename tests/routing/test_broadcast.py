"""Broadcast push of a tariff to every MSP on the network (beyond v1)."""

from __future__ import annotations

import json

import pytest_twisted

from support import example
import treq

from flowkit import bodies

TARIFF = example("tariff_1_simple_2hour.json") \
    .replace(b'"party_id": "ALL"', b'"party_id": "CPA"')


async def broadcast(net, **kw):
    return await net.cpo.send("PUT", net.cpo.node.base + "/ocpi/receiver/2.2/tariffs/DE/CPA/12", ("CH", "OCN"),
                              body=TARIFF, **kw)


def _results(body):
    env = json.loads(body)
    assert env["status_code"] == 1000, env
    return {(r.get("country_code"), r.get("party_id")): r for r in env["data"]}


@pytest_twisted.ensureDeferred
async def test_tariff_broadcast_reaches_every_msp(network):
    net = network
    code, _, body = await broadcast(net)
    results = _results(body)
    assert results[("NL", "MSP")]["status_code"] == 1000 and results[("NL", "MSP")]["node"] == net.node_b.base
    assert results[("CH", "MSL")]["status_code"] == 1000 and results[("CH", "MSL")]["node"] == net.node_a.base
    assert ("DE", "CPA") not in results  # never back to the sender
    for msp in (net.msp, net.msp_local):
        got = bodies(msp, "PUT", "/tariffs/DE/CPA/12")
        assert len(got) == 1 and got[0].body == TARIFF
        assert (got[0].headers["ocpi-to-country-code"], got[0].headers["ocpi-to-party-id"]) == \
            (msp.country_code, msp.party_id)


@pytest_twisted.ensureDeferred
async def test_broadcast_respects_ocn_rules_and_ownership(network):
    net = network
    r = await treq.put(net.msp_local.node.base + "/ocpi/receiver/2.2/ocnrules/blacklist",
                       json=[{"country_code": "DE", "party_id": "CPA", "modules": ["tariffs"]}],
                       headers={"Authorization": f"Token {net.msp_local.token_c}"}, persistent=False)
    assert (await r.json())["status_code"] == 1000
    code, _, body = await broadcast(net)
    results = _results(body)
    assert ("CH", "MSL") not in results and ("NL", "MSP") in results
    assert not bodies(net.msp_local, "PUT", "/tariffs/DE/CPA/12")
    # a broadcast of someone else's tariff is refused before anything is sent
    code, _, body = await net.cpo.send("PUT", net.cpo.node.base + "/ocpi/receiver/2.2/tariffs/NL/MSP/12",
                                       ("CH", "OCN"), body=TARIFF)
    assert code == 400 and json.loads(body)["status_message"].startswith("Ownership mismatch")
    # only receiver pushes can be broadcast
    code, _, body = await net.cpo.send("GET", net.cpo.node.base + "/ocpi/sender/2.2/locations", ("CH", "OCN"))
    assert code == 400 and json.loads(body)["status_code"] == 2001


@pytest_twisted.ensureDeferred
async def test_signed_broadcast_is_resigned_per_recipient(signed_network):
    from ocnd.signing import notary, rawjson

    net = signed_network
    code, _, body = await broadcast(net)
    results = _results(body)
    assert results[("NL", "MSP")]["status_code"] == 1000, results
    got = bodies(net.msp, "PUT", "/tariffs/DE/CPA/12")[0]
    n = notary.deserialize(got.headers["ocn-signature"])
    assert n.rewrites and n.rewrites[0].signatory == net.cpo.address
    assert notary.verify(n, notary.request_values(got.headers, None, rawjson.loads(got.body)))
