"""Mock CPO and mock eMSP backoffices for ``twistd ocn-mock-cpo`` / ``ocn-mock-msp``.

Both are built by composition on :mod:`ocnd.bridge.examples`:

* :class:`MockCpo` wraps :class:`~ocnd.bridge.examples.ExampleCpo` (OCPI
  example locations and tariffs, simulated charging with growing kWh,
  session PATCHes every ``tick`` seconds and a CDR on stop).  It adds a
  journal of everything it does, a charger simulator that changes the status
  of idle EVSEs over time (someone charges without roaming, a charger gets
  blocked or out of order) and pushes those changes to the eMSPs in
  ``push_to``, and helpers to push locations/tariffs and to read a pushed CDR
  back through the node-proxied ``Location``.
* :class:`MockMsp` wraps :class:`~ocnd.bridge.examples.ExampleMsp` (tokens,
  stores everything pushed to it).  It adds the journal, pulls, and
  START/STOP_SESSION helpers that wait for the async result and for the
  CPO's session push; with ``start_interval`` it starts a session on a free
  EVSE of its CPO periodically and stops it after ``session_duration``.

Everything runs on an injectable clock (``twisted.internet.task.Clock`` in
tests).
"""

from __future__ import annotations

import itertools
import random
from typing import Any, Callable

from twisted.internet import defer, task
from twisted.logger import Logger

from ..bridge.backoffice import CommandResponse
from ..bridge.client import party_of
from ..bridge.examples import ExampleCpo, ExampleMsp, iso


def party_text(p) -> str:
    cc, pid = party_of(p)
    return f"{cc}/{pid}"


class Journal:
    """Numbered events ``{seq, time, kind, text, data}``, the newest ``keep`` kept.

    ``listeners`` are called with every event (the taps log them)."""

    def __init__(self, clock, keep: int = 2000) -> None:
        self.clock = clock
        self.keep = keep
        self.events: list[dict] = []
        self.listeners: list[Callable[[dict], None]] = []
        self._seq = itertools.count(1)

    def add(self, kind: str, text: str, **data) -> dict:
        event = {"seq": next(self._seq), "time": iso(self.clock.seconds()), "kind": kind, "text": text,
                 "data": data}
        self.events.append(event)
        del self.events[:-self.keep]
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:  # noqa: BLE001 - a listener must not break the mock
                pass
        return event

    def since(self, seq: int) -> list[dict]:
        return [e for e in self.events if e["seq"] > seq]

    def of_kind(self, kind: str) -> list[dict]:
        return [e for e in self.events if e["kind"] == kind]


def _money(value) -> str:
    if isinstance(value, dict):
        value = value.get("excl_vat")
    try:
        return f"{float(value):.2f}"
    except (TypeError, ValueError):
        return "?"


# -- CPO -------------------------------------------------------------------------------


class _CpoPushTap:
    """Stands between ExampleCpo and the real bridge: every push is journalled."""

    def __init__(self, bridge, cpo: "MockCpo") -> None:
        self._bridge = bridge
        self._cpo = cpo

    def __getattr__(self, name):
        return getattr(self._bridge, name)

    async def push_session(self, to, session):
        reply = await self._bridge.push_session(to, session)
        self._cpo.journal.add("session pushed", f"session {session['id']} {session.get('status')} -> "
                              f"{party_text(to)} ({session.get('kwh', 0)} kWh)",
                              session_id=session["id"], status=session.get("status"), kwh=session.get("kwh"),
                              to=party_text(to))
        return reply

    async def patch_session(self, to, session_id, patch):
        reply = await self._bridge.patch_session(to, session_id, patch)
        self._cpo.journal.add("session patched", f"session {session_id}: {patch.get('kwh')} kWh, "
                              f"{_money(patch.get('total_cost'))} excl. VAT -> {party_text(to)}",
                              session_id=session_id, kwh=patch.get("kwh"), to=party_text(to),
                              cost=(patch.get("total_cost") or {}).get("excl_vat"))
        return reply

    async def push_cdr(self, to, cdr):
        location = await self._bridge.push_cdr(to, cdr)
        self._cpo.cdr_parties[cdr["id"]] = party_text(to)
        self._cpo.journal.add("cdr pushed", f"CDR {cdr['id']}: {cdr.get('total_energy')} kWh, "
                              f"{_money(cdr.get('total_cost'))} {cdr.get('currency')} -> {party_text(to)}",
                              cdr_id=cdr["id"], location=location, to=party_text(to),
                              kwh=cdr.get("total_energy"), cost=(cdr.get("total_cost") or {}).get("excl_vat"))
        return location

    async def patch_location(self, to, location_id, patch, evse_uid=None, connector_id=None):
        reply = await self._bridge.patch_location(to, location_id, patch, evse_uid, connector_id)
        where = f"{location_id}/{evse_uid}" if evse_uid else location_id
        self._cpo.journal.add("evse status pushed", f"EVSE {where} {patch.get('status')} -> {party_text(to)}",
                              location_id=location_id, evse_uid=evse_uid, status=patch.get("status"),
                              to=party_text(to))
        return reply


class _CpoCommands:
    def __init__(self, cpo: "MockCpo") -> None:
        self.cpo = cpo
        self.inner = cpo.example.commands

    def _note(self, name: str, request: dict, sender, response: CommandResponse) -> CommandResponse:
        what = (f"session {request.get('session_id')}" if name == "STOP_SESSION" else
                f"{request.get('location_id')}/{request.get('evse_uid') or '(any EVSE)'}")
        text = f"{name} from {party_text(sender)} for {what}: {response.result}"
        if response.message:
            text += f" ({response.message})"
        self.cpo.journal.add("command", text, command=name, sender=party_text(sender), result=response.result,
                             request={k: v for k, v in request.items() if k != "token"})
        return response

    def start_session(self, request, sender):
        return self._note("START_SESSION", request, sender, self.inner.start_session(request, sender))

    def stop_session(self, request, sender):
        return self._note("STOP_SESSION", request, sender, self.inner.stop_session(request, sender))

    def unlock_connector(self, request, sender):
        return self._note("UNLOCK_CONNECTOR", request, sender, self.inner.unlock_connector(request, sender))


class MockCpo:
    """A CPO backoffice with a journal and a charger status simulator.

    ``status_interval`` (seconds, 0 = off): how often the simulator may change
    an idle EVSE's status; at most a third of the EVSEs (at least one) are
    busy with non-roaming use at a time, each for one to three intervals.
    ``push_to``: eMSPs (``"CC/PID"``) that receive those status changes and
    :meth:`push_all`.
    """

    log = Logger()
    FOREIGN_STATES = ("CHARGING", "CHARGING", "BLOCKED", "OUTOFORDER")

    def __init__(self, country_code: str = "CH", party_id: str = "CPO", *, clock=None, tick: float = 15.0,
                 time_scale: float = 1.0, status_interval: float = 30.0, push_to=(), seed: int | None = None,
                 journal: Journal | None = None) -> None:
        if clock is None:
            from twisted.internet import reactor as clock
        self.clock = clock
        self.example = ExampleCpo(country_code, party_id, clock=clock, tick=tick, time_scale=time_scale)
        self.cc, self.pid = self.example.cc, self.example.pid
        self.journal = journal or Journal(clock)
        self.status_interval = status_interval
        self.push_to = [party_text(p) for p in push_to]
        self.rng = random.Random(seed)
        self.push_on_start = False
        self.bridge = None
        self.cdr_parties: dict[str, str] = {}
        self.busy: dict[str, dict] = {}   # evse uid -> {"until": t, "location": loc, "evse": evse}
        self._loop: task.LoopingCall | None = None
        # the modules the bridge serves: the example's, commands journalled
        self.locations = self.example.locations
        self.tariffs = self.example.tariffs
        self.sessions = self.example.sessions
        self.cdrs = self.example.cdrs
        self.tokens = self.example.tokens
        self.chargingprofiles = self.example.chargingprofiles
        self.commands = _CpoCommands(self)

    # -- wiring --------------------------------------------------------------------------

    def attach(self, bridge) -> None:
        self.bridge = bridge
        self.example.attach(_CpoPushTap(bridge, self))

    def start(self) -> None:
        """Start the charger simulator (call once the bridge is connected)."""
        if self.status_interval > 0 and self._loop is None:
            self._loop = task.LoopingCall(self.step)
            self._loop.clock = self.clock
            self._loop.start(self.status_interval, now=False).addErrback(
                lambda f: self.log.failure("charger simulator stopped", f))

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        for run in list(self.example._running.values()):   # noqa: SLF001 - stop the example's session loops
            loop = run.get("loop")
            if loop is not None and loop.running:
                loop.stop()

    @property
    def errors(self) -> list[str]:
        return self.example.errors

    def evses(self):
        for loc in self.example.locations_data:
            for evse in loc.get("evses", []):
                yield loc, evse

    # -- charger simulator -----------------------------------------------------------------

    def step(self) -> None:
        """One simulator step: free an EVSE whose foreign use is over, or occupy an idle one."""
        now = self.clock.seconds()
        for uid, b in list(self.busy.items()):
            if b["until"] <= now:
                del self.busy[uid]
                self._change(b["location"], b["evse"], "AVAILABLE", "free again")
                return
        limit = max(1, len(list(self.evses())) // 3)
        if len(self.busy) >= limit or self.rng.random() < 0.3:
            return
        idle = [(loc, evse) for loc, evse in self.evses() if evse.get("status") == "AVAILABLE"]
        if not idle:
            return
        loc, evse = self.rng.choice(idle)
        status = self.rng.choice(self.FOREIGN_STATES)
        hold = self.status_interval * self.rng.randint(1, 3)
        self.busy[evse["uid"]] = {"until": now + hold - 0.001, "location": loc, "evse": evse}
        reason = {"CHARGING": "a walk-in driver plugs in", "BLOCKED": "a car parks without charging",
                  "OUTOFORDER": "the charger reports a fault"}[status]
        self._change(loc, evse, status, reason)

    def _change(self, loc: dict, evse: dict, status: str, reason: str) -> None:
        stamp = iso(self.example.now())
        evse["status"] = status
        evse["last_updated"] = loc["last_updated"] = stamp
        self.journal.add("evse status", f"EVSE {loc['id']}/{evse['uid']} -> {status} ({reason})",
                         location_id=loc["id"], evse_uid=evse["uid"], status=status)
        if self.bridge is None:
            return
        for to in self.push_to:
            d = defer.ensureDeferred(self.bridge.patch_location(to, loc["id"],
                                                                {"status": status, "last_updated": stamp},
                                                                evse["uid"]))
            d.addErrback(self._push_failed, f"EVSE status to {to}")

    def _push_failed(self, failure, what: str) -> None:
        message = failure.getErrorMessage()
        self.example.errors.append(f"{what}: {message}")
        self.journal.add("error", f"could not push {what}: {message}")

    # -- helpers for the control API and the demo -------------------------------------------

    async def push_tariffs(self, to) -> list[str]:
        ids = []
        for tariff in self.example.tariffs_data:
            await self.bridge.push_tariff(to, tariff)
            ids.append(tariff["id"])
        self.journal.add("tariffs pushed", f"{len(ids)} tariffs ({', '.join(ids)}) -> {party_text(to)}",
                         ids=ids, to=party_text(to))
        return ids

    async def push_locations(self, to) -> list[str]:
        ids = []
        for loc in self.example.locations_data:
            await self.bridge.push_location(to, loc)
            ids.append(loc["id"])
        self.journal.add("locations pushed", f"{len(ids)} locations -> {party_text(to)}", ids=ids,
                         to=party_text(to))
        return ids

    async def push_all(self) -> None:
        for to in self.push_to:
            await self.push_locations(to)
            await self.push_tariffs(to)

    async def fetch_cdr(self, cdr_id: str) -> dict:
        """GET a pushed CDR back through the node-proxied ``Location``."""
        location = self.example.cdr_locations.get(cdr_id)
        to = self.cdr_parties.get(cdr_id)
        if not location or not to:
            raise KeyError(f"no Location known for CDR {cdr_id}")
        cdr = await self.bridge.get_cdr(to, location)
        own = next((c for c in self.example.cdrs_data if c["id"] == cdr_id), None)
        same = cdr == own
        self.journal.add("cdr fetched", f"CDR {cdr_id} read back from {party_text(to)} through {location}: "
                         f"{'identical' if same else 'DIFFERENT'}", cdr_id=cdr_id, location=location, same=same)
        return {"cdr": cdr, "location": location, "same": same}

    def status(self) -> dict:
        return {
            "party": f"{self.cc}/{self.pid}", "role": "CPO",
            "locations": len(self.example.locations_data),
            "evses": {evse["uid"]: evse.get("status") for _l, evse in self.evses()},
            "active_sessions": sorted(s["id"] for s in self.example.sessions_by_id.values()
                                      if s.get("status") == "ACTIVE"),
            "cdrs": [c["id"] for c in self.example.cdrs_data],
            "cdr_locations": dict(self.example.cdr_locations),
            "errors": list(self.example.errors),
        }


# -- eMSP -------------------------------------------------------------------------------


def _session_text(d: dict) -> str:
    obj = d.get("obj") or {}
    if d.get("patch"):
        parts = [f"session {d.get('id')} update:"]
        if "status" in obj:
            parts.append(str(obj["status"]))
        if "kwh" in obj:
            parts.append(f"{obj['kwh']} kWh")
        if "total_cost" in obj:
            parts.append(f"{_money(obj['total_cost'])} excl. VAT")
        return " ".join(parts)
    return (f"session {d.get('id')} {obj.get('status')} at {obj.get('location_id')}/{obj.get('evse_uid')}"
            f", {obj.get('kwh')} kWh")


def _event_text(kind: str, d: dict) -> str:
    party = f"{d.get('cc')}/{d.get('pid')}"
    if kind == "location":
        obj = d.get("obj") or {}
        if d.get("evse_uid"):
            return f"{party} EVSE {d.get('id')}/{d['evse_uid']}: {obj.get('status', 'updated')}"
        return f"{party} location {d.get('id')} {'updated' if d.get('patch') else 'received'}"
    if kind == "session":
        return f"{party} " + _session_text(d)
    if kind == "cdr":
        obj = d.get("obj") or {}
        return (f"CDR {d.get('id')} received: {obj.get('total_energy')} kWh, {obj.get('total_time')} h, "
                f"{_money(obj.get('total_cost'))} {obj.get('currency')}")
    if kind == "tariff":
        obj = d.get("obj") or {}
        comps = [f"{pc.get('type')} {pc.get('price')}" for el in obj.get("elements", [])
                 for pc in el.get("price_components", [])]
        return f"{party} tariff {d.get('id')} ({obj.get('currency')}): {', '.join(comps)}"
    if kind == "tariff deleted":
        return f"{party} tariff {d.get('id')} deleted"
    if kind == "command result":
        return f"{d.get('command')} async result: {(d.get('result') or {}).get('result')}"
    if kind == "authorize":
        return f"authorize {d.get('type')} {d.get('uid')}"
    return kind


class MockMsp:
    """An eMSP backoffice with a journal and a session starter.

    ``cpo``: the CPO (``"CC/PID"``) sessions are started at by default;
    ``start_interval`` (seconds, 0 = off): how often the auto-driver starts a
    session on a free EVSE (at most ``max_active`` at a time), each stopped
    after ``session_duration`` seconds.
    """

    log = Logger()

    def __init__(self, country_code: str = "CH", party_id: str = "MSP", *, clock=None, cpo: str | None = None,
                 start_interval: float = 0.0, session_duration: float = 60.0, max_active: int = 1,
                 token_uid: str | None = None, seed: int | None = None, journal: Journal | None = None) -> None:
        if clock is None:
            from twisted.internet import reactor as clock
        self.clock = clock
        self.example = ExampleMsp(country_code, party_id)
        self.cc, self.pid = self.example.cc, self.example.pid
        self.journal = journal or Journal(clock)
        self.cpo = party_text(cpo) if cpo else None
        self.start_interval = start_interval
        self.session_duration = session_duration
        self.max_active = max_active
        self.token_uid = token_uid
        self.rng = random.Random(seed)
        self.bridge = None
        self._loop: task.LoopingCall | None = None
        self._stops: list = []
        self._refs = itertools.count(1)
        self.example.listeners.append(self._on_event)
        self.locations = self.example.locations
        self.sessions = self.example.sessions
        self.cdrs = self.example.cdrs
        self.tariffs = self.example.tariffs
        self.tokens = self.example.tokens
        self.commands = self.example.commands
        self.chargingprofiles = self.example.chargingprofiles

    def attach(self, bridge) -> None:
        self.bridge = bridge

    def _on_event(self, kind: str, details: dict) -> None:
        data = {k: v for k, v in details.items() if k != "obj"}
        obj = details.get("obj")
        if isinstance(obj, dict):
            for key in ("status", "kwh", "total_energy", "total_time", "currency", "total_cost", "location_id",
                        "evse_uid", "authorization_reference"):
                if key in obj:
                    data[key] = obj[key]
        self.journal.add(kind, _event_text(kind, details), **data)

    # -- auto-driver ---------------------------------------------------------------------

    def start(self) -> None:
        if self.start_interval > 0 and self.cpo and self._loop is None:
            self._loop = task.LoopingCall(self._auto)
            self._loop.clock = self.clock
            self._loop.start(self.start_interval, now=False).addErrback(
                lambda f: self.log.failure("session driver stopped", f))

    def set_auto(self, interval: float, duration: float | None = None, cpo: str | None = None) -> None:
        if cpo:
            self.cpo = party_text(cpo)
        if duration:
            self.session_duration = duration
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        self.start_interval = interval
        self.start()

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        for call in self._stops:
            if call.active():
                call.cancel()
        self._stops.clear()

    def active_sessions(self, cpo: str | None = None) -> list[dict]:
        cpo = party_of(cpo) if cpo else None
        return [s for (cc, pid, _sid), s in self.example.sessions_store.items()
                if s.get("status") == "ACTIVE" and (cpo is None or (cc, pid) == cpo)]

    def _auto(self) -> defer.Deferred | None:
        if len(self.active_sessions(self.cpo)) >= self.max_active:
            return None
        d = defer.ensureDeferred(self.start_session(self.cpo))

        def started(out):
            sid = out.get("session_id")
            if sid:
                call = self.clock.callLater(self.session_duration, self._auto_stop, sid)
                self._stops.append(call)

        d.addCallback(started)
        d.addErrback(lambda f: self.journal.add("error", f"auto start failed: {f.getErrorMessage()}"))
        return d

    def _auto_stop(self, sid: str) -> None:
        self._stops = [c for c in self._stops if c.active()]
        d = defer.ensureDeferred(self.stop_session(self.cpo, sid))
        d.addErrback(lambda f: self.journal.add("error", f"auto stop failed: {f.getErrorMessage()}"))

    # -- requests ------------------------------------------------------------------------

    def _token(self, uid: str | None) -> dict:
        uid = uid or self.token_uid
        tokens = self.example.tokens_data
        if uid is None:
            return tokens[-1]
        token = next((t for t in tokens if t["uid"] == uid), None)
        if token is None:
            raise KeyError(f"unknown token {uid}")
        return token

    async def pull_locations(self, cpo) -> list[dict]:
        cc, pid = party_of(cpo)
        locations = await self.bridge.get_locations((cc, pid))
        for loc in locations:
            self.example.locations_store[(cc, pid, loc["id"])] = loc
        evses = sum(len(loc.get("evses", [])) for loc in locations)
        self.journal.add("locations pulled", f"{len(locations)} locations with {evses} EVSEs from {cc}/{pid}",
                         cpo=f"{cc}/{pid}", count=len(locations), evses=evses)
        return locations

    async def pull_tariffs(self, cpo) -> list[dict]:
        cc, pid = party_of(cpo)
        tariffs = await self.bridge.get_tariffs((cc, pid))
        self.journal.add("tariffs pulled", f"{len(tariffs)} tariffs from {cc}/{pid}", cpo=f"{cc}/{pid}",
                         count=len(tariffs))
        return tariffs

    def free_evses(self, cpo) -> list[tuple[str, str]]:
        cc, pid = party_of(cpo)
        charging = {(s.get("location_id"), s.get("evse_uid")) for s in self.active_sessions(cpo)}
        out = []
        for (lcc, lpid, lid), loc in self.example.locations_store.items():
            if (lcc, lpid) != (cc, pid):
                continue
            for evse in loc.get("evses", []):
                if evse.get("status") == "AVAILABLE" and (lid, evse.get("uid")) not in charging:
                    out.append((lid, evse["uid"]))
        return out

    async def start_session(self, cpo=None, location_id: str | None = None, evse_uid: str | None = None,
                            connector_id: str | None = None, token_uid: str | None = None,
                            wait_session: float = 15.0) -> dict:
        """START_SESSION; waits for the async result and the CPO's session push.

        Returns ``{response, result, session_id, location_id, evse_uid}``
        (``result``/``session_id`` None when not accepted / not pushed)."""
        cpo = party_text(cpo or self.cpo)
        if location_id is None:
            if not any((cc, pid) == party_of(cpo) for cc, pid, _ in self.example.locations_store):
                await self.pull_locations(cpo)
            free = self.free_evses(cpo)
            if not free:
                self.journal.add("start skipped", f"no free EVSE at {cpo}")
                return {"response": None, "result": None, "session_id": None}
            location_id, evse_uid = self.rng.choice(free)
        reference = f"{self.pid}-{next(self._refs)}-{self.rng.randrange(16 ** 6):06x}"
        body: dict[str, Any] = {"token": self._token(token_uid), "location_id": location_id}
        if evse_uid:
            body["evse_uid"] = evse_uid
        if connector_id:
            body["connector_id"] = connector_id
        body["authorization_reference"] = reference
        response, pending = await self.bridge.send_command(cpo, "START_SESSION", body)
        out: dict[str, Any] = {"response": response, "result": None, "session_id": None,
                               "location_id": location_id, "evse_uid": evse_uid, "authorization_reference": reference}
        self.journal.add("start requested", f"START_SESSION at {cpo} {location_id}/{evse_uid or '(any EVSE)'}: "
                         f"{response.get('result')} (timeout {response.get('timeout')} s)",
                         cpo=cpo, result=response.get("result"), location_id=location_id, evse_uid=evse_uid)
        if response.get("result") != "ACCEPTED":
            return out
        out["result"] = await pending
        waited = 0.0
        while waited < wait_session:
            session = next((s for s in self.example.sessions_store.values()
                            if s.get("authorization_reference") == reference), None)
            if session is not None:
                out["session_id"] = session["id"]
                out["evse_uid"] = session.get("evse_uid")
                break
            await task.deferLater(self.clock, 0.1, lambda: None)
            waited += 0.1
        return out

    async def stop_session(self, cpo, session_id: str) -> dict:
        cpo = party_text(cpo or self.cpo)
        response, pending = await self.bridge.send_command(cpo, "STOP_SESSION", {"session_id": session_id})
        self.journal.add("stop requested", f"STOP_SESSION at {cpo} for {session_id}: {response.get('result')}",
                         cpo=cpo, session_id=session_id, result=response.get("result"))
        result = await pending if response.get("result") == "ACCEPTED" else None
        return {"response": response, "result": result}

    def status(self) -> dict:
        return {
            "party": f"{self.cc}/{self.pid}", "role": "EMSP", "cpo": self.cpo,
            "locations": len(self.example.locations_store), "tariffs": len(self.example.tariffs_store),
            "sessions": {sid: {"status": s.get("status"), "kwh": s.get("kwh"),
                               "evse_uid": s.get("evse_uid")} for (_c, _p, sid), s in
                         self.example.sessions_store.items()},
            "cdrs": sorted(self.example.cdrs_store),
            "auto": {"interval": self.start_interval, "duration": self.session_duration},
        }
