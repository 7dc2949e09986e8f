from __future__ import annotations

import pytest_twisted

from networks import network_with_parties


@pytest_twisted.async_yield_fixture
async def network(tmp_path):
    net = await network_with_parties(tmp_path, signatures=False)
    yield net
    await net.stop()


@pytest_twisted.async_yield_fixture
async def signed_network(tmp_path):
    net = await network_with_parties(tmp_path, signatures=True)
    yield net
    await net.stop()
