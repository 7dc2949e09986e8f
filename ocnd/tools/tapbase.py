"""What ``twistd ocn-mock-cpo`` and ``twistd ocn-mock-msp`` share: options and the service.

Settings are layered like ``twistd ocn-bridge``: built-in defaults of the
mock, then ``--config`` INI files (the bridge's format, ``etc/ocn-bridge.ini``),
then ``OCN_BRIDGE_*`` environment variables, then the command-line options.
The party key comes from ``--key-file`` (created with a fresh random key if the
file does not exist).  Token A comes from ``--token-a``/``--token-a-file`` or is
fetched from the node's admin API with ``--admin-key-file``.
"""

from __future__ import annotations

import json
import os
import secrets
import sys

import attrs
from twisted.application import service
from twisted.internet import defer, endpoints
from twisted.logger import Logger
from twisted.python import usage

from ..config import ConfigError, LayeredConfigOptions


class MockOptions(LayeredConfigOptions, usage.Options):
    role = "CPO"              # overridden
    tap = "ocn-mock-cpo"      # overridden
    default_party = ("CH", "CPO")
    default_port = 3000

    optParameters = [
        ["node", None, None, "Base URL of the OCN node (default from the config, else http://127.0.0.1:8080)."],
        ["country-code", None, None, "Country code of the party."],
        ["party-id", None, None, "Party id of the party."],
        ["name", None, None, "business_details.name of the party."],
        ["key-file", None, None, "File with the party's hex private key; created with a random key if missing "
                                 "(default <tap>.key)."],
        ["token-a", None, None, "Registration token (Token A) for the first handshake."],
        ["token-a-file", None, None, "File holding Token A."],
        ["admin-key-file", None, None, "The node's admin API key file: fetch a Token A from the node."],
        ["listen", None, None, "Endpoint of the party's OCPI server (default tcp:<port>:interface=127.0.0.1)."],
        ["public-url", None, None, "Public base URL of the party's OCPI server."],
        ["db", None, None, "SQLite file for tokens and endpoints (default <tap>.sqlite)."],
        ["rpc-url", None, None, "Registry JSON-RPC URL (the party is listed there at start)."],
        ["registry-address", None, None, "Registry contract address (default: the local deployment)."],
        ["chain-id", None, None, "Expected chain id."],
        ["spender-key-file", None, None, "File with the key paying raw registry transactions."],
        ["control", None, None, "Endpoint of the loopback control API, e.g. tcp:3100:interface=127.0.0.1."],
        ["seed", None, None, "Random seed of the simulator (reproducible runs)."],
    ]
    optFlags = [
        ["signatures", None, "Sign requests/responses and require OCN-Signatures."],
        ["no-register", None, "Do not check/create the registry listing at start."],
    ]


    synopsis = "[--config FILE]... [options]   (--config takes the etc/ocn-bridge.ini format)"

    def option_env(self) -> dict[str, str]:
        """``OCN_BRIDGE_*`` values for the options given on the command line."""
        env: dict[str, str] = {}
        cc, pid = self.default_party
        env["OCN_BRIDGE_BRIDGE_ROLES"] = self.role
        pairs = {
            "node": "BRIDGE_NODE_URL", "country-code": "BRIDGE_COUNTRY_CODE", "party-id": "BRIDGE_PARTY_ID",
            "name": "BRIDGE_NAME", "listen": "BRIDGE_LISTEN", "public-url": "BRIDGE_PUBLIC_URL",
            "db": "BRIDGE_DB_PATH", "token-a": "KEYS_TOKEN_A", "token-a-file": "KEYS_TOKEN_A_FILE",
            "rpc-url": "REGISTRY_RPC_URL", "registry-address": "REGISTRY_REGISTRY_ADDRESS",
            "chain-id": "REGISTRY_CHAIN_ID",
        }
        for opt, key in pairs.items():
            if self[opt] is not None:
                env["OCN_BRIDGE_" + key] = str(self[opt])
        if self["signatures"]:
            env["OCN_BRIDGE_BRIDGE_SIGNATURES"] = "true"
        if self["no-register"]:
            env["OCN_BRIDGE_REGISTRY_REGISTER"] = "false"
        if self["spender-key-file"]:
            env["OCN_BRIDGE_REGISTRY_SPENDER_KEY"] = _read_key(self["spender-key-file"])
        return env

    def mock_defaults(self) -> dict[str, str]:
        """The mock's own defaults, below the INI files."""
        cc, pid = self.default_party
        from ..cli.registry import LOCAL_REGISTRY

        return {
            "OCN_BRIDGE_BRIDGE_COUNTRY_CODE": cc, "OCN_BRIDGE_BRIDGE_PARTY_ID": pid,
            "OCN_BRIDGE_BRIDGE_NAME": f"Mock {'CPO' if self.role == 'CPO' else 'eMSP'} ({self.tap})",
            "OCN_BRIDGE_BRIDGE_LISTEN": f"tcp:{self.default_port}:interface=127.0.0.1",
            "OCN_BRIDGE_BRIDGE_PUBLIC_URL": f"http://127.0.0.1:{self.default_port}",
            "OCN_BRIDGE_BRIDGE_DB_PATH": f"{self.tap}.sqlite",
            "OCN_BRIDGE_REGISTRY_REGISTRY_ADDRESS": LOCAL_REGISTRY,
        }

    def postOptions(self) -> None:
        from ..bridge.config import SCHEMA, load

        if self["control"]:
            _check_loopback(self["control"])
        given = self.option_env()
        # mock defaults apply only where neither an INI file nor the environment sets the key
        set_in_files = _keys_in_files(self["config"])
        environ = {}
        for name, value in self.mock_defaults().items():
            if name not in os.environ and _ini_key(name, SCHEMA) not in set_in_files:
                environ[name] = value
        if self["listen"] and not self["public-url"]:
            port = _port_of(self["listen"])
            if port:
                given["OCN_BRIDGE_BRIDGE_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
        environ.update({k: v for k, v in os.environ.items() if k.startswith("OCN_BRIDGE_")})
        environ.update(given)
        key_file = self["key-file"]
        if key_file or not (environ.get("OCN_BRIDGE_KEYS_PARTY_KEY") or environ.get("OCN_BRIDGE_KEYS_PARTY_KEY_FILE")
                            or ("keys", "party_key") in set_in_files or ("keys", "party_key_file") in set_in_files):
            key_file = key_file or f"{self.tap}.key"
            ensure_key_file(key_file)
            environ["OCN_BRIDGE_KEYS_PARTY_KEY_FILE"] = key_file
            environ.pop("OCN_BRIDGE_KEYS_PARTY_KEY", None)
        if environ.get("OCN_BRIDGE_REGISTRY_REGISTER", "true").lower() not in ("false", "0", "no", "off") and \
                not environ.get("OCN_BRIDGE_REGISTRY_RPC_URL") and ("registry", "rpc_url") not in set_in_files:
            raise usage.UsageError("--rpc-url is required to list the party in the registry "
                                   "(or --no-register if it is listed already)")
        try:
            self.config = load(self["config"], environ)
        except ConfigError as e:
            print(f"{self.tap}: configuration error: {e}", file=sys.stderr)
            sys.exit(2)
        self.admin_key = _read_secret(self["admin-key-file"]) if self["admin-key-file"] else ""
        self.seed = int(self["seed"]) if self["seed"] is not None else None


def _ini_key(env_name: str, schema) -> tuple[str, str]:
    rest = env_name[len("OCN_BRIDGE_"):].lower()
    for section in schema:
        if rest.startswith(section + "_"):
            return section, rest[len(section) + 1:]
    return "", rest


def _keys_in_files(paths) -> set[tuple[str, str]]:
    import configparser

    out: set[tuple[str, str]] = set()
    for path in paths:
        parser = configparser.ConfigParser(interpolation=None)
        parser.optionxform = str
        try:
            parser.read(path, encoding="utf-8")
        except configparser.Error:
            continue   # load() reports it properly
        for section in parser.sections():
            for key, value in parser.items(section):
                if value.strip():
                    out.add((section, key))
    return out


def _port_of(endpoint: str) -> int | None:
    parts = endpoint.split(":")
    if len(parts) >= 2 and parts[0] in ("tcp", "tcp6", "ssl") and parts[1].isdigit():
        return int(parts[1])
    return None


def _check_loopback(endpoint: str) -> None:
    if not endpoint.startswith("tcp:") or "interface=127.0.0.1" not in endpoint:
        raise usage.UsageError("--control must be a loopback TCP endpoint: tcp:PORT:interface=127.0.0.1 "
                               "(the control API has no authentication)")


def _read_secret(path: str) -> str:
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError as e:
        raise usage.UsageError(f"cannot read {path}: {e.strerror}") from None


def _read_key(path: str) -> str:
    text = _read_secret(path)
    return text if text.startswith("0x") else "0x" + text


def ensure_key_file(path: str) -> bool:
    """Create ``path`` with a fresh random private key (mode 0600) if missing; True if created."""
    path = os.path.expanduser(path)
    if os.path.exists(path):
        return False
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("0x" + secrets.token_hex(32) + "\n")
    return True


class MockPartyService(service.MultiService):
    """Fetches Token A if asked, runs the :class:`~ocnd.bridge.Bridge` for the
    mock backoffice, then starts the simulator and the control API.

    A failed start is logged as one clear error and stops the reactor."""

    log = Logger()

    def __init__(self, config, mock, *, admin_key: str = "", control: str | None = None, reactor=None,
                 stop_on_failure: bool = True) -> None:
        super().__init__()
        if reactor is None:
            from twisted.internet import reactor as _reactor

            reactor = _reactor
        self.reactor = reactor
        self.config = config
        self.mock = mock
        self.admin_key = admin_key
        self.control = control
        self.stop_on_failure = stop_on_failure
        self.bridge = None
        self.control_port = None
        self.ready: defer.Deferred = defer.Deferred()
        mock.journal.listeners.append(self._log_event)

    def _log_event(self, event: dict) -> None:
        self.log.info("[{party}] {text}", party=f"{self.mock.cc}/{self.mock.pid}", text=event["text"])

    def startService(self) -> None:
        super().startService()
        d = defer.ensureDeferred(self._start())
        d.addCallbacks(self.ready.callback, self._failed)

    def _failed(self, failure) -> None:
        self.log.error("{party} could not start: {e}", party=f"{self.mock.cc}/{self.mock.pid}",
                       e=failure.getErrorMessage())
        self.ready.errback(failure)
        self.ready.addErrback(lambda _: None)
        if self.stop_on_failure and self.reactor.running:
            self.reactor.stop()

    async def _start(self):
        from ..bridge.service import Bridge

        config = self.config
        if not config.token_a and self.admin_key:
            try:
                config = attrs.evolve(config, token_a=await self.fetch_token_a())
            except Exception as e:  # noqa: BLE001 - e.g. already registered: the stored Token C may do
                self.mock.journal.add("warning", f"no new Token A ({e}); trying the stored credentials")
        self.bridge = Bridge(config, self.mock, reactor=self.reactor)
        self.bridge.setServiceParent(self)
        await self.bridge.ready
        self.mock.journal.add("connected", f"{self.mock.cc}/{self.mock.pid} connected to {config.node_url} "
                              f"(OCPI {self.bridge.state.version}); requests to the node use Token C",
                              node=config.node_url, handshakes=self.bridge.handshakes)
        if self.control:
            from .control import control_site

            ep = endpoints.serverFromString(self.reactor, self.control)
            self.control_port = await ep.listen(control_site(self.mock, self.status))
        self.mock.start()
        if getattr(self.mock, "push_on_start", False) and self.mock.push_to:
            try:
                await self.mock.push_all()
            except Exception as e:  # noqa: BLE001 - the eMSP may not be connected yet
                self.mock.journal.add("error", f"initial push failed: {e}")
        return self

    async def fetch_token_a(self) -> str:
        import treq

        url = self.config.node_url + "/admin/generate-registration-token"
        response = await treq.post(url, json=[{"country_code": self.config.party[0],
                                                "party_id": self.config.party[1]}],
                                    headers={"Authorization": f"Token {self.admin_key}"}, timeout=30)
        raw = await response.content()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if response.code != 200 or not isinstance(body, dict) or not body.get("token"):
            text = " ".join(raw.decode("utf-8", "replace").split())[:200]
            raise RuntimeError(f"could not get a registration token from {url}: HTTP {response.code} {text}")
        self.mock.journal.add("token a", f"registration token issued by {self.config.node_url}")
        return body["token"]

    def status(self) -> dict:
        out = self.mock.status()
        b = self.bridge
        out.update({"node": self.config.node_url, "public_url": self.config.public_url,
                    "connected": bool(b is not None and b.state.token_c and self.ready.called),
                    "events": self.mock.journal.events[-1]["seq"] if self.mock.journal.events else 0})
        return out

    def stopService(self):
        self.mock.stop()
        d = defer.maybeDeferred(super().stopService)
        if self.control_port is not None:
            port, self.control_port = self.control_port, None
            d.addBoth(lambda r: defer.maybeDeferred(port.stopListening).addBoth(lambda _: r))
        return d
