"""Bridge configuration: :class:`BridgeConfig` and its INI loader.

Same layering as ocnd: built-in defaults, then each ``--config`` file in
order, then ``OCN_BRIDGE_<SECTION>_<KEY>`` environment variables.  Keys are
never logged (``repr`` hides them).
"""

from __future__ import annotations

import configparser
import os
import re
from typing import Any, Callable, Mapping

import attrs

from ..config import (ConfigError, _bool, _country_code, _endpoint, _optional_int, _optional_url, _party_id,
                      _positive_float, _positive_int, _str, _url)

MODULE_IDS = ("cdrs", "chargingprofiles", "commands", "locations", "sessions", "tariffs", "tokens")
ROLES = ("CPO", "EMSP", "HUB", "NAP", "NSP", "OTHER", "SCSP")

# Interface role per module for the classic party roles.
CPO_MODULES = (("locations", "SENDER"), ("sessions", "SENDER"), ("cdrs", "SENDER"), ("tariffs", "SENDER"),
               ("tokens", "RECEIVER"), ("commands", "RECEIVER"), ("chargingprofiles", "RECEIVER"))
EMSP_MODULES = (("locations", "RECEIVER"), ("sessions", "RECEIVER"), ("cdrs", "RECEIVER"),
                ("tariffs", "RECEIVER"), ("tokens", "SENDER"), ("commands", "SENDER"),
                ("chargingprofiles", "SENDER"))
PRESETS = {"cpo": CPO_MODULES, "emsp": EMSP_MODULES, "msp": EMSP_MODULES}


def modules_for_roles(roles: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for r in roles:
        for m in {"CPO": CPO_MODULES, "EMSP": EMSP_MODULES, "SCSP": (("chargingprofiles", "SENDER"),)}.get(r, ()):
            if m not in out:
                out.append(m)
    return tuple(out)


def parse_modules(text: str) -> tuple[tuple[str, str], ...] | None:
    """``auto`` (None), a preset (``cpo``, ``emsp``) or ``module:ROLE, ...``."""
    text = text.strip()
    if not text or text.lower() == "auto":
        return None
    out: list[tuple[str, str]] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        if item.lower() in PRESETS:
            for m in PRESETS[item.lower()]:
                if m not in out:
                    out.append(m)
            continue
        m = re.fullmatch(r"([a-z]+)\s*:\s*(sender|receiver)", item, re.IGNORECASE)
        if not m or m.group(1).lower() not in MODULE_IDS:
            raise ValueError(f"expected auto, cpo, emsp or module:SENDER|RECEIVER items "
                             f"(modules: {', '.join(MODULE_IDS)}), got {item!r}")
        pair = (m.group(1).lower(), m.group(2).upper())
        if pair not in out:
            out.append(pair)
    return tuple(out)


def _roles(v: str) -> tuple[str, ...]:
    items = tuple(x.strip().upper() for x in v.split(",") if x.strip())
    if not items:
        raise ValueError("at least one role is required")
    for x in items:
        if x not in ROLES:
            raise ValueError(f"roles must be among {', '.join(ROLES)}, got {x!r}")
    return items


def _key(v: str) -> str:
    v = v.strip()
    if not v:
        return ""
    if not re.fullmatch(r"(0x)?[0-9a-fA-F]{64}", v):
        raise ValueError("expected a 32-byte hex private key")
    return v if v.startswith("0x") else "0x" + v


def _version(v: str) -> str:
    v = v.strip()
    if v not in ("2.2", "2.2.1"):
        raise ValueError(f"expected 2.2 or 2.2.1, got {v!r}")
    return v


def _registry_mode(v: str) -> str:
    v = v.strip().lower()
    if v not in ("jsonrpc", "none"):
        raise ValueError(f"expected jsonrpc or none, got {v!r}")
    return v


def _modules_conv(v: str):
    return parse_modules(v)


@attrs.frozen
class BridgeConfig:
    """Everything one bridge (one OCPI party on one OCN node) needs.

    ``modules=None`` derives the modules from ``roles`` (CPO / EMSP presets).
    ``party_key`` signs OCN-Signatures and the registry listing;
    ``spender_key`` (optional) pays the gas of raw registry transactions.
    """

    node_url: str
    public_url: str
    country_code: str
    party_id: str
    party_key: str = attrs.field(repr=False)
    roles: tuple[str, ...] = ("CPO",)
    name: str = ""
    listen: str = "tcp:3000:interface=127.0.0.1"
    token_a: str = attrs.field(default="", repr=False)
    modules: tuple[tuple[str, str], ...] | None = None
    signatures: bool = False
    db_path: str = "ocn-bridge.sqlite"
    ocpi_version: str = "2.2"
    register: bool = True
    registry_mode: str = "jsonrpc"
    rpc_url: str = ""
    registry_address: str = ""
    chain_id: int | None = None
    spender_key: str = attrs.field(default="", repr=False)
    list_modules: bool = False
    request_timeout: float = 30.0
    page_limit: int = 50
    async_timeout: float = 60.0

    @property
    def party(self) -> tuple[str, str]:
        return (self.country_code.upper(), self.party_id.upper())

    @property
    def enabled_modules(self) -> tuple[tuple[str, str], ...]:
        return self.modules if self.modules is not None else modules_for_roles(self.roles)

    def role_objects(self) -> list[dict]:
        name = self.name or f"{self.country_code}/{self.party_id}"
        return [{"role": r, "business_details": {"name": name}, "party_id": self.party_id.upper(),
                 "country_code": self.country_code.upper()} for r in self.roles]


# section -> key -> (default, converter, help, BridgeConfig field)
SCHEMA: dict[str, dict[str, tuple[str, Callable[[str], Any], str, str]]] = {
    "bridge": {
        "node_url": ("http://127.0.0.1:8080", _url, "Base URL of the OCN node the party connects to.", "node_url"),
        "public_url": ("http://127.0.0.1:3000", _url,
                       "Public base URL of this bridge's OCPI server (a path prefix is kept).", "public_url"),
        "listen": ("tcp:3000:interface=127.0.0.1", _endpoint,
                   "Twisted server endpoint string for the bridge's OCPI server (tcp:/ssl:/unix: get "
                   "backlog=1024 unless they set their own).", "listen"),
        "country_code": ("DE", _country_code, "Country code of the party.", "country_code"),
        "party_id": ("CPO", _party_id, "Party id of the party.", "party_id"),
        "roles": ("CPO", _roles, "Comma separated OCPI roles of the party (CPO, EMSP, ...).", "roles"),
        "name": ("", _str, "business_details.name (default CC/PID).", "name"),
        "modules": ("auto", _modules_conv,
                    "auto (from roles), cpo, emsp, or module:SENDER|RECEIVER items, comma separated.",
                    "modules"),
        "signatures": ("false", _bool, "Sign every request/response and verify the counterpart's OCN-Signature.",
                       "signatures"),
        "ocpi_version": ("2.2", _version, "OCPI version to register with (2.2 or 2.2.1).", "ocpi_version"),
        "db_path": ("ocn-bridge.sqlite", _str,
                    "SQLite file for tokens and node endpoints (relative to the current directory).", "db_path"),
        "request_timeout": ("30", _positive_float, "Seconds to wait for the node.", "request_timeout"),
        "page_limit": ("50", _positive_int, "Largest page served (X-Limit) on list endpoints.", "page_limit"),
        "async_timeout": ("60", _positive_float,
                          "Most seconds to wait for an async command / charging profile result.", "async_timeout"),
    },
    "keys": {
        "party_key": ("", _key, "Hex private key of the party (registry listing and OCN-Signatures).",
                      "party_key"),
        "party_key_file": ("", _str, "File holding the party key instead of party_key.", ""),
        "token_a": ("", _str, "Registration token (Token A) issued by the node admin; needed once.", "token_a"),
        "token_a_file": ("", _str, "File holding Token A instead of token_a.", ""),
    },
    "registry": {
        "register": ("true", _bool, "Check/create the party's registry listing at start.", "register"),
        "mode": ("jsonrpc", _registry_mode, "jsonrpc = a chain over HTTP JSON-RPC; none = skip the registry.",
                 "registry_mode"),
        "rpc_url": ("", _optional_url, "Ethereum JSON-RPC URL.", "rpc_url"),
        "registry_address": ("", _str, "Registry contract address.", "registry_address"),
        "chain_id": ("", _optional_int, "Expected chain id (checked when set).", "chain_id"),
        "spender_key": ("", _key,
                        "Key paying for raw (meta) registry transactions; empty = the party key pays.",
                        "spender_key"),
        "list_modules": ("false", _bool, "Also list the enabled modules with setPartyModules.", "list_modules"),
    },
}

ENV_PREFIX = "OCN_BRIDGE_"


def _read_file(path: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    try:
        with open(path, encoding="utf-8") as fh:
            parser.read_file(fh, source=path)
    except FileNotFoundError:
        raise ConfigError(path, "-", None, "file not found") from None
    except configparser.Error as e:
        raise ConfigError(path, "-", None, f"not a valid INI file: {e.message.splitlines()[0]}") from None
    return parser


def _read_secret(path: str, source: str, section: str, key: str) -> str:
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError as e:
        raise ConfigError(source, section, key, f"cannot read {path}: {e.strerror}") from None


def load(paths=(), environ: Mapping[str, str] | None = None) -> BridgeConfig:
    """Load, layer and validate; raises :class:`ocnd.config.ConfigError`."""
    environ = os.environ if environ is None else environ
    raw: dict[tuple[str, str], tuple[str, str]] = {}
    for section, keys in SCHEMA.items():
        for key, spec in keys.items():
            raw[(section, key)] = (spec[0], "default")
    for path in paths:
        parser = _read_file(path)
        for section in parser.sections():
            if section not in SCHEMA:
                raise ConfigError(path, section, None, "unknown section")
            for key, value in parser.items(section):
                if key not in SCHEMA[section]:
                    raise ConfigError(path, section, key, "unknown key")
                raw[(section, key)] = (value, path)
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX):].lower()
        for section in SCHEMA:
            if rest.startswith(section + "_") and rest[len(section) + 1:] in SCHEMA[section]:
                raw[(section, rest[len(section) + 1:])] = (value, name)
                break
        else:
            raise ConfigError(name, "-", None, "environment variable does not name a known key")
    kwargs: dict[str, Any] = {}
    values: dict[tuple[str, str], Any] = {}
    for (section, key), (value, source) in raw.items():
        conv, field = SCHEMA[section][key][1], SCHEMA[section][key][3]
        try:
            values[(section, key)] = conv(value)
        except ValueError as e:
            raise ConfigError(source, section, key, str(e)) from None
        if field:
            kwargs[field] = values[(section, key)]
    if not kwargs["party_key"] and values[("keys", "party_key_file")]:
        src = raw[("keys", "party_key_file")][1]
        try:
            kwargs["party_key"] = _key(_read_secret(values[("keys", "party_key_file")], src, "keys",
                                                    "party_key_file"))
        except ValueError as e:
            raise ConfigError(src, "keys", "party_key_file", str(e)) from None
    if not kwargs["token_a"] and values[("keys", "token_a_file")]:
        kwargs["token_a"] = _read_secret(values[("keys", "token_a_file")], raw[("keys", "token_a_file")][1],
                                         "keys", "token_a_file")
    if not kwargs["party_key"]:
        raise ConfigError(raw[("keys", "party_key")][1], "keys", "party_key",
                          "a party key is required (party_key or party_key_file)")
    if kwargs["register"] and kwargs["registry_mode"] == "jsonrpc":
        for key in ("rpc_url", "registry_address"):
            if not kwargs[key]:
                raise ConfigError(raw[("registry", key)][1], "registry", key,
                                  "required when register = true and mode = jsonrpc")
    return BridgeConfig(**kwargs)


def describe() -> str:
    lines = []
    for section, keys in SCHEMA.items():
        lines.append(f"[{section}]")
        for key, (default, _c, help_text, _f) in keys.items():
            lines.append(f"  {key} = {default}")
            lines.append(f"      {help_text}")
    return "\n".join(lines)
