"""Shared plumbing for the node-facing ``ocn`` commands (admin, credentials,
send, doctor): a small synchronous HTTP client on ``urllib.request`` with
one-line errors, profile access, OCPI identifiers and output helpers.

Exit codes are the registry CLI's: 0 ok, 1 error, 2 usage, 3 not found,
4 unreachable (connection refused, DNS, timeout, TLS handshake).
"""

from __future__ import annotations

import configparser
import http.client
import json
import os
import socket
import ssl
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from ocnd.cli import CliError
from ocnd.cli.registry import (EXIT_ERROR, EXIT_NOT_FOUND, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE,
                               _config_path, _load_profile, _read_key_file, _read_keystore, _check_key)

__all__ = [
    "EXIT_OK", "EXIT_ERROR", "EXIT_USAGE", "EXIT_NOT_FOUND", "EXIT_UNREACHABLE",
    "Unreachable", "Response", "request", "profile", "save_profile", "node_url", "parse_party",
    "print_json", "json_flag", "ROLES", "read_sign_key",
]

DEFAULT_NODE = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT = 10.0
ROLES = ("CPO", "EMSP", "HUB", "NAP", "NSP", "OTHER", "SCSP")
USER_AGENT = "ocn-cli"


class Unreachable(CliError):
    """The server could not be reached at all (exit 4)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_UNREACHABLE)


# -- HTTP ---------------------------------------------------------------------------


class Response:
    """A complete HTTP response, whatever its status."""

    def __init__(self, method: str, url: str, status: int, reason: str, headers: list[tuple[str, str]],
                 body: bytes, elapsed: float, sent_at: float) -> None:
        self.method = method
        self.url = url
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.elapsed = elapsed
        #: local wall clock half way through the exchange (for clock skew)
        self.midpoint = sent_at + elapsed / 2

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed order- and number-preserving, or None if not JSON."""
        from ocnd.signing import rawjson

        try:
            return rawjson.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None

    def envelope(self) -> dict | None:
        body = self.json()
        return body if isinstance(body, dict) and "status_code" in body else None

    def ocpi_ok(self) -> bool:
        """HTTP 2xx and, for an OCPI envelope, a 1xxx status code."""
        env = self.envelope()
        if not self.ok:
            return False
        if env is None:
            return True
        try:
            return 1000 <= int(env["status_code"]) < 2000
        except (TypeError, ValueError):
            return False

    def problem(self) -> str:
        """One line describing an unsuccessful answer."""
        line = f"{self.method} {self.url}: HTTP {self.status}"
        if self.reason:
            line += f" {self.reason}"
        env = self.envelope()
        if env is not None:
            msg = env.get("status_message")
            line += f", OCPI status {env.get('status_code')}"
            if msg:
                line += f": {msg}"
        else:
            text = " ".join(self.text().split())
            if text:
                line += f": {text[:200]}"
        return line

    def exit_code(self) -> int:
        return EXIT_NOT_FOUND if self.status == 404 else EXIT_ERROR


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D401
        return None


def _opener(context: ssl.SSLContext | None) -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(_NoRedirect(), urllib.request.HTTPSHandler(context=context))


def _reason_text(exc: BaseException, timeout: float) -> str:
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return "cannot resolve host name"
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return f"timed out after {timeout:g} s"
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed: {reason.verify_message or reason}"
    if isinstance(reason, ssl.SSLError):
        return f"TLS error: {reason.reason or reason}"
    if isinstance(reason, http.client.RemoteDisconnected):
        return "connection closed without a response"
    if isinstance(reason, ConnectionResetError):
        return "connection reset"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    return " ".join(str(reason).split()) or type(reason).__name__


def request(method: str, url: str, *, headers: dict[str, str] | None = None, body: bytes | None = None,
            timeout: float = DEFAULT_TIMEOUT, context: ssl.SSLContext | None = None) -> Response:
    """Send one request; any HTTP status is returned, transport failures raise
    :class:`Unreachable` and malformed URLs a usage error.  Redirects are not
    followed (they are reported as they are)."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise CliError(f"not an http(s) URL: {url}", EXIT_USAGE)
    h = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    h.update(headers or {})
    if body is not None and not any(k.lower() == "content-type" for k in h):
        h["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=body, headers=h, method=method.upper())
    started = time.time()
    t0 = time.monotonic()
    try:
        try:
            resp = _opener(context).open(req, timeout=timeout)
        except urllib.error.HTTPError as e:
            resp = e
        with resp:
            data = resp.read()
            status = resp.status if hasattr(resp, "status") and resp.status else resp.code
            reason = getattr(resp, "reason", "") or ""
            raw_headers = list(resp.headers.items()) if resp.headers is not None else []
    except urllib.error.URLError as e:
        raise Unreachable(f"cannot reach {url}: {_reason_text(e, timeout)}") from None
    except (OSError, http.client.HTTPException) as e:
        raise Unreachable(f"cannot reach {url}: {_reason_text(e, timeout)}") from None
    except ValueError as e:
        raise CliError(f"bad URL {url}: {e}", EXIT_USAGE) from None
    elapsed = time.monotonic() - t0
    return Response(method.upper(), url, int(status), str(reason), raw_headers, data, elapsed, started)


# -- profiles and configuration -----------------------------------------------------


def profile(args) -> dict:
    """The ``--profile`` section (paths resolved), or {} without one."""
    name = getattr(args, "profile", None)
    if not name:
        return {}
    prof = _load_profile(name)
    base = os.path.dirname(os.path.abspath(_config_path()))
    for k in ("admin_key_file", "sign_key_file"):
        if prof.get(k):
            prof[k] = os.path.join(base, os.path.expanduser(prof[k]))
    return prof


def save_profile(name: str, values: dict[str, str]) -> str:
    """Merge ``values`` into section ``name`` of profiles.ini (created 0600).

    Comments in the file are not preserved (configparser rewrites it).
    Returns the path written.
    """
    path = _config_path()
    cp = configparser.RawConfigParser()
    if os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as fh:
                cp.read_file(fh)
        except (OSError, configparser.Error) as e:
            raise CliError(f"{path}: cannot read profiles: {' '.join(str(e).split())}", EXIT_ERROR) from None
    if not cp.has_section(name):
        cp.add_section(name)
    for k, v in values.items():
        if "%" in v:
            raise CliError(f"cannot store {k} in {path}: value contains '%'", EXIT_ERROR)
        cp.set(name, k, v)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".profiles.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                cp.write(fh)
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except OSError as e:
        raise CliError(f"{path}: cannot write profiles: {e.strerror or e}", EXIT_ERROR) from None
    return path


def node_url(args, prof: dict) -> str:
    """Base URL of the node: --node, profile node_url, $OCN_NODE_URL, default."""
    url = getattr(args, "node", None) or prof.get("node_url") or os.environ.get("OCN_NODE_URL") or DEFAULT_NODE
    url = url.strip().rstrip("/")
    if url.endswith("/ocpi/versions"):
        url = url[: -len("/ocpi/versions")]
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise CliError(f"not an http(s) URL: {url}", EXIT_USAGE)
    return url


def parse_party(text: str, *, with_role: bool = False) -> tuple[str, ...]:
    """``CC/PID`` (or ``CC/PID/ROLE``), upper-cased and validated."""
    parts = [p.strip() for p in text.replace(":", "/").split("/")]
    want = 3 if with_role else 2
    form = "CC/PID/ROLE" if with_role else "CC/PID"
    if len(parts) != want:
        raise CliError(f"expected {form}, got {text!r}", EXIT_USAGE)
    cc, pid = parts[0].upper(), parts[1].upper()
    if not (len(cc) == 2 and cc.isascii() and cc.isalpha()):
        raise CliError(f"invalid country code {parts[0]!r} in {text!r}: 2 letters", EXIT_USAGE)
    if not (len(pid) == 3 and pid.isascii() and pid.isalnum()):
        raise CliError(f"invalid party id {parts[1]!r} in {text!r}: 3 letters or digits", EXIT_USAGE)
    if not with_role:
        return cc, pid
    role = parts[2].upper()
    if role not in ROLES:
        raise CliError(f"invalid role {parts[2]!r} in {text!r} (use {' '.join(ROLES)})", EXIT_USAGE)
    return cc, pid, role


def read_sign_key(path: str | None, *, use_signer: bool = False, prof: dict | None = None) -> str | None:
    """A party's private key for OCN-Signatures.

    ``path`` (--sign-key-file) wins; ``use_signer`` (--sign) takes the registry
    CLI's signer key: $OCN_SIGNER_KEY, then the profile's keystore / key_file.
    Profile ``sign_key_file`` is used when neither is given.
    """
    prof = prof or {}
    if path:
        return _read_key_file(path)
    if use_signer:
        if os.environ.get("OCN_SIGNER_KEY"):
            return _check_key(os.environ["OCN_SIGNER_KEY"], "OCN_SIGNER_KEY")
        if prof.get("keystore"):
            return _read_keystore(prof["keystore"])
        if prof.get("key_file"):
            return _read_key_file(prof["key_file"])
        raise CliError("--sign needs a key: $OCN_SIGNER_KEY or a profile with key_file/keystore", EXIT_USAGE)
    if prof.get("sign_key_file"):
        return _read_key_file(prof["sign_key_file"])
    return None


# -- output ---------------------------------------------------------------------------


def json_flag(parser) -> None:
    """Accept ``--json`` after the subcommand too (the global flag still works)."""
    import argparse

    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="machine-readable JSON output")


def print_json(obj: Any) -> None:
    """Pretty JSON; rawjson values (JsonNumber) keep their original text."""
    from ocnd.signing import rawjson

    try:
        print(rawjson.dumps(obj, compact=False))
    except TypeError:
        print(json.dumps(obj, indent=2, default=str))


def warn(message: str) -> None:
    print(f"ocn: warning: {message}", file=sys.stderr)


def table(rows: list[list[str]], header: list[str]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    out = []
    for r in [header] + rows:
        out.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
    return out


def subcommands(parser, dest: str, epilog: str, common):
    """Set up ``parser`` for SUBCOMMANDs sharing the ``common`` options; returns
    ``cmd(name, func, help) -> subparser`` to declare each one."""
    import argparse

    parser.epilog = epilog
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    sub = parser.add_subparsers(dest=dest, metavar="SUBCOMMAND")
    sub.required = True

    def cmd(name, func, help_text):
        p = sub.add_parser(name, parents=[common], help=help_text, description=help_text, epilog=epilog,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(func=func)
        return p

    return cmd
