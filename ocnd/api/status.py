"""Observability endpoints: /metrics, the status page, message traces.

``GET /metrics``
    Prometheus text format.  ``[observability] metrics``: ``true`` = open,
    ``admin`` (default) = needs the admin credentials below, ``false`` = 404.

``GET /admin/status``
    Server-rendered HTML page (no scripts).  Admin credentials are either the
    ``Authorization: Token <api key>`` header, or a session cookie
    (``ocnd_admin``, HttpOnly, SameSite=Strict, Path=/admin, 12 h, kept in
    memory so a restart logs everybody out) obtained from the login form at
    ``GET /admin/login`` or by opening ``/admin/status?key=<api key>`` once,
    which answers with a redirect to ``/admin/status`` setting the cookie (the
    key may remain in the browser history: prefer the form).  The page never
    contains the key.

``GET /admin/trace/<correlation id>``
    JSON: this node's hops of the message and, for every other node a hop
    names (next node of a forwarded request, previous node of a received
    one), that node's hops fetched with a node-signed
    ``GET /ocn/trace/<correlation id>``.

``GET /ocn/trace/<correlation id>``
    For other nodes.  Headers ``OCN-Signature`` (EIP-191 signature of
    :func:`trace_message`: correlation id, ``OCN-Timestamp`` and this node's
    public URL) and ``OCN-Timestamp`` (unix seconds, within
    :data:`TRACE_CLOCK_SKEW`).  The signer must be a node operator in the
    registry snapshot; only hops exchanged with that node are returned.
"""

from __future__ import annotations

import hmac
import html
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, quote

from klein import Klein
from twisted.internet import defer
from twisted.logger import Logger

from .. import __version__, platforms
from ..observe import Observability, peer_urls
from ..signing import wire
from .common import send_json, send_text

TRACE_CLOCK_SKEW = 300.0
SESSION_COOKIE = b"ocnd_admin"
SESSION_TTL = 12 * 3600.0
MAX_SESSIONS = 1000


def trace_message(correlation_id: str, timestamp: str, node_url: str) -> str:
    """The text a node signs to ask ``node_url`` for its hops of ``correlation_id``."""
    return f"GET /ocn/trace\n{correlation_id}\n{timestamp}\n{node_url.rstrip('/')}"


class StatusApi:
    log = Logger()

    def __init__(self, obs: Observability, *, store, registry, http, clock, node_key: str, admin_key: str,
                 started_at: float, versions, name: str, request_timeout: float) -> None:
        self.obs = obs
        self.store = store
        self.registry = registry
        self.http = http
        self.clock = clock
        self.node_key = node_key
        self._admin_key = admin_key.encode("utf-8")
        self.started_at = started_at
        self.versions = tuple(versions)
        self.name = name
        self.request_timeout = min(request_timeout, 10.0)
        self.public_url = obs.public_url
        self._sessions: dict[str, float] = {}

    def install(self, app: Klein) -> None:
        app.route("/metrics", methods=["GET"], endpoint="metrics")(self.metrics)
        app.route("/admin/status", methods=["GET"], endpoint="admin_status_page")(self.status_page)
        app.route("/admin/login", methods=["GET", "POST"], endpoint="admin_login")(self.login)
        app.route("/admin/logout", methods=["POST"], endpoint="admin_logout")(self.logout)
        app.route("/admin/trace/<cid>", methods=["GET"], endpoint="admin_trace")(self.admin_trace)
        app.route("/ocn/trace/<cid>", methods=["GET"], endpoint="ocn_trace")(self.node_trace)

    # -- admin credentials ------------------------------------------------------------

    def _key_ok(self, presented: str | bytes | None) -> bool:
        if not presented:
            return False
        if isinstance(presented, str):
            presented = presented.encode("utf-8")
        return hmac.compare_digest(presented, self._admin_key)

    def _header_ok(self, request) -> bool:
        value = request.getHeader("Authorization") or ""
        return self._key_ok(value.split(" ")[-1])

    def _session_ok(self, request) -> bool:
        token = request.getCookie(SESSION_COOKIE)
        if not token:
            return False
        expires = self._sessions.get(token.decode("latin-1"))
        if expires is None:
            return False
        if expires < self.clock.seconds():
            self._sessions.pop(token.decode("latin-1"), None)
            return False
        return True

    def is_admin(self, request) -> bool:
        return self._header_ok(request) or self._session_ok(request)

    def _start_session(self, request) -> None:
        now = self.clock.seconds()
        for token, expires in list(self._sessions.items()):
            if expires < now:
                del self._sessions[token]
        while len(self._sessions) >= MAX_SESSIONS:
            self._sessions.pop(next(iter(self._sessions)))
        token = secrets.token_urlsafe(32)
        self._sessions[token] = now + SESSION_TTL
        request.addCookie(SESSION_COOKIE, token.encode("ascii"), path=b"/admin", httpOnly=True,
                          max_age=str(int(SESSION_TTL)).encode(), sameSite="strict",
                          secure=self.public_url.startswith("https:") or request.isSecure())

    @staticmethod
    def _redirect(request, location: bytes):
        request.setResponseCode(303)
        request.setHeader(b"Location", location)
        request.setHeader(b"Cache-Control", b"no-store")
        return b""

    # -- /metrics --------------------------------------------------------------------------

    def metrics(self, request):
        from prometheus_client.exposition import choose_encoder

        mode = self.obs.metrics_mode
        if mode == "false":
            return send_text(request, "Not found", 404)
        if mode == "admin" and not self.is_admin(request):
            request.setHeader(b"WWW-Authenticate", b'Token realm="ocnd"')
            return send_text(request, "Unauthorized", 401)
        # text format, or OpenMetrics when the scraper asks for it
        encoder, content_type = choose_encoder(request.getHeader("Accept") or "")
        request.setHeader(b"Content-Type", content_type.encode("ascii"))
        return encoder(self.obs.metrics)

    # -- login -------------------------------------------------------------------------------

    def login(self, request):
        request.setHeader(b"Cache-Control", b"no-store")
        if request.method == b"POST":
            key = _form_field(request, b"key")
            if self._key_ok(key):
                self._start_session(request)
                return self._redirect(request, b"/admin/status")
            return self._html(request, _login_page("Wrong key."), 401)
        return self._html(request, _login_page(None))

    def logout(self, request):
        token = request.getCookie(SESSION_COOKIE)
        if token:
            self._sessions.pop(token.decode("latin-1"), None)
        request.addCookie(SESSION_COOKIE, b"", path=b"/admin", httpOnly=True, max_age=b"0", sameSite="strict")
        return self._redirect(request, b"/admin/login")

    @staticmethod
    def _html(request, page: str, code: int = 200) -> bytes:
        request.setResponseCode(code)
        request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
        request.setHeader(b"Content-Security-Policy", b"default-src 'none'; style-src 'unsafe-inline'; "
                                                      b"form-action 'self'; frame-ancestors 'none'")
        request.setHeader(b"X-Content-Type-Options", b"nosniff")
        return page.encode("utf-8")

    # -- /admin/status -------------------------------------------------------------------

    async def status_page(self, request):
        request.setHeader(b"Cache-Control", b"no-store")
        key = request.args.get(b"key")
        if key is not None:
            if self._key_ok(key[0]):
                self._start_session(request)
                return self._redirect(request, b"/admin/status")
            return self._html(request, _login_page("Wrong key."), 401)
        if not self.is_admin(request):
            return self._html(request, _login_page(None), 401)
        now = self.clock.seconds()
        store_ok = await self.store.check()
        try:
            parties = await self.store.read(platforms.listing)
        except Exception as e:  # noqa: BLE001 - show what we can
            parties, store_ok = [], False
            self.log.warn("status page: cannot list platforms: {error}", error=str(e))
        data = {
            "now": now,
            "uptime": now - self.started_at,
            "store_ok": store_ok,
            "store_error": getattr(self.store, "last_error", None),
            "store_latency": getattr(self.store, "last_latency", None),
            "registry": self.registry.status(now),
            "parties": parties,
            "recent": self.obs.recent_by_module(),
            "totals": {k: tuple(v) for k, v in sorted(self.obs.module_totals.items())},
            "errors": list(reversed(self.obs.recent_errors)),
            "trace": self.obs.trace,
        }
        return self._html(request, self.render(data))

    def render(self, d: dict[str, Any]) -> str:
        e = _e
        reg = d["registry"]
        node_rows = [
            ("Name", self.name), ("Public URL", self.public_url), ("Operator address", self.obs.node_address),
            ("OCPI versions", ", ".join(self.versions)), ("ocnd version", __version__),
            ("Uptime", _duration(d["uptime"])),
            ("Store", "OK" if d["store_ok"] else f"UNHEALTHY {d['store_error'] or ''}".strip()),
            ("Last DB transaction", "-" if d["store_latency"] is None else f"{d['store_latency'] * 1000:.2f} ms"),
        ]
        age = reg.get("last_sync_age")
        reg_rows = [
            ("Mode", reg.get("mode")), ("State", "OK" if reg.get("ok") else "NOT OK"),
            ("Last sync", "never" if age is None else f"{_duration(age)} ago"),
            ("Last block", reg.get("last_block", "-")), ("Last error", reg.get("last_error") or "none"),
            ("RPC errors", reg.get("rpc_errors", "-")), ("Nodes listed", reg.get("nodes", "-")),
            ("Parties listed", reg.get("parties", "-")),
        ]
        party_rows = []
        for p in d["parties"]:
            roles = ", ".join(f"{r['country_code']}/{r['party_id']} {r['role']}" for r in p["roles"]) \
                or ", ".join(f"{a[0]}/{a[1]}" if isinstance(a, list) else str(a)
                             for a in p.get("announced_parties", []))
            status = p["status"] or ""
            party_rows.append(
                f"<tr><td>{e(p['id'])}</td><td>{e(roles)}</td>"
                f"<td class=\"st-{e(status.lower())}\">{e(status)}</td><td>{e(p['ocpi_version'] or '-')}</td>"
                f"<td>{'yes' if p['signatures'] else 'no'}</td><td>{e(p['endpoints'])}</td>"
                f"<td>{e(_when(p['last_updated']))}</td></tr>")
        modules = sorted(set(d["recent"]) | set(d["totals"]))
        msg_rows = []
        for m in modules:
            rc, re_ = d["recent"].get(m, (0, 0))
            tc, te = d["totals"].get(m, (0, 0))
            msg_rows.append(f"<tr><td>{e(m)}</td><td class=\"n\">{rc}</td>"
                            f"<td class=\"n{' bad' if re_ else ''}\">{re_}</td>"
                            f"<td class=\"n\">{tc}</td><td class=\"n{' bad' if te else ''}\">{te}</td></tr>")
        err_rows = []
        for h in d["errors"]:
            cid = h["correlation_id"]
            link = (f"<a href=\"/admin/trace/{e(quote(cid, safe=''))}\">{e(cid)}</a>" if cid else "")
            err_rows.append(
                f"<tr><td>{e(_when(h['time']))}</td><td>{e(h['direction'])}</td>"
                f"<td>{e(h['module'])}/{e(h['interface'])}</td><td>{e(h['sender'])} &rarr; {e(h['receiver'])}</td>"
                f"<td>{e(h['http_status'])}/{e(h['status_code'])}</td><td>{e(h['error'] or '')}</td>"
                f"<td>{link}</td></tr>")
        trace = d["trace"]
        trace_note = (f"{trace.size} hops kept for {_duration(trace.retention)}" if trace.enabled
                      else "message trace disabled")
        return _PAGE.format(
            title=e(f"ocnd status - {self.name}"),
            node=_kv_table("node", node_rows),
            registry=_kv_table("registry", reg_rows),
            parties="".join(party_rows) or '<tr><td colspan="7">no platforms</td></tr>',
            party_count=len(d["parties"]),
            messages="".join(msg_rows) or '<tr><td colspan="5">no routed messages yet</td></tr>',
            errors="".join(err_rows) or '<tr><td colspan="7">none</td></tr>',
            trace_note=e(trace_note),
            generated=e(_when(d["now"])),
            css=_CSS,
        )

    # -- traces ------------------------------------------------------------------------

    async def admin_trace(self, request, cid):
        if not self.is_admin(request):
            return send_text(request, "Unauthorized", 401)
        own = await self.obs.trace.get(cid)
        nodes: dict[str, str] = {self.public_url: "ok" if self.obs.trace.enabled else "trace disabled"}
        hops = list(own)
        peers = peer_urls(own, self.public_url)
        results = await defer.DeferredList([defer.ensureDeferred(self._fetch_remote(url, cid)) for url in peers],
                                           consumeErrors=True)
        for url, (ok, value) in zip(peers, results):
            if ok and isinstance(value, list):
                hops.extend(value)
                nodes[url] = "ok"
            else:
                nodes[url] = value if isinstance(value, str) else f"error: {value.getErrorMessage()}"
        hops.sort(key=lambda h: (h.get("time", 0), 0 if h.get("direction") == "party" else 1))
        return send_json(request, {"correlation_id": cid, "nodes": nodes, "hops": hops})

    async def _fetch_remote(self, node_url: str, cid: str):
        ts = str(int(self.clock.seconds()))
        signature = wire.sign_body(trace_message(cid, ts, node_url), self.node_key)
        url = node_url.rstrip("/") + "/ocn/trace/" + quote(cid, safe="")
        try:
            response = await self.http.request("GET", url, headers={"OCN-Signature": signature, "OCN-Timestamp": ts},
                                               timeout=self.request_timeout, reactor=self.clock)
            raw = await response.content()
        except Exception as e:  # noqa: BLE001 - reported per node, never fatal
            return f"error: {e.__class__.__name__} calling {node_url}"
        if response.code != 200:
            return f"error: HTTP {response.code}: {raw[:200].decode('utf-8', 'replace')}"
        import json

        try:
            body = json.loads(raw)
            hops = body["hops"]
            assert isinstance(hops, list) and all(isinstance(h, dict) for h in hops)
        except Exception:  # noqa: BLE001
            return "error: malformed trace answer"
        return hops

    async def node_trace(self, request, cid):
        signature = request.getHeader("OCN-Signature")
        ts = request.getHeader("OCN-Timestamp")
        if not signature or not ts:
            return send_text(request, "OCN-Signature and OCN-Timestamp required", 400)
        try:
            stamp = float(ts)
        except ValueError:
            return send_text(request, "OCN-Timestamp must be unix seconds", 400)
        if abs(self.clock.seconds() - stamp) > TRACE_CLOCK_SKEW:
            return send_text(request, "OCN-Timestamp too far from this node's clock", 403)
        try:
            signer = wire.recover_body(trace_message(cid, ts, self.public_url), signature)
        except wire.WireSignatureError:
            return send_text(request, "Invalid OCN-Signature", 403)
        snapshot = getattr(self.registry, "snapshot", None)
        listing = snapshot.get_node(signer) if snapshot is not None else None
        if listing is None or not listing.url:
            return send_text(request, "Signer is not a node operator in the registry", 403)
        return send_json(request, {"node": self.public_url, "hops": await self.obs.hops_for_peer(cid, listing.url)})


# -- rendering helpers ---------------------------------------------------------------------

def _form_field(request, name: bytes) -> bytes:
    """A field of a posted HTML form, else of the query (ocnd.web does not parse form bodies:
    every other POST is OCPI JSON)."""
    ctype = (request.getHeader(b"content-type") or b"").split(b";")[0].strip().lower()
    if ctype == b"application/x-www-form-urlencoded" and request.content is not None:
        request.content.seek(0)
        values = parse_qs(request.content.read(), keep_blank_values=True).get(name)
        if values:
            return values[0]
    return (request.args.get(name) or [b""])[0]


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 120:
        return f"{seconds:.0f}s"
    if s < 7200:
        return f"{s // 60}m {s % 60}s"
    if s < 172800:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def _when(t: Any) -> str:
    if t is None:
        return "-"
    if isinstance(t, (int, float)):
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))
    return str(t)


def _kv_table(ident: str, rows) -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f'<table id="{ident}" class="kv">{body}</table>'


def _login_page(message: str | None) -> str:
    note = f'<p class="bad">{_e(message)}</p>' if message else ""
    return _LOGIN.format(css=_CSS, note=note)


_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1b1b1b;background:#f7f7f5}
h1{font-size:1.4em;margin:0 0 .8em}h2{font-size:1.1em;margin:1.4em 0 .4em}
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px #0002;margin-bottom:.5em}
th,td{padding:.3em .7em;border-bottom:1px solid #e3e3e0;text-align:left;vertical-align:top}
thead th{background:#2f4858;color:#fff}
table.kv th{background:#eef1f3;width:12em}
td.n{text-align:right}.bad{color:#b00020;font-weight:600}
.st-connected{color:#1b7f3b;font-weight:600}.st-suspended,.st-offline{color:#b36b00}.st-planned{color:#555}
.grid{display:flex;gap:2em;flex-wrap:wrap}footer{margin-top:2em;color:#666}
footer form{display:inline}
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{css}</style></head>
<body>
<h1>{title}</h1>
<div class="grid">
<section><h2>Node</h2>{node}</section>
<section><h2>Registry</h2>{registry}</section>
</div>
<h2>Connected parties ({party_count})</h2>
<table id="parties"><thead><tr><th>Id</th><th>Roles</th><th>Status</th><th>OCPI</th><th>Signatures</th>
<th>Endpoints</th><th>Last updated</th></tr></thead><tbody>{parties}</tbody></table>
<h2>Messages per module</h2>
<table id="messages"><thead><tr><th>Module</th><th>Last hour</th><th>Errors</th><th>Since start</th>
<th>Errors</th></tr></thead><tbody>{messages}</tbody></table>
<h2>Recent errors</h2>
<table id="errors"><thead><tr><th>Time</th><th>From</th><th>Module</th><th>Parties</th><th>HTTP/OCPI</th>
<th>Error</th><th>Trace</th></tr></thead><tbody>{errors}</tbody></table>
<footer>Generated {generated}; {trace_note}.
<form method="post" action="/admin/logout"><button type="submit">Log out</button></form></footer>
</body></html>
"""

_LOGIN = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ocnd admin login</title><style>{css}</style></head>
<body><h1>ocnd admin login</h1>{note}
<form id="login" method="post" action="/admin/login">
<label>Admin API key <input type="password" name="key" autocomplete="current-password" required></label>
<button type="submit">Log in</button></form></body></html>
"""
