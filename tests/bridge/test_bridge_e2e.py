"""Bridges for a CPO (node A) and an eMSP (node B) talking across two real nodes."""

from __future__ import annotations

import pytest_twisted

CPO = ("DE", "CPB")
MSP = ("NL", "MSB")


@pytest_twisted.ensureDeferred
async def test_onboarding(both):
    net = both
    assert net.cpo.state.token_c and net.msp.state.token_c
    assert net.cpo.handshakes == 1
    listing = net.node_a.registry.get_party("DE", "CPB")
    assert listing.operator.lower() == net.node_a.node_address.lower()
