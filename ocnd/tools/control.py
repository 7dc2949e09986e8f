"""The mock parties' control API: a few JSON endpoints on a loopback port.

Common: ``GET /status`` (party, connection, counts), ``GET /events?since=N``
(journal).  CPO: ``POST /push-tariffs``, ``POST /push-locations`` (``{"to":
"CC/PID"}``), ``POST /fetch-cdr`` (``{"cdr_id"}``).  eMSP: ``POST
/pull-locations``, ``POST /pull-tariffs`` (``{"cpo"}``), ``POST /start``
(``{"cpo", "location_id", "evse_uid", "connector_id", "token_uid"}``), ``POST
/stop`` (``{"cpo", "session_id"}``), ``POST /auto`` (``{"interval",
"duration", "cpo"}``).

There is no authentication: bind it to loopback only (the taps refuse any
other interface).  Failures answer ``{"error": message}`` with HTTP 400/404/502.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger
from twisted.web import resource, server


class _Json(resource.Resource):
    isLeaf = True
    log = Logger()

    def __init__(self, mock, status_fn) -> None:
        super().__init__()
        self.mock = mock
        self.status_fn = status_fn

    def render_GET(self, request):
        return self._dispatch(request, "GET")

    def render_POST(self, request):
        return self._dispatch(request, "POST")

    def _dispatch(self, request, method: str):
        path = request.path.decode("utf-8", "replace").rstrip("/") or "/"
        handler = getattr(self, f"{method.lower()}_{path.strip('/').replace('-', '_')}", None)
        if handler is None:
            return self._send(request, 404, {"error": f"no such endpoint: {method} {path}"})
        body: dict = {}
        if method == "POST":
            raw = request.content.read() if request.content is not None else b""
            if raw.strip():
                try:
                    body = json.loads(raw)
                except ValueError:
                    return self._send(request, 400, {"error": "body is not JSON"})
                if not isinstance(body, dict):
                    return self._send(request, 400, {"error": "body must be a JSON object"})
        args = {k.decode(): v[0].decode() for k, v in request.args.items()}
        d = defer.maybeDeferred(handler, body, args)
        d.addCallbacks(lambda out: self._send(request, 200, out), lambda f: self._fail(request, f))
        return server.NOT_DONE_YET

    def _fail(self, request, failure) -> None:
        from ..bridge.client import OcpiRequestError

        err = failure.value
        if isinstance(err, KeyError):
            return self._send(request, 404, {"error": str(err.args[0] if err.args else err)})
        if isinstance(err, (ValueError, TypeError)):
            return self._send(request, 400, {"error": str(err)})
        if isinstance(err, OcpiRequestError):
            return self._send(request, 502, {"error": str(err), "status_code": err.status_code})
        self.log.failure("control request failed", failure)
        return self._send(request, 500, {"error": f"{type(err).__name__}: {err}"})

    @staticmethod
    def _send(request, code: int, obj: Any):
        data = json.dumps(obj, default=str).encode("utf-8")
        if request.finished or getattr(request, "_disconnected", False):
            return None
        request.setResponseCode(code)
        request.setHeader(b"content-type", b"application/json")
        if request.startedWriting or hasattr(request, "_ocn_answered"):
            return None
        request._ocn_answered = True
        request.write(data)
        request.finish()
        return None

    # common

    def get_status(self, body, args):
        return self.status_fn()

    def get_events(self, body, args):
        since = int(args.get("since", "0") or 0)
        events = self.mock.journal.since(since)
        return {"events": events, "next": events[-1]["seq"] if events else since}


class CpoControl(_Json):
    def post_push_tariffs(self, body, args):
        return defer.ensureDeferred(self._ids("tariffs", self.mock.push_tariffs(_req(body, "to"))))

    def post_push_locations(self, body, args):
        return defer.ensureDeferred(self._ids("locations", self.mock.push_locations(_req(body, "to"))))

    @staticmethod
    async def _ids(name, coro):
        return {name: await coro}

    def post_fetch_cdr(self, body, args):
        return defer.ensureDeferred(self.mock.fetch_cdr(_req(body, "cdr_id")))


class MspControl(_Json):
    def post_pull_locations(self, body, args):
        return defer.ensureDeferred(self._wrap("locations", self.mock.pull_locations(self._cpo(body))))

    def post_pull_tariffs(self, body, args):
        return defer.ensureDeferred(self._wrap("tariffs", self.mock.pull_tariffs(self._cpo(body))))

    @staticmethod
    async def _wrap(name, coro):
        return {name: await coro}

    def _cpo(self, body) -> str:
        cpo = body.get("cpo") or self.mock.cpo
        if not cpo:
            raise ValueError("cpo is required (no default CPO configured)")
        return cpo

    def post_start(self, body, args):
        return defer.ensureDeferred(self.mock.start_session(
            self._cpo(body), body.get("location_id"), body.get("evse_uid"), body.get("connector_id"),
            body.get("token_uid"), float(body.get("wait_session", 15))))

    def post_stop(self, body, args):
        return defer.ensureDeferred(self.mock.stop_session(self._cpo(body), _req(body, "session_id")))

    def post_auto(self, body, args):
        self.mock.set_auto(float(body.get("interval", 0)), body.get("duration"), body.get("cpo"))
        return {"interval": self.mock.start_interval, "duration": self.mock.session_duration,
                "cpo": self.mock.cpo}

    def get_sessions(self, body, args):
        return {"sessions": list(self.mock.example.sessions_store.values())}

    def get_cdrs(self, body, args):
        return {"cdrs": self.mock.example.cdrs_store}


def _req(body: dict, key: str) -> Any:
    value = body.get(key)
    if not value:
        raise ValueError(f"{key} is required")
    return value


def control_site(mock, status_fn) -> server.Site:
    from .mock import MockCpo

    cls = CpoControl if isinstance(mock, MockCpo) else MspControl
    site = server.Site(cls(mock, status_fn))
    site.displayTracebacks = False
    site.noisy = False
    return site
