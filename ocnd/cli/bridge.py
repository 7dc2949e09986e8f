"""``ocn bridge ...``: set up and run an OCN Bridge (``twistd ocn-bridge``) for a party.

* ``init`` writes an INI file for one party (``etc/ocn-bridge.ini`` format)
  and, unless one is given, a fresh party key file next to it;
* ``check`` loads an INI file the way the bridge does and prints the
  effective settings (keys and tokens hidden);
* ``run`` execs ``twistd -n ocn-bridge --config FILE --backoffice ...``
  (or ``twistd -n ocn-mock-cpo|ocn-mock-msp --config FILE`` with ``--mock``).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys

from ocnd.cli import CliError
from ocnd.cli.registry import EXIT_ERROR, EXIT_OK, EXIT_USAGE, LOCAL_REGISTRY

BACKOFFICES = {"cpo": "ocnd.bridge.examples:cpo", "emsp": "ocnd.bridge.examples:msp"}


def add_parser(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("init", help="write a bridge INI file (and a party key) for one party",
                       description="Write a bridge INI file for one party, and a fresh party key file unless "
                                   "--key-file names an existing one.  The file has only the keys set here; "
                                   "etc/ocn-bridge.ini documents all of them.")
    p.add_argument("path", metavar="FILE", help="INI file to write")
    p.add_argument("--role", choices=("cpo", "emsp"), default="cpo", help="party role (default cpo)")
    p.add_argument("--party", nargs=2, metavar=("CC", "PID"), default=None,
                   help="country code and party id (default CH CPO / CH MSP)")
    p.add_argument("--name", default="", help="business_details.name")
    p.add_argument("--node", default="http://127.0.0.1:8080", help="node base URL (default %(default)s)")
    p.add_argument("--port", type=int, default=None, help="bridge port on 127.0.0.1 (default 3000 / 3001)")
    p.add_argument("--public-url", default=None, help="public base URL (default http://127.0.0.1:PORT)")
    p.add_argument("--key-file", default=None,
                   help="party key file (default FILE with .key; created with a random key if missing)")
    p.add_argument("--token-a-file", default=None, help="file holding the registration token (Token A)")
    p.add_argument("--rpc-url", default="", help="registry JSON-RPC URL (empty: no registry listing)")
    p.add_argument("--registry-address", default=LOCAL_REGISTRY, help="Registry contract (default: local)")
    p.add_argument("--spender-key-file", default=None,
                   help="key file of the account paying the raw registry transaction (dev chains)")
    p.add_argument("--signatures", action="store_true", help="enable OCN-Signatures")
    p.add_argument("--force", action="store_true", help="overwrite an existing FILE")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("check", help="load a bridge INI file and print the effective settings",
                       description="Load INI files (later ones win) plus OCN_BRIDGE_* variables the way "
                                   "twistd ocn-bridge does and print the result; keys are never printed.")
    p.add_argument("paths", nargs="+", metavar="FILE")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("run", help="run twistd -n ocn-bridge (or a mock party) with a config file",
                       description="Replace this process with twistd -n ocn-bridge --config FILE "
                                   "--backoffice SPEC.  --mock cpo|emsp runs the OCN Tools mock party "
                                   "(ocn-mock-cpo / ocn-mock-msp) on the same file instead.  Arguments "
                                   "after -- go to the plugin.")
    p.add_argument("--config", "-c", action="append", required=True, metavar="FILE",
                   help="bridge INI file, repeatable")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--backoffice", "-b", default=None,
                   help="module:factory of the backoffice (cpo/emsp = the bridge examples)")
    g.add_argument("--mock", choices=("cpo", "emsp"), default=None, help="run the mock CPO / eMSP")
    p.add_argument("--dry-run", action="store_true", help="print the command instead of running it")
    p.add_argument("extra", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_run)


def _ini_value(value: str) -> str:
    if "\n" in value:
        raise CliError(f"value must be one line: {value!r}", EXIT_USAGE)
    return value


def cmd_init(args) -> int:
    path = os.path.abspath(args.path)
    if os.path.exists(path) and not args.force:
        raise CliError(f"{args.path} exists (use --force to overwrite)", EXIT_USAGE)
    cc, pid = args.party or ("CH", "CPO" if args.role == "cpo" else "MSP")
    port = args.port or (3000 if args.role == "cpo" else 3001)
    public = (args.public_url or f"http://127.0.0.1:{port}").rstrip("/")
    base = os.path.splitext(path)[0]
    key_file = os.path.abspath(args.key_file) if args.key_file else base + ".key"
    created = False
    if not os.path.exists(key_file):
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("0x" + secrets.token_hex(32) + "\n")
        created = True
    lines = [
        f"; OCN Bridge configuration for {cc.upper()}/{pid.upper()} written by `ocn bridge init`.",
        "; Every key with its default is documented in etc/ocn-bridge.ini (twistd ocn-bridge --help-config).",
        "",
        "[bridge]",
        f"node_url = {_ini_value(args.node.rstrip('/'))}",
        f"public_url = {_ini_value(public)}",
        f"listen = tcp:{port}:interface=127.0.0.1",
        f"country_code = {cc.upper()}",
        f"party_id = {pid.upper()}",
        f"roles = {'CPO' if args.role == 'cpo' else 'EMSP'}",
    ]
    if args.name:
        lines.append(f"name = {_ini_value(args.name)}")
    lines += [f"signatures = {'true' if args.signatures else 'false'}",
              f"db_path = {base}.sqlite", "", "[keys]", f"party_key_file = {key_file}"]
    if args.token_a_file:
        lines.append(f"token_a_file = {os.path.abspath(args.token_a_file)}")
    lines += ["", "[registry]"]
    if args.rpc_url:
        lines += ["register = true", "mode = jsonrpc", f"rpc_url = {_ini_value(args.rpc_url)}",
                  f"registry_address = {_ini_value(args.registry_address)}"]
        if args.spender_key_file:
            from ocnd.cli.registry import _read_key_file

            lines.append(f"spender_key = {_read_key_file(args.spender_key_file)[2:]}")
    else:
        lines += ["; no rpc_url given: the party must already be listed in the registry", "register = false",
                  "mode = none"]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"wrote {args.path}" + (f" and a new party key {key_file}" if created else f" (key {key_file})"))
    from ocnd.keys import address_of

    with open(key_file) as fh:
        text = fh.read().strip()
    try:
        print(f"party address: {address_of(text if text.startswith('0x') else '0x' + text)}")
    except Exception:  # noqa: BLE001 - a bad key file is reported by the bridge at start
        pass
    spec = "--mock " + args.role
    print(f"run it: ocn bridge run --config {args.path} {spec}   (or --backoffice module:factory)")
    if not args.token_a_file:
        print("first start needs a Token A: ocn admin generate-token "
              f"{cc.upper()} {pid.upper()} --node {args.node}, then token_a_file = ... or "
              "OCN_BRIDGE_KEYS_TOKEN_A")
    return EXIT_OK


def cmd_check(args) -> int:
    from ocnd.bridge.config import load
    from ocnd.config import ConfigError

    try:
        cfg = load(args.paths)
    except ConfigError as e:
        raise CliError(f"configuration error: {e}", EXIT_ERROR) from None
    from ocnd.keys import address_of

    out = {"party": "/".join(cfg.party), "roles": ",".join(cfg.roles), "node_url": cfg.node_url,
           "public_url": cfg.public_url, "listen": cfg.listen, "signatures": cfg.signatures,
           "modules": " ".join(f"{m}:{r}" for m, r in cfg.enabled_modules), "db_path": cfg.db_path,
           "party_address": address_of(cfg.party_key), "token_a": "set" if cfg.token_a else "not set",
           "registry": (f"{cfg.rpc_url} {cfg.registry_address}" if cfg.register and cfg.registry_mode == "jsonrpc"
                        else "not listed at start"),
           "spender": "set" if cfg.spender_key else "party key pays"}
    if args.json:
        import json

        print(json.dumps(out, indent=2))
    else:
        width = max(len(k) for k in out)
        for k, v in out.items():
            print(f"{k:<{width}}  {v}")
    return EXIT_OK


def cmd_run(args) -> int:
    twistd = os.path.join(os.path.dirname(sys.executable), "twistd")
    if not os.path.exists(twistd):
        twistd = "twistd"
    extra = [a for a in args.extra if a != "--"] if args.extra else []
    configs = [x for path in args.config for x in ("--config", path)]
    if args.mock:
        argv = [twistd, "-n", "--pidfile=", "ocn-mock-cpo" if args.mock == "cpo" else "ocn-mock-msp",
                *configs, *extra]
    else:
        spec = args.backoffice
        if not spec:
            raise CliError("--backoffice module:factory (or cpo / emsp) or --mock cpo|emsp is required", EXIT_USAGE)
        spec = BACKOFFICES.get(spec, spec)
        argv = [twistd, "-n", "--pidfile=", "ocn-bridge", *configs, "--backoffice", spec, *extra]
    for path in args.config:
        if not os.path.exists(path):
            raise CliError(f"{path}: file not found", EXIT_USAGE)
    if args.dry_run:
        import shlex

        print(" ".join(shlex.quote(a) for a in argv))
        return EXIT_OK
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv) if os.path.isabs(argv[0]) else os.execvp(argv[0], argv)
    return EXIT_ERROR   # not reached
