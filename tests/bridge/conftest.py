"""Two real nodes on loopback with a CPO bridge on node A and an eMSP bridge on node B."""

from __future__ import annotations

import pytest_twisted

from ocnd.bridge.testing import CPO_KEY, MSP_KEY, RecordingCpo, RecordingMsp, start_bridge
from ocnd.testing import TwoNodeNetwork


async def _bridged(tmp_path, signatures):
    from twisted.internet import reactor

    net = TwoNodeNetwork(reactor, str(tmp_path), signatures=signatures)
    await net.start()
    net.bridges = []
    try:
        net.cpo_bo = RecordingCpo("DE", "CPB")
        net.msp_bo = RecordingMsp("NL", "MSB")
        net.cpo = await start_bridge(net, net.node_a, cc="DE", pid="CPB", roles=("CPO",), key=CPO_KEY,
                                     backoffice=net.cpo_bo, signatures=signatures, db_dir=str(tmp_path))
        net.bridges.append(net.cpo)
        net.msp = await start_bridge(net, net.node_b, cc="NL", pid="MSB", roles=("EMSP",), key=MSP_KEY,
                                     backoffice=net.msp_bo, signatures=signatures, db_dir=str(tmp_path))
        net.bridges.append(net.msp)
        await net.sync()
    except BaseException:
        await _stop(net)
        raise
    return net


async def _stop(net):
    for b in getattr(net, "bridges", []):
        if b.running:
            await b.stopService()
    await net.stop()


@pytest_twisted.async_yield_fixture
async def bridged(tmp_path):
    net = await _bridged(tmp_path, signatures=False)
    yield net
    await _stop(net)


@pytest_twisted.async_yield_fixture
async def bridged_signed(tmp_path):
    net = await _bridged(tmp_path, signatures=True)
    yield net
    await _stop(net)


@pytest_twisted.async_yield_fixture(params=["unsigned", "signed"])
async def both(tmp_path, request):
    net = await _bridged(tmp_path, signatures=request.param == "signed")
    yield net
    await _stop(net)
