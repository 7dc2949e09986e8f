"""The router: party → node → (party | node → party) and back.

``Router.from_party`` handles a functional-module request made by a party
connected to this node; ``Router.from_node`` handles ``POST /ocn/message``
from another node.  Both end in :meth:`Router._deliver_local` when the
recipient is connected here.  Responses come back as :class:`Reply` objects
with the exact upstream bytes, modified only where the node must rewrite a
URL (pagination ``Link``, CDR ``Location``), in which case the response
OCN-Signature is stashed and re-signed with the node key.

Routing decisions read only the local registry snapshot: no RPC call happens
on this path.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import OrderedDict
from typing import Any, Callable
from urllib.parse import parse_qsl, urlencode

import attrs
from twisted.internet import defer, error as txerror
from twisted.logger import Logger
from twisted.web.client import ResponseNeverReceived

from .. import ocpi, platforms, proxies
from ..ocpi import OcpiError
from ..signing import notary, rawjson, wire
from . import message as msgcodec
from .message import OcpiRequest
from .paths import OWNED_RECEIVER_MODULES, Route
from .viewcache import ViewCache

_STATUS_RE = __import__("re").compile(rb'"status_code"\s*:\s*"?(\d{4})')

REQUIRED_HEADERS = ("X-Request-ID", "X-Correlation-ID", "OCPI-from-country-code", "OCPI-from-party-id",
                    "OCPI-to-country-code", "OCPI-to-party-id")
PASS_HEADERS = ("Location", "Link", "X-Total-Count", "X-Limit")


@attrs.define
class Reply:
    code: int
    body: bytes
    headers: dict[str, str] = attrs.Factory(dict)


@attrs.define
class RoutedEvent:
    """One hop as this node saw it; handed to observers (metrics, trace, status).

    Metadata only: never bodies, tokens or signatures.
    """

    direction: str                  # "party" (from a local party) or "node" (POST /ocn/message)
    started: float                  # clock seconds
    module: str = ""
    interface: str = ""
    method: str = ""
    sender: tuple[str, str] | None = None
    receiver: tuple[str, str] | None = None
    request_id: str = ""
    correlation_id: str = ""
    target: str = ""                # "local", "remote" or "" when refused before forwarding
    target_node: str = ""           # URL of the next node for remote hops
    http_status: int = 0
    status_code: int | None = None
    latency: float = 0.0            # seconds spent in this node, forwarding included
    bytes_in: int = 0
    bytes_out: int = 0
    error: str | None = None


@attrs.frozen
class LocalView:
    """Everything the router needs from the database for one request."""

    sender_platform: platforms.Platform | None
    receiver_platform: platforms.Platform | None
    endpoint_url: str | None
    rules_error: OcpiError | None


def join_url(base: str, path: str | None) -> str:
    """v1 join rule: strip one trailing '/' from the base, one '/' per segment."""
    base = base[:-1] if base.endswith("/") else base
    if not path:
        return base
    segs = [s for s in path.split("/") if s]
    return base + "".join("/" + s for s in segs)


class ReplayGuard:
    """Remembers recently seen node-message signatures to refuse replays."""

    def __init__(self, window: float, clock, max_entries: int = 100_000) -> None:
        self.window = window
        self.clock = clock
        self.max_entries = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()

    def seen(self, signature: str) -> bool:
        now = self.clock.seconds()
        while self._seen:
            key, t = next(iter(self._seen.items()))
            if t > now - self.window and len(self._seen) < self.max_entries:
                break
            self._seen.popitem(last=False)
        if signature in self._seen:
            return True
        self._seen[signature] = now
        return False


class Router:
    log = Logger()

    def __init__(self, *, store, registry, http, reactor, node_key: str, node_address: str, public_url: str,
                 signatures_required: bool, request_timeout: float, proxy_ttl: float,
                 ownership_exempt: frozenset[tuple[str, str]] = frozenset(),
                 rules_check: Callable[..., OcpiError | None] | None = None,
                 replay_window: float = 600.0, observers=(), liveness=None,
                 hub_identity: tuple[str, str] = ("CH", "OCN"), v1_blacklist: bool = False) -> None:
        self.store = store
        self.registry = registry
        self.http = http
        self.reactor = reactor
        self.node_key = node_key
        self.node_address = node_address
        self.public_url = public_url
        self.signatures_required = signatures_required
        self.request_timeout = request_timeout
        self.proxy_ttl = proxy_ttl
        self.ownership_exempt = ownership_exempt
        self.rules_check = rules_check
        self.replays = ReplayGuard(replay_window, reactor)
        self.views = ViewCache(store)
        self.observers = list(observers)
        self.liveness = liveness
        self.v1_wire = False
        from .broadcast import Broadcaster

        self.broadcaster = Broadcaster(self, hub_identity, v1_blacklist)
        self.service_interface = None

    # -- replies -------------------------------------------------------------------

    def error(self, status: int, message: str, http: int = 200) -> Reply:
        """An OCPI error envelope, always signed by the node key."""
        env = ocpi.envelope(status, self.reactor.seconds(), message=message)
        sig = notary.sign(notary.response_values({}, env), self.node_key)
        env["ocn_signature"] = notary.serialize(sig)
        return Reply(http, ocpi.dumps(env), {})

    def _signed_ok(self, data: Any) -> Reply:
        env = ocpi.envelope(ocpi.SUCCESS, self.reactor.seconds(), data)
        sig = notary.sign(notary.response_values({}, env), self.node_key)
        env["ocn_signature"] = notary.serialize(sig)
        return Reply(200, ocpi.dumps(env), {})

    def _error_from(self, e: OcpiError) -> Reply:
        return self.error(e.status_code, e.message, e.http_status)

    # -- party → node -------------------------------------------------------------

    async def from_party(self, request, route: Route) -> Reply:
        event = RoutedEvent("party", self.reactor.seconds(), module=route.module, interface=route.interface,
                            method=request.method.decode("latin-1"))
        started = time.perf_counter()
        try:
            reply = await self._from_party(request, route, event)
        except OcpiError as e:
            event.error = e.message
            reply = self._error_from(e)
        self._emit(event, reply, started)
        return reply

    def _emit(self, event: RoutedEvent, reply: Reply, started: float) -> None:
        event.latency = time.perf_counter() - started
        event.http_status = reply.code
        event.bytes_out = len(reply.body)
        # metrics only: envelopes the node builds start with status_code; others may not be found
        m = _STATUS_RE.search(reply.body, 0, 512)
        event.status_code = int(m.group(1)) if m else None
        for observer in self.observers:
            try:
                observer(event)
            except Exception:  # noqa: BLE001
                self.log.failure("routing observer failed")

    def _alive(self, platform) -> None:
        if self.liveness is not None and platform is not None:
            try:
                self.liveness(platform)
            except Exception:  # noqa: BLE001
                self.log.failure("liveness update failed")

    def _note(self, event: RoutedEvent | None, req: OcpiRequest) -> None:
        if event is None:
            return
        event.sender, event.receiver = req.sender, req.receiver
        event.request_id, event.correlation_id = req.request_id, req.correlation_id
        event.bytes_in = len(req.body or b"")

    async def _from_party(self, request, route: Route, event: RoutedEvent | None = None) -> Reply:
        hdr = {name: request.getHeader(name) for name in REQUIRED_HEADERS}
        candidates = ocpi.token_candidates(request.getHeader("Authorization"))
        for name in REQUIRED_HEADERS:
            if not hdr[name]:
                raise OcpiError(ocpi.INVALID_PARAMS, f"Missing required header: {name}", 400)
        sender = self._role(hdr["OCPI-from-country-code"], hdr["OCPI-from-party-id"])
        receiver = self._role(hdr["OCPI-to-country-code"], hdr["OCPI-to-party-id"])
        query = parse_qsl(request.uri.split(b"?", 1)[1].decode("utf-8", "replace"), keep_blank_values=True) \
            if b"?" in request.uri else []
        for k, v in route.default_params:
            if not any(qk == k for qk, _ in query):
                query.append((k, v))
        body = request.content.read() if request.content is not None else b""
        req = OcpiRequest(
            version=route.version, module=route.module, interface=route.interface,
            method=request.method.decode(), request_id=hdr["X-Request-ID"],
            correlation_id=hdr["X-Correlation-ID"], sender=sender, receiver=receiver,
            routing_headers={k: hdr[k] for k in REQUIRED_HEADERS[2:]},
            signature=request.getHeader("OCN-Signature"), url_path=route.url_path, query=query,
            custom=route.custom, body=body or None,
        )
        self._note(event, req)
        digests = tuple(ocpi.token_hash(t) for t in candidates)
        key = ("party", digests, req.sender, req.receiver, req.module, req.interface)
        # a view with an unknown token is never kept: failed logins always read the store
        view = await self.views.get(key, self._local_view, digests, req,
                                    keep=lambda v: v.sender_platform is not None)
        sp = view.sender_platform
        if sp is None:
            raise OcpiError(ocpi.INVALID_PARAMS, "Invalid CREDENTIALS_TOKEN_C", 401)
        if not any(r.country_code == sender[0].upper() and r.party_id == sender[1].upper() for r in sp.roles):
            raise OcpiError(ocpi.INVALID_PARAMS,
                            "Could not find role on sending platform using OCPI-from-* headers", 400)
        body_json = self._body_json(req)
        self._check_ownership(req, route, body_json)
        self._alive(sp)
        if route.proxied_uid is not None:
            resource = await self.store.read(proxies.get, route.proxied_uid, sender, receiver,
                                             self.reactor.seconds())
            if resource is None:
                raise OcpiError(ocpi.UNKNOWN_LOCATION, "Proxied resource not found", 404)
            req.proxy_resource = resource
        rp = view.receiver_platform
        signing = (self.signatures_required or req.signature is not None or sp.signatures
                   or (rp is not None and rp.signatures))
        if signing:
            self._verify_request_signature(req, body_json)
        if rp is None and self.broadcaster.addressed_to_hub(receiver):
            self.broadcaster.check(req)
            if event is not None:
                event.target = "broadcast"
            results = await self.broadcaster.fan_out(req, body_json, sp.id)
            return self._signed_ok(results)
        if rp is not None:
            if view.rules_error is not None:
                raise _fresh(view.rules_error)
            if route.async_in:
                req, body_json = await self._rewrite_async_local(req, route, body_json, signing)
            if event is not None:
                event.target = "local"
            reply = await self._deliver_local(req, rp, view.endpoint_url)
            if reply.code == 200:
                self._alive(rp)
        else:
            operator = self.registry.get_operator(*receiver)
            if operator is None:
                raise OcpiError(ocpi.UNKNOWN_RECEIVER, "Receiver not registered on Open Charging Network")
            if operator.operator.lower() == self.node_address.lower():
                raise OcpiError(ocpi.UNKNOWN_RECEIVER, "Receiver is listed with this node but not connected")
            if route.async_in:
                req, body_json = self._rewrite_async_remote(req, route, body_json, operator.url, signing)
            if event is not None:
                event.target, event.target_node = "remote", operator.url
            reply = await self._deliver_remote(req, operator.url)
        if self.service_interface is not None and req.proxy_uid is None and route.proxied_uid is None:
            self.service_interface.copy(req, body_json)
        return await self._handle_response(req, route, reply, signing)

    @staticmethod
    def _role(cc: str, pid: str) -> tuple[str, str]:
        if not ocpi.valid_country_code(cc):
            raise OcpiError(ocpi.INVALID_PARAMS, f'Given country_code "{cc}" not 2 characters', 400)
        if not ocpi.valid_party_id(pid):
            raise OcpiError(ocpi.INVALID_PARAMS, f'Given party-id "{pid}" not 3 characters', 400)
        return cc, pid

    def _local_view(self, conn, digests: list[str], req: OcpiRequest) -> LocalView:
        sp = None
        for d in digests:
            sp = platforms.find_by_token_c(conn, d)
            if sp is not None:
                break
        rp = platforms.find_by_party(conn, *req.receiver)
        endpoint = None
        rules_error = None
        if rp is not None and sp is not None:
            endpoint = self._endpoint(conn, rp.id, req)
            if self.rules_check is not None:
                rules_error = self.rules_check(conn, rp.id, req.sender, req.module)
        return LocalView(sp, rp, endpoint, rules_error)

    @staticmethod
    def _endpoint(conn, platform_id: int, req: OcpiRequest) -> str | None:
        row = conn.execute(
            "SELECT url FROM endpoints WHERE platform_id = ? AND lower(identifier) = lower(?) AND role = ? "
            "ORDER BY id LIMIT 1", (platform_id, req.module, req.interface)).fetchone()
        return row[0] if row else None

    def _body_json(self, req: OcpiRequest) -> Any:
        if req.body is None:
            return None
        try:
            return rawjson.loads(req.body)
        except ValueError as e:
            if req.custom:
                return req.body.decode("utf-8", "replace")
            raise OcpiError(ocpi.INVALID_PARAMS, f"Malformed JSON body: {e}", 400) from None

    def _check_ownership(self, req: OcpiRequest, route: Route, body: Any) -> None:
        """Receiver pushes: URL owner, OCPI-from headers and body owner fields must agree."""
        if route.interface != "RECEIVER" or route.custom or req.method == "GET":
            return
        if route.module not in OWNED_RECEIVER_MODULES and route.module != "cdrs":
            return
        sender = (req.sender[0].upper(), req.sender[1].upper())
        if sender in self.ownership_exempt:
            return
        if route.owner is not None:
            owner = (route.owner[0].upper(), route.owner[1].upper())
            if owner != sender:
                raise OcpiError(ocpi.INVALID_PARAMS,
                                f"Ownership mismatch: URL names {owner[0]}/{owner[1]} but OCPI-from is "
                                f"{sender[0]}/{sender[1]}", 400)
        if isinstance(body, dict):
            cc, pid = body.get("country_code"), body.get("party_id")
            if isinstance(cc, str) and isinstance(pid, str) and (cc.upper(), pid.upper()) != sender:
                raise OcpiError(ocpi.INVALID_PARAMS,
                                f"Ownership mismatch: body names {cc}/{pid} but OCPI-from is "
                                f"{sender[0]}/{sender[1]}", 400)

    # -- signatures -------------------------------------------------------------

    def _request_values(self, req: OcpiRequest, body_json: Any) -> dict:
        headers = dict(req.routing_headers)
        headers["X-Correlation-ID"] = req.correlation_id
        params = dict(req.query) if req.query else None
        return notary.request_values(headers, params, body_json)

    def _allowed_signatories(self, party: tuple[str, str]) -> set[str]:
        listing = self.registry.get_party(*party)
        out = set()
        if listing is not None:
            out.add(listing.address.lower())
            out.add(listing.operator.lower())
        return out

    def _verify_request_signature(self, req: OcpiRequest, body_json: Any) -> None:
        if req.signature is None:
            raise OcpiError(ocpi.INVALID_PARAMS, "Missing OCN Signature", 400)
        try:
            n = notary.deserialize(req.signature)
        except notary.NotaryError as e:
            raise OcpiError(ocpi.INVALID_PARAMS, f"Invalid signature: {e}", 400) from None
        result = notary.verify(n, self._request_values(req, body_json))
        if not result:
            raise OcpiError(ocpi.INVALID_PARAMS, f"Invalid signature: {result.error}", 400)
        allowed = self._allowed_signatories(req.sender)
        if n.signatory.lower() not in allowed:
            listing = self.registry.get_party(*req.sender)
            party = listing.address if listing else "unknown"
            op = listing.operator if listing else "unknown"
            raise OcpiError(ocpi.INVALID_PARAMS, f"Actual signatory {n.signatory} differs from expected "
                                                 f"signatory {party} (party) or {op} (operator)", 400)

    def _verify_response_signature(self, req: OcpiRequest, reply: Reply, envelope: dict) -> notary.Notary:
        sig = envelope.get("ocn_signature")
        if not isinstance(sig, str):
            raise OcpiError(ocpi.SERVER_ERROR, "Unable to verify response signature: Missing OCN Signature")
        try:
            n = notary.deserialize(sig)
        except notary.NotaryError as e:
            raise OcpiError(ocpi.SERVER_ERROR, f"Unable to verify response signature: {e}") from None
        result = notary.verify(n, notary.response_values(reply.headers, envelope))
        if not result:
            raise OcpiError(ocpi.SERVER_ERROR, f"Unable to verify response signature: {result.error}")
        allowed = self._allowed_signatories(req.receiver) | {self.node_address.lower()}
        if n.signatory.lower() not in allowed:
            raise OcpiError(ocpi.SERVER_ERROR, "Unable to verify response signature: signatory "
                                               f"{n.signatory} is neither the receiver nor its node")
        return n

    # -- async response_url ---------------------------------------------------------

    def _async_original(self, req: OcpiRequest, route: Route, body_json: Any) -> str:
        if route.async_in == "body":
            value = body_json.get("response_url") if isinstance(body_json, dict) else None
        else:
            value = next((v for k, v in req.query if k == "response_url"), None)
        if not isinstance(value, str) or not value:
            raise OcpiError(ocpi.INVALID_PARAMS, "Missing response_url", 400)
        return value

    def _apply_async(self, req: OcpiRequest, route: Route, body_json: Any, original: str, new_url: str,
                     signing: bool) -> tuple[OcpiRequest, Any]:
        if route.async_in == "body":
            body_json = dict(body_json)
            body_json["response_url"] = new_url
            req.body = rawjson.dumps(body_json).encode("utf-8")
            path = "$['body']['response_url']"
        else:
            req.query = [(k, new_url if k == "response_url" else v) for k, v in req.query]
            path = "$['params']['response_url']"
        if signing and req.signature is not None:
            n = notary.deserialize(req.signature)
            n = notary.rewrite(n, self._request_values(req, body_json), {path: original}, self.node_key)
            req.signature = notary.serialize(n)
        return req, body_json

    async def _rewrite_async_local(self, req, route, body_json, signing):
        original = self._async_original(req, route, body_json)
        uid = str(uuid.uuid4())
        await self.store.run_side(proxies.put, uid, req.receiver, req.sender, original, self.reactor.seconds(),
                                  self.proxy_ttl)
        new_url = f"{self.public_url}/ocpi/sender/{req.version}/{route.async_kind}/{uid}"
        return self._apply_async(req, route, body_json, original, new_url, signing)

    def _rewrite_async_remote(self, req, route, body_json, node_url, signing):
        original = self._async_original(req, route, body_json)
        uid = str(uuid.uuid4())
        new_url = f"{node_url.rstrip('/')}/ocpi/sender/{req.version}/{route.async_kind}/{uid}"
        req.proxy_uid = uid
        req.proxy_resource = original
        return self._apply_async(req, route, body_json, original, new_url, signing)

    # -- delivery -------------------------------------------------------------------

    async def _http(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
                    timeout: float | None = None) -> Reply:
        started = time.perf_counter()
        timeout = timeout or self.request_timeout
        try:
            response = await self.http.send(method, url, headers, body, timeout, self.reactor)
            raw = response.body
        except (txerror.TimeoutError, defer.CancelledError):
            raise OcpiError(ocpi.TIMEOUT, f"Request timeout: {url.split('?')[0]} did not answer within "
                                          f"{timeout:g}s") from None
        except ResponseNeverReceived as e:
            if any(r.check(defer.CancelledError) for r in e.reasons):
                raise OcpiError(ocpi.TIMEOUT, f"Request timeout: {url.split('?')[0]} did not answer within "
                                              f"{timeout:g}s") from None
            raise OcpiError(ocpi.CONNECTION_PROBLEM,
                            f"Connection problem: connection lost calling {url.split('?')[0]}") from None
        except (txerror.ConnectError, txerror.DNSLookupError) as e:
            raise OcpiError(ocpi.CONNECTION_PROBLEM,
                            f"Connection problem: {e.__class__.__name__} calling {url.split('?')[0]}") from None
        except Exception as e:  # noqa: BLE001 - malformed URL and the like
            raise OcpiError(ocpi.CONNECTION_PROBLEM, f"Connection problem: {e}") from None
        headers_out = {}
        for name in PASS_HEADERS:
            value = response.headers.getRawHeaders(name)
            if value:
                headers_out[name] = value[0]
        self.last_latency = time.perf_counter() - started
        return Reply(response.code, raw, headers_out)

    async def _deliver_local(self, req: OcpiRequest, rp: platforms.Platform, endpoint_url: str | None) -> Reply:
        if req.proxy_resource is not None and req.proxy_uid is None:
            url = req.proxy_resource
        else:
            if endpoint_url is None:
                raise OcpiError(ocpi.INVALID_PARAMS, "Receiver does not support the requested module", 400)
            url = join_url(endpoint_url, req.url_path)
            if req.query:
                url += ("&" if "?" in url else "?") + urlencode(req.query)
        headers = {
            "Authorization": ocpi.auth_header(rp.token_b or "", rp.ocpi_version or "2.2"),
            "X-Request-ID": str(uuid.uuid4()),
            "X-Correlation-ID": req.correlation_id,
        }
        headers.update(req.routing_headers)
        if req.signature is not None:
            headers["OCN-Signature"] = req.signature
        if req.body is not None:
            headers["Content-Type"] = "application/json"
        return await self._http(req.method, url, headers, req.body)

    async def _deliver_remote(self, req: OcpiRequest, node_url: str) -> Reply:
        payload = msgcodec.encode(req, v1_wire=self.v1_wire)
        headers = {
            "X-Request-ID": str(uuid.uuid4()),
            "OCN-Signature": wire.sign_body(payload, self.node_key),
            "Content-Type": "application/json",
        }
        # wait longer for a node than the node waits for its party, so its 4002 comes back
        return await self._http("POST", node_url.rstrip("/") + "/ocn/message", headers, payload,
                                timeout=self.request_timeout * 1.5 + 1)

    # -- responses ------------------------------------------------------------------

    async def _handle_response(self, req: OcpiRequest, route: Route, reply: Reply, signing: bool) -> Reply:
        try:
            # number tokens only matter when the envelope is verified and maybe re-signed
            envelope = rawjson.loads(reply.body) if signing else json.loads(reply.body)
        except ValueError as e:
            envelope = None
            problem = str(e)
        else:
            problem = "not a JSON object"
        if not isinstance(envelope, dict):
            raise OcpiError(ocpi.SERVER_ERROR,
                            f"Could not parse JSON response of forwarded OCPI request: {problem}")
        notary_obj = self._verify_response_signature(req, reply, envelope) if signing else None
        ok = reply.code == 200 and str(envelope.get("status_code")) == "1000"
        out_headers: dict[str, str] = {}
        if route.style == "all":
            out_headers = dict(reply.headers) if ok else {}
            return Reply(reply.code, reply.body, out_headers)
        if not ok or route.style == "plain":
            return Reply(reply.code, reply.body, {})
        rewritten: dict[str, str] = {}
        if route.style == "pag":
            for name in ("X-Total-Count", "X-Limit"):
                if name in reply.headers:
                    out_headers[name] = reply.headers[name]
            link = reply.headers.get("Link")
            target = ocpi.next_link(link)
            if target:
                uid = str(uuid.uuid4())
                await self.store.run_side(proxies.put, uid, req.sender, req.receiver, target,
                                          self.reactor.seconds(), self.proxy_ttl)
                new = (f'<{self.public_url}/ocpi/{route.interface.lower()}/{req.version}/{req.module}/page/'
                       f'{uid}>; rel="next"')
                out_headers["Link"] = new
                rewritten["Link"] = link
        elif route.style == "loc":
            location = reply.headers.get("Location")
            if location:
                uid = str(uuid.uuid4())
                await self.store.run_side(proxies.put, uid, req.sender, req.receiver, location,
                                          self.reactor.seconds(), self.proxy_ttl)
                out_headers["Location"] = f"{self.public_url}/ocpi/receiver/{req.version}/cdrs/{uid}"
                rewritten["Location"] = location
        body = reply.body
        if rewritten and notary_obj is not None:
            new_headers = dict(reply.headers)
            new_headers.update({k: out_headers[k] for k in rewritten})
            fields = {f"$['headers']['{k.lower()}']": v for k, v in rewritten.items()}
            n = notary.rewrite(notary_obj, notary.response_values(new_headers, envelope), fields, self.node_key,
                               strict=False)
            envelope = dict(envelope)
            envelope["ocn_signature"] = notary.serialize(n)
            body = rawjson.dumps(envelope).encode("utf-8")
        return Reply(reply.code, body, out_headers)

    # -- node → node ----------------------------------------------------------------

    async def from_node(self, request) -> Reply:
        event = RoutedEvent("node", self.reactor.seconds(), method="POST")
        started = time.perf_counter()
        try:
            reply = await self._from_node(request, event)
        except OcpiError as e:
            event.error = e.message
            reply = self._error_from(e)
        self._emit(event, reply, started)
        return reply

    async def _from_node(self, request, event: RoutedEvent | None = None) -> Reply:
        if not request.getHeader("X-Request-ID"):
            raise OcpiError(ocpi.INVALID_PARAMS, "Missing required header: X-Request-ID", 400)
        signature = request.getHeader("OCN-Signature")
        if not signature:
            raise OcpiError(ocpi.INVALID_PARAMS, "Missing required header: OCN-Signature", 400)
        raw = request.content.read() if request.content is not None else b""
        req = msgcodec.decode(raw)
        self._note(event, req)
        if event is not None:
            event.module, event.interface, event.method = req.module, req.interface, req.method
        sender_listing = self.registry.get_operator(*req.sender)
        if sender_listing is None:
            raise OcpiError(ocpi.UNKNOWN_RECEIVER, "Sending party not registered on Open Charging Network")
        try:
            signer = wire.recover_body(raw, signature)
        except wire.WireSignatureError:
            signer = None
        if signer is None or signer.lower() != sender_listing.operator.lower():
            raise OcpiError(ocpi.CONNECTION_PROBLEM, "Could not verify OCN-Signature of request")
        if self.replays.seen(signature.lower().removeprefix("0x")):
            raise OcpiError(ocpi.INVALID_PARAMS, "Replayed message refused (same OCN-Signature seen before)", 400)
        if self.broadcaster.addressed_to_hub(req.receiver):
            self.broadcaster.check(req)
            body_json = self._body_json(req)
            self._check_ownership(req, Route(req.version, req.module, req.interface, url_path=req.url_path,
                                             owner=_owner_of(req)), body_json)
            if self.signatures_required or req.signature is not None:
                self._verify_request_signature(req, body_json)
            if event is not None:
                event.target = "broadcast"
            return self._signed_ok(await self.broadcaster.fan_out_local(req, body_json, None))
        view = await self.views.get(("node", req.sender, req.receiver, req.module, req.interface),
                                    self._remote_view, req)
        rp = view.receiver_platform
        if rp is None:
            raise OcpiError(ocpi.UNKNOWN_RECEIVER, "Recipient unknown to OCN Node entered in Registry")
        route = Route(req.version, req.module, req.interface, url_path=req.url_path, custom=req.custom,
                      owner=_owner_of(req))
        body_json = self._body_json(req)
        self._check_ownership(req, route, body_json)
        signing = self.signatures_required or req.signature is not None or rp.signatures
        if signing:
            self._verify_request_signature(req, body_json)
        if view.rules_error is not None:
            raise _fresh(view.rules_error)
        if req.proxy_uid is not None and req.proxy_resource is not None:
            await self.store.run_side(proxies.put, req.proxy_uid, req.receiver, req.sender, req.proxy_resource,
                                      self.reactor.seconds(), self.proxy_ttl)
        if event is not None:
            event.target = "local"
        reply = await self._deliver_local(req, rp, view.endpoint_url)
        ok = reply.code == 200 and _status_code(reply.body) == "1000"
        if ok:
            self._alive(rp)
        return Reply(reply.code, reply.body, dict(reply.headers) if ok else {})

    def _remote_view(self, conn, req: OcpiRequest) -> LocalView:
        rp = platforms.find_by_party(conn, *req.receiver)
        endpoint = None
        rules_error = None
        if rp is not None:
            endpoint = self._endpoint(conn, rp.id, req)
            if self.rules_check is not None:
                rules_error = self.rules_check(conn, rp.id, req.sender, req.module)
        return LocalView(None, rp, endpoint, rules_error)


def _status_code(body: bytes) -> str | None:
    """``status_code`` of an envelope as text (a full parse: it may follow a long ``data`` member)."""
    try:
        envelope = json.loads(body)
    except ValueError:
        return None
    return str(envelope.get("status_code")) if isinstance(envelope, dict) else None


def _fresh(e: OcpiError) -> OcpiError:
    """A new instance of a cached error (raising one object again and again grows its traceback)."""
    return OcpiError(e.status_code, e.message, e.http_status)


def _owner_of(req: OcpiRequest) -> tuple[str, str] | None:
    if req.interface != "RECEIVER" or req.module not in OWNED_RECEIVER_MODULES or not req.url_path:
        return None
    segs = [s for s in req.url_path.split("/") if s]
    return (segs[0], segs[1]) if len(segs) >= 3 else None
