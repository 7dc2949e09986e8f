"""``ocn send METHOD PATH``: one routed OCPI request through a node, as a party."""

from __future__ import annotations

import argparse
import os
import sys
import urllib.parse
import uuid

from ocnd import ocpi
from ocnd.cli import CliError
from ocnd.cli.common import (DEFAULT_TIMEOUT, EXIT_ERROR, EXIT_OK, EXIT_USAGE, json_flag, node_url,
                             parse_party, print_json, profile, read_sign_key, request)

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
SHOWN_HEADERS = ("X-Total-Count", "X-Limit", "Link", "Location", "X-Request-ID", "X-Correlation-ID",
                 "OCPI-from-country-code", "OCPI-from-party-id", "OCPI-to-country-code", "OCPI-to-party-id")

EPILOG = """\
PATH is a path on the node (/ocpi/receiver/2.2/locations/DE/ABC/LOC1), a full
URL, or a short form expanded with --version: receiver/locations/DE/ABC/LOC1
-> /ocpi/receiver/2.2/locations/DE/ABC/LOC1, sender/tariffs ->
/ocpi/sender/2.2/tariffs, anything else -> /ocpi/2.2/<path> (e.g. hubclientinfo).

--body takes inline JSON ({...} or [...]), - for stdin, or a file name (also
@FILE).  The bytes are sent as given; they must be valid JSON.

node, Token C, --from and the version can come from --profile NAME (keys
node_url, token_c, party, ocpi_version, sign_key_file; see 'ocn credentials
register --save'), $OCN_NODE_URL and $OCN_TOKEN_C.

signing: --sign-key-file FILE (the party's hex key), or --sign for the
registry commands' signer key ($OCN_SIGNER_KEY, profile key_file/keystore).
The OCN-Signature covers X-Correlation-ID, the four OCPI-from/to headers, the
query parameters and the body.  A response ocn_signature is verified and its
signatory printed.

tokens starting with '-' (1 in 64 node tokens) must be written --token-c=VALUE
(argparse would take them for an option).

exit codes: 0 HTTP 2xx with OCPI status 1xxx and no bad signature, 1 error
answer or invalid response signature, 2 usage, 3 HTTP 404, 4 node unreachable.
"""


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("method", metavar="METHOD", type=str.upper, choices=METHODS,
                        help=" ".join(METHODS))
    parser.add_argument("path", metavar="PATH")
    parser.add_argument("--node", default=None, help="base URL of the node")
    parser.add_argument("--token-c", default=None, help="the party's Token C")
    parser.add_argument("--from", dest="sender", default=None, metavar="CC/PID", help="sending party")
    parser.add_argument("--to", dest="receiver", required=True, metavar="CC/PID", help="receiving party")
    parser.add_argument("--body", default=None, metavar="FILE|-|JSON")
    parser.add_argument("--param", action="append", default=[], metavar="K=V", help="query parameter")
    parser.add_argument("--sign-key-file", default=None, help="sign with this party key (hex file)")
    parser.add_argument("--sign", action="store_true", help="sign with the registry signer key")
    parser.add_argument("--version", choices=("2.2", "2.2.1"), default=None, help="OCPI version (2.2)")
    parser.add_argument("--request-id", default=None, help="X-Request-ID (default: a fresh UUID)")
    parser.add_argument("--correlation-id", default=None, help="X-Correlation-ID (default: a fresh UUID)")
    parser.add_argument("--profile", default=None, help="section of profiles.ini")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="HTTP timeout in seconds")
    json_flag(parser)
    parser.set_defaults(func=cmd_send)


# -- building the request -------------------------------------------------------------------


def expand_path(path: str, version: str) -> str:
    path = path.strip()
    if path.startswith(("http://", "https://", "/")):
        return path
    parts = path.split("/", 1)
    if parts[0] in ("sender", "receiver") and len(parts) == 2:
        return f"/ocpi/{parts[0]}/{version}/{parts[1]}"
    return f"/ocpi/{version}/{path}"


def read_body(spec: str | None) -> bytes | None:
    if spec is None:
        return None
    text = spec.lstrip()
    if text.startswith(("{", "[")):
        raw = spec.encode("utf-8")
    elif spec == "-":
        raw = sys.stdin.buffer.read()
    else:
        path = spec[1:] if spec.startswith("@") else spec
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
        except OSError as e:
            raise CliError(f"--body {path}: {e.strerror}", EXIT_USAGE) from None
    return raw


def parse_params(values: list[str]) -> list[tuple[str, str]]:
    out = []
    for v in values:
        if "=" not in v:
            raise CliError(f"--param {v!r}: expected K=V", EXIT_USAGE)
        k, _, val = v.partition("=")
        if not k:
            raise CliError(f"--param {v!r}: empty name", EXIT_USAGE)
        out.append((k, val))
    return out


def build(args) -> dict:
    """Everything about the request, before it is sent (no I/O but key files)."""
    from ocnd.signing import notary, rawjson

    prof = profile(args)
    version = args.version or prof.get("ocpi_version") or "2.2"
    base = node_url(args, prof)
    token = args.token_c or os.environ.get("OCN_TOKEN_C") or prof.get("token_c")
    if not token:
        raise CliError("no Token C: use --token-c, $OCN_TOKEN_C or a profile with token_c", EXIT_USAGE)
    sender_text = args.sender or prof.get("party")
    if not sender_text:
        raise CliError("no sender: use --from CC/PID or a profile with party", EXIT_USAGE)
    sender = parse_party(sender_text)
    receiver = parse_party(args.receiver)

    path = expand_path(args.path, version)
    url = path if path.startswith(("http://", "https://")) else base + path
    split = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(split.query, keep_blank_values=True) + parse_params(args.param)
    url = urllib.parse.urlunsplit(split._replace(query=urllib.parse.urlencode(query)))

    raw = read_body(args.body)
    body_json = None
    if raw is not None:
        try:
            body_json = rawjson.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise CliError(f"--body is not valid JSON: {' '.join(str(e).split())}", EXIT_USAGE) from None

    headers = {
        "Authorization": ocpi.auth_header(token.strip(), version),
        "X-Request-ID": args.request_id or str(uuid.uuid4()),
        "X-Correlation-ID": args.correlation_id or str(uuid.uuid4()),
        "OCPI-from-country-code": sender[0],
        "OCPI-from-party-id": sender[1],
        "OCPI-to-country-code": receiver[0],
        "OCPI-to-party-id": receiver[1],
    }
    key = read_sign_key(args.sign_key_file, use_signer=args.sign, prof=prof)
    signatory = None
    if key is not None:
        values = notary.request_values(headers, dict(query) if query else None, body_json)
        n = notary.sign(values, key)
        headers["OCN-Signature"] = notary.serialize(n)
        signatory = n.signatory
    return {"method": args.method, "url": url, "headers": headers, "body": raw, "signatory": signatory}


def check_signature(resp) -> dict | None:
    """Verify a response ``ocn_signature``; None when there is none."""
    from ocnd.signing import notary

    env = resp.json()
    if not isinstance(env, dict) or "ocn_signature" not in env:
        return None
    sig = env.get("ocn_signature")
    try:
        n = notary.deserialize(sig)
    except (notary.NotaryError, TypeError, ValueError) as e:
        return {"valid": False, "signatory": None, "error": f"cannot decode: {e}", "rewrites": 0}
    result = notary.verify(n, notary.response_values(resp.headers, env))
    return {"valid": bool(result), "signatory": n.signatory, "error": result.error,
            "rewrites": len(n.rewrites)}


# -- command ------------------------------------------------------------------------------------


def cmd_send(args):
    req = build(args)
    resp = request(req["method"], req["url"], headers=req["headers"], body=req["body"], timeout=args.timeout)
    sig = check_signature(resp)
    shown = {h: resp.header(h) for h in SHOWN_HEADERS if resp.header(h) is not None}
    body = resp.json()
    env = resp.envelope()
    ok = resp.ocpi_ok() and (sig is None or sig["valid"])

    if args.json:
        sent_headers = {k: v for k, v in req["headers"].items() if k != "Authorization"}
        print_json({
            "ok": ok,
            "request": {"method": req["method"], "url": req["url"], "headers": sent_headers,
                        "signed": req["signatory"] is not None, "signatory": req["signatory"]},
            "response": {"http_status": resp.status, "elapsed_ms": round(resp.elapsed * 1000, 1),
                         "headers": shown, "body": body if body is not None else resp.text()},
            "signature": sig,
        })
    else:
        print(f"{req['method']} {req['url']}")
        print(f"  X-Request-ID: {req['headers']['X-Request-ID']}  "
              f"X-Correlation-ID: {req['headers']['X-Correlation-ID']}"
              + (f"  signed by {req['signatory']}" if req["signatory"] else ""))
        print(f"HTTP {resp.status} {resp.reason}  ({resp.elapsed * 1000:.0f} ms)")
        for k, v in shown.items():
            if k.lower().startswith(("x-total", "x-limit", "link", "location")):
                print(f"{k}: {v}")
        if env is not None:
            msg = env.get("status_message")
            print(f"OCPI status {env.get('status_code')}" + (f": {msg}" if msg else ""))
        if body is not None:
            print_json(body)
        elif resp.body:
            print(resp.text())
        if sig is not None:
            verdict = "valid" if sig["valid"] else f"INVALID ({sig['error']})"
            print(f"ocn_signature: {verdict}, signatory {sig['signatory']}"
                  + (f", {sig['rewrites']} rewrite(s)" if sig["rewrites"] else ""))
    if not resp.ocpi_ok():
        raise CliError(resp.problem(), resp.exit_code())
    if sig is not None and not sig["valid"]:
        raise CliError(f"response signature is invalid: {sig['error']}", EXIT_ERROR)
    return EXIT_OK
