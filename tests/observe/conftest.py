from __future__ import annotations

import os
import sys

import pytest_twisted

sys.path.insert(0, os.path.dirname(__file__))  # obskit, chromium helpers

from networks import network_with_parties


@pytest_twisted.async_yield_fixture
async def network(tmp_path):
    net = await network_with_parties(tmp_path, signatures=False)
    yield net
    await net.stop()
