"""Parties listed in the registry for a node but not yet connected show up as PLANNED."""

from __future__ import annotations

import pytest_twisted
import treq

from networks import network_with_parties
from ocnd.registry.model import Role


@pytest_twisted.async_yield_fixture
async def network(tmp_path):
    net = await network_with_parties(tmp_path)
    yield net
    await net.stop()


@pytest_twisted.ensureDeferred
async def test_planned_party_discovery(network):
    net = network
    spender = net.chain.dev_accounts[0][1]
    await net.node_a.registry.client.set_party_raw("0x" + "9a" * 32, spender, "FR", "NEW", [int(Role.CPO)],
                                                   net.node_a.node_address)
    await net.sync()
    await net.node_a.hub.discover_planned()
    r = await treq.get(net.node_a.base + "/ocpi/2.2/hubclientinfo", persistent=False, headers={
        "Authorization": f"Token {net.msp_local.token_c}", "X-Request-ID": "1", "X-Correlation-ID": "2",
        "OCPI-from-country-code": "CH", "OCPI-from-party-id": "MSL", "OCPI-to-country-code": "CH",
        "OCPI-to-party-id": "OCN"})
    data = (await r.json())["data"]
    assert {"country_code": "FR", "party_id": "NEW", "role": "CPO", "status": "PLANNED"}.items() <= \
        next(e for e in data if e["party_id"] == "NEW").items()
