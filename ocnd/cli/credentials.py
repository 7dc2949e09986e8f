"""``ocn credentials ...``: act as an OCPI party towards a node's credentials
module (register with Token A, read, update and delete with Token C).

Registering makes the node call the party's versions URL with Token B, so the
party's own server must be up and reachable from the node; this command is
mostly a way to debug that server.
"""

from __future__ import annotations

import argparse
import os
import sys

from ocnd import ocpi
from ocnd.cli import CliError
from ocnd.cli.common import (DEFAULT_TIMEOUT, EXIT_ERROR, EXIT_OK, EXIT_USAGE, Unreachable, json_flag, subcommands,
                             node_url, parse_party, print_json, profile, request, save_profile, warn)

VERSIONS = ("2.2", "2.2.1")

EPILOG = """\
node: --node URL (the node's base URL or its /ocpi/versions URL), else the
profile's node_url, $OCN_NODE_URL, or http://127.0.0.1:8080.

tokens: Token C from --token-c, $OCN_TOKEN_C or the profile's token_c.  With
OCPI 2.2.1 tokens are sent base64-encoded, as the spec says (the node accepts
both forms).  register and update print the new Token C and store nothing
unless --save PROFILE is given (profiles.ini is written with mode 0600; its
comments are not kept).

before register/update the party's versions URL is fetched with Token B from
here as a preflight; a failure is only a warning (the node may see a
different network than you), use --no-preflight to skip it.

tokens starting with '-' (1 in 64 node tokens) must be written --token-a=VALUE or --token-c=VALUE
(argparse would take them for an option).

exit codes: 0 ok, 1 error (HTTP or OCPI error answer), 2 usage, 3 not found,
4 node unreachable.
"""


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("node")
    g.add_argument("--node", default=None, help="base URL of the node")
    g.add_argument("--version", choices=VERSIONS, default=None, help="OCPI version (default 2.2)")
    g.add_argument("--profile", default=None, help="section of profiles.ini")
    g.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="HTTP timeout in seconds")
    json_flag(p)
    return p


def _party_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--token-b", required=True, help="token the node will use to call the party")
    p.add_argument("--versions-url", required=True, help="the party's OCPI versions URL")
    p.add_argument("--party", action="append", required=True, metavar="CC/PID/ROLE",
                   help="a role of the party (repeatable), e.g. DE/ABC/CPO")
    p.add_argument("--name", default=None, help="business_details.name (default CC/PID)")
    p.add_argument("--save", metavar="PROFILE", default=None,
                   help="store node_url, token_c, party and ocpi_version in this profile")
    p.add_argument("--no-preflight", action="store_true", help="do not fetch the versions URL first")


def add_parser(parser: argparse.ArgumentParser) -> None:
    cmd = subcommands(parser, "credentials_command", EPILOG, _common())

    p = cmd("register", cmd_register, "register with the node using Token A (POST credentials)")
    p.add_argument("--token-a", required=True, help="registration token from 'ocn admin generate-token'")
    _party_args(p)
    p = cmd("get", cmd_get, "show the node's credentials for this Token C (GET credentials)")
    p.add_argument("--token-c", default=None)
    p = cmd("update", cmd_update, "change Token B, versions URL or roles; rotates Token C (PUT)")
    p.add_argument("--token-c", default=None)
    _party_args(p)
    p = cmd("delete", cmd_delete, "unregister from the node (DELETE credentials)")
    p.add_argument("--token-c", default=None)


# -- helpers -------------------------------------------------------------------------------


class _Ctx:
    def __init__(self, args) -> None:
        self.args = args
        self.profile = profile(args)
        self.base = node_url(args, self.profile)
        self.version = args.version or self.profile.get("ocpi_version") or "2.2"
        if self.version not in VERSIONS:
            raise CliError(f"unsupported OCPI version {self.version!r} (2.2 or 2.2.1)", EXIT_USAGE)
        self.url = f"{self.base}/ocpi/{self.version}/credentials"

    def token_c(self) -> str:
        token = getattr(self.args, "token_c", None) or os.environ.get("OCN_TOKEN_C") \
            or self.profile.get("token_c")
        if not token:
            raise CliError("no Token C: use --token-c, $OCN_TOKEN_C or a profile with token_c", EXIT_USAGE)
        return token.strip()

    def call(self, method: str, token: str, body: dict | None = None):
        data = ocpi.dumps(body) if body is not None else None
        return request(method, self.url, headers={"Authorization": ocpi.auth_header(token, self.version)},
                       body=data, timeout=self.args.timeout)

    def answer(self, resp) -> dict | None:
        if not resp.ocpi_ok():
            raise CliError(resp.problem(), resp.exit_code())
        env = resp.envelope()
        if env is None:
            raise CliError(f"{resp.method} {resp.url}: HTTP {resp.status}: not an OCPI response", EXIT_ERROR)
        data = env.get("data")
        return data if isinstance(data, dict) else None


def _credentials_object(args) -> tuple[dict, list[tuple[str, str, str]]]:
    roles = [parse_party(p, with_role=True) for p in args.party]
    seen = set()
    for cc, pid, _role in roles:
        if (cc, pid) in seen:
            raise CliError(f"{cc}/{pid} given twice", EXIT_USAGE)
        seen.add((cc, pid))
    url = args.versions_url.strip()
    if not url.startswith(("http://", "https://")):
        raise CliError(f"--versions-url: not an http(s) URL: {url}", EXIT_USAGE)
    if not args.token_b or len(args.token_b) > 64:
        raise CliError("--token-b must have 1 to 64 characters", EXIT_USAGE)
    body = {
        "token": args.token_b,
        "url": url,
        "roles": [{"role": role, "business_details": {"name": args.name or f"{cc}/{pid}"},
                   "party_id": pid, "country_code": cc} for cc, pid, role in roles],
    }
    return body, roles


def _preflight(ctx: _Ctx, body: dict) -> None:
    """Fetch the party's versions with Token B the way the node will."""
    if ctx.args.no_preflight:
        return
    url = body["url"]
    try:
        resp = request("GET", url, headers={"Authorization": ocpi.auth_header(body["token"], ctx.version)},
                       timeout=ctx.args.timeout)
    except Unreachable as e:
        warn(f"preflight: {e} (the node will call this URL)")
        return
    except CliError as e:
        warn(f"preflight: {e}")
        return
    env = resp.envelope()
    if not resp.ocpi_ok() or env is None:
        warn(f"preflight: {resp.problem() if not resp.ocpi_ok() else url + ': not an OCPI response'}")
        return
    offered = [v.get("version") for v in env.get("data") or [] if isinstance(v, dict)]
    if not any(v in VERSIONS for v in offered):
        warn(f"preflight: {url} offers versions {offered}, the node needs 2.2 or 2.2.1")


def _print_credentials(args, ctx: _Ctx, data: dict | None, *, token_label: str) -> None:
    data = data or {}
    if args.json:
        print_json({"version": ctx.version, "node": ctx.base, "credentials": data})
        return
    print(f"{token_label}: {data.get('token')}")
    print(f"node versions: {data.get('url')}")
    for r in data.get("roles") or []:
        name = (r.get("business_details") or {}).get("name")
        print(f"node role:     {r.get('country_code')}/{r.get('party_id')}/{r.get('role')}"
              + (f" ({name})" if name else ""))
    print(f"OCPI version:  {ctx.version}")


def _save(args, ctx: _Ctx, token_c: str, roles) -> None:
    if not args.save:
        return
    cc, pid, _ = roles[0]
    path = save_profile(args.save, {"node_url": ctx.base, "token_c": token_c, "party": f"{cc}/{pid}",
                                    "ocpi_version": ctx.version})
    print(f"saved Token C in profile [{args.save}] of {path}", file=sys.stderr)


# -- commands ---------------------------------------------------------------------------------


def cmd_register(args):
    ctx = _Ctx(args)
    body, roles = _credentials_object(args)
    _preflight(ctx, body)
    resp = ctx.call("POST", args.token_a.strip(), body)
    data = ctx.answer(resp)
    token_c = (data or {}).get("token")
    if not token_c:
        raise CliError(f"POST {ctx.url}: the node answered without a Token C", EXIT_ERROR)
    _save(args, ctx, token_c, roles)
    _print_credentials(args, ctx, data, token_label="Token C")
    return EXIT_OK


def cmd_get(args):
    ctx = _Ctx(args)
    data = ctx.answer(ctx.call("GET", ctx.token_c()))
    _print_credentials(args, ctx, data, token_label="Token C")
    return EXIT_OK


def cmd_update(args):
    ctx = _Ctx(args)
    body, roles = _credentials_object(args)
    _preflight(ctx, body)
    data = ctx.answer(ctx.call("PUT", ctx.token_c(), body))
    token_c = (data or {}).get("token")
    if not token_c:
        raise CliError(f"PUT {ctx.url}: the node answered without a Token C", EXIT_ERROR)
    _save(args, ctx, token_c, roles)
    _print_credentials(args, ctx, data, token_label="new Token C")
    return EXIT_OK


def cmd_delete(args):
    ctx = _Ctx(args)
    ctx.answer(ctx.call("DELETE", ctx.token_c()))
    if args.json:
        print_json({"version": ctx.version, "node": ctx.base, "deleted": True})
    else:
        print(f"unregistered from {ctx.base}")
    return EXIT_OK
