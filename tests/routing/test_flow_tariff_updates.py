"""Flow: the CPO PUTs and DELETEs tariffs to the MSP across nodes."""

from __future__ import annotations

import pytest_twisted

from support import example

from flowkit import bodies, status

TARIFF = example("tariff_1_simple_2hour.json") \
    .replace(b'"country_code": "DE"', b'"country_code": "DE"').replace(b'"party_id": "ALL"', b'"party_id": "CPA"')


@pytest_twisted.ensureDeferred
async def test_tariff_updates(network):
    cpo, msp = network.cpo, network.msp
    url = cpo.node.base + "/ocpi/receiver/2.2/tariffs/DE/CPA/12"
    code, _, body = await cpo.send("PUT", url, ("NL", "MSP"), body=TARIFF)
    assert code == 200 and status(body) == 1000, body
    code, _, body = await cpo.send("DELETE", url, ("NL", "MSP"))
    assert status(body) == 1000
    got = bodies(msp, suffix="/tariffs/DE/CPA/12")
    assert [(r.method, r.body) for r in got] == [("PUT", TARIFF), ("DELETE", b"")]
    # pretty-printed example data (with its trailing newline) arrives byte for byte
    assert got[0].body.endswith(b"}\n") or got[0].body == TARIFF
