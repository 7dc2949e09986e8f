"""The party's OCPI server: versions, credentials and the module endpoints.

All ``/ocpi`` routes require ``Token <B>`` (plain or base64).  Module requests
carry an ``OCN-Signature`` that is verified when signatures are on (the
``/ocpi/versions*`` and credentials routes are exempt: the node calls them
unsigned during the handshake).  Responses are signed when signatures are on
or when the request itself was signed.

Error mapping: 401/2001 wrong token; 400/2001 missing or invalid signature,
malformed body; 404/2003 unknown object; 404/2000 unknown route; backoffice
failure 500/3000; :class:`~.backoffice.BackofficeError` as given.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qsl, urlencode

import attrs
from twisted.internet import defer
from twisted.logger import Logger

from .. import ocpi
from ..api.common import Responder, error_mapper
from ..api.resource import App
from ..ocpi import OcpiError
from ..signing import notary, rawjson
from .backoffice import BackofficeError, ChargingProfileResponse, CommandResponse, Page
from .client import maybe

COMMANDS = ("CANCEL_RESERVATION", "RESERVE_NOW", "START_SESSION", "STOP_SESSION", "UNLOCK_CONNECTOR")
_COMMAND_METHODS = {"CANCEL_RESERVATION": "cancel_reservation", "RESERVE_NOW": "reserve_now",
                    "START_SESSION": "start_session", "STOP_SESSION": "stop_session",
                    "UNLOCK_CONNECTOR": "unlock_connector"}
VERSIONS = ("2.2", "2.2.1")


@attrs.define
class Answer:
    data: Any = None
    headers: dict = attrs.Factory(dict)
    status_code: int = ocpi.SUCCESS
    message: str | None = None
    http: int = 200
    after: Any = None   # callable run once the response has been written


@attrs.frozen
class Incoming:
    method: str
    segments: list
    query: list
    body: Any            # order-preserving parsed body or None
    sender: tuple[str, str] | None
    correlation_id: str | None
    signed: bool


class BridgeServer:
    log = Logger()

    def __init__(self, bridge) -> None:
        self.bridge = bridge
        # the node's dispatcher (no per-request reference cycles; OCPI envelopes for 404/405)
        self.app = App(error_mapper(Responder(bridge.reactor)))
        self.app.route("/", methods=["GET"])(self.home)
        for n, rule in enumerate(("/ocpi/", "/ocpi/<path:rest>")):
            self.app.route(rule, methods=["GET", "POST", "PUT", "PATCH", "DELETE"], endpoint=f"ocpi{n}")(self.handle)

    def resource(self):
        return self.app.resource()

    # -- plumbing ------------------------------------------------------------------

    def home(self, request):
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        from .. import __version__

        return f"OCN Bridge (ocnd {__version__})".encode()

    @property
    def cfg(self):
        return self.bridge.config

    def _write(self, request, answer: Answer, sign: bool) -> bytes:
        env = ocpi.envelope(answer.status_code, self.bridge.reactor.seconds(), answer.data, answer.message)
        env = rawjson.loads(rawjson.dumps(env))
        request.setResponseCode(answer.http)
        request.setHeader(b"Content-Type", b"application/json")
        for k, v in answer.headers.items():
            request.setHeader(k.encode(), str(v).encode())
        if sign:
            sig = notary.sign(notary.response_values(answer.headers, env), self.bridge.config.party_key)
            env["ocn_signature"] = notary.serialize(sig)
        if answer.after is not None:
            self.bridge.reactor.callLater(0, answer.after)
        return rawjson.dumps(env).encode("utf-8")

    async def handle(self, request, rest=None):
        signed = request.getHeader("OCN-Signature") is not None
        try:
            answer = await self._handle(request)
        except OcpiError as e:
            answer = Answer(status_code=e.status_code, message=e.message, http=e.http_status)
        except BackofficeError as e:
            answer = Answer(status_code=e.status_code, message=e.message, http=e.http_status)
        except Exception:  # noqa: BLE001 - backoffice failure
            self.log.failure("backoffice failure on {method} {path}", method=request.method.decode(),
                             path=request.path.decode("latin-1"))
            answer = Answer(status_code=ocpi.SERVER_ERROR, message="Backoffice error", http=500)
        return self._write(request, answer, self.cfg.signatures or signed)

    async def _handle(self, request) -> Answer:
        path = request.path.decode("utf-8", "replace")
        segs = [s for s in path.split("/")[2:]]
        if segs and segs[-1] == "":
            segs = segs[:-1]
        auth = self.bridge.state
        if not auth.token_b or auth.token_b not in ocpi.token_candidates(request.getHeader("Authorization")):
            raise OcpiError(ocpi.INVALID_PARAMS, "Unauthorized", 401)
        method = request.method.decode()
        if segs == ["versions"] and method == "GET":
            return Answer([{"version": v, "url": f"{self.cfg.public_url}/ocpi/{v}"} for v in self._versions()])
        if len(segs) == 1 and segs[0] in self._versions() and method == "GET":
            return Answer(self.version_details(segs[0]))
        if len(segs) == 2 and segs[0] in VERSIONS and segs[1] == "credentials":
            return await self._credentials(request, method)
        if len(segs) < 3 or segs[0] not in ("sender", "receiver") or segs[1] not in VERSIONS:
            raise OcpiError(ocpi.CLIENT_ERROR, "Not found", 404)
        role, module, args = segs[0].upper(), segs[2], segs[3:]
        if (module, role) not in self.bridge.modules:
            raise OcpiError(ocpi.CLIENT_ERROR, f"Module {module} {role} not served", 404)
        query = parse_qsl(request.uri.split(b"?", 1)[1].decode("utf-8", "replace"), keep_blank_values=True) \
            if b"?" in request.uri else []
        raw = request.content.read() if request.content is not None else b""
        body = None
        if raw.strip():
            try:
                body = rawjson.loads(raw)
            except (ValueError, UnicodeDecodeError) as e:
                raise OcpiError(ocpi.INVALID_PARAMS, f"Malformed JSON body: {e}", 400) from None
        cc, pid = request.getHeader("OCPI-from-country-code"), request.getHeader("OCPI-from-party-id")
        incoming = Incoming(method, args, query, body, (cc.upper(), pid.upper()) if cc and pid else None,
                            request.getHeader("X-Correlation-ID"), request.getHeader("OCN-Signature") is not None)
        if self.cfg.signatures:
            await self._verify(request, incoming)
        handler = getattr(self, f"_{module}_{role.lower()}")
        return await handler(incoming)

    def _versions(self) -> tuple[str, ...]:
        return (self.cfg.ocpi_version,)

    def version_details(self, version: str) -> dict:
        endpoints = [{"identifier": "credentials", "role": "RECEIVER",
                      "url": f"{self.cfg.public_url}/ocpi/{version}/credentials"}]
        for role in ("SENDER", "RECEIVER"):
            for module, r in self.bridge.modules:
                if r == role:
                    endpoints.append({"identifier": module, "role": role,
                                      "url": f"{self.cfg.public_url}/ocpi/{role.lower()}/{version}/{module}"})
        return {"version": version, "endpoints": endpoints}

    async def _verify(self, request, inc: Incoming) -> None:
        header = request.getHeader("OCN-Signature")
        if not header:
            raise OcpiError(ocpi.INVALID_PARAMS, "Missing required OCN-Signature header", 400)
        try:
            n = notary.deserialize(header)
        except notary.NotaryError as e:
            raise OcpiError(ocpi.INVALID_PARAMS, f"Invalid OCN-Signature: {e}", 400) from None
        hdrs = {name: request.getHeader(name) for name in notary.REQUEST_HEADER_KEYS}
        values = notary.request_values({k: v for k, v in hdrs.items() if v is not None},
                                       dict(inc.query) or None, inc.body)
        result = notary.verify(n, values)
        if not result:
            raise OcpiError(ocpi.INVALID_PARAMS, f"Invalid OCN-Signature: {result.error}", 400)
        if inc.sender is not None:
            allowed = await self.bridge.allowed_signers(inc.sender)
            if allowed and n.signatory.lower() not in allowed:
                raise OcpiError(ocpi.INVALID_PARAMS,
                                f"Invalid OCN-Signature: signatory {n.signatory} is neither "
                                f"{inc.sender[0]}/{inc.sender[1]} nor its node", 400)

    # -- credentials ----------------------------------------------------------------

    async def _credentials(self, request, method: str) -> Answer:
        st = self.bridge.state
        if method == "GET":
            return Answer(self.bridge.own_credentials())
        if method in ("PUT", "POST"):
            raw = request.content.read() if request.content is not None else b""
            try:
                body = rawjson.to_plain(rawjson.loads(raw))
            except (ValueError, UnicodeDecodeError):
                raise OcpiError(ocpi.INVALID_PARAMS, "Malformed credentials body", 400) from None
            if not isinstance(body, dict) or not isinstance(body.get("token"), str):
                raise OcpiError(ocpi.INVALID_PARAMS, "Invalid credentials object", 400)
            await self.bridge.update_token_c(body["token"])
            return Answer(self.bridge.own_credentials())
        if method == "DELETE":
            await self.bridge.update_token_c("")
            del st
            return Answer()
        raise OcpiError(ocpi.CLIENT_ERROR, "Method not allowed", 405)

    # -- helpers --------------------------------------------------------------------

    def _impl(self, module: str):
        return getattr(self.bridge.backoffice, module, None)

    @staticmethod
    def _not_found(what: str):
        return OcpiError(ocpi.UNKNOWN_LOCATION, f"Unknown {what}", 404)

    @staticmethod
    def _plain(v):
        return rawjson.to_plain(v)

    async def _list(self, module: str, inc: Incoming) -> Answer:
        q = dict(inc.query)
        try:
            offset = max(0, int(q.get("offset") or 0))
            limit = int(q.get("limit")) if q.get("limit") else self.cfg.page_limit
        except ValueError:
            raise OcpiError(ocpi.INVALID_PARAMS, "offset and limit must be integers", 400) from None
        limit = max(1, min(limit, self.cfg.page_limit))
        date_from, date_to = q.get("date_from") or None, q.get("date_to") or None
        page = await maybe(self._impl(module).get_list, offset, limit, date_from, date_to)
        if not isinstance(page, Page):
            page = Page(list(page), None)
        items = list(page.items)
        total = page.total if page.total is not None else offset + len(items)
        headers = {"X-Total-Count": str(total), "X-Limit": str(limit)}
        if offset + len(items) < total and items:
            params = {k: v for k, v in (("date_from", date_from), ("date_to", date_to)) if v}
            params.update(offset=offset + len(items), limit=limit)
            base = f"{self.cfg.public_url}/ocpi/sender/{self.cfg.ocpi_version}/{module}"
            headers["Link"] = f'<{base}?{urlencode(params)}>; rel="next"'
        return Answer(items, headers)

    def _owned(self, inc: Incoming, n_min: int, n_max: int) -> list:
        if not (n_min <= len(inc.segments) <= n_max):
            raise OcpiError(ocpi.CLIENT_ERROR, "Not found", 404)
        return inc.segments

    def _need_body(self, inc: Incoming) -> dict:
        if not isinstance(inc.body, dict):
            raise OcpiError(ocpi.INVALID_PARAMS, "Request body must be a JSON object", 400)
        return self._plain(inc.body)

    # -- locations ------------------------------------------------------------------

    async def _locations_sender(self, inc: Incoming) -> Answer:
        if inc.method != "GET" or len(inc.segments) > 3:
            raise OcpiError(ocpi.CLIENT_ERROR, "Not found", 404)
        if not inc.segments:
            return await self._list("locations", inc)
        obj = await maybe(self._impl("locations").get, *inc.segments)
        if obj is None:
            raise self._not_found(("location", "EVSE", "connector")[len(inc.segments) - 1])
        return Answer(obj)

    async def _locations_receiver(self, inc: Incoming) -> Answer:
        args = self._owned(inc, 3, 5)
        impl = self._impl("locations")
        cc, pid, lid = args[0], args[1], args[2]
        evse = args[3] if len(args) > 3 else None
        conn = args[4] if len(args) > 4 else None
        if inc.method == "GET":
            getter = getattr(impl, "get", None)
            obj = await maybe(getter, cc, pid, lid, evse, conn) if getter else None
            if obj is None:
                raise self._not_found(("location", "EVSE", "connector")[len(args) - 3])
            return Answer(obj)
        if inc.method in ("PUT", "PATCH"):
            await maybe(impl.on_update, cc, pid, lid, self._need_body(inc), inc.method == "PATCH", evse, conn)
            return Answer()
        raise OcpiError(ocpi.CLIENT_ERROR, "Method not allowed", 405)

    # -- sessions -------------------------------------------------------------------

    async def _sessions_sender(self, inc: Incoming) -> Answer:
        if inc.method == "GET" and not inc.segments:
            return await self._list("sessions", inc)
        if inc.method == "PUT" and len(inc.segments) == 2 and inc.segments[1] == "charging_preferences":
            fn = getattr(self._impl("sessions"), "set_charging_preferences", None)
            if fn is None:
                return Answer("NOT_POSSIBLE")
            result = await maybe(fn, inc.segments[0], self._need_body(inc), inc.sender)
            return Answer(result)
        raise OcpiError(ocpi.CLIENT_ERROR, "Not found", 404)

    async def _sessions_receiver(self, inc: Incoming) -> Answer:
        cc, pid, sid = self._owned(inc, 3, 3)
        impl = self._impl("sessions")
        if inc.method == "GET":
            getter = getattr(impl, "get", None)
            obj = await maybe(getter, cc, pid, sid) if getter else None
            if obj is None:
                raise self._not_found("session")
            return Answer(obj)
        if inc.method in ("PUT", "PATCH"):
            await maybe(impl.on_update, cc, pid, sid, self._need_body(inc), inc.method == "PATCH")
            return Answer()
        raise OcpiError(ocpi.CLIENT_ERROR, "Method not allowed", 405)

    # -- cdrs -----------------------------------------------------------------------

    async def _cdrs_sender(self, inc: Incoming) -> Answer:
        if inc.method == "GET" and not inc.segments:
            return await self._list("cdrs", inc)
        raise OcpiError(ocpi.CLIENT_ERROR, "Not found", 404)

    async def _cdrs_receiver(self, inc: Incoming) -> Answer:
        impl = self._impl("cdrs")
        if inc.method == "POST" and not inc.segments:
            cdr = self._need_body(inc)
            ident = await maybe(impl.on_new, cdr)
            ident = str(ident if ident is not None else cdr.get("id"))
            location = f"{self.cfg.public_url}/ocpi/receiver/{self.cfg.ocpi_version}/cdrs/{ident}"
            return Answer(headers={"Location": location})
        if inc.method == "GET" and len(inc.segments) == 1:
            obj = await maybe(impl.get, inc.segments[0])
            if obj is None:
                raise self._not_found("CDR")
            return Answer(obj)
        raise OcpiError(ocpi.CLIENT_ERROR, "Not found", 404)

    # -- tariffs ------------------------------------------------------------------------

    async def _tariffs_sender(self, inc: Incoming) -> Answer:
        if inc.method == "GET" and not inc.segments:
            return await self._list("tariffs", inc)
        raise OcpiError(ocpi.CLIENT_ERROR, "Not found", 404)

    async def _tariffs_receiver(self, inc: Incoming) -> Answer:
        cc, pid, tid = self._owned(inc, 3, 3)
        impl = self._impl("tariffs")
        if inc.method == "GET":
            getter = getattr(impl, "get", None)
            obj = await maybe(getter, cc, pid, tid) if getter else None
            if obj is None:
                raise self._not_found("tariff")
            return Answer(obj)
        if inc.method == "PUT":
            await maybe(impl.on_update, cc, pid, tid, self._need_body(inc))
            return Answer()
        if inc.method == "DELETE":
            await maybe(impl.on_delete, cc, pid, tid)
            return Answer()
        raise OcpiError(ocpi.CLIENT_ERROR, "Method not allowed", 405)

    # -- tokens ---------------------------------------------------------------------------

    async def _tokens_sender(self, inc: Incoming) -> Answer:
        if inc.method == "GET" and not inc.segments:
            return await self._list("tokens", inc)
        if inc.method == "POST" and len(inc.segments) == 2 and inc.segments[1] == "authorize":
            ttype = dict(inc.query).get("type") or "RFID"
            refs = self._plain(inc.body) if isinstance(inc.body, dict) else None
            info = await maybe(self._impl("tokens").authorize, inc.segments[0], ttype, refs)
            if info is None:
                raise OcpiError(ocpi.UNKNOWN_TOKEN, "Unknown token", 404)
            return Answer(info)
        raise OcpiError(ocpi.CLIENT_ERROR, "Not found", 404)

    async def _tokens_receiver(self, inc: Incoming) -> Answer:
        cc, pid, uid = self._owned(inc, 3, 3)
        ttype = dict(inc.query).get("type") or "RFID"
        impl = self._impl("tokens")
        if inc.method == "GET":
            getter = getattr(impl, "get", None)
            obj = await maybe(getter, cc, pid, uid, ttype) if getter else None
            if obj is None:
                raise OcpiError(ocpi.UNKNOWN_TOKEN, "Unknown token", 404)
            return Answer(obj)
        if inc.method in ("PUT", "PATCH"):
            await maybe(impl.on_update, cc, pid, uid, ttype, self._need_body(inc), inc.method == "PATCH")
            return Answer()
        raise OcpiError(ocpi.CLIENT_ERROR, "Method not allowed", 405)

    # -- commands ---------------------------------------------------------------------------

    async def _commands_receiver(self, inc: Incoming) -> Answer:
        if inc.method != "POST" or len(inc.segments) != 1 or inc.segments[0] not in COMMANDS:
            raise OcpiError(ocpi.CLIENT_ERROR, "Not found", 404)
        command = inc.segments[0]
        body = self._need_body(inc)
        response_url = body.pop("response_url", None)
        if not isinstance(response_url, str) or not response_url:
            raise OcpiError(ocpi.INVALID_PARAMS, "Missing response_url", 400)
        fn = getattr(self._impl("commands"), _COMMAND_METHODS[command], None)
        if fn is None:
            return Answer(CommandResponse("NOT_SUPPORTED", 0).to_json())
        resp = await maybe(fn, body, inc.sender)
        if not isinstance(resp, CommandResponse):
            raise TypeError(f"{_COMMAND_METHODS[command]}() must return a CommandResponse, got {resp!r}")
        after = None
        if resp.result == "ACCEPTED" and resp.async_result is not None:
            def after(resp=resp):
                self.bridge.deliver_async_result(resp, response_url, inc.sender, inc.correlation_id,
                                                 "commands")
        elif resp.async_result is not None and hasattr(resp.async_result, "close"):
            resp.async_result.close()
        return Answer(resp.to_json(), after=after)

    async def _commands_sender(self, inc: Incoming) -> Answer:
        if inc.method != "POST" or len(inc.segments) != 2 or inc.segments[0] not in COMMANDS:
            raise OcpiError(ocpi.CLIENT_ERROR, "Not found", 404)
        command, uid = inc.segments
        result = self._need_body(inc)
        fn = getattr(self._impl("commands"), "on_result", None)
        if fn is not None:
            await maybe(fn, command, uid, result)
        known = self.bridge.resolve_async(uid, result)
        if fn is None and not known:
            raise OcpiError(ocpi.UNKNOWN_LOCATION, "Unknown command result id", 404)
        return Answer()

    # -- charging profiles ------------------------------------------------------------------

    async def _chargingprofiles_receiver(self, inc: Incoming) -> Answer:
        if len(inc.segments) != 1:
            raise OcpiError(ocpi.CLIENT_ERROR, "Not found", 404)
        session_id = inc.segments[0]
        impl = self._impl("chargingprofiles")
        q = dict(inc.query)
        if inc.method == "GET":
            response_url = q.get("response_url")
            try:
                duration = int(q.get("duration") or 0)
            except ValueError:
                raise OcpiError(ocpi.INVALID_PARAMS, "duration must be an integer", 400) from None
            fn, args = getattr(impl, "get_active", None), (session_id, duration, inc.sender)
        elif inc.method == "PUT":
            body = self._need_body(inc)
            response_url = body.get("response_url")
            fn, args = getattr(impl, "set", None), (session_id, body.get("charging_profile"), inc.sender)
        elif inc.method == "DELETE":
            response_url = q.get("response_url")
            fn, args = getattr(impl, "clear", None), (session_id, inc.sender)
        else:
            raise OcpiError(ocpi.CLIENT_ERROR, "Method not allowed", 405)
        if not response_url:
            raise OcpiError(ocpi.INVALID_PARAMS, "Missing response_url", 400)
        if fn is None:
            return Answer(ChargingProfileResponse("NOT_SUPPORTED", 0).to_json())
        resp = await maybe(fn, *args)
        if not isinstance(resp, CommandResponse):
            raise TypeError(f"charging profile handler must return a ChargingProfileResponse, got {resp!r}")
        after = None
        if resp.result == "ACCEPTED" and resp.async_result is not None:
            def after(resp=resp):
                self.bridge.deliver_async_result(resp, response_url, inc.sender, inc.correlation_id,
                                                 "chargingprofiles")
        return Answer(resp.to_json(), after=after)

    async def _chargingprofiles_sender(self, inc: Incoming) -> Answer:
        impl = self._impl("chargingprofiles")
        if inc.method == "POST" and len(inc.segments) == 2:
            kind, uid = inc.segments
            result = self._need_body(inc)
            fn = getattr(impl, "on_result", None)
            if fn is not None:
                await maybe(fn, kind, self.bridge.async_session(uid), uid, result)
            known = self.bridge.resolve_async(uid, result)
            if fn is None and not known:
                raise OcpiError(ocpi.UNKNOWN_LOCATION, "Unknown charging profile result id", 404)
            return Answer()
        if inc.method == "PUT" and len(inc.segments) == 1:
            fn = getattr(impl, "on_active_profile", None)
            if fn is None:
                raise OcpiError(ocpi.CLIENT_ERROR, "ActiveChargingProfile pushes are not supported", 404)
            cc, pid = inc.sender or ("", "")
            await maybe(fn, cc, pid, inc.segments[0], self._need_body(inc))
            return Answer()
        raise OcpiError(ocpi.CLIENT_ERROR, "Not found", 404)


def new_uid() -> str:
    return uuid.uuid4().hex


__all__ = ["BridgeServer", "Answer", "COMMANDS", "defer"]
