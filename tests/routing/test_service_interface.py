"""Permissions service interface: a provider with a FORWARD_ALL agreement gets copies (v1 behaviour)."""

from __future__ import annotations

import pytest_twisted

from flowkit import bodies, wait_for
from networks import network_with_parties

PROVIDER_KEY = "0x" + "5e" * 32


@pytest_twisted.async_yield_fixture
async def network(tmp_path):
    net = await network_with_parties(tmp_path, env={"OCND_ROUTING_SERVICE_INTERFACE": "true"})
    yield net
    await net.stop()


@pytest_twisted.ensureDeferred
async def test_provider_receives_copies(network):
    net = network
    provider = await net.add_party(net.node_a, country_code="DE", party_id="SVC", role="OTHER",
                                   modules=(("locations", "SENDER"),), key=PROVIDER_KEY)
    client = net.node_b.registry.client
    spender = net.chain.dev_accounts[0][1]
    await client.set_service_raw(PROVIDER_KEY, spender, "Analytics", "https://svc.example", [0])
    await client.create_agreement_raw(net.msp.key, spender, provider.address)
    url = net.msp.node.base + "/ocpi/sender/2.2/locations"
    await net.msp.send("GET", url, ("DE", "CPA"))  # loads the agreement cache in the background
    si = net.node_b.router.service_interface
    await wait_for(lambda: si._cache.get(("NL", "MSP")))
    code, _, body = await net.msp.send("GET", url, ("DE", "CPA"), params={"limit": "5"})
    assert code == 200
    await wait_for(lambda: bodies(provider, "GET", "/sender/locations"))
    copy = bodies(provider, "GET", "/sender/locations")[0]
    assert copy.headers["ocpi-to-country-code"] == "DE" and copy.headers["ocpi-to-party-id"] == "SVC"
    assert copy.headers["ocpi-from-party-id"] == "MSP" and copy.query == {"limit": ["5"]}
    # a party without agreement triggers no copy
    before = len(bodies(provider))
    await net.msp_local.send("GET", net.msp_local.node.base + "/ocpi/sender/2.2/locations", ("DE", "CPA"))
    assert len(bodies(provider)) == before
