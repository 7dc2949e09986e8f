"""Routed messages are freed by reference counting, not left to the cyclic garbage collector.

Each object a request leaves in a reference cycle waits for a young-generation collection; with
hundreds of objects per routed message those collections paused the reactor for 12-20 ms several
times a second under load, which set the p99 latency (bench/README.md, item 7).
"""

from __future__ import annotations

import gc

import pytest_twisted
from twisted.internet import reactor, task

from ocnd.httpclient import BytesProducer
from ocnd.web import DeadlineChannel, LimitedRequest

LOCATION = b'{"country_code":"DE","party_id":"CPA","id":"LOC1","publish":true,"name":"Gent Zuid"}'


async def push_location(net, target):
    return await net.cpo.send("PUT", net.cpo.node.base + "/ocpi/receiver/2.2/locations/DE/CPA/LOC1",
                              (target.country_code, target.party_id), body=LOCATION)


async def _garbage_after(net, n: int) -> list:
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(n):
            code, _, body = await push_location(net, net.msp)
            assert code == 200, body
        await task.deferLater(reactor, 0.05, lambda: None)
        gc.collect()
        return list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


@pytest_twisted.ensureDeferred
async def test_routed_messages_leave_no_request_in_a_reference_cycle(network):
    await push_location(network, network.msp)  # connections, caches and registry views warmed up
    n = 20
    garbage = await _garbage_after(network, n)
    # node A's and node B's inbound requests, and the requests they forwarded (node B, the MSP)
    assert [o for o in garbage if isinstance(o, LimitedRequest)] == []
    assert [o for o in garbage if isinstance(o, BytesProducer)] == []
    # nor the inbound connections' channels and transports once closed (the test client opens one per
    # message); what is left comes from the test's own client and werkzeug's matcher closure
    assert [o for o in garbage if isinstance(o, DeadlineChannel)] == []
