"""Two-node networks with a CPO and two MSPs, shared by routing tests."""

from __future__ import annotations

from ocnd.testing import TwoNodeNetwork

CPO_KEY = "0x" + "c0" * 32
MSP_KEY = "0x" + "e1" * 32
MSP2_KEY = "0x" + "e2" * 32

CPO_MODULES = (("locations", "SENDER"), ("locations", "RECEIVER"), ("commands", "RECEIVER"),
               ("tokens", "RECEIVER"), ("sessions", "SENDER"), ("cdrs", "SENDER"), ("tariffs", "SENDER"),
               ("chargingprofiles", "RECEIVER"), ("lite-locations", "SENDER"))
MSP_MODULES = (("locations", "RECEIVER"), ("sessions", "RECEIVER"), ("cdrs", "RECEIVER"), ("tariffs", "RECEIVER"),
               ("commands", "SENDER"), ("tokens", "SENDER"), ("chargingprofiles", "SENDER"))


async def network_with_parties(tmp_path, signatures=False, env=None):
    from twisted.internet import reactor

    net = TwoNodeNetwork(reactor, str(tmp_path), signatures=signatures, env=env)
    await net.start()
    net.cpo = await net.add_party(net.node_a, country_code="DE", party_id="CPA", role="CPO",
                                  modules=CPO_MODULES, key=CPO_KEY)
    net.msp = await net.add_party(net.node_b, country_code="NL", party_id="MSP", role="EMSP",
                                  modules=MSP_MODULES, key=MSP_KEY)
    net.msp_local = await net.add_party(net.node_a, country_code="CH", party_id="MSL", role="EMSP",
                                        modules=MSP_MODULES, key=MSP2_KEY)
    return net
