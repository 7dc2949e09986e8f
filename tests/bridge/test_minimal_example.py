"""The "Connect your backoffice" example from docs/bridge.md, run for real."""

from __future__ import annotations

import pytest_twisted

# --- the example (kept identical to docs/bridge.md) -------------------------------
from ocnd.bridge import Bridge, BridgeConfig, CommandResponse, Page


class MyLocations:
    """locations SENDER: the CPO's chargers."""

    def __init__(self, cc, pid):
        self.items = [{"country_code": cc, "party_id": pid, "id": "LOC1", "publish": True,
                       "address": "Main St 1", "city": "Gent", "country": "BEL",
                       "coordinates": {"latitude": "51.047599", "longitude": "3.729944"},
                       "time_zone": "Europe/Brussels", "last_updated": "2024-01-01T00:00:00Z"}]

    def get_list(self, offset, limit, date_from, date_to):
        return Page(self.items[offset:offset + limit], total=len(self.items))

    def get(self, location_id, evse_uid=None, connector_id=None):
        return next((x for x in self.items if x["id"] == location_id and evse_uid is None), None)


class MyCommands:
    """commands RECEIVER: start/stop charging."""

    async def start_session(self, request, sender):
        # talk to the charger here; the async result may be a Deferred, a coroutine or a value
        return CommandResponse("ACCEPTED", timeout=30, async_result={"result": "ACCEPTED"})

    def stop_session(self, request, sender):
        return CommandResponse("UNKNOWN_SESSION", timeout=0)


class MyCpo:
    def __init__(self, cc, pid):
        self.locations = MyLocations(cc, pid)
        self.commands = MyCommands()


def make_bridge(node_url, public_url, listen, party_key, token_a, db_path, registry=None, **registry_settings):
    config = BridgeConfig(
        node_url=node_url, public_url=public_url, listen=listen,
        country_code="DE", party_id="MIN", roles=("CPO",), party_key=party_key,
        modules=(("locations", "SENDER"), ("commands", "RECEIVER")),
        token_a=token_a, db_path=db_path, signatures=True, **registry_settings)
    return Bridge(config, MyCpo("DE", "MIN"), registry=registry)
# --- end of the example --------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_minimal_example(tmp_path):
    from twisted.internet import reactor

    from ocnd.bridge.testing import MSP_KEY, RecordingMsp, free_port, registration_token, registry_for, start_bridge
    from ocnd.testing import TwoNodeNetwork

    net = TwoNodeNetwork(reactor, str(tmp_path), signatures=True)
    await net.start()
    bridges = []
    try:
        port = free_port()
        cpo = make_bridge(net.node_a.base, f"http://127.0.0.1:{port}", f"tcp:{port}:interface=127.0.0.1",
                          "0x" + "5a" * 32, await registration_token(net.node_a, "DE", "MIN"),
                          str(tmp_path / "min.sqlite"), registry=registry_for(net),
                          spender_key=net.chain.dev_accounts[0][1])
        cpo.startService()
        bridges.append(cpo)
        await cpo.ready
        msp = await start_bridge(net, net.node_b, cc="NL", pid="MSB", roles=("EMSP",), key=MSP_KEY,
                                 backoffice=RecordingMsp("NL", "MSB"), signatures=True, db_dir=str(tmp_path))
        bridges.append(msp)
        await net.sync()
        assert [x["id"] for x in await msp.get_locations(("DE", "MIN"))] == ["LOC1"]
        response, result = await msp.send_command(("DE", "MIN"), "START_SESSION",
                                                  {"token": {"uid": "X"}, "location_id": "LOC1"})
        assert response["result"] == "ACCEPTED" and (await result) == {"result": "ACCEPTED"}
    finally:
        for b in bridges:
            await b.stopService()
        await net.stop()
