"""Test helpers for bridges: recording backoffices and a starter for TwoNodeNetwork.

``RecordingCpo`` / ``RecordingMsp`` implement every module of their side and
record each call as ``(name, *args)``; ``start_bridge`` connects a bridge to a
node of :class:`ocnd.testing.TwoNodeNetwork` (registry listing through the
embedded chain, Token A from the node's admin API, handshake).
"""

from __future__ import annotations

import os
import socket

import treq
from twisted.internet import defer

from ..registry.client import EmbeddedBackend, RegistryClient
from .backoffice import ChargingProfileResponse, CommandResponse, Page, UnknownToken
from .config import BridgeConfig
from .service import Bridge

class Recorder:
    def __init__(self):
        self.calls = []

    def rec(self, name, *args):
        self.calls.append((name,) + args)

    def named(self, name):
        return [c[1:] for c in self.calls if c[0] == name]


def _page(items, offset, limit):
    return Page(items[offset:offset + limit], len(items))


class _CpoLocations:
    def __init__(self, r, cc, pid):
        self.r = r
        self.items = [{"country_code": cc, "party_id": pid, "id": f"LOC{i}", "publish": True,
                       "name": f"Site {i}", "address": "Main St 1", "city": "Gent", "country": "BEL",
                       "coordinates": {"latitude": "51.047599", "longitude": "3.729944"},
                       "evses": [{"uid": f"E{i}", "status": "AVAILABLE",
                                  "connectors": [{"id": "1", "standard": "IEC_62196_T2", "format": "SOCKET",
                                                  "power_type": "AC_3_PHASE", "max_voltage": 230,
                                                  "max_amperage": 16, "last_updated": "2024-01-01T00:00:00Z"}],
                                  "last_updated": "2024-01-01T00:00:00Z"}],
                       "time_zone": "Europe/Brussels", "x_extra": {"kwh": 10.0},
                       "last_updated": "2024-01-01T00:00:00Z"} for i in range(1, 6)]

    def get_list(self, offset, limit, date_from, date_to):
        self.r.rec("locations.get_list", offset, limit, date_from, date_to)
        return _page(self.items, offset, limit)

    async def get(self, location_id, evse_uid=None, connector_id=None):
        self.r.rec("locations.get", location_id, evse_uid, connector_id)
        loc = next((x for x in self.items if x["id"] == location_id), None)
        if loc is None or evse_uid is None:
            return loc
        evse = next((e for e in loc["evses"] if e["uid"] == evse_uid), None)
        if evse is None or connector_id is None:
            return evse
        return next((c for c in evse["connectors"] if c["id"] == connector_id), None)


class _List:
    def __init__(self, r, name, items=()):
        self.r, self.name, self.items = r, name, list(items)

    def get_list(self, offset, limit, date_from, date_to):
        self.r.rec(f"{self.name}.get_list", offset, limit, date_from, date_to)
        return defer.succeed(_page(self.items, offset, limit))


class _CpoTokens:
    def __init__(self, r):
        self.r = r

    def on_update(self, cc, pid, uid, type, obj, patch):
        self.r.rec("tokens.on_update", cc, pid, uid, type, obj, patch)


class _CpoCommands:
    def __init__(self, r):
        self.r = r
        self.results = []

    def start_session(self, request, sender):
        self.r.rec("commands.start_session", request, sender)
        if request.get("location_id") == "UNKNOWN":
            return CommandResponse("REJECTED", 0)
        d = defer.Deferred()
        self.results.append(d)
        from twisted.internet import reactor
        reactor.callLater(0.05, d.callback, {"result": "ACCEPTED"})
        return CommandResponse("ACCEPTED", 30, async_result=d)

    async def stop_session(self, request, sender):
        self.r.rec("commands.stop_session", request, sender)
        return CommandResponse("ACCEPTED", 30, async_result="ACCEPTED")


class _CpoProfiles:
    def __init__(self, r):
        self.r = r

    def set(self, session_id, charging_profile, sender):
        self.r.rec("chargingprofiles.set", session_id, charging_profile, sender)
        return ChargingProfileResponse("ACCEPTED", 20, async_result={"result": "ACCEPTED"})

    async def get_active(self, session_id, duration, sender):
        self.r.rec("chargingprofiles.get_active", session_id, duration, sender)
        return ChargingProfileResponse("ACCEPTED", 20, async_result={
            "result": "ACCEPTED", "profile": {"start_date_time": "2024-01-01T00:00:00Z",
                                              "charging_profile": {"charging_rate_unit": "W",
                                                                   "charging_profile_period": []}}})

    def clear(self, session_id, sender):
        self.r.rec("chargingprofiles.clear", session_id, sender)
        return ChargingProfileResponse("ACCEPTED", 20, async_result={"result": "ACCEPTED"})


class _CpoSessions(_List):
    def set_charging_preferences(self, session_id, prefs, sender):
        self.r.rec("sessions.set_charging_preferences", session_id, prefs, sender)
        return "ACCEPTED"


class RecordingCpo(Recorder):
    """Records every call; CPO side of every module."""

    def __init__(self, cc, pid):
        super().__init__()
        self.locations = _CpoLocations(self, cc, pid)
        self.sessions = _CpoSessions(self, "sessions", [{"country_code": cc, "party_id": pid, "id": "S1"}])
        self.cdrs = _List(self, "cdrs", [{"country_code": cc, "party_id": pid, "id": f"C{i}"} for i in range(3)])
        self.tariffs = _List(self, "tariffs", [{"country_code": cc, "party_id": pid, "id": "T1"}])
        self.tokens = _CpoTokens(self)
        self.commands = _CpoCommands(self)
        self.chargingprofiles = _CpoProfiles(self)


class _MspLocations:
    def __init__(self, r):
        self.r = r
        self.store = {}

    def on_update(self, cc, pid, location_id, obj, patch, evse_uid=None, connector_id=None):
        self.r.rec("locations.on_update", cc, pid, location_id, obj, patch, evse_uid, connector_id)
        self.store[(cc, pid, location_id)] = obj

    def get(self, cc, pid, location_id, evse_uid=None, connector_id=None):
        return self.store.get((cc, pid, location_id))


class _MspSessions:
    def __init__(self, r):
        self.r = r

    async def on_update(self, cc, pid, session_id, obj, patch):
        self.r.rec("sessions.on_update", cc, pid, session_id, obj, patch)


class _MspCdrs:
    def __init__(self, r):
        self.r = r
        self.store = {}

    def on_new(self, cdr):
        self.r.rec("cdrs.on_new", cdr)
        key = "cdr-" + cdr["id"]
        self.store[key] = cdr
        return key

    def get(self, id):
        self.r.rec("cdrs.get", id)
        return self.store.get(id)


class _MspTariffs:
    def __init__(self, r):
        self.r = r

    def on_update(self, cc, pid, tariff_id, obj):
        self.r.rec("tariffs.on_update", cc, pid, tariff_id, obj)

    def on_delete(self, cc, pid, tariff_id):
        self.r.rec("tariffs.on_delete", cc, pid, tariff_id)


class _MspTokens(_List):
    def authorize(self, uid, type, location_references):
        self.r.rec("tokens.authorize", uid, type, location_references)
        if uid != "TOKEN1":
            raise UnknownToken()
        return {"allowed": "ALLOWED", "token": self.items[0], "authorization_reference": "AUTH1"}


class _MspCommands:
    def __init__(self, r):
        self.r = r

    def on_result(self, command, uid, result):
        self.r.rec("commands.on_result", command, uid, result)


class _MspProfiles:
    def __init__(self, r):
        self.r = r

    def on_result(self, kind, session_id, uid, result):
        self.r.rec("chargingprofiles.on_result", kind, session_id, uid, result)

    def on_active_profile(self, cc, pid, session_id, profile):
        self.r.rec("chargingprofiles.on_active_profile", cc, pid, session_id, profile)


class RecordingMsp(Recorder):
    def __init__(self, cc, pid):
        super().__init__()
        self.locations = _MspLocations(self)
        self.sessions = _MspSessions(self)
        self.cdrs = _MspCdrs(self)
        self.tariffs = _MspTariffs(self)
        self.tokens = _MspTokens(self, "tokens", [
            {"country_code": cc, "party_id": pid, "uid": "TOKEN1", "type": "RFID", "contract_id": "NL-MSB-C1",
             "issuer": "MSB", "valid": True, "whitelist": "ALLOWED", "last_updated": "2024-01-01T00:00:00Z"}])
        self.commands = _MspCommands(self)
        self.chargingprofiles = _MspProfiles(self)


CPO_KEY = "0x" + "c3" * 32
MSP_KEY = "0x" + "e3" * 32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def registration_token(node, cc: str, pid: str) -> str:
    response = await treq.post(node.base + "/admin/generate-registration-token",
                               json=[{"country_code": cc, "party_id": pid}],
                               headers={"Authorization": f"Token {node.admin_key}"}, persistent=False)
    return (await response.json())["token"]


def registry_for(net) -> RegistryClient:
    """A registry client on the network's embedded chain."""
    return RegistryClient(EmbeddedBackend(net.chain), net.chain.registry_address, net.chain.permissions_address)


async def start_bridge(net, node, *, cc, pid, roles, key, backoffice, signatures, db_dir, token_a=None,
                       port=None, **extra) -> Bridge:
    from twisted.internet import reactor

    port = port or free_port()
    if token_a is None:
        token_a = await registration_token(node, cc, pid)
    config = BridgeConfig(node_url=node.base, public_url=f"http://127.0.0.1:{port}", country_code=cc,
                          party_id=pid, party_key=key, roles=roles, listen=f"tcp:{port}:interface=127.0.0.1",
                          token_a=token_a, signatures=signatures,
                          db_path=os.path.join(db_dir, f"bridge-{cc}-{pid}.sqlite"),
                          spender_key=net.chain.dev_accounts[0][1], registry_mode="none", **extra)
    bridge = Bridge(config, backoffice, reactor=reactor, registry=registry_for(net))
    bridge.startService()
    await bridge.ready
    return bridge


