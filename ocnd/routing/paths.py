"""Which OCPI module/interface a request path addresses (pure logic).

:func:`classify` turns ``(method, path)`` into a :class:`Route` describing
how the node forwards it: the module, the interface role of the *recipient's*
endpoint, the ``url_path`` appended to that endpoint, whether the path names a
proxy resource issued by a node, how ``response_url`` is rewritten, and which
response headers are passed back.  Both OCPI 2.2 (v1 network) and 2.2.1
spellings are accepted, and for chargingprofiles and ocnrules both the
advertised and the v1-served spelling.
"""

from __future__ import annotations

from typing import Literal

import attrs

from .. import ocpi
from ..ocpi import OcpiError

VERSIONS = ("2.2", "2.2.1")

# module identifier -> /ocn/message module name (v1 enum)
MODULE_NAMES = {
    "cdrs": "CDRS",
    "chargingprofiles": "CHARGING_PROFILES",
    "commands": "COMMANDS",
    "credentials": "CREDENTIALS",
    "hubclientinfo": "HUB_CLIENT_INFO",
    "locations": "LOCATIONS",
    "sessions": "SESSIONS",
    "tariffs": "TARIFFS",
    "tokens": "TOKENS",
    "custom": "CUSTOM",
}
MODULE_IDS = {v: k for k, v in MODULE_NAMES.items()}

COMMANDS = ("CANCEL_RESERVATION", "RESERVE_NOW", "START_SESSION", "STOP_SESSION", "UNLOCK_CONNECTOR")
LIST_MODULES = ("cdrs", "locations", "sessions", "tariffs", "tokens")
# modules whose receiver interface takes pushes addressed by owner {cc}/{pid}
OWNED_RECEIVER_MODULES = ("locations", "sessions", "tariffs", "tokens")

Style = Literal["plain", "pag", "loc", "all"]


@attrs.frozen
class Route:
    version: str
    module: str                      # identifier, e.g. "locations" or a custom module id
    interface: str                   # SENDER / RECEIVER: the recipient endpoint's role
    url_path: str | None = None
    proxied_uid: str | None = None   # path names a proxy resource issued by a node
    style: Style = "plain"
    async_in: Literal["body", "query"] | None = None   # where response_url lives
    async_kind: str | None = None    # "commands/<CMD>" or "chargingprofiles/<session>"
    owner: tuple[str, str] | None = None   # {cc}/{pid} from a receiver push URL
    custom: bool = False
    default_params: tuple[tuple[str, str], ...] = ()

    @property
    def module_name(self) -> str:
        return "CUSTOM" if self.custom else MODULE_NAMES[self.module]


def _bad(msg: str, http: int = 404) -> OcpiError:
    return OcpiError(ocpi.CLIENT_ERROR if http == 404 else ocpi.INVALID_PARAMS, msg, http)


def _join(parts: list[str]) -> str:
    return "/".join(parts)


def classify(method: str, segments: list[str]) -> Route:
    """Classify ``segments`` (the path after ``/ocpi/``, split on ``/``)."""
    segs = [s for s in segments]
    if segs and segs[-1] == "":
        segs = segs[:-1]
    if not segs:
        raise _bad("Not found")
    # custom modules: /ocpi/custom/{sender|receiver}/{module}[/...]
    if segs[0] == "custom":
        if len(segs) < 3:
            raise _bad("Not found")
        role = segs[1].lower()
        if role not in ("sender", "receiver"):
            raise OcpiError(ocpi.INVALID_PARAMS, f"No interface {segs[1]} found", 400)
        rest = segs[3:]
        return Route(version="2.2", module=segs[2], interface=role.upper(),
                     url_path=("/" + _join(rest)) if rest else None, style="all", custom=True)
    # /ocpi/{sender|receiver}/{v}/{module}/...  or  /ocpi/{v}/{sender|receiver}/{module}/...
    if len(segs) >= 3 and segs[0] in ("sender", "receiver") and segs[1] in VERSIONS:
        role, version, rest = segs[0], segs[1], segs[2:]
    elif len(segs) >= 3 and segs[0] in VERSIONS and segs[1] in ("sender", "receiver"):
        version, role, rest = segs[0], segs[1], segs[2:]
    else:
        raise _bad("Not found")
    module, args = rest[0], rest[1:]
    interface = role.upper()
    if module == "chargingprofiles":
        return _chargingprofiles(method, version, interface, args)
    if module == "commands":
        return _commands(method, version, interface, args)
    if module not in ("cdrs", "locations", "sessions", "tariffs", "tokens"):
        raise _bad("Not found")
    if interface == "SENDER":
        return _sender(method, version, module, args)
    return _receiver(method, version, module, args)


def _sender(method: str, version: str, module: str, args: list[str]) -> Route:
    if method == "GET" and not args:
        return Route(version, module, "SENDER", style="pag")
    if method == "GET" and len(args) == 2 and args[0] == "page":
        return Route(version, module, "SENDER", proxied_uid=args[1], style="pag")
    if module == "locations" and method == "GET" and 1 <= len(args) <= 3:
        return Route(version, module, "SENDER", url_path="/" + _join(args))
    if module == "sessions" and method == "PUT" and len(args) == 2 and args[1] == "charging_preferences":
        return Route(version, module, "SENDER", url_path=f"/{args[0]}/charging_preferences")
    if module == "tokens" and method == "POST" and len(args) == 2 and args[1] == "authorize":
        return Route(version, module, "SENDER", url_path=f"/{args[0]}/authorize",
                     default_params=(("type", "RFID"),))
    raise _bad("Not found" if method == "GET" else "Method not allowed", 404 if method == "GET" else 405)


def _receiver(method: str, version: str, module: str, args: list[str]) -> Route:
    if module == "cdrs":
        if method == "POST" and not args:
            return Route(version, module, "RECEIVER", style="loc")
        if method == "GET" and len(args) == 1:
            return Route(version, module, "RECEIVER", proxied_uid=args[0])
        raise _bad("Not found")
    allowed = {"locations": ("GET", "PUT", "PATCH"), "sessions": ("GET", "PUT", "PATCH"),
               "tariffs": ("GET", "PUT", "DELETE"), "tokens": ("GET", "PUT", "PATCH")}[module]
    max_args = 5 if module == "locations" else 3
    if len(args) < 3 or len(args) > max_args:
        raise _bad("Not found")
    if method not in allowed:
        raise _bad("Method not allowed", 405)
    params = (("type", "RFID"),) if module == "tokens" else ()
    return Route(version, module, "RECEIVER", url_path="/" + _join(args), owner=(args[0], args[1]),
                 default_params=params)


def _commands(method: str, version: str, interface: str, args: list[str]) -> Route:
    if interface == "RECEIVER":
        if method == "POST" and len(args) == 1 and args[0] in COMMANDS:
            return Route(version, "commands", "RECEIVER", url_path=args[0], async_in="body",
                         async_kind=f"commands/{args[0]}")
        if len(args) == 1 and args[0] not in COMMANDS:
            raise OcpiError(ocpi.INVALID_PARAMS, f"Unknown command {args[0]}", 400)
        raise _bad("Not found")
    if method == "POST" and len(args) == 2:
        if args[0] not in COMMANDS:
            raise OcpiError(ocpi.INVALID_PARAMS, f"Unknown command {args[0]}", 400)
        return Route(version, "commands", "SENDER", proxied_uid=args[1])
    raise _bad("Not found")


def _chargingprofiles(method: str, version: str, interface: str, args: list[str]) -> Route:
    if interface == "RECEIVER":
        if len(args) != 1:
            raise _bad("Not found")
        session = args[0]
        if method == "GET" or method == "DELETE":
            return Route(version, "chargingprofiles", "RECEIVER", url_path=f"/{session}", async_in="query",
                         async_kind=f"chargingprofiles/{session}")
        if method == "PUT":
            return Route(version, "chargingprofiles", "RECEIVER", url_path=f"/{session}", async_in="body",
                         async_kind=f"chargingprofiles/{session}")
        raise _bad("Method not allowed", 405)
    # sender interface: result of an async request, or an ActiveChargingProfile push
    if method == "POST" and len(args) == 2 and args[0] == "result":
        return Route(version, "chargingprofiles", "SENDER", proxied_uid=args[1])
    if method == "POST" and len(args) == 2:
        return Route(version, "chargingprofiles", "SENDER", proxied_uid=args[1])
    if method == "PUT" and len(args) == 1:
        return Route(version, "chargingprofiles", "SENDER", url_path=f"/{args[0]}")
    raise _bad("Not found")
