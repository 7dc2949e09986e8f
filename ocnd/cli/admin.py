"""``ocn admin ...``: administer a running ocnd node over its admin API."""

from __future__ import annotations

import argparse
import json
import os

from ocnd.cli import CliError
from ocnd.cli.common import (DEFAULT_TIMEOUT, EXIT_ERROR, EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE, json_flag, subcommands,
                             node_url, print_json, profile, request, table)

DEFAULT_KEY_FILE = os.path.join("data", "admin.key")

EPILOG = """\
node: --node URL, else the profile's node_url, $OCN_NODE_URL, or
http://127.0.0.1:8080.

admin key: --api-key-file PATH, $OCN_ADMIN_KEY, the profile's admin_key_file
(or admin_key), else ./data/admin.key when it exists (the node's default).
The key is sent as "Authorization: Token <key>" and never printed.

profiles: --profile NAME reads ~/.config/ocn/profiles.ini ($OCN_CONFIG), the
same file the registry commands use.

exit codes: 0 ok, 1 error (including HTTP 401 and an unhealthy node), 2 usage,
3 not found (unknown party role or platform id), 4 node unreachable.
"""


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("node")
    g.add_argument("--node", default=None, help="base URL of the node")
    g.add_argument("--api-key-file", default=None, help="file holding the node's admin API key")
    g.add_argument("--profile", default=None, help="section of profiles.ini")
    g.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="HTTP timeout in seconds")
    json_flag(p)
    return p


def add_parser(parser: argparse.ArgumentParser) -> None:
    cmd = subcommands(parser, "admin_command", EPILOG, _common())

    p = cmd("generate-token", cmd_generate_token, "issue a registration token (Token A) for parties")
    p.add_argument("parties", nargs="+", metavar="CC PID", help="country code and party id, repeatable")
    p = cmd("status", cmd_status, "connection status of a party role")
    p.add_argument("country_code", metavar="CC")
    p.add_argument("party_id", metavar="PID")
    cmd("platforms", cmd_platforms, "list the platforms connected to (or planned on) the node")
    p = cmd("delete-platform", cmd_delete_platform, "remove a platform and its roles")
    p.add_argument("platform_id", metavar="ID", type=int)
    cmd("health", cmd_health, "the node's health report (no admin key needed)")
    cmd("node-info", cmd_node_info, "the node's public URL and operator address (no admin key needed)")


# -- helpers ----------------------------------------------------------------------------


def _admin_key(args, prof: dict) -> tuple[str, str]:
    """(key, where it came from) -- the source is safe to print, the key is not."""
    if args.api_key_file:
        return _read(args.api_key_file), args.api_key_file
    if os.environ.get("OCN_ADMIN_KEY"):
        return os.environ["OCN_ADMIN_KEY"].strip(), "$OCN_ADMIN_KEY"
    if prof.get("admin_key_file"):
        return _read(prof["admin_key_file"]), prof["admin_key_file"]
    if prof.get("admin_key"):
        return prof["admin_key"].strip(), f"profile [{args.profile}] admin_key"
    if os.path.exists(DEFAULT_KEY_FILE):
        return _read(DEFAULT_KEY_FILE), DEFAULT_KEY_FILE
    raise CliError("no admin key: use --api-key-file, $OCN_ADMIN_KEY or a profile with admin_key_file",
                   EXIT_USAGE)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            key = fh.read().strip()
    except OSError as e:
        raise CliError(f"{path}: cannot read admin key: {e.strerror}", EXIT_USAGE) from None
    if not key:
        raise CliError(f"{path}: admin key file is empty", EXIT_USAGE)
    return key


class _Admin:
    def __init__(self, args, *, auth: bool = True) -> None:
        self.args = args
        prof = profile(args)
        self.base = node_url(args, prof)
        self.key, self.key_source = _admin_key(args, prof) if auth else (None, None)

    def call(self, method: str, path: str, body=None):
        headers = {}
        if self.key is not None:
            headers["Authorization"] = f"Token {self.key}"
        data = json.dumps(body).encode("utf-8") if body is not None else None
        resp = request(method, self.base + path, headers=headers, body=data, timeout=self.args.timeout)
        if resp.status == 401 and self.key is not None:
            raise CliError(f"{resp.method} {resp.url}: HTTP 401: admin key from {self.key_source} "
                           "was refused", EXIT_ERROR)
        return resp

    def expect_ok(self, resp):
        if not resp.ok:
            raise CliError(resp.problem(), resp.exit_code())
        return resp

    def expect_json(self, resp):
        self.expect_ok(resp)
        try:
            return json.loads(resp.body)
        except ValueError:
            raise CliError(f"{resp.method} {resp.url}: response is not JSON", EXIT_ERROR) from None


def _pairs(values: list[str]) -> list[tuple[str, str]]:
    items = []
    for v in values:
        items.extend(p for p in v.replace("/", " ").split() if p)
    if len(items) % 2:
        raise CliError("expected pairs of CC PID (country code and party id)", EXIT_USAGE)
    out = []
    for cc, pid in zip(items[::2], items[1::2]):
        cc, pid = cc.upper(), pid.upper()
        if len(cc) != 2 or not cc.isascii() or not cc.isalpha():
            raise CliError(f"invalid country code {cc!r}: 2 letters", EXIT_USAGE)
        if len(pid) != 3 or not pid.isascii() or not pid.isalnum():
            raise CliError(f"invalid party id {pid!r}: 3 letters or digits", EXIT_USAGE)
        out.append((cc, pid))
    return out


# -- commands ---------------------------------------------------------------------------------


def cmd_generate_token(args):
    parties = _pairs(args.parties)
    admin = _Admin(args)
    body = [{"country_code": cc, "party_id": pid} for cc, pid in parties]
    answer = admin.expect_json(admin.call("POST", "/admin/generate-registration-token", body))
    if args.json:
        print_json({"token": answer.get("token"), "versions": answer.get("versions"),
                    "parties": body})
    else:
        print(f"token:    {answer.get('token')}")
        print(f"versions: {answer.get('versions')}")
        print(f"parties:  {', '.join(f'{cc}/{pid}' for cc, pid in parties)}")
    return EXIT_OK


def cmd_status(args):
    (cc, pid), = _pairs([args.country_code, args.party_id])
    admin = _Admin(args)
    resp = admin.call("GET", f"/admin/connection-status/{cc}/{pid}")
    if resp.status == 404:
        raise CliError(f"{cc}/{pid}: {resp.text().strip() or 'Role not found'}", EXIT_NOT_FOUND)
    admin.expect_ok(resp)
    status = resp.text().strip()
    if args.json:
        print_json({"country_code": cc, "party_id": pid, "status": status})
    else:
        print(status)
    return EXIT_OK


def _roles_text(p: dict) -> str:
    roles = p.get("roles") or []
    if roles:
        return ",".join(f"{r.get('country_code')}/{r.get('party_id')}/{r.get('role')}" for r in roles)
    announced = p.get("announced_parties") or []
    parts = []
    for a in announced:
        if isinstance(a, dict):
            parts.append(f"{a.get('country_code')}/{a.get('party_id')}")
        elif isinstance(a, (list, tuple)) and len(a) == 2:
            parts.append(f"{a[0]}/{a[1]}")
    return ("(" + ",".join(parts) + ")") if parts else "-"


def cmd_platforms(args):
    admin = _Admin(args)
    listing = admin.expect_json(admin.call("GET", "/admin/platforms"))
    if args.json:
        print_json(listing)
        return EXIT_OK
    if not listing:
        print("no platforms")
        return EXIT_OK
    rows = [[str(p.get("id")), str(p.get("status")), str(p.get("ocpi_version") or "-"), _roles_text(p),
             "yes" if p.get("signatures") else "no", str(p.get("endpoints", "-")),
             str(p.get("versions_url") or "-")] for p in listing]
    for line in table(rows, ["ID", "STATUS", "OCPI", "ROLES", "SIGNED", "ENDPOINTS", "VERSIONS URL"]):
        print(line)
    return EXIT_OK


def cmd_delete_platform(args):
    admin = _Admin(args)
    resp = admin.call("DELETE", f"/admin/platforms/{args.platform_id}")
    if resp.status == 404:
        raise CliError(f"platform {args.platform_id}: {resp.text().strip() or 'not found'}", EXIT_NOT_FOUND)
    admin.expect_ok(resp)
    if args.json:
        print_json({"deleted": args.platform_id})
    else:
        print(f"deleted platform {args.platform_id}")
    return EXIT_OK


def cmd_health(args):
    admin = _Admin(args, auth=False)
    resp = admin.call("GET", "/health?format=json")
    if resp.status not in (200, 503):
        raise CliError(resp.problem(), resp.exit_code())
    try:
        report = json.loads(resp.body)
    except ValueError:
        # a v1 node answers plain text
        report = {"status": resp.text().strip()}
    if args.json:
        print_json(report)
    else:
        print(json.dumps(report, indent=2))
    if resp.status != 200 or report.get("status") != "OK":
        raise CliError(f"node is unhealthy: {report.get('status')}", EXIT_ERROR)
    return EXIT_OK


def cmd_node_info(args):
    admin = _Admin(args, auth=False)
    info = admin.expect_json(admin.call("GET", "/ocn/registry/node-info"))
    if args.json:
        print_json(info)
    else:
        print(f"url:     {info.get('url')}")
        print(f"address: {info.get('address')}")
    return EXIT_OK
