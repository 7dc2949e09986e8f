"""Custom modules: wildcard path, sub-path kept, any body, local and remote."""

from __future__ import annotations

import json

import pytest
import pytest_twisted

from flowkit import answer, bodies


@pytest.mark.parametrize("where", ["remote", "local"])
@pytest_twisted.ensureDeferred
async def test_custom_module_get_and_post(network, where):
    net = network
    msp = net.msp if where == "remote" else net.msp_local
    cpo = net.cpo
    cpo.handler = lambda r: answer(cpo, json.loads(r.body) if r.body else {"lite": True}) \
        if "/lite-locations" in r.path else None
    url = msp.node.base + "/ocpi/custom/sender/lite-locations/path/1/2/3/4/5/6/7"
    code, _, body = await msp.send("GET", url, ("DE", "CPA"), params={"hello": "world", "foo": "bar"})
    assert code == 200 and json.loads(body)["data"] == {"lite": True}
    got = bodies(cpo, "GET")[-1]
    assert got.path == "/ocpi/2.2/sender/lite-locations/path/1/2/3/4/5/6/7"
    assert got.query == {"hello": ["world"], "foo": ["bar"]}
    for payload in (b'{"b":[1,2.50,{"x":null}],"a":"z"}', b"[1,2,3]"):
        code, _, body = await msp.send("POST", msp.node.base + "/ocpi/custom/sender/lite-locations", ("DE", "CPA"),
                                       body=payload)
        assert code == 200, body
        assert bodies(cpo, "POST")[-1].body == payload


@pytest_twisted.ensureDeferred
async def test_custom_module_unknown_interface(network):
    code, _, body = await network.msp.send("GET", network.msp.node.base + "/ocpi/custom/middle/x", ("DE", "CPA"))
    assert code == 400 and json.loads(body)["status_message"] == "No interface middle found"


@pytest_twisted.ensureDeferred
async def test_receiver_without_module_endpoint(network):
    code, _, body = await network.cpo.send("GET", network.cpo.node.base + "/ocpi/custom/sender/nothing-here",
                                           ("CH", "MSL"))
    b = json.loads(body)
    assert (code, b["status_code"], b["status_message"]) == (400, 2001,
                                                            "Receiver does not support the requested module")
