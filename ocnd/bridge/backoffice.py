"""The backoffice interface: what an operator implements to plug in.

A backoffice is any object with one attribute per OCPI module the bridge
serves (``locations``, ``sessions``, ``cdrs``, ``tariffs``, ``tokens``,
``commands``, ``chargingprofiles``).  Each attribute implements the protocol of
the *interface role* the party plays for that module:

======================  ==========================  ==========================
module                  SENDER (data owner)         RECEIVER (data consumer)
======================  ==========================  ==========================
locations               :class:`LocationsSender`    :class:`LocationsReceiver`
sessions                :class:`SessionsSender`     :class:`SessionsReceiver`
cdrs                    :class:`CdrsSender`         :class:`CdrsReceiver`
tariffs                 :class:`TariffsSender`      :class:`TariffsReceiver`
tokens                  :class:`TokensSender`       :class:`TokensReceiver`
commands                :class:`CommandsSender`     :class:`CommandsReceiver`
chargingprofiles        :class:`ChargingProfilesSender`  :class:`ChargingProfilesReceiver`
======================  ==========================  ==========================

A CPO is typically SENDER of locations, sessions, cdrs and tariffs and
RECEIVER of tokens, commands and chargingprofiles; an eMSP the opposite.

Every method may return a plain value, a Deferred or a coroutine.  OCPI
objects are plain ``dict``s exactly as they came over the wire (key order
kept, unknown fields kept); numbers are ``int``/``float``.  Lookups return
``None`` for "unknown" (the bridge answers 404/2003).  An exception becomes
HTTP 500 / OCPI 3000 (or the given status for :class:`BackofficeError`).
"""

from __future__ import annotations

from typing import Any, Awaitable, Mapping, Optional, Protocol, Union, runtime_checkable

import attrs

Party = tuple[str, str]
"""(country_code, party_id) of the counterpart."""

Maybe = Union[Any, Awaitable[Any]]


@attrs.define
class Page:
    """One page of a list: the items and the total number of items."""

    items: list
    total: int | None = None


@attrs.define
class CommandResponse:
    """The synchronous answer to a command (OCPI CommandResponse).

    ``result``: ACCEPTED, REJECTED, NOT_SUPPORTED or UNKNOWN_SESSION;
    ``timeout``: seconds the caller should wait for the async result.
    ``async_result``: only for ACCEPTED, a Deferred/coroutine that yields the
    CommandResult (a dict such as ``{"result": "ACCEPTED"}`` or just the
    result string); the bridge awaits it (at most ``timeout`` seconds, then it
    sends ``TIMEOUT``) and POSTs it to the ``response_url``.
    """

    result: str
    timeout: int = 30
    message: str | None = None
    async_result: Any = None

    def to_json(self) -> dict:
        out: dict[str, Any] = {"result": self.result, "timeout": self.timeout}
        if self.message:
            out["message"] = [{"language": "en", "text": self.message}]
        return out


@attrs.define
class ChargingProfileResponse(CommandResponse):
    """Answer to a charging-profile request (OCPI ChargingProfileResponse).

    ``result``: ACCEPTED, NOT_SUPPORTED, REJECTED, TOO_OFTEN or
    UNKNOWN_SESSION.  ``async_result`` yields the ActiveChargingProfileResult,
    ChargingProfileResult or ClearProfileResult dict.
    """

    def to_json(self) -> dict:
        return {"result": self.result, "timeout": self.timeout}


class BackofficeError(Exception):
    """Raise from a backoffice method to answer with a specific OCPI status."""

    def __init__(self, status_code: int, message: str, http_status: int = 200) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.http_status = http_status


class UnknownToken(BackofficeError):
    """``authorize`` of an unknown token: OCPI 2004 (HTTP 404)."""

    def __init__(self, message: str = "Unknown token") -> None:
        super().__init__(2004, message, 404)


class NotEnoughInformation(BackofficeError):
    """``authorize`` needs location references: OCPI 2002."""

    def __init__(self, message: str = "Not enough information") -> None:
        super().__init__(2002, message, 200)


# -- locations ---------------------------------------------------------------------


@runtime_checkable
class LocationsSender(Protocol):
    """Owner of Locations (CPO)."""

    def get_list(self, offset: int, limit: int, date_from: Optional[str], date_to: Optional[str]) -> Maybe:
        """Return a :class:`Page` of Location dicts."""

    def get(self, location_id: str, evse_uid: Optional[str] = None, connector_id: Optional[str] = None) -> Maybe:
        """Return the Location, EVSE or Connector dict, or None."""


@runtime_checkable
class LocationsReceiver(Protocol):
    """Consumer of Locations (eMSP).  Optional: ``get(cc, pid, location_id, evse_uid, connector_id)``."""

    def on_update(self, cc: str, pid: str, location_id: str, obj: dict, patch: bool,
                  evse_uid: Optional[str] = None, connector_id: Optional[str] = None) -> Maybe:
        """A pushed Location/EVSE/Connector (PUT, ``patch=False``) or a partial update (PATCH)."""


# -- sessions ------------------------------------------------------------------------


@runtime_checkable
class SessionsSender(Protocol):
    """Owner of Sessions (CPO).  Optional: ``set_charging_preferences(session_id, prefs, sender)``
    returning a ChargingPreferencesResponse string (``ACCEPTED``...)."""

    def get_list(self, offset: int, limit: int, date_from: Optional[str], date_to: Optional[str]) -> Maybe:
        """Return a :class:`Page` of Session dicts."""


@runtime_checkable
class SessionsReceiver(Protocol):
    """Consumer of Sessions (eMSP).  Optional: ``get(cc, pid, session_id)``."""

    def on_update(self, cc: str, pid: str, session_id: str, obj: dict, patch: bool) -> Maybe:
        """A pushed Session (PUT) or a partial update (PATCH)."""


# -- cdrs ----------------------------------------------------------------------------


@runtime_checkable
class CdrsSender(Protocol):
    """Owner of CDRs (CPO)."""

    def get_list(self, offset: int, limit: int, date_from: Optional[str], date_to: Optional[str]) -> Maybe:
        """Return a :class:`Page` of CDR dicts."""


@runtime_checkable
class CdrsReceiver(Protocol):
    """Consumer of CDRs (eMSP)."""

    def on_new(self, cdr: dict) -> Maybe:
        """Store a posted CDR; return the id to use in the ``Location`` URL (``None`` = the CDR id)."""

    def get(self, id: str) -> Maybe:
        """Return the CDR stored under the id :meth:`on_new` returned, or None."""


# -- tariffs -------------------------------------------------------------------------


@runtime_checkable
class TariffsSender(Protocol):
    """Owner of Tariffs (CPO)."""

    def get_list(self, offset: int, limit: int, date_from: Optional[str], date_to: Optional[str]) -> Maybe:
        """Return a :class:`Page` of Tariff dicts."""


@runtime_checkable
class TariffsReceiver(Protocol):
    """Consumer of Tariffs (eMSP).  Optional: ``get(cc, pid, tariff_id)``."""

    def on_update(self, cc: str, pid: str, tariff_id: str, obj: dict) -> Maybe:
        """A pushed Tariff (PUT)."""

    def on_delete(self, cc: str, pid: str, tariff_id: str) -> Maybe:
        """A Tariff was deleted."""


# -- tokens --------------------------------------------------------------------------


@runtime_checkable
class TokensSender(Protocol):
    """Owner of Tokens (eMSP)."""

    def get_list(self, offset: int, limit: int, date_from: Optional[str], date_to: Optional[str]) -> Maybe:
        """Return a :class:`Page` of Token dicts."""

    def authorize(self, uid: str, type: str, location_references: Optional[dict]) -> Maybe:
        """Return an AuthorizationInfo dict; raise :class:`UnknownToken` / :class:`NotEnoughInformation`."""


@runtime_checkable
class TokensReceiver(Protocol):
    """Consumer of Tokens (CPO).  Optional: ``get(cc, pid, uid, type)``."""

    def on_update(self, cc: str, pid: str, uid: str, type: str, obj: dict, patch: bool) -> Maybe:
        """A pushed Token (PUT) or a partial update (PATCH)."""


# -- commands ------------------------------------------------------------------------


@runtime_checkable
class CommandsReceiver(Protocol):
    """Executes commands (CPO).  ``request`` is the command body without
    ``response_url``; ``sender`` the requesting party.  Optional:
    ``reserve_now``, ``cancel_reservation``, ``unlock_connector`` (missing ones
    answer NOT_SUPPORTED).  Each returns a :class:`CommandResponse`."""

    def start_session(self, request: dict, sender: Party) -> Maybe:
        ...

    def stop_session(self, request: dict, sender: Party) -> Maybe:
        ...


class CommandsSender(Protocol):
    """Receives async command results (eMSP).  Entirely optional: the
    Deferred returned by :meth:`Bridge.send_command` fires anyway."""

    def on_result(self, command: str, uid: str, result: dict) -> Maybe:
        ...


# -- charging profiles ---------------------------------------------------------------


@runtime_checkable
class ChargingProfilesReceiver(Protocol):
    """Smart charging at the CPO.  Optional: ``get_active(session_id,
    duration, sender)`` and ``clear(session_id, sender)``.  Each returns a
    :class:`ChargingProfileResponse`."""

    def set(self, session_id: str, charging_profile: dict, sender: Party) -> Maybe:
        ...


class ChargingProfilesSender(Protocol):
    """Smart charging at the eMSP/SCSP; all optional:
    ``on_result(kind, session_id, uid, result)`` (kind = ``get``, ``set`` or
    ``clear``) and ``on_active_profile(cc, pid, session_id, profile)`` for
    ActiveChargingProfile pushes by the CPO."""


# -- what startup checks ---------------------------------------------------------------

PROTOCOLS: Mapping[tuple[str, str], type] = {
    ("locations", "SENDER"): LocationsSender,
    ("locations", "RECEIVER"): LocationsReceiver,
    ("sessions", "SENDER"): SessionsSender,
    ("sessions", "RECEIVER"): SessionsReceiver,
    ("cdrs", "SENDER"): CdrsSender,
    ("cdrs", "RECEIVER"): CdrsReceiver,
    ("tariffs", "SENDER"): TariffsSender,
    ("tariffs", "RECEIVER"): TariffsReceiver,
    ("tokens", "SENDER"): TokensSender,
    ("tokens", "RECEIVER"): TokensReceiver,
    ("commands", "SENDER"): CommandsSender,
    ("commands", "RECEIVER"): CommandsReceiver,
    ("chargingprofiles", "SENDER"): ChargingProfilesSender,
    ("chargingprofiles", "RECEIVER"): ChargingProfilesReceiver,
}

REQUIRED: Mapping[tuple[str, str], tuple[str, ...]] = {
    ("locations", "SENDER"): ("get_list", "get"),
    ("locations", "RECEIVER"): ("on_update",),
    ("sessions", "SENDER"): ("get_list",),
    ("sessions", "RECEIVER"): ("on_update",),
    ("cdrs", "SENDER"): ("get_list",),
    ("cdrs", "RECEIVER"): ("on_new", "get"),
    ("tariffs", "SENDER"): ("get_list",),
    ("tariffs", "RECEIVER"): ("on_update", "on_delete"),
    ("tokens", "SENDER"): ("get_list", "authorize"),
    ("tokens", "RECEIVER"): ("on_update",),
    ("commands", "SENDER"): (),
    ("commands", "RECEIVER"): ("start_session", "stop_session"),
    ("chargingprofiles", "SENDER"): (),
    ("chargingprofiles", "RECEIVER"): ("set",),
}


class MissingImplementation(Exception):
    """A configured module has no (complete) backoffice implementation."""


def check(backoffice: Any, modules) -> None:
    """Raise :class:`MissingImplementation` naming the first gap."""
    for module, role in modules:
        required = REQUIRED.get((module, role))
        if required is None:
            raise MissingImplementation(f"module {module} {role} is not supported by the bridge")
        impl = getattr(backoffice, module, None)
        if impl is None:
            if not required:
                continue
            raise MissingImplementation(
                f"module {module} {role} is enabled but the backoffice has no '{module}' implementation")
        for name in required:
            if not callable(getattr(impl, name, None)):
                raise MissingImplementation(
                    f"module {module} {role}: backoffice.{module} lacks {name}() "
                    f"({PROTOCOLS[(module, role)].__name__})")
