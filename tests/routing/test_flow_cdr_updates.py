"""Flow: the CPO POSTs a CDR, GETs it back through the proxied Location; the MSP pulls the CDR list."""

from __future__ import annotations

import json

import pytest_twisted

from support import example

from flowkit import answer, bodies, status
from ocnd.signing import notary, rawjson

CDR = example("cdr_example.json") \
    .replace(b'"party_id": "BEC"', b'"party_id": "CPA"').replace(b'"country_code": "BE"', b'"country_code": "DE"', 1)


async def _flow(net):
    cpo, msp = net.cpo, net.msp

    def msp_handler(r):
        if r.method == "POST" and r.path.endswith("/receiver/cdrs"):
            return answer(msp, headers={"Location": f"{msp.base}/ocpi/2.2/receiver/cdrs/CDR-12345"})
        if r.method == "GET" and r.path.endswith("/receiver/cdrs/CDR-12345"):
            return answer(msp, CDR)
        return None

    msp.handler = msp_handler
    code, headers, body = await cpo.send("POST", cpo.node.base + "/ocpi/receiver/2.2/cdrs", ("NL", "MSP"), body=CDR)
    assert code == 200 and status(body) == 1000, body
    assert bodies(msp, "POST", "/receiver/cdrs")[0].body == CDR
    location = headers["location"]
    assert location.startswith(cpo.node.base + "/ocpi/receiver/2.2/cdrs/")
    assert msp.base not in location
    code, headers2, body = await cpo.send("GET", location, ("NL", "MSP"))
    assert code == 200, body
    env = rawjson.loads(body)
    assert env["data"] == rawjson.loads(CDR)
    assert bodies(msp, "GET", "/receiver/cdrs/CDR-12345")
    # the MSP pulls the CDR list from the CPO
    cpo.handler = lambda r: answer(cpo, b"[" + CDR + b"]", {"X-Total-Count": "1", "X-Limit": "10"}) \
        if r.method == "GET" and r.path.endswith("/sender/cdrs") else None
    code, headers3, body = await msp.send("GET", msp.node.base + "/ocpi/sender/2.2/cdrs", ("DE", "CPA"),
                                          params={"date_from": "2015-06-29T00:00:00Z", "limit": "10"})
    assert code == 200 and headers3["x-total-count"] == "1"
    assert rawjson.loads(body)["data"][0]["id"] == "12345"
    q = bodies(cpo, "GET", "/sender/cdrs")[0].query
    assert q == {"date_from": ["2015-06-29T00:00:00Z"], "limit": ["10"]}
    return headers, body


@pytest_twisted.ensureDeferred
async def test_cdr_updates(network):
    await _flow(network)


@pytest_twisted.ensureDeferred
async def test_cdr_updates_signed(signed_network):
    net = signed_network
    await _flow(net)


@pytest_twisted.ensureDeferred
async def test_cdr_location_is_private_to_the_pair(network):
    net = network
    net.msp.handler = lambda r: answer(net.msp, headers={"Location": f"{net.msp.base}/x/1"}) \
        if r.method == "POST" else None
    _, headers, _ = await net.cpo.send("POST", net.cpo.node.base + "/ocpi/receiver/2.2/cdrs", ("NL", "MSP"), body=CDR)
    code, _, body = await net.msp_local.send("GET", headers["location"], ("NL", "MSP"))
    assert json.loads(body)["status_code"] == 2003
