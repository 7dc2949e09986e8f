"""``ocn registry ...``: read and write the OCN Registry and Permissions contracts.

Synchronous on purpose (a CLI, not the daemon): plain web3 over HTTP.
"""

from __future__ import annotations

import argparse
import configparser
import getpass
import json
import os
import sys
from typing import Any

from ocnd.cli import CliError

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_UNREACHABLE, EXIT_REVERTED = 0, 1, 2, 3, 4, 5

LOCAL_REGISTRY = "0x345cA3e014Aaf5dcA488057592ee47305D9B3e10"
LOCAL_PERMISSIONS = "0xf25186B5081Ff5cE73482AD761DB0eB0d25abfBF"

NETWORKS: dict[str, dict[str, Any]] = {
    "local": {"rpc_url": "http://127.0.0.1:8544", "chain_id": 9,
              "registry": LOCAL_REGISTRY, "permissions": LOCAL_PERMISSIONS},
    "volta": {"rpc_url": "https://volta-rpc.energyweb.org", "chain_id": 73799,
              "registry": "0xd57595D5FA1F94725C426739C449b15D92758D55",
              "permissions": "0xa72479612436D1f9df5FA975baFB9ae74529aB0E"},
    "ewc": {"rpc_url": "https://rpc.energyweb.org", "chain_id": 246,
            "registry": "0x184aeD70F2aaB0Cd1FC62261C1170560cBfd0776",
            "permissions": "0x9a59513F0C9Aa56CB4D3f3bAe0513868907BB978"},
}
NETWORKS["prod"] = NETWORKS["ewc"]

MODULE_ORDER_FOR_PERMISSIONS = ("LOCATIONS", "SESSIONS", "CDRS", "TARIFFS", "TOKENS", "COMMANDS",
                                "CHARGINGPROFILES")
PERMISSION_NAMES = ["FORWARD_ALL", "FORWARD_ALL_SENDER", "FORWARD_ALL_RECEIVER"] + [
    f"FORWARD_MODULE_{m}_{side}" for m in MODULE_ORDER_FOR_PERMISSIONS for side in ("SENDER", "RECEIVER")]

EPILOG = """\
keys: --key-file PATH (hex private key), $OCN_SIGNER_KEY, or --keystore PATH
(encrypted JSON; password from $OCN_KEYSTORE_PASSWORD or prompted).  Raw
(meta-)transactions are paid by the spender: --spender-key-file PATH or
$OCN_SPENDER_KEY.  --key/--spender-key HEX work but put the key in your
shell history.

network: --network local|volta|ewc|prod|<RPC URL> (default local), or
--profile NAME from ~/.config/ocn/profiles.ini ($OCN_CONFIG) with keys
rpc_url, registry, permissions, chain_id, key_file, spender_key_file.

exit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 RPC unreachable,
5 transaction reverted.
"""


# -- argument parsing ----------------------------------------------------------


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("network and keys")
    g.add_argument("--network", "-n", default=None, help="local, volta, ewc, prod or an RPC URL")
    g.add_argument("--profile", default=None, help="section of profiles.ini")
    g.add_argument("--registry", default=None, help="Registry contract address override")
    g.add_argument("--permissions", default=None, help="Permissions contract address override")
    g.add_argument("--chain-id", type=int, default=None, help="expected chain id")
    g.add_argument("--timeout", type=float, default=30.0, help="RPC timeout in seconds")
    g.add_argument("--key-file", default=None, help="file holding the signer's hex private key")
    g.add_argument("--keystore", default=None, help="encrypted JSON keystore of the signer")
    g.add_argument("--key", default=None, help=argparse.SUPPRESS)
    g.add_argument("--spender-key-file", default=None, help="key file of the account paying raw txs")
    g.add_argument("--spender-key", default=None, help=argparse.SUPPRESS)
    g.add_argument("--receipt-timeout", type=float, default=180.0, help=argparse.SUPPRESS)
    return p


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    common = _common()
    sub = parser.add_subparsers(dest="registry_command", metavar="SUBCOMMAND")
    sub.required = True

    def cmd(name, func, help_text, raw=False, **kw):
        p = sub.add_parser(name, parents=[common], help=help_text, description=help_text,
                           epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter, **kw)
        if raw:
            p.add_argument("--raw", action="store_true",
                           help="signed by the signer key, sent and paid by the spender key")
        p.set_defaults(func=func)
        return p

    p = cmd("set-node", cmd_set_node, "register (or update) the signer's node URL", raw=True)
    p.add_argument("url")
    cmd("delete-node", cmd_delete_node, "remove the signer's node listing", raw=True)
    p = cmd("get-node", cmd_get_node, "show a node operator's URL")
    p.add_argument("address")
    cmd("list-nodes", cmd_list_nodes, "list all nodes with a URL")

    p = cmd("set-party", cmd_set_party, "list the signer as an OCPI party", raw=True)
    p.add_argument("-c", "--credentials", nargs=2, metavar=("CC", "PID"), required=True)
    p.add_argument("-r", "--roles", nargs="+", required=True, help="CPO EMSP HUB NAP NSP OTHER SCSP")
    p.add_argument("-o", "--operator", required=True, help="address of the party's node operator")
    cmd("delete-party", cmd_delete_party, "remove the signer's party listing", raw=True)
    p = cmd("set-party-modules", cmd_set_party_modules, "set the signer's OCPI modules", raw=True,
            aliases=["set-modules"])
    p.add_argument("--sender", "--si", nargs="*", default=[], metavar="MODULE")
    p.add_argument("--receiver", "--ri", nargs="*", default=[], metavar="MODULE")
    p = cmd("get-party", cmd_get_party, "show a party by CC PID or by --address")
    p.add_argument("ocpi", nargs="*", metavar="CC PID")
    p.add_argument("-c", "--credentials", nargs=2, metavar=("CC", "PID"), default=None)
    p.add_argument("-a", "--address", default=None)
    cmd("list-parties", cmd_list_parties, "list all registered parties")

    p = cmd("set-service", cmd_set_service, "register the signer's service (Permissions)", raw=True)
    p.add_argument("--name", default="")
    p.add_argument("-u", "--url", default="")
    p.add_argument("-p", "--permissions-list", dest="perms", nargs="+", required=True,
                   metavar="PERMISSION", help="names (FORWARD_ALL, ...) or numbers 0-16")
    cmd("delete-service", cmd_delete_service, "remove the signer's service", raw=True)
    p = cmd("get-service", cmd_get_service, "show a provider's service")
    p.add_argument("provider")
    cmd("list-services", cmd_list_services, "list all services")
    p = cmd("set-agreement", cmd_set_agreement, "agree to a provider's service", raw=True)
    p.add_argument("provider")
    p = cmd("revoke-agreement", cmd_revoke_agreement, "revoke an agreement", raw=True)
    p.add_argument("provider")
    p = cmd("get-agreements", cmd_get_agreements, "active agreements of a party")
    p.add_argument("ocpi", nargs="*", metavar="CC PID")
    p.add_argument("-c", "--credentials", nargs=2, metavar=("CC", "PID"), default=None)
    p.add_argument("-a", "--address", default=None)


# -- context: network, contracts, keys -------------------------------------------


class Context:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.profile = _load_profile(args.profile) if args.profile else {}
        net = args.network or self.profile.get("network") or ("" if "rpc_url" in self.profile else "local")
        # a bare RPC URL (flag or profile) defaults to the deterministic local deployment
        base = (dict(NETWORKS.get(net.lower(), {})) if net else
                {"chain_id": None, "registry": LOCAL_REGISTRY, "permissions": LOCAL_PERMISSIONS})
        if net and not base:
            if "://" not in net:
                raise CliError(f"unknown network {net!r} (local, volta, ewc, prod or an RPC URL)",
                               EXIT_USAGE)
            base = {"rpc_url": net, "chain_id": None, "registry": LOCAL_REGISTRY,
                    "permissions": LOCAL_PERMISSIONS}
        for k in ("rpc_url", "registry", "permissions"):
            if self.profile.get(k) and not (args.network and k == "rpc_url"):
                base[k] = self.profile[k]
        if self.profile.get("chain_id") and not args.network:
            base["chain_id"] = int(self.profile["chain_id"])
        if not base.get("rpc_url"):
            raise CliError("no RPC URL: use --network or a profile with rpc_url", EXIT_USAGE)
        self.rpc_url = base["rpc_url"]
        self.chain_id = args.chain_id if args.chain_id is not None else base.get("chain_id")
        self.registry = args.registry or base.get("registry")
        self.permissions = args.permissions or base.get("permissions")
        self._w3 = None
        self._reg = None

    @property
    def reg(self):
        if self._reg is None:
            from web3 import HTTPProvider, Web3

            from ocnd.registry.client import SyncRegistry

            self._w3 = Web3(HTTPProvider(self.rpc_url, request_kwargs={"timeout": self.args.timeout},
                                         exception_retry_configuration=None))
            try:
                self._reg = SyncRegistry(self._w3, self.registry, self.permissions)
            except ValueError as e:
                raise CliError(f"bad contract address: {e}", EXIT_USAGE) from None
        return self._reg

    def check_chain(self) -> int:
        from ocnd.registry.client import WrongChain

        got = self.reg.chain_id()
        if self.chain_id is not None and got != self.chain_id:
            raise WrongChain(self.chain_id, got)
        return got

    def signer_key(self) -> str:
        a = self.args
        if a.key_file:
            return _read_key_file(a.key_file)
        if a.keystore:
            return _read_keystore(a.keystore)
        if a.key:
            print("ocn: warning: --key exposes the private key in process lists and shell history;"
                  " prefer --key-file or OCN_SIGNER_KEY", file=sys.stderr)
            return _check_key(a.key, "--key")
        if os.environ.get("OCN_SIGNER_KEY"):
            return _check_key(os.environ["OCN_SIGNER_KEY"], "OCN_SIGNER_KEY")
        if self.profile.get("keystore"):
            return _read_keystore(self.profile["keystore"])
        if self.profile.get("key_file"):
            return _read_key_file(self.profile["key_file"])
        raise CliError("no signer key: use --key-file, --keystore or OCN_SIGNER_KEY", EXIT_USAGE)

    def spender_key(self) -> str:
        a = self.args
        if a.spender_key_file:
            return _read_key_file(a.spender_key_file)
        if a.spender_key:
            print("ocn: warning: --spender-key exposes the private key; prefer --spender-key-file"
                  " or OCN_SPENDER_KEY", file=sys.stderr)
            return _check_key(a.spender_key, "--spender-key")
        if os.environ.get("OCN_SPENDER_KEY"):
            return _check_key(os.environ["OCN_SPENDER_KEY"], "OCN_SPENDER_KEY")
        if self.profile.get("spender_key_file"):
            return _read_key_file(self.profile["spender_key_file"])
        raise CliError("--raw needs a spender key: --spender-key-file or OCN_SPENDER_KEY", EXIT_USAGE)

    def transact(self, build, *, raw: bool = False, what: str = "") -> int:
        """Build the call with ``build(reg, signer_key)`` and send it."""
        signer = self.signer_key()
        payer = self.spender_key() if raw else signer
        chain_id = self.check_chain()

        def sent(tx_hash: str) -> None:
            print(f"tx {tx_hash} sent", file=sys.stderr)

        reg = self.reg
        res = reg.transact(build(reg, signer), payer, on_sent=sent, chain_id=chain_id,
                           timeout=self.args.receipt_timeout)
        print(f"mined in block {res.block_number}", file=sys.stderr)
        if self.args.json:
            _print_json({"tx_hash": res.tx_hash, "block": res.block_number, "gas_used": res.gas_used,
                         "sender": res.sender})
        else:
            print(f"ok: {what} (tx {res.tx_hash}, block {res.block_number})")
        return EXIT_OK


def _config_path() -> str:
    return os.environ.get("OCN_CONFIG") or os.path.join(
        os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config"), "ocn", "profiles.ini")


def _load_profile(name: str) -> dict:
    path = _config_path()
    cp = configparser.ConfigParser()
    try:
        with open(path, encoding="utf-8") as fh:
            cp.read_file(fh)
    except OSError as e:
        raise CliError(f"{path}: cannot read profiles: {e.strerror}", EXIT_USAGE) from None
    except configparser.Error as e:
        raise CliError(f"{path}: {' '.join(str(e).split())}", EXIT_USAGE) from None
    if not cp.has_section(name):
        raise CliError(f"{path}: no profile [{name}]", EXIT_USAGE)
    prof = dict(cp.items(name))
    base = os.path.dirname(os.path.abspath(path))
    for k in ("key_file", "spender_key_file", "keystore"):
        if prof.get(k):
            prof[k] = os.path.join(base, os.path.expanduser(prof[k]))
    return prof


def _check_key(text: str, source: str) -> str:
    text = text.strip()
    h = text[2:] if text.lower().startswith("0x") else text
    if len(h) != 64:
        raise CliError(f"{source}: not a 32-byte hex private key", EXIT_USAGE)
    try:
        bytes.fromhex(h)
    except ValueError:
        raise CliError(f"{source}: not a 32-byte hex private key", EXIT_USAGE) from None
    return "0x" + h


def _read_key_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return _check_key(fh.read(), path)
    except OSError as e:
        raise CliError(f"{path}: cannot read key file: {e.strerror}", EXIT_USAGE) from None


def _read_keystore(path: str) -> str:
    from eth_account import Account

    try:
        with open(path, encoding="utf-8") as fh:
            keystore = json.load(fh)
    except (OSError, ValueError) as e:
        raise CliError(f"{path}: cannot read keystore: {e}", EXIT_USAGE) from None
    password = os.environ.get("OCN_KEYSTORE_PASSWORD")
    if password is None:
        password = getpass.getpass(f"password for {path}: ")
    try:
        return "0x" + bytes(Account.decrypt(keystore, password)).hex()
    except ValueError:
        raise CliError(f"{path}: wrong keystore password", EXIT_ERROR) from None


# -- formatting ---------------------------------------------------------------------


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2))


def _node_json(n) -> dict:
    return {"operator": n.operator, "url": n.url}


def _party_json(p) -> dict:
    return {"countryCode": p.country_code, "partyId": p.party_id, "address": p.address,
            "roles": [r.name for r in p.roles],
            "modules": {"sender": [m.name for m in p.modules_sender],
                        "receiver": [m.name for m in p.modules_receiver]},
            "node": {"operator": p.operator, "url": p.url}}


def _perm_name(i: int) -> str:
    return PERMISSION_NAMES[i] if 0 <= i < len(PERMISSION_NAMES) else str(i)


def _service_json(s) -> dict:
    return {"name": s.name, "url": s.url, "permissions": [_perm_name(p) for p in s.permissions],
            "provider": {"address": s.provider, "countryCode": s.country_code, "partyId": s.party_id}}


def _party_text(p) -> str:
    mods = ""
    if p.modules_sender or p.modules_receiver:
        mods = (f"  sender={','.join(m.name for m in p.modules_sender) or '-'}"
                f" receiver={','.join(m.name for m in p.modules_receiver) or '-'}")
    return (f"{p.country_code} {p.party_id}  {p.address}  {','.join(r.name for r in p.roles)}"
            f"  operator={p.operator} {p.url or '(no node)'}{mods}")


def _service_text(s) -> str:
    return (f"{s.provider}  {s.country_code} {s.party_id}  {s.name!r} {s.url}"
            f"  [{', '.join(_perm_name(p) for p in s.permissions)}]")


def _out(args, obj_json, text_lines) -> None:
    if args.json:
        _print_json(obj_json)
    else:
        for line in text_lines:
            print(line)


def _parse_roles(values) -> list[int]:
    from ocnd.registry.model import Role

    out = []
    for v in values:
        for part in str(v).replace(",", " ").split():
            try:
                r = int(Role[part.upper()])
            except KeyError:
                raise CliError(f"unknown role {part!r} (use {' '.join(r.name for r in Role)})",
                               EXIT_USAGE) from None
            if r not in out:
                out.append(r)
    return out


def _parse_modules(values) -> list[int]:
    from ocnd.registry.model import Module

    out = []
    for v in values:
        for part in str(v).replace(",", " ").split():
            try:
                m = int(Module[part.lower()])
            except KeyError:
                raise CliError(f"unknown module {part!r} (use {' '.join(m.name for m in Module)})",
                               EXIT_USAGE) from None
            if m not in out:
                out.append(m)
    return out


def _parse_permissions(values) -> list[int]:
    out = []
    for v in values:
        for part in str(v).replace(",", " ").split():
            if part.isdigit():
                out.append(int(part))
            elif part.upper() in PERMISSION_NAMES:
                out.append(PERMISSION_NAMES.index(part.upper()))
            else:
                raise CliError(f"unknown permission {part!r}", EXIT_USAGE)
    return out


def _ocpi_arg(args) -> tuple[str, str] | None:
    if args.credentials:
        cc, pid = args.credentials
    elif args.ocpi:
        if len(args.ocpi) != 2:
            raise CliError("expected CC PID (two values)", EXIT_USAGE)
        cc, pid = args.ocpi
    else:
        return None
    cc, pid = cc.strip().upper(), pid.strip().upper()
    if len(cc) != 2 or len(pid) != 3:
        raise CliError(f"invalid OCPI id {cc}/{pid}: country code has 2, party id 3 characters",
                       EXIT_USAGE)
    return cc, pid


def _address(text: str) -> str:
    from eth_utils import is_address, to_checksum_address

    if not is_address(text):
        raise CliError(f"not an Ethereum address: {text}", EXIT_USAGE)
    return to_checksum_address(text)


# -- commands ---------------------------------------------------------------------------


def _guard(func):
    """Turn registry/web3 failures into one-line CliErrors with our exit codes."""

    def wrapper(args):
        from ocnd.registry import client as rc

        try:
            return func(args, Context(args))
        except CliError:
            raise
        except Exception as e:  # noqa: BLE001
            err = rc.translate_error(e)
            if isinstance(err, rc.RegistryUnavailable):
                raise CliError(str(err), EXIT_UNREACHABLE) from None
            if isinstance(err, rc.TransactionReverted):
                raise CliError(str(err), EXIT_REVERTED) from None
            if isinstance(err, rc.RegistryError):
                raise CliError(str(err), EXIT_ERROR) from None
            if isinstance(err, ValueError):
                raise CliError(" ".join(str(err).split()), EXIT_USAGE) from None
            raise CliError(f"{type(err).__name__}: {' '.join(str(err).split())}", EXIT_ERROR) from None

    wrapper.__name__ = func.__name__
    return wrapper


def _not_found(message: str):
    raise CliError(message, EXIT_NOT_FOUND)


@_guard
def cmd_set_node(args, ctx):
    url = args.url.strip()
    if "://" not in url:
        raise CliError(f"not a URL: {url}", EXIT_USAGE)
    if args.raw:
        return ctx.transact(lambda reg, k: reg.call_set_node_raw(k, url), raw=True, what=f"node {url}")
    return ctx.transact(lambda reg, k: reg.call_set_node(url), what=f"node {url}")


@_guard
def cmd_delete_node(args, ctx):
    if args.raw:
        return ctx.transact(lambda reg, k: reg.call_delete_node_raw(k), raw=True, what="node deleted")
    return ctx.transact(lambda reg, k: reg.call_delete_node(), what="node deleted")


@_guard
def cmd_get_node(args, ctx):
    node = ctx.reg.get_node(_address(args.address))
    if node is None:
        _not_found("Node operator not listed in registry.")
    _out(args, _node_json(node), [f"{node.operator}  {node.url}"])
    return EXIT_OK


@_guard
def cmd_list_nodes(args, ctx):
    nodes = ctx.reg.get_nodes()
    _out(args, [_node_json(n) for n in nodes], [f"{n.operator}  {n.url}" for n in nodes])
    return EXIT_OK


@_guard
def cmd_set_party(args, ctx):
    cc, pid = _ocpi_arg(args)
    roles = _parse_roles(args.roles)
    operator = _address(args.operator)
    what = f"party {cc} {pid}"
    if args.raw:
        return ctx.transact(lambda reg, k: reg.call_set_party_raw(k, cc, pid, roles, operator),
                            raw=True, what=what)
    return ctx.transact(lambda reg, k: reg.call_set_party(cc, pid, roles, operator), what=what)


@_guard
def cmd_delete_party(args, ctx):
    if args.raw:
        return ctx.transact(lambda reg, k: reg.call_delete_party_raw(k), raw=True, what="party deleted")
    return ctx.transact(lambda reg, k: reg.call_delete_party(), what="party deleted")


@_guard
def cmd_set_party_modules(args, ctx):
    sender, receiver = _parse_modules(args.sender), _parse_modules(args.receiver)
    if args.raw:
        return ctx.transact(lambda reg, k: reg.call_set_party_modules_raw(k, sender, receiver),
                            raw=True, what="modules set")
    return ctx.transact(lambda reg, k: reg.call_set_party_modules(sender, receiver), what="modules set")


@_guard
def cmd_get_party(args, ctx):
    ocpi = _ocpi_arg(args)
    if args.address:
        party = ctx.reg.get_party_details_by_address(_address(args.address))
    elif ocpi:
        party = ctx.reg.get_party_details_by_ocpi(*ocpi)
    else:
        raise CliError("give CC PID or --address", EXIT_USAGE)
    if party is None:
        _not_found("OCPI Party not listed in registry.")
    _out(args, _party_json(party), [_party_text(party)])
    return EXIT_OK


@_guard
def cmd_list_parties(args, ctx):
    parties = ctx.reg.list_parties()
    _out(args, [_party_json(p) for p in parties], [_party_text(p) for p in parties])
    return EXIT_OK


@_guard
def cmd_set_service(args, ctx):
    perms = _parse_permissions(args.perms)
    if args.raw:
        return ctx.transact(lambda reg, k: reg.call_set_service_raw(k, args.name, args.url, perms),
                            raw=True, what="service set")
    return ctx.transact(lambda reg, k: reg.call_set_service(args.name, args.url, perms),
                        what="service set")


@_guard
def cmd_delete_service(args, ctx):
    if args.raw:
        return ctx.transact(lambda reg, k: reg.call_delete_service_raw(k), raw=True,
                            what="service deleted")
    return ctx.transact(lambda reg, k: reg.call_delete_service(), what="service deleted")


@_guard
def cmd_get_service(args, ctx):
    s = ctx.reg.get_service(_address(args.provider))
    if s is None:
        _not_found("Provider has no Service listed")
    _out(args, _service_json(s), [_service_text(s)])
    return EXIT_OK


@_guard
def cmd_list_services(args, ctx):
    services = ctx.reg.list_services()
    _out(args, [_service_json(s) for s in services], [_service_text(s) for s in services])
    return EXIT_OK


@_guard
def cmd_set_agreement(args, ctx):
    provider = _address(args.provider)
    if args.raw:
        return ctx.transact(lambda reg, k: reg.call_create_agreement_raw(k, provider), raw=True,
                            what=f"agreement with {provider}")
    return ctx.transact(lambda reg, k: reg.call_create_agreement(provider),
                        what=f"agreement with {provider}")


@_guard
def cmd_revoke_agreement(args, ctx):
    provider = _address(args.provider)
    if args.raw:
        return ctx.transact(lambda reg, k: reg.call_revoke_agreement_raw(k, provider), raw=True,
                            what=f"agreement with {provider} revoked")
    return ctx.transact(lambda reg, k: reg.call_revoke_agreement(provider),
                        what=f"agreement with {provider} revoked")


@_guard
def cmd_get_agreements(args, ctx):
    ocpi = _ocpi_arg(args)
    if args.address:
        services = ctx.reg.get_user_agreements_by_address(_address(args.address))
    elif ocpi:
        services = ctx.reg.get_user_agreements_by_ocpi(*ocpi)
    else:
        raise CliError("give CC PID or --address", EXIT_USAGE)
    _out(args, [_service_json(s) for s in services], [_service_text(s) for s in services])
    return EXIT_OK
