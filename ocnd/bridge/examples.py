"""Two example backoffices: a small CPO and an eMSP that records everything.

``ExampleCpo`` serves two locations and three tariffs built from the official
OCPI examples (``ocnd/bridge/data``), accepts START/STOP_SESSION and
UNLOCK_CONNECTOR, simulates charging (energy grows with time at the
connector's power, EVSE status AVAILABLE → CHARGING → AVAILABLE), pushes
Session updates to the eMSP that started the session and, on stop, a CDR.
It also accepts tokens pushed to it and charging profiles.

``ExampleMsp`` owns two tokens (whitelist authorization), stores every pushed
location, session, tariff and CDR, and records command / charging-profile
results in :attr:`ExampleMsp.events`.

Both work as ``--backoffice ocnd.bridge.examples:cpo`` (or ``:msp``) with
``twistd ocn-bridge``; the factories receive the :class:`BridgeConfig`.
Time is taken from an injectable clock; ``time_scale`` simulated seconds pass
per real second and sessions are updated every ``tick`` real seconds.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from importlib import resources
from typing import Any

from twisted.internet import defer, task
from twisted.logger import Logger

from .backoffice import ChargingProfileResponse, CommandResponse, Page, UnknownToken


def load_example(name: str) -> dict:
    """One JSON object from ``ocnd/bridge/data`` (key order kept)."""
    text = resources.files("ocnd.bridge.data").joinpath(name).read_text("utf-8")
    return json.loads(text)


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _page(items: list, offset: int, limit: int, date_from: str | None, date_to: str | None) -> Page:
    selected = [x for x in items
                if (not date_from or x.get("last_updated", "") >= date_from)
                and (not date_to or x.get("last_updated", "") < date_to)]
    return Page(selected[offset:offset + limit], len(selected))


def _owned(obj: dict, cc: str, pid: str) -> dict:
    obj = copy.deepcopy(obj)
    obj["country_code"], obj["party_id"] = cc, pid
    return obj


# -- CPO -----------------------------------------------------------------------------


class _CpoLocations:
    def __init__(self, cpo: "ExampleCpo") -> None:
        self.cpo = cpo

    def get_list(self, offset, limit, date_from, date_to):
        return _page(self.cpo.locations_data, offset, limit, date_from, date_to)

    def get(self, location_id, evse_uid=None, connector_id=None):
        loc = self.cpo.find_location(location_id)
        if loc is None or evse_uid is None:
            return loc
        evse = next((e for e in loc.get("evses", []) if e["uid"] == evse_uid), None)
        if evse is None or connector_id is None:
            return evse
        return next((c for c in evse.get("connectors", []) if c["id"] == connector_id), None)


class _CpoList:
    def __init__(self, items_fn) -> None:
        self.items_fn = items_fn

    def get_list(self, offset, limit, date_from, date_to):
        return _page(self.items_fn(), offset, limit, date_from, date_to)


class _CpoSessions(_CpoList):
    def __init__(self, cpo: "ExampleCpo") -> None:
        super().__init__(lambda: list(cpo.sessions_by_id.values()))
        self.cpo = cpo

    def set_charging_preferences(self, session_id, preferences, sender):
        if session_id not in self.cpo.sessions_by_id:
            return "NOT_POSSIBLE"
        self.cpo.preferences[session_id] = preferences
        return "ACCEPTED"


class _CpoTokens:
    def __init__(self, cpo: "ExampleCpo") -> None:
        self.cpo = cpo

    def on_update(self, cc, pid, uid, type, obj, patch):
        key = (cc, pid, uid, type)
        if patch and key in self.cpo.tokens_store:
            self.cpo.tokens_store[key].update(obj)
        else:
            self.cpo.tokens_store[key] = obj

    def get(self, cc, pid, uid, type):
        return self.cpo.tokens_store.get((cc, pid, uid, type))


class _CpoCommands:
    def __init__(self, cpo: "ExampleCpo") -> None:
        self.cpo = cpo

    def start_session(self, request, sender):
        return self.cpo.start_session(request, sender)

    def stop_session(self, request, sender):
        return self.cpo.stop_session(request, sender)

    def unlock_connector(self, request, sender):
        if self.cpo.locations.get(request.get("location_id"), request.get("evse_uid"),
                                  request.get("connector_id")) is None:
            return CommandResponse("REJECTED", 0, "Unknown connector")
        return CommandResponse("ACCEPTED", 10, async_result={"result": "ACCEPTED"})


class _CpoProfiles:
    def __init__(self, cpo: "ExampleCpo") -> None:
        self.cpo = cpo

    def set(self, session_id, charging_profile, sender):
        if session_id not in self.cpo.sessions_by_id:
            return ChargingProfileResponse("UNKNOWN_SESSION", 0)
        self.cpo.profiles[session_id] = charging_profile
        return ChargingProfileResponse("ACCEPTED", 10, async_result={"result": "ACCEPTED"})

    def get_active(self, session_id, duration, sender):
        if session_id not in self.cpo.sessions_by_id:
            return ChargingProfileResponse("UNKNOWN_SESSION", 0)
        profile = self.cpo.profiles.get(session_id) or {
            "charging_rate_unit": "W", "charging_profile_period": [{"start_period": 0, "limit": 11000.0}]}
        active = {"start_date_time": iso(self.cpo.now()), "charging_profile": profile}
        return ChargingProfileResponse("ACCEPTED", 10, async_result={"result": "ACCEPTED", "profile": active})

    def clear(self, session_id, sender):
        if session_id not in self.cpo.sessions_by_id:
            return ChargingProfileResponse("UNKNOWN_SESSION", 0)
        self.cpo.profiles.pop(session_id, None)
        return ChargingProfileResponse("ACCEPTED", 10, async_result={"result": "ACCEPTED"})


class ExampleCpo:
    """A small CPO backoffice with simulated charging.

    Call :meth:`attach` (the :class:`~ocnd.bridge.Bridge` does it when built
    with this backoffice) so that sessions and CDRs can be pushed.
    """

    log = Logger()

    def __init__(self, country_code: str = "DE", party_id: str = "CPO", *, clock=None, tick: float = 15.0,
                 time_scale: float = 1.0, push_evse_status: bool = True) -> None:
        if clock is None:
            from twisted.internet import reactor as clock
        self.cc, self.pid = country_code.upper(), party_id.upper()
        self.clock = clock
        self.tick = tick
        self.time_scale = time_scale
        self.push_evse_status = push_evse_status
        self.bridge = None
        self._t0 = clock.seconds()
        self.locations_data = self._load_locations()
        self.tariffs_data = [_owned(load_example(n), self.cc, self.pid) for n in
                             ("tariff_1_simple_2hour.json", "tariff_3_alt_url.json", "tariff_8_simple_025kwh.json")]
        self.sessions_by_id: dict[str, dict] = {}
        self.cdrs_data: list[dict] = []
        self.cdr_locations: dict[str, str] = {}
        self.tokens_store: dict[tuple, dict] = {}
        self.profiles: dict[str, dict] = {}
        self.preferences: dict[str, dict] = {}
        self._running: dict[str, dict] = {}
        self._counter = 0
        self.locations = _CpoLocations(self)
        self.tariffs = _CpoList(lambda: self.tariffs_data)
        self.sessions = _CpoSessions(self)
        self.cdrs = _CpoList(lambda: self.cdrs_data)
        self.tokens = _CpoTokens(self)
        self.commands = _CpoCommands(self)
        self.chargingprofiles = _CpoProfiles(self)
        self.errors: list[str] = []

    def _load_locations(self) -> list[dict]:
        first = _owned(load_example("location_example.json"), self.cc, self.pid)
        second = _owned(load_example("location_example_uc2_destination_charger.json"), self.cc, self.pid)
        # make every connector refer to a tariff we actually publish
        first["evses"][0]["connectors"][0]["tariff_ids"] = ["16"]
        first["evses"][1]["status"] = "AVAILABLE"
        first["evses"][1]["connectors"][0]["tariff_ids"] = ["12"]
        for evse in second["evses"]:
            for c in evse["connectors"]:
                c["tariff_ids"] = ["16"]
        return [first, second]

    # -- wiring ----------------------------------------------------------------------

    def attach(self, bridge) -> None:
        self.bridge = bridge

    def now(self) -> float:
        """Simulated time (seconds since the epoch)."""
        return self._t0 + (self.clock.seconds() - self._t0) * self.time_scale

    def find_location(self, location_id: str) -> dict | None:
        return next((x for x in self.locations_data if x["id"] == location_id), None)

    def _evse(self, location_id, evse_uid):
        loc = self.find_location(location_id)
        if loc is None:
            return None, None
        if evse_uid is None:
            evse = next((e for e in loc.get("evses", []) if e.get("status") == "AVAILABLE"), None)
        else:
            evse = next((e for e in loc.get("evses", []) if e["uid"] == evse_uid), None)
        return loc, evse

    def _push(self, what: str, fn, *args) -> defer.Deferred:
        if self.bridge is None:
            return defer.succeed(None)
        d = defer.ensureDeferred(fn(*args))

        def failed(f):
            self.errors.append(f"{what}: {f.getErrorMessage()}")
            self.log.warn("example CPO could not push {what}: {e}", what=what, e=f.getErrorMessage())

        return d.addErrback(failed)

    def _set_status(self, loc, evse, status: str, to) -> None:
        evse["status"] = status
        evse["last_updated"] = loc["last_updated"] = iso(self.now())
        if self.push_evse_status and to is not None:
            self._push("EVSE status", self.bridge.patch_location if self.bridge else None, to, loc["id"],
                       {"status": status, "last_updated": evse["last_updated"]}, evse["uid"])

    # -- sessions --------------------------------------------------------------------

    def start_session(self, request: dict, sender) -> CommandResponse:
        loc, evse = self._evse(request.get("location_id"), request.get("evse_uid"))
        if evse is None:
            return CommandResponse("REJECTED", 0, "Unknown location or EVSE")
        if evse.get("status") != "AVAILABLE":
            return CommandResponse("REJECTED", 0, f"EVSE is {evse.get('status')}")
        connector = evse["connectors"][0]
        if request.get("connector_id"):
            connector = next((c for c in evse["connectors"] if c["id"] == request["connector_id"]), None)
            if connector is None:
                return CommandResponse("REJECTED", 0, "Unknown connector")
        self._counter += 1
        sid = f"{self.pid}-S{self._counter}"
        token = request.get("token") or {}
        now = iso(self.now())
        session = {
            "country_code": self.cc, "party_id": self.pid, "id": sid, "start_date_time": now, "kwh": 0,
            "cdr_token": {k: token[k] for k in ("country_code", "party_id", "uid", "type", "contract_id")
                          if k in token},
            "auth_method": "COMMAND", "authorization_reference": request.get("authorization_reference"),
            "location_id": loc["id"], "evse_uid": evse["uid"], "connector_id": connector["id"],
            "currency": "EUR", "status": "ACTIVE", "last_updated": now,
        }
        if session["authorization_reference"] is None:
            del session["authorization_reference"]
        self.sessions_by_id[sid] = session
        phases = 3 if connector.get("power_type") == "AC_3_PHASE" else 1
        power_kw = connector.get("max_electric_power", 0) / 1000.0 or \
            connector.get("max_voltage", 230) * connector.get("max_amperage", 16) * phases / 1000.0
        run = {"session": session, "to": sender, "power_kw": power_kw, "last": self.now(),
               "started": self.now(), "location": loc, "evse": evse, "connector": connector,
               "tariff": connector.get("tariff_ids", [None])[0]}
        self._running[sid] = run
        self._set_status(loc, evse, "CHARGING", sender)
        self._push("session", self.bridge.push_session if self.bridge else None, sender, dict(session))
        run["loop"] = task.LoopingCall(self._tick, sid)
        run["loop"].clock = self.clock
        run["loop"].start(self.tick, now=False).addErrback(lambda f: self.errors.append(f.getErrorMessage()))
        result: defer.Deferred = defer.Deferred()
        self.clock.callLater(0.01, result.callback, {"result": "ACCEPTED"})
        return CommandResponse("ACCEPTED", 30, async_result=result)

    def _price(self, tariff_id, kwh: float, hours: float) -> float:
        tariff = next((t for t in self.tariffs_data if t["id"] == tariff_id), None)
        total = 0.0
        for element in (tariff or {}).get("elements", []):
            for pc in element.get("price_components", []):
                if pc["type"] == "ENERGY":
                    total += pc["price"] * kwh
                elif pc["type"] == "TIME":
                    total += pc["price"] * hours
                elif pc["type"] == "FLAT":
                    total += pc["price"]
        return round(total, 4)

    def _tick(self, sid: str) -> None:
        run = self._running.get(sid)
        if run is None:
            return
        now = self.now()
        session = run["session"]
        session["kwh"] = round(session["kwh"] + run["power_kw"] * (now - run["last"]) / 3600.0, 4)
        run["last"] = now
        session["total_cost"] = {"excl_vat": self._price(run["tariff"], session["kwh"],
                                                         (now - run["started"]) / 3600.0)}
        session["last_updated"] = iso(now)
        if self.bridge is not None:
            self._push("session update", self.bridge.patch_session, run["to"], sid,
                       {"kwh": session["kwh"], "total_cost": session["total_cost"],
                        "last_updated": session["last_updated"]})

    def stop_session(self, request: dict, sender) -> CommandResponse:
        sid = request.get("session_id")
        run = self._running.pop(sid, None)
        if run is None:
            return CommandResponse("UNKNOWN_SESSION" if sid not in self.sessions_by_id else "REJECTED", 0)
        if run["loop"].running:
            run["loop"].stop()
        self._tick_final(run)
        result: defer.Deferred = defer.Deferred()
        self.clock.callLater(0.01, result.callback, {"result": "ACCEPTED"})
        return CommandResponse("ACCEPTED", 30, async_result=result)

    def _tick_final(self, run: dict) -> None:
        self._running[run["session"]["id"]] = run
        self._tick(run["session"]["id"])
        del self._running[run["session"]["id"]]
        session = run["session"]
        now = self.now()
        session["status"] = "COMPLETED"
        session["end_date_time"] = iso(now)
        session["last_updated"] = iso(now)
        cdr = self.make_cdr(run)
        self.cdrs_data.append(cdr)
        self._set_status(run["location"], run["evse"], "AVAILABLE", run["to"])
        if self.bridge is not None:
            d = self._push("session", self.bridge.push_session, run["to"], dict(session))

            async def then_cdr(_):
                location = await self.bridge.push_cdr(run["to"], cdr)
                if location:
                    self.cdr_locations[cdr["id"]] = location

            d.addCallback(lambda _: self._push("cdr", then_cdr, None))

    def make_cdr(self, run: dict) -> dict:
        session, loc, evse, conn = run["session"], run["location"], run["evse"], run["connector"]
        hours = (self.now() - run["started"]) / 3600.0
        cost = self._price(run["tariff"], session["kwh"], hours)
        tariffs = [t for t in self.tariffs_data if t["id"] == run["tariff"]]
        return {
            "country_code": self.cc, "party_id": self.pid, "id": f"CDR-{session['id']}",
            "start_date_time": session["start_date_time"], "end_date_time": session["end_date_time"],
            "session_id": session["id"], "cdr_token": session["cdr_token"], "auth_method": "COMMAND",
            "cdr_location": {"id": loc["id"], "name": loc.get("name"), "address": loc["address"],
                             "city": loc["city"], "postal_code": loc.get("postal_code"), "country": loc["country"],
                             "coordinates": loc["coordinates"], "evse_uid": evse["uid"],
                             "evse_id": evse.get("evse_id", evse["uid"]), "connector_id": conn["id"],
                             "connector_standard": conn["standard"], "connector_format": conn["format"],
                             "connector_power_type": conn["power_type"]},
            "currency": "EUR", "tariffs": tariffs,
            "charging_periods": [{"start_date_time": session["start_date_time"],
                                  "dimensions": [{"type": "ENERGY", "volume": session["kwh"]}],
                                  "tariff_id": run["tariff"]}],
            "total_cost": {"excl_vat": cost}, "total_energy": session["kwh"], "total_time": round(hours, 4),
            "last_updated": session["last_updated"],
        }


# -- eMSP -----------------------------------------------------------------------------


class _MspLocations:
    def __init__(self, msp: "ExampleMsp") -> None:
        self.msp = msp

    def on_update(self, cc, pid, location_id, obj, patch, evse_uid=None, connector_id=None):
        self.msp.record("location", cc=cc, pid=pid, id=location_id, evse_uid=evse_uid,
                        connector_id=connector_id, patch=patch, obj=obj)
        key = (cc, pid, location_id)
        if evse_uid is None and not patch:
            self.msp.locations_store[key] = obj
            return
        loc = self.msp.locations_store.setdefault(key, {"country_code": cc, "party_id": pid, "id": location_id})
        target = loc
        if evse_uid is not None:
            evses = loc.setdefault("evses", [])
            target = next((e for e in evses if e.get("uid") == evse_uid), None)
            if target is None:
                target = {"uid": evse_uid}
                evses.append(target)
            if connector_id is not None:
                conns = target.setdefault("connectors", [])
                c = next((c for c in conns if c.get("id") == connector_id), None)
                if c is None:
                    c = {"id": connector_id}
                    conns.append(c)
                target = c
        if patch:
            target.update(obj)
        else:
            target.clear()
            target.update(obj)

    def get(self, cc, pid, location_id, evse_uid=None, connector_id=None):
        return self.msp.locations_store.get((cc, pid, location_id))


class _MspSessions:
    def __init__(self, msp: "ExampleMsp") -> None:
        self.msp = msp

    def on_update(self, cc, pid, session_id, obj, patch):
        self.msp.record("session", cc=cc, pid=pid, id=session_id, patch=patch, obj=obj)
        key = (cc, pid, session_id)
        if patch and key in self.msp.sessions_store:
            self.msp.sessions_store[key].update(obj)
        else:
            self.msp.sessions_store[key] = obj

    def get(self, cc, pid, session_id):
        return self.msp.sessions_store.get((cc, pid, session_id))


class _MspCdrs:
    def __init__(self, msp: "ExampleMsp") -> None:
        self.msp = msp

    def on_new(self, cdr):
        self.msp.record("cdr", id=cdr.get("id"), obj=cdr)
        key = f"{cdr.get('country_code')}-{cdr.get('party_id')}-{cdr.get('id')}"
        self.msp.cdrs_store[key] = cdr
        return key

    def get(self, id):
        return self.msp.cdrs_store.get(id)


class _MspTariffs:
    def __init__(self, msp: "ExampleMsp") -> None:
        self.msp = msp

    def on_update(self, cc, pid, tariff_id, obj):
        self.msp.record("tariff", cc=cc, pid=pid, id=tariff_id, obj=obj)
        self.msp.tariffs_store[(cc, pid, tariff_id)] = obj

    def on_delete(self, cc, pid, tariff_id):
        self.msp.record("tariff deleted", cc=cc, pid=pid, id=tariff_id)
        self.msp.tariffs_store.pop((cc, pid, tariff_id), None)

    def get(self, cc, pid, tariff_id):
        return self.msp.tariffs_store.get((cc, pid, tariff_id))


class _MspTokens:
    def __init__(self, msp: "ExampleMsp") -> None:
        self.msp = msp

    def get_list(self, offset, limit, date_from, date_to):
        return _page(self.msp.tokens_data, offset, limit, date_from, date_to)

    def authorize(self, uid, type, location_references):
        self.msp.record("authorize", uid=uid, type=type, location_references=location_references)
        token = next((t for t in self.msp.tokens_data if t["uid"] == uid and t["type"] == type), None)
        if token is None:
            raise UnknownToken()
        allowed = "ALLOWED" if token.get("valid") else "BLOCKED"
        out: dict[str, Any] = {"allowed": allowed, "token": token}
        if location_references:
            out["location"] = location_references
        out["authorization_reference"] = f"AUTH-{uid}"
        return out


class _MspCommands:
    def __init__(self, msp: "ExampleMsp") -> None:
        self.msp = msp

    def on_result(self, command, uid, result):
        self.msp.record("command result", command=command, uid=uid, result=result)


class _MspProfiles:
    def __init__(self, msp: "ExampleMsp") -> None:
        self.msp = msp

    def on_result(self, kind, session_id, uid, result):
        self.msp.record("charging profile result", kind=kind, session_id=session_id, uid=uid, result=result)

    def on_active_profile(self, cc, pid, session_id, profile):
        self.msp.record("active charging profile", cc=cc, pid=pid, session_id=session_id, profile=profile)
        self.msp.active_profiles[(cc, pid, session_id)] = profile


class ExampleMsp:
    """An eMSP that owns a couple of tokens and keeps everything it receives.

    ``events`` is a list of ``(kind, details)`` in arrival order; ``listeners``
    are called with each event (handy for tests and demos).
    """

    def __init__(self, country_code: str = "NL", party_id: str = "MSP") -> None:
        self.cc, self.pid = country_code.upper(), party_id.upper()
        self.tokens_data = [_owned(load_example(n), self.cc, self.pid) for n in
                            ("token_example_1_app_user.json", "token_example_2_full_rfid.json")]
        self.locations_store: dict[tuple, dict] = {}
        self.sessions_store: dict[tuple, dict] = {}
        self.cdrs_store: dict[str, dict] = {}
        self.tariffs_store: dict[tuple, dict] = {}
        self.active_profiles: dict[tuple, dict] = {}
        self.events: list[tuple[str, dict]] = []
        self.listeners: list = []
        self.locations = _MspLocations(self)
        self.sessions = _MspSessions(self)
        self.cdrs = _MspCdrs(self)
        self.tariffs = _MspTariffs(self)
        self.tokens = _MspTokens(self)
        self.commands = _MspCommands(self)
        self.chargingprofiles = _MspProfiles(self)

    def record(self, kind: str, **details) -> None:
        self.events.append((kind, details))
        for listener in list(self.listeners):
            listener(kind, details)

    def of_kind(self, kind: str) -> list[dict]:
        return [d for k, d in self.events if k == kind]


# -- factories for ``twistd ocn-bridge --backoffice`` ----------------------------------


def cpo(config) -> ExampleCpo:
    """``--backoffice ocnd.bridge.examples:cpo``."""
    return ExampleCpo(config.country_code, config.party_id)


def msp(config) -> ExampleMsp:
    """``--backoffice ocnd.bridge.examples:msp``."""
    return ExampleMsp(config.country_code, config.party_id)
