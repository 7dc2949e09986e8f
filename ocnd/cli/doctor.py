"""``ocn doctor URL``: check a node, or a party's versions endpoint, from outside.

Every check ends as pass, warn, fail or skip; the exit status is 0 when
nothing failed (warnings too with --strict) and 1 otherwise.
"""

from __future__ import annotations

import argparse
import socket
import ssl
import time
import urllib.parse
import uuid
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from ocnd import ocpi
from ocnd.cli import CliError
from ocnd.cli.common import (DEFAULT_TIMEOUT, EXIT_ERROR, EXIT_OK, EXIT_USAGE, Unreachable, json_flag,
                             parse_party, print_json, profile, read_sign_key, request, table)

VERSIONS = ("2.2", "2.2.1")
SLOW_MS = 1000.0
SKEW_WARN, SKEW_FAIL = 5.0, 60.0
CERT_WARN_DAYS = 14

EPILOG = """\
URL is a node's base URL (https://ocn.example.com) for the full set of checks,
or any versions URL (ending in /versions) to check it the way a node checks a
party's server during registration (use --token with the party's Token B);
only reachable, tls, clock, versions and version details apply then.

checks: reachable (latency), tls (https only: chain, host name, expiry),
clock (skew from the OCPI timestamp or HTTP Date header), health,
node-info, registry (node listed with the URL it advertises; with --party the
party listed with this node; needs --network or --profile), versions and
version details 2.2 / 2.2.1 (with --token), token (Token C or not), and with
--party and a Token C a routed round trip to the party itself
(--round-trip PATH, default sender/locations?limit=1; 'none' to skip), signed
with --sign-key-file / --sign when given.

registry: --network local|volta|ewc|prod|<RPC URL> and --profile as for
'ocn registry'.  --ca-file trusts an extra CA (self-signed test setups).

tokens starting with '-' (1 in 64 node tokens) must be written --token=VALUE
(argparse would take them for an option).

exit codes: 0 no check failed (--strict: and none warned), 1 a check failed,
2 usage.
"""


class Check:
    def __init__(self, name: str, result: str, detail: str, **data) -> None:
        self.name, self.result, self.detail, self.data = name, result, detail, data

    def to_json(self) -> dict:
        out = {"name": self.name, "result": self.result, "detail": self.detail}
        if self.data:
            out["data"] = self.data
        return out


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("url", metavar="URL", nargs="?", default=None,
                        help="node base URL or a party's versions URL (default: profile node_url)")
    parser.add_argument("--token", default=None, help="Token C (node) or Token B (party versions URL)")
    parser.add_argument("--party", default=None, metavar="CC/PID", help="a party served by the node")
    parser.add_argument("--version", choices=VERSIONS, default=None,
                        help="OCPI version whose token encoding to use (default 2.2: plain)")
    parser.add_argument("--round-trip", default="sender/locations?limit=1", metavar="PATH",
                        help="routed GET sent to the party itself; 'none' to skip")
    parser.add_argument("--sign-key-file", default=None, help="sign the round trip with this party key")
    parser.add_argument("--sign", action="store_true", help="sign with the registry signer key")
    parser.add_argument("--ca-file", default=None, help="extra trusted CA certificates (PEM)")
    parser.add_argument("--strict", action="store_true", help="warnings fail too")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="timeout in seconds")
    g = parser.add_argument_group("registry")
    g.add_argument("--network", "-n", default=None, help="local, volta, ewc, prod or an RPC URL")
    g.add_argument("--profile", default=None, help="section of profiles.ini")
    g.add_argument("--registry", default=None, help="Registry contract address override")
    g.add_argument("--permissions", default=None, help=argparse.SUPPRESS)
    g.add_argument("--chain-id", type=int, default=None, help="expected chain id")
    json_flag(parser)
    parser.set_defaults(func=cmd_doctor)


# -- helpers ----------------------------------------------------------------------------------


def _ssl_context(ca_file: str | None) -> ssl.SSLContext:
    try:
        ctx = ssl.create_default_context()
        if ca_file:
            ctx.load_verify_locations(cafile=ca_file)
    except (OSError, ssl.SSLError) as e:
        raise CliError(f"--ca-file {ca_file}: {e}", EXIT_USAGE) from None
    return ctx


def _server_time(resp) -> tuple[float | None, str]:
    """(server epoch seconds, source) from the OCPI timestamp or the Date header."""
    env = resp.envelope()
    ts = env.get("timestamp") if env is not None else None
    if isinstance(ts, str):
        try:
            dt = datetime.fromisoformat(ts.replace("Z", "+00:00"))
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=timezone.utc)
            return dt.timestamp(), "OCPI timestamp"
        except ValueError:
            pass
    date = resp.header("Date")
    if date:
        try:
            return parsedate_to_datetime(date).timestamp() + 0.5, "Date header"
        except (TypeError, ValueError):
            pass
    return None, ""


class Doctor:
    def __init__(self, args) -> None:
        self.args = args
        self.prof = profile(args)
        url = args.url or self.prof.get("node_url")
        if not url:
            raise CliError("give the URL to check (or a profile with node_url)", EXIT_USAGE)
        url = url.strip().rstrip("/")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CliError(f"not an http(s) URL: {url}", EXIT_USAGE)
        self.url = url
        self.parts = parts
        # a versions URL: check it the way a node checks a party during registration
        self.party_mode = parts.path.endswith("/versions")
        self.versions_url = url if self.party_mode else self.url + "/ocpi/versions"
        self.token = args.token or (None if self.party_mode else self.prof.get("token_c"))
        self.version = args.version or self.prof.get("ocpi_version") or "2.2"
        party = args.party or (None if self.party_mode else self.prof.get("party"))
        self.party = parse_party(party) if party else None
        self.context = _ssl_context(args.ca_file) if parts.scheme == "https" else None
        self.checks: list[Check] = []
        self.samples: list = []   # responses, for the clock check
        self.node_info: dict | None = None

    def add(self, name, result, detail, **data) -> Check:
        c = Check(name, result, detail, **data)
        self.checks.append(c)
        return c

    def get(self, url: str, token: str | None = None, version: str | None = None, headers=None):
        h = dict(headers or {})
        if token:
            h["Authorization"] = ocpi.auth_header(token, version or self.version)
        resp = request("GET", url, headers=h, timeout=self.args.timeout, context=self.context)
        self.samples.append(resp)
        return resp

    # -- checks ---------------------------------------------------------------------

    def run(self) -> list[Check]:
        probe_url = self.versions_url if self.party_mode else self.url + "/health"
        try:
            probe = self.get(probe_url, self.token if self.party_mode else None)
        except Unreachable as e:
            self.add("reachable", "fail", str(e))
            self.check_tls()
            for name in self._later_names():
                self.add(name, "skip", "not reachable")
            return self.checks
        ms = probe.elapsed * 1000
        self.add("reachable", "warn" if ms > SLOW_MS else "pass",
                 f"{probe.method} {probe.url}: HTTP {probe.status} in {ms:.0f} ms", latency_ms=round(ms, 1))
        self.check_tls()
        if self.party_mode:
            self.check_versions()
        else:
            self.check_health()
            self.check_node_info()
            self.check_registry()
            self.check_versions()
            self.check_token()
            self.check_round_trip()
        self.check_clock()
        return self.checks

    def _later_names(self) -> list[str]:
        names = ["versions"] + [f"version {v}" for v in VERSIONS] + ["clock"]
        if not self.party_mode:
            names = ["health", "node-info", "registry"] + names + ["token", "round trip"]
        return names

    def check_tls(self) -> None:
        if self.parts.scheme != "https":
            host = self.parts.hostname or ""
            if host in ("localhost", "::1") or host.startswith("127."):
                self.add("tls", "skip", "plain HTTP on loopback")
            else:
                self.add("tls", "warn", "plain HTTP: tokens travel unencrypted")
            return
        host = self.parts.hostname
        port = self.parts.port or 443
        try:
            with socket.create_connection((host, port), timeout=self.args.timeout) as sock:
                with self.context.wrap_socket(sock, server_hostname=host) as s:
                    cert = s.getpeercert()
                    proto = s.version()
        except ssl.SSLCertVerificationError as e:
            self.add("tls", "fail", f"certificate not accepted: {e.verify_message or e.reason}")
            return
        except (OSError, ssl.SSLError) as e:
            self.add("tls", "fail", f"TLS handshake with {host}:{port} failed: "
                                    f"{' '.join(str(e).split()) or type(e).__name__}")
            return
        not_after = ssl.cert_time_to_seconds(cert["notAfter"])
        days = (not_after - time.time()) / 86400
        subject = dict(x[0] for x in cert.get("subject", ()))
        issuer = dict(x[0] for x in cert.get("issuer", ()))
        detail = (f"{proto}, certificate for {subject.get('commonName', host)} by "
                  f"{issuer.get('organizationName') or issuer.get('commonName', '?')}, "
                  f"expires {cert['notAfter']} ({days:.0f} days)")
        self.add("tls", "warn" if days < CERT_WARN_DAYS else "pass", detail, days_left=round(days, 1))

    def check_health(self) -> None:
        try:
            resp = self.get(self.url + "/health?format=json")
        except Unreachable as e:
            self.add("health", "fail", str(e))
            return
        report = resp.json()
        if not isinstance(report, dict):
            text = resp.text().strip()
            self.add("health", "pass" if resp.ok and text == "OK" else "fail",
                     f"HTTP {resp.status} {text[:80]!r} (no JSON detail)")
            return
        status = report.get("status")
        reg = report.get("registry") if isinstance(report.get("registry"), dict) else {}
        store = report.get("store") if isinstance(report.get("store"), dict) else {}
        parts = [f"status {status}", f"version {report.get('version')}"]
        if store:
            parts.append("store ok" if store.get("ok") else f"store error: {store.get('error')}")
        if reg:
            age = reg.get("last_sync_age")
            parts.append(f"registry {reg.get('mode')} " + ("ok" if reg.get("ok") else "NOT ok")
                         + (f", synced {float(age):.0f} s ago" if age is not None else ""))
            if reg.get("last_error"):
                parts.append(f"last error: {reg.get('last_error')}")
        if resp.status != 200 or status != "OK":
            result = "fail"
        elif reg and not reg.get("ok"):
            result = "warn"
        else:
            result = "pass"
        self.add("health", result, "; ".join(parts), report=report)

    def check_node_info(self) -> None:
        try:
            resp = self.get(self.url + "/ocn/registry/node-info")
        except Unreachable as e:
            self.add("node-info", "fail", str(e))
            return
        info = resp.json()
        if not resp.ok or not isinstance(info, dict) or "address" not in info:
            self.add("node-info", "fail", resp.problem() if not resp.ok else "not a node-info object")
            return
        self.node_info = {"url": str(info.get("url")), "address": str(info.get("address"))}
        public = self.node_info["url"].rstrip("/")
        if public != self.url:
            self.add("node-info", "warn", f"operator {self.node_info['address']}; the node advertises "
                                          f"{public} but was reached at {self.url}", **self.node_info)
        else:
            self.add("node-info", "pass", f"operator {self.node_info['address']} at {public}", **self.node_info)

    def check_registry(self) -> None:
        a = self.args
        if not (a.network or a.profile):
            self.add("registry", "skip", "give --network or --profile to check the registry listing")
            return
        if self.node_info is None:
            self.add("registry", "skip", "node-info unavailable")
            return
        from ocnd.cli.registry import Context
        from ocnd.registry import client as rc

        address = self.node_info["address"]
        public = self.node_info["url"].rstrip("/")
        try:
            ctx = Context(_RegistryArgs(a))
            reg = ctx.reg
            node = reg.get_node(_checksum(address))
            party = reg.get_party_details_by_ocpi(*self.party) if self.party else None
        except CliError as e:
            self.add("registry", "fail", str(e))
            return
        except Exception as e:  # noqa: BLE001
            err = rc.translate_error(e)
            self.add("registry", "fail", f"{ctx.rpc_url if 'ctx' in locals() else 'registry'}: "
                                         f"{' '.join(str(err).split()) or type(err).__name__}")
            return
        problems = []
        if node is None:
            problems.append(f"operator {address} is not listed in the registry")
        elif node.url.rstrip("/") != public:
            problems.append(f"registry lists {node.url} for operator {address}, the node says {public}")
        if self.party:
            cc, pid = self.party
            if party is None:
                problems.append(f"{cc}/{pid} is not listed in the registry")
            elif party.operator.lower() != address.lower():
                problems.append(f"{cc}/{pid} is listed with operator {party.operator}, not this node")
        data = {"rpc_url": ctx.rpc_url, "registry": ctx.registry}
        if problems:
            self.add("registry", "fail", "; ".join(problems), **data)
        else:
            detail = f"node listed as {public}"
            if self.party:
                detail += f"; {self.party[0]}/{self.party[1]} listed with this node ({party.address})"
            self.add("registry", "pass", detail, **data)

    def check_versions(self) -> None:
        if not self.token:
            self.add("versions", "skip", "give --token to read versions")
            for v in VERSIONS:
                self.add(f"version {v}", "skip", "no token")
            return
        try:
            resp = self.get(self.versions_url, self.token)
        except Unreachable as e:
            self.add("versions", "fail", str(e))
            return
        env = resp.envelope()
        if not resp.ocpi_ok() or env is None or not isinstance(env.get("data"), list):
            detail = resp.problem() if not resp.ocpi_ok() else f"{self.versions_url}: not an OCPI versions list"
            self.add("versions", "fail", detail)
            for v in VERSIONS:
                self.add(f"version {v}", "skip", "no versions list")
            return
        offered = {str(v.get("version")): str(v.get("url")) for v in env["data"] if isinstance(v, dict)}
        usable = [v for v in VERSIONS if v in offered]
        self.add("versions", "pass" if usable else "fail",
                 f"offers {', '.join(sorted(offered)) or 'nothing'}"
                 + ("" if usable else "; ocnd needs 2.2 or 2.2.1"), offered=offered)
        for v in VERSIONS:
            if v not in offered:
                self.add(f"version {v}", "skip" if self.party_mode else "warn", "not offered")
                continue
            self.check_details(v, offered[v])

    def _via_base(self, url: str) -> tuple[str, str]:
        """A node advertising another public URL (node-info warns about it) is
        still checked at the URL given: rewrite the advertised prefix."""
        if self.party_mode or self.node_info is None:
            return url, ""
        public = self.node_info["url"].rstrip("/")
        if public != self.url and url.startswith(public + "/"):
            return self.url + url[len(public):], f" (advertised as {url})"
        return url, ""

    def check_details(self, version: str, url: str) -> None:
        name = f"version {version}"
        url, note = self._via_base(url)
        try:
            resp = self.get(url, self.token, version)
        except Unreachable as e:
            self.add(name, "fail", str(e))
            return
        env = resp.envelope()
        data = env.get("data") if env is not None else None
        endpoints = data.get("endpoints") if isinstance(data, dict) else None
        if not resp.ocpi_ok() or not isinstance(endpoints, list):
            self.add(name, "fail", resp.problem() if not resp.ocpi_ok() else f"{url}: no endpoints list")
            return
        good = [e for e in endpoints if isinstance(e, dict) and isinstance(e.get("identifier"), str)
                and isinstance(e.get("url"), str) and str(e.get("role", "")).upper() in ("SENDER", "RECEIVER")]
        idents = sorted({e["identifier"] for e in good})
        detail = f"{len(good)} endpoints ({', '.join(idents)}){note}"
        result = "pass"
        if len(good) != len(endpoints):
            result, detail = "warn", detail + f"; {len(endpoints) - len(good)} malformed"
        if not good:
            result = "warn" if self.party_mode else "fail"
        if not self.party_mode and "credentials" not in idents:
            result, detail = "fail", detail + "; no credentials endpoint"
        self.add(name, result, detail, endpoints=len(good))

    def _routing_headers(self) -> dict:
        cc, pid = self.party
        return {"X-Request-ID": str(uuid.uuid4()), "X-Correlation-ID": str(uuid.uuid4()),
                "OCPI-from-country-code": cc, "OCPI-from-party-id": pid,
                "OCPI-to-country-code": cc, "OCPI-to-party-id": pid}

    def check_token(self) -> None:
        if not self.token:
            self.add("token", "skip", "no token")
            return
        url = f"{self.url}/ocpi/{self.version}/credentials"
        try:
            resp = self.get(url, self.token)
        except Unreachable as e:
            self.add("token", "fail", str(e))
            return
        if resp.ocpi_ok():
            self.token_c = True
            self.add("token", "pass", f"accepted as Token C (GET {self.version} credentials)")
        elif resp.status == 401:
            self.token_c = False
            self.add("token", "warn", "not a Token C (a Token A, or unknown): registration not finished?")
        else:
            self.token_c = False
            self.add("token", "fail", resp.problem())

    def check_round_trip(self) -> None:
        if not self.party or not self.token or self.args.round_trip.lower() == "none":
            why = "--round-trip none" if self.args.round_trip.lower() == "none" else "needs --party and --token"
            self.add("round trip", "skip", why)
            return
        if not getattr(self, "token_c", False):
            self.add("round trip", "skip", "token is not a Token C")
            return
        from ocnd.cli.send import check_signature, expand_path
        from ocnd.signing import notary

        path = expand_path(self.args.round_trip, self.version)
        url = path if path.startswith(("http://", "https://")) else self.url + path
        split = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qsl(split.query, keep_blank_values=True)
        headers = self._routing_headers()
        key = read_sign_key(self.args.sign_key_file, use_signer=self.args.sign, prof=self.prof)
        signed = ""
        if key is not None:
            n = notary.sign(notary.request_values(headers, dict(query) if query else None, None), key)
            headers["OCN-Signature"] = notary.serialize(n)
            signed = f", signed by {n.signatory}"
        try:
            resp = self.get(url, self.token, headers=headers)
        except Unreachable as e:
            self.add("round trip", "fail", str(e))
            return
        sig = check_signature(resp)
        ms = resp.elapsed * 1000
        if not resp.ocpi_ok():
            self.add("round trip", "fail", resp.problem() + signed)
            return
        detail = f"GET {split.path} to {self.party[0]}/{self.party[1]}: HTTP {resp.status} in {ms:.0f} ms{signed}"
        if sig is None:
            self.add("round trip", "pass", detail + "; response unsigned", latency_ms=round(ms, 1))
        elif sig["valid"]:
            self.add("round trip", "pass", detail + f"; response signed by {sig['signatory']}",
                     latency_ms=round(ms, 1), signatory=sig["signatory"])
        else:
            self.add("round trip", "fail", detail + f"; response signature invalid: {sig['error']}",
                     signatory=sig["signatory"])

    def check_clock(self) -> None:
        best = None
        for resp in self.samples:
            t, source = _server_time(resp)
            if t is None:
                continue
            rank = (0 if source == "OCPI timestamp" else 1, resp.elapsed)
            if best is None or rank < best[0]:
                best = (rank, t - resp.midpoint, source, resp.elapsed)
        if best is None:
            self.add("clock", "skip", "no OCPI timestamp or Date header seen")
            return
        _, skew, source, elapsed = best
        precision = elapsed / 2 + (0.5 if source == "Date header" else 0.0)
        result = "pass"
        if abs(skew) - precision > SKEW_FAIL:
            result = "fail"
        elif abs(skew) - precision > SKEW_WARN:
            result = "warn"
        self.add("clock", result, f"server clock {skew:+.2f} s from ours (±{precision:.2f} s, {source})",
                 skew_seconds=round(skew, 3))


class _RegistryArgs:
    """The attributes ``ocnd.cli.registry.Context`` reads."""

    def __init__(self, a) -> None:
        self.network, self.profile, self.registry = a.network, a.profile, a.registry
        self.permissions, self.chain_id, self.timeout = a.permissions, a.chain_id, a.timeout
        self.json = getattr(a, "json", False)
        self.key = self.key_file = self.keystore = self.spender_key = self.spender_key_file = None


def _checksum(address: str) -> str:
    from eth_utils import to_checksum_address

    try:
        return to_checksum_address(address)
    except ValueError:
        raise CliError(f"node-info address is not an address: {address}", EXIT_ERROR) from None


def cmd_doctor(args):
    doctor = Doctor(args)
    checks = doctor.run()
    failed = [c for c in checks if c.result == "fail" or (args.strict and c.result == "warn")]
    ok = not failed
    if args.json:
        print_json({"url": doctor.url, "kind": "party versions" if doctor.party_mode else "node",
                    "ok": ok, "checks": [c.to_json() for c in checks]})
    else:
        kind = "party versions endpoint" if doctor.party_mode else "node"
        print(f"{kind} {doctor.versions_url if doctor.party_mode else doctor.url}")
        for line in table([[c.name, c.result.upper(), c.detail] for c in checks], ["CHECK", "RESULT", "DETAIL"]):
            print(line)
        counts = {r: sum(1 for c in checks if c.result == r) for r in ("pass", "warn", "fail", "skip")}
        print(", ".join(f"{n} {r}" for r, n in counts.items()))
    return EXIT_OK if ok else EXIT_ERROR
