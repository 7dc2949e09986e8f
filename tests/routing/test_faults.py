"""Faults on the routing path: recipient party down or slow, recipient node down."""

from __future__ import annotations

import json
import time

import pytest_twisted

from networks import network_with_parties

LOC = b'{"country_code":"DE","party_id":"CPA","id":"L1","last_updated":"2020-01-01T00:00:00Z"}'


async def push(net):
    return await net.cpo.send("PUT", net.cpo.node.base + "/ocpi/receiver/2.2/locations/DE/CPA/L1", ("NL", "MSP"),
                              body=LOC)


@pytest_twisted.ensureDeferred
async def test_recipient_party_down_is_4003(network):
    await network.msp.stop()
    code, _, body = await push(network)
    b = json.loads(body)
    assert code == 200 and b["status_code"] == 4003
    assert b["status_message"].startswith("Connection problem:")


@pytest_twisted.ensureDeferred
async def test_recipient_node_down_is_4003(network):
    await network.node_b.stopService()
    network.nodes.remove(network.node_b)
    code, _, body = await push(network)
    assert code == 200 and json.loads(body)["status_code"] == 4003


@pytest_twisted.async_yield_fixture
async def fast_timeout_network(tmp_path):
    net = await network_with_parties(tmp_path, env={"OCND_LIMITS_REQUEST_TIMEOUT": "0.5"})
    yield net
    await net.stop()


@pytest_twisted.ensureDeferred
async def test_slow_party_times_out_with_4002_and_does_not_block(fast_timeout_network):
    net = fast_timeout_network
    net.msp.delay = 3.0
    started = time.monotonic()
    code, _, body = await push(net)
    elapsed = time.monotonic() - started
    b = json.loads(body)
    # node B times out calling the MSP (0.5 s) and answers 4002; node A relays it
    assert code == 200 and b["status_code"] == 4002, b
    assert elapsed < 2.5
    # meanwhile the node keeps serving other requests
    net.msp.delay = 0
    code, _, body = await push(net)
    assert json.loads(body)["status_code"] == 1000
