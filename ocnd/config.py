"""ocnd configuration: INI files layered over defaults that live in code.

Precedence (lowest first): the defaults in :data:`SCHEMA`, each ``--config``
file in the order given, then ``OCND_<SECTION>_<KEY>`` environment
variables (for example ``OCND_NODE_PUBLIC_URL``).  Every value is converted
and validated at load time; any problem raises :class:`ConfigError` naming
the file (or environment variable), the section and the key.

Paths that are relative are resolved against ``[node] data_dir``;
``data_dir`` itself is resolved against the current directory, and defaults
to ``$STATE_DIRECTORY`` when running under systemd.
"""

from __future__ import annotations

import configparser
import os
import re
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

import attrs


class ConfigError(Exception):
    """Invalid configuration; ``str()`` is one line naming where and what."""

    def __init__(self, source: str, section: str, key: str | None, message: str) -> None:
        self.source, self.section, self.key = source, section, key
        where = f"[{section}]" + (f" {key}" if key else "")
        super().__init__(f"{source}: {where}: {message}")


# -- converters ---------------------------------------------------------------

def _str(v: str) -> str:
    return v.strip()


def _bool(v: str) -> bool:
    low = v.strip().lower()
    if low in ("1", "yes", "true", "on"):
        return True
    if low in ("0", "no", "false", "off"):
        return False
    raise ValueError(f"expected a boolean (true/false), got {v!r}")


def _positive_float(v: str) -> float:
    try:
        f = float(v)
    except ValueError:
        raise ValueError(f"expected a number, got {v!r}") from None
    if not f > 0:
        raise ValueError(f"expected a positive number, got {v!r}")
    return f


def _non_negative_float(v: str) -> float:
    try:
        f = float(v)
    except ValueError:
        raise ValueError(f"expected a number, got {v!r}") from None
    if f < 0:
        raise ValueError(f"expected a number >= 0, got {v!r}")
    return f


def _whole(v: str) -> int:
    try:
        return int(v.strip())
    except ValueError:
        raise ValueError(f"expected a whole number, got {v!r}") from None


def _positive_int(v: str) -> int:
    i = _whole(v)
    if i <= 0:
        raise ValueError(f"expected a positive whole number, got {v!r}")
    return i


def _non_negative_int(v: str) -> int:
    i = _whole(v)
    if i < 0:
        raise ValueError(f"expected a whole number >= 0, got {v!r}")
    return i


def _url(v: str) -> str:
    v = v.strip()
    parts = urlsplit(v)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected an http(s) URL, got {v!r}")
    return v.rstrip("/")


def _optional_url(v: str) -> str:
    return _url(v) if v.strip() else ""


def _address(v: str) -> str:
    v = v.strip()
    if not v:
        return ""
    if not re.fullmatch(r"0x[0-9a-fA-F]{40}", v):
        raise ValueError(f"expected a 0x-prefixed 20-byte hex address, got {v!r}")
    from eth_utils import to_checksum_address

    return to_checksum_address(v)


def _choice(*choices: str) -> Callable[[str], str]:
    def conv(v: str) -> str:
        low = v.strip().lower()
        if low not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {v!r}")
        return low

    return conv


def _country_code(v: str) -> str:
    v = v.strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", v):
        raise ValueError(f"expected a 2-letter country code, got {v!r}")
    return v


def _party_id(v: str) -> str:
    v = v.strip().upper()
    if not re.fullmatch(r"[A-Z0-9]{3}", v):
        raise ValueError(f"expected a 3-character party id, got {v!r}")
    return v


def _optional_int(v: str) -> int | None:
    return _positive_int(v) if v.strip() else None


def _endpoint(v: str) -> str:
    v = v.strip()
    if v and ":" not in v:
        raise ValueError(f"expected a Twisted endpoint string such as tcp:8080:interface=127.0.0.1, got {v!r}")
    return v


def _parties(v: str) -> frozenset:
    out = set()
    for item in v.split(","):
        item = item.strip()
        if not item:
            continue
        m = re.fullmatch(r"([A-Za-z]{2})/([A-Za-z0-9]{3})", item)
        if not m:
            raise ValueError(f"expected a comma-separated list of CC/PID parties, got {item!r}")
        out.add((m.group(1).upper(), m.group(2).upper()))
    return frozenset(out)


def _networks(v: str) -> tuple:
    from .security import parse_networks

    return parse_networks(v)


def _versions(v: str) -> tuple[str, ...]:
    items = tuple(x.strip() for x in v.split(",") if x.strip())
    for x in items:
        if x not in ("2.2", "2.2.1"):
            raise ValueError(f"supported OCPI versions are 2.2 and 2.2.1, got {x!r}")
    if not items:
        raise ValueError("at least one OCPI version is required")
    return items


# -- schema: section -> key -> (default, converter, help) ----------------------
# The help texts are the documentation printed by `twistd ocnd --help-config`
# and mirrored, as comments, in etc/ocnd.ini.

SCHEMA: dict[str, dict[str, tuple[str, Callable[[str], Any], str]]] = {
    "node": {
        "public_url": ("http://127.0.0.1:8080", _url,
                       "Public base URL of this node, exactly as listed in the registry."),
        "listen": ("tcp:8080:interface=127.0.0.1", _endpoint,
                   "Twisted server endpoint string (tcp:, ssl:, unix:, systemd:domain=INET:index=0)."),
        "data_dir": ("", _str,
                     "Directory for the database, keys and dev chain (default: $STATE_DIRECTORY or ./data)."),
        "country_code": ("CH", _country_code, "Country code of the hub identity in credentials responses."),
        "party_id": ("OCN", _party_id, "Party id of the hub identity in credentials responses."),
        "name": ("Open Charging Network Node", _str, "business_details.name of the hub identity."),
        "ocpi_versions": ("2.2, 2.2.1", _versions, "OCPI versions offered under /ocpi/versions."),
        "signatures": ("false", _bool, "Require an OCN-Signature on every routed request."),
        "gc_freeze": ("true", _bool,
                      "Once started, exclude every object loaded so far (code, embedded chain, snapshot) from "
                      "the garbage collector's scans (gc.freeze): full collections stay short, which keeps "
                      "tail latency low."),
        "gc_young_threshold": ("20000", _non_negative_int,
                               "Allocations between young garbage collections (Python's default: 700). Higher "
                               "means fewer, longer collections: under routing load at 20000 one of 5-15 ms every "
                               "few seconds, at 5000 a few of 2-4 ms per second, at 700 many short ones costing "
                               "several times the collector CPU (bench/README.md). 0 keeps Python's default."),
    },
    "store": {
        "path": ("ocnd.sqlite", _str, "SQLite database file (relative to data_dir)."),
    },
    "registry": {
        "mode": ("embedded", _choice("embedded", "jsonrpc"),
                 "embedded = in-process dev chain; jsonrpc = a real chain over HTTP JSON-RPC."),
        "rpc_url": ("", _optional_url, "JSON-RPC URL (mode = jsonrpc)."),
        "chain_id": ("", _optional_int, "Expected chain id; checked at start when set (embedded default 9)."),
        "registry_address": ("", _address, "Registry contract address (empty = built-in local default)."),
        "permissions_address": ("", _address, "Permissions contract address (empty = built-in local default)."),
        "poll_interval": ("15", _positive_float, "Seconds between incremental registry syncs."),
        "full_sync_interval": ("600", _positive_float, "Seconds between full registry reconciles."),
        "rpc_timeout": ("10", _positive_float, "Seconds before a JSON-RPC call is abandoned."),
        "journal": ("devchain.sqlite", _str, "Embedded chain transaction journal (relative to data_dir)."),
        "serve_rpc": ("", _endpoint,
                      "Serve the embedded chain as Ethereum JSON-RPC on this endpoint, e.g. tcp:8544:interface=127.0.0.1."),
        "list_node": ("true", _bool, "Embedded mode: list this node as operator (public_url) at start."),
    },
    "keys": {
        "node_key_file": ("node.key", _str,
                          "Hex private key of the node (created 0600 on first start if absent)."),
        "keystore_file": ("", _str, "Encrypted JSON keystore to use instead of node_key_file."),
        "keystore_password_file": ("", _str,
                                   "File holding the keystore password (or set OCND_KEYSTORE_PASSWORD)."),
    },
    "admin": {
        "api_key_file": ("admin.key", _str,
                         "File holding the admin API key (created 0600 on first start if absent)."),
        "registration_token_ttl": ("2592000", _non_negative_float,
                                   "Seconds a registration token (Token A) stays valid; 0 = forever."),
    },
    "limits": {
        "max_body_size": ("1048576", _positive_int, "Largest accepted request body in bytes."),
        "request_timeout": ("30", _positive_float, "Seconds to wait for a party or node we call."),
        "connect_timeout": ("10", _positive_float, "Seconds to wait for an outbound TCP/TLS connection."),
        "max_connections_per_host": ("32", _positive_int, "Persistent outbound connections kept per host."),
        "listen_backlog": ("1024", _positive_int,
                           "Connections the kernel queues on the listening socket until ocnd accepts them "
                           "(added to tcp:, tcp6:, ssl: and unix: [node] listen strings that set no backlog=; "
                           "capped by net.core.somaxconn). Twisted's default is 50: in a burst of new "
                           "connections the rest are dropped and each client retries after a second."),
        "idle_timeout": ("60", _positive_float, "Seconds an idle inbound connection is kept open."),
        "header_timeout": ("10", _positive_float,
                           "Seconds a client has, from the first byte of a request, to send the request line and "
                           "all headers (however slowly the bytes arrive; protects against slow-loris)."),
        "body_timeout": ("60", _positive_float,
                         "Seconds a client has, after the headers, to send the complete request body."),
    },
    "tasks": {
        "still_alive_interval": ("900", _non_negative_float,
                                 "Seconds between checks that connected parties still answer (0 = off)."),
        "planned_party_interval": ("3600", _non_negative_float,
                                   "Seconds between scans of the registry for parties of this node that have not "
                                   "connected yet (0 = off)."),
        "liveness_write_interval": ("60", _non_negative_float,
                                    "A successful exchange refreshes a platform's last_updated at most this often."),
    },
    "routing": {
        "proxy_ttl": ("604800", _positive_float,
                      "Seconds a proxy resource (pagination link, CDR location, response_url) stays valid."),
        "proxy_sweep_interval": ("3600", _positive_float, "Seconds between sweeps of expired proxy resources."),
        "ownership_exempt": ("", _parties,
                             "Parties (CC/PID, comma separated) allowed to push objects owned by others, "
                             "e.g. hubs that legitimately relay."),
        "service_interface": ("false", _bool,
                              "Send copies of requests to service providers the sender has a Permissions "
                              "agreement with (reads agreements over RPC in the background, cached)."),
        "service_interface_ttl": ("60", _positive_float,
                                  "Seconds the Permissions agreements of a party are cached."),
        "v1_wire": ("false", _bool,
                    "Serialize bodies sent to other nodes the way a Kotlin v1 node re-serializes them (needed "
                    "when peers run the v1 node; ocnd peers verify the exact bytes)."),
        "v1_blacklist": ("false", _bool,
                         "OcnRules blacklist blocks a listed sender for every module (v1 behaviour) instead of "
                         "only the listed modules."),
        "replay_window": ("600", _positive_float,
                          "Seconds during which a node message with the same signature is refused as replay."),
    },
    "logging": {
        "access_log": ("false", _bool, "Log one line per HTTP request (no tokens are ever logged)."),
    },
    "observability": {
        "metrics": ("admin", _choice("true", "false", "admin"),
                    "GET /metrics (Prometheus text format): true = open to anyone who can reach the node, "
                    "admin = requires Authorization: Token <admin api key>, false = off (404)."),
        "hop_log": ("true", _bool,
                    "Log one line per routed hop with request_id and correlation_id fields (never bodies or "
                    "tokens)."),
        "trace_retention": ("86400", _non_negative_float,
                            "Seconds the metadata of routed hops is kept (in the database) for GET /admin/trace/<id> "
                            "and the status page; 0 = no trace."),
        "trace_max_hops": ("100000", _positive_int,
                           "Most hops kept in the trace; the oldest correlation ids are dropped first."),
        "trace_sweep_interval": ("60", _positive_float, "Seconds between sweeps of expired trace entries."),
        "trace_flush_interval": ("1", _positive_float,
                                 "Seconds between writes of new trace hops to the database, in one transaction "
                                 "(a crash loses at most this much trace)."),
    },
    "security": {
        "allow_private_party_urls": ("auto", _choice("auto", "true", "false"),
                                     "Let the node call party/node URLs that resolve to loopback, private, "
                                     "link-local, multicast or other non-public addresses (SSRF guard off). "
                                     "auto = true when [registry] mode = embedded (development), false "
                                     "otherwise."),
        "allowed_party_networks": ("", _networks,
                                   "Comma-separated CIDRs the node may call even when private URLs are refused, "
                                   "e.g. 10.20.0.0/16, fd00:1::/64."),
        "auth_failures_per_minute": ("30", _non_negative_float,
                                     "Failed authentications (Token A, Token C, admin key) allowed per client IP "
                                     "and minute (token bucket); beyond it requests carrying Authorization get "
                                     "HTTP 429 until the bucket refills; 0 = no limit."),
        "trusted_proxies": ("", _networks,
                            "CIDRs of reverse proxies whose X-Forwarded-For names the real client IP for the "
                            "auth-failure limit, e.g. 127.0.0.1/32 behind a local TLS proxy."),
        "ca_bundle": ("", _str,
                      "PEM file of CA certificates trusted for outbound HTTPS instead of the system store "
                      "(relative to data_dir); empty = system trust store."),
    },
}

ENV_PREFIX = "OCND_"


@attrs.frozen
class Config:
    """Validated configuration: ``values[section][key]`` plus resolved paths."""

    values: Mapping[str, Mapping[str, Any]]
    sources: Mapping[tuple[str, str], str]
    data_dir: str

    def __getitem__(self, section: str) -> Mapping[str, Any]:
        return self.values[section]

    def path(self, section: str, key: str) -> str:
        """A path option resolved against data_dir ('' stays '')."""
        value = self.values[section][key]
        if not value:
            return ""
        value = os.path.expanduser(value)
        return value if os.path.isabs(value) else os.path.join(self.data_dir, value)


def _read_file(path: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=None)
    parser.optionxform = str  # keep key case so we can report it
    try:
        with open(path, encoding="utf-8") as fh:
            parser.read_file(fh, source=path)
    except FileNotFoundError:
        raise ConfigError(path, "-", None, "file not found") from None
    except configparser.Error as e:
        raise ConfigError(path, "-", None, f"not a valid INI file: {e.message.splitlines()[0]}") from None
    except OSError as e:
        raise ConfigError(path, "-", None, f"cannot read: {e.strerror}") from None
    return parser


def _env_overrides(environ: Mapping[str, str]) -> list[tuple[str, str, str, str]]:
    out = []
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name == "OCND_KEYSTORE_PASSWORD":
            continue
        rest = name[len(ENV_PREFIX):].lower()
        for section in SCHEMA:
            if rest.startswith(section + "_"):
                out.append((name, section, rest[len(section) + 1:], value))
                break
        # OCND_* variables that name no section (e.g. tooling flags) are not ours: ignored.
        # A known section with an unknown key is an error (a typo must not go unnoticed).
    return out


def load(paths: list[str] | tuple[str, ...] = (), environ: Mapping[str, str] | None = None,
         cwd: str | None = None) -> Config:
    """Load, layer and validate the configuration."""
    environ = os.environ if environ is None else environ
    raw: dict[tuple[str, str], tuple[str, str]] = {}
    for section, keys in SCHEMA.items():
        for key, (default, _conv, _help) in keys.items():
            raw[(section, key)] = (default, "default")
    for path in paths:
        parser = _read_file(path)
        for section in parser.sections():
            if section not in SCHEMA:
                raise ConfigError(path, section, None, "unknown section")
            for key, value in parser.items(section):
                if key not in SCHEMA[section]:
                    raise ConfigError(path, section, key, "unknown key")
                raw[(section, key)] = (value, path)
    for name, section, key, value in _env_overrides(environ):
        if key not in SCHEMA[section]:
            raise ConfigError(name, section, key, "unknown key")
        raw[(section, key)] = (value, name)

    values: dict[str, dict[str, Any]] = {s: {} for s in SCHEMA}
    sources = {}
    for (section, key), (value, source) in raw.items():
        conv = SCHEMA[section][key][1]
        try:
            values[section][key] = conv(value)
        except ValueError as e:
            raise ConfigError(source, section, key, str(e)) from None
        sources[(section, key)] = source

    data_dir = values["node"]["data_dir"] or environ.get("STATE_DIRECTORY", "").split(":")[0] or "data"
    data_dir = os.path.abspath(os.path.join(cwd or os.getcwd(), os.path.expanduser(data_dir)))
    values["node"]["data_dir"] = data_dir

    reg = values["registry"]
    if reg["mode"] == "jsonrpc":
        for key in ("rpc_url", "registry_address"):
            if not reg[key]:
                raise ConfigError(sources[("registry", "mode")], "registry", key,
                                  "required when mode = jsonrpc")
    if reg["serve_rpc"] and reg["mode"] != "embedded":
        raise ConfigError(sources[("registry", "serve_rpc")], "registry", "serve_rpc",
                          "only the embedded chain can be served")
    sec = values["security"]
    if sec["allow_private_party_urls"] == "auto":
        sec["allow_private_party_urls"] = reg["mode"] == "embedded"
    else:
        sec["allow_private_party_urls"] = sec["allow_private_party_urls"] == "true"
    return Config(values=values, sources=sources, data_dir=data_dir)


def describe() -> str:
    """Human-readable list of every section and key with default and help."""
    lines = []
    for section, keys in SCHEMA.items():
        lines.append(f"[{section}]")
        for key, (default, _conv, help_text) in keys.items():
            lines.append(f"  {key} = {default}")
            lines.append(f"      {help_text}")
    return "\n".join(lines)


class LayeredConfigOptions:
    """Mixin for twistd ``usage.Options``: a repeatable ``--config FILE`` (``-c``) collected in
    ``self["config"]`` in the order given, so later files override earlier ones."""

    def __init__(self) -> None:
        super().__init__()
        self["config"] = []

    def opt_config(self, path: str) -> None:
        """INI configuration file; repeat to layer several files (later files win)."""
        self["config"].append(path)

    opt_c = opt_config
