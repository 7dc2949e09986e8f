"""Outgoing OCPI requests from the bridge's party to its OCN node.

Every request carries ``Authorization: Token <C>`` (base64 for 2.2.1),
fresh ``X-Request-ID``, an ``X-Correlation-ID``, the four ``OCPI-*`` routing
headers and, with signatures on, an ``OCN-Signature`` signed with the party
key.  Replies are parsed order-preserving; with signatures on their
``ocn_signature`` is verified (content and signatory).  A reply that is not
HTTP 200 / OCPI 1000 raises :class:`OcpiRequestError`.
"""

from __future__ import annotations

import uuid
from typing import Any, Awaitable, Callable
from urllib.parse import urlencode

import attrs
from twisted.internet import defer
from twisted.logger import Logger

from .. import ocpi
from ..signing import notary, rawjson


class OcpiRequestError(Exception):
    """The node (or the counterpart behind it) did not answer with 1000."""

    def __init__(self, status_code: int | None, message: str, http_status: int, envelope: Any = None) -> None:
        super().__init__(f"HTTP {http_status}, OCPI {status_code}: {message}")
        self.status_code = status_code
        self.message = message
        self.http_status = http_status
        self.envelope = envelope


class SignatureError(OcpiRequestError):
    """A reply's ocn_signature is missing, invalid or from an unexpected signer."""

    def __init__(self, message: str, http_status: int = 200, envelope: Any = None) -> None:
        super().__init__(None, f"response signature: {message}", http_status, envelope)


@attrs.frozen
class Reply:
    code: int
    headers: dict[str, str]   # lower-case names
    envelope: dict

    @property
    def data(self) -> Any:
        return rawjson.to_plain(self.envelope.get("data"))


def party_of(to: Any) -> tuple[str, str]:
    """Accept ``("NL", "MSP")`` or ``"NL/MSP"`` or an object with country_code/party_id."""
    if isinstance(to, str):
        cc, _, pid = to.partition("/")
        return cc.upper(), pid.upper()
    if isinstance(to, (tuple, list)) and len(to) == 2:
        return str(to[0]).upper(), str(to[1]).upper()
    return str(to.country_code).upper(), str(to.party_id).upper()


def encode_body(obj: Any) -> tuple[bytes, Any]:
    """Wire bytes plus the order/number-faithful value those bytes parse to."""
    raw = obj if isinstance(obj, (bytes, bytearray)) else rawjson.dumps(obj).encode("utf-8")
    return bytes(raw), rawjson.loads(raw)


class NodeClient:
    """Sends requests as ``party`` through the node.

    ``state`` provides ``token_c``, ``version`` and ``endpoint(module, role)``;
    ``allowed_signers(party)`` returns a Deferred set of lower-case addresses
    accepted as signatories of replies coming from ``party``.
    """

    log = Logger()

    def __init__(self, *, reactor, http, party: tuple[str, str], key: str, signatures: bool, state,
                 timeout: float, allowed_signers: Callable[[tuple[str, str]], Awaitable[set[str]]] | None) -> None:
        self.reactor = reactor
        self.http = http
        self.party = party
        self.key = key
        self.signatures = signatures
        self.state = state
        self.timeout = timeout
        self.allowed_signers = allowed_signers

    def headers(self, to: tuple[str, str], correlation_id: str | None = None) -> dict[str, str]:
        return {
            "Authorization": ocpi.auth_header(self.state.token_c, self.state.version or "2.2"),
            "X-Request-ID": str(uuid.uuid4()),
            "X-Correlation-ID": correlation_id or str(uuid.uuid4()),
            "OCPI-from-country-code": self.party[0],
            "OCPI-from-party-id": self.party[1],
            "OCPI-to-country-code": to[0],
            "OCPI-to-party-id": to[1],
        }

    def url(self, module: str, role: str, *path: str) -> str:
        base = self.state.endpoint(module, role)
        if base is None:
            raise OcpiRequestError(None, f"the node advertises no {module} {role} endpoint", 0)
        base = base.rstrip("/")
        return base + "".join("/" + str(p).strip("/") for p in path if p not in (None, ""))

    async def send(self, method: str, url: str, to: Any, *, params: dict | None = None, body: Any = None,
                   correlation_id: str | None = None, check: bool = True) -> Reply:
        to = party_of(to)
        h = self.headers(to, correlation_id)
        raw, body_json = (None, None) if body is None else encode_body(body)
        if raw is not None:
            h["Content-Type"] = "application/json"
        params = {k: str(v) for k, v in (params or {}).items() if v is not None}
        if self.signatures:
            values = notary.request_values(h, params or None, body_json)
            h["OCN-Signature"] = notary.serialize(notary.sign(values, self.key))
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params)
        response = await self.http.request(method, url, headers=h, data=raw, timeout=self.timeout)
        content = await response.content()
        headers = {k.decode("latin-1").lower(): v[0].decode("latin-1")
                   for k, v in response.headers.getAllRawHeaders()}
        try:
            envelope = rawjson.loads(content)
        except (ValueError, UnicodeDecodeError):
            raise OcpiRequestError(None, f"reply is not JSON: {content[:200]!r}", response.code) from None
        if not isinstance(envelope, dict):
            raise OcpiRequestError(None, "reply is not an OCPI envelope", response.code, envelope)
        if self.signatures:
            await self._verify(to, headers, envelope, response.code)
        reply = Reply(response.code, headers, envelope)
        if check and (response.code != 200 or str(envelope.get("status_code")) != "1000"):
            status = envelope.get("status_code")
            raise OcpiRequestError(int(status) if isinstance(status, (int, rawjson.JsonNumber)) else None,
                                   str(envelope.get("status_message") or ""), response.code, envelope)
        return reply

    async def _verify(self, to, headers, envelope, code) -> None:
        sig = envelope.get("ocn_signature")
        if not isinstance(sig, str):
            raise SignatureError("missing ocn_signature", code, envelope)
        try:
            n = notary.deserialize(sig)
        except notary.NotaryError as e:
            raise SignatureError(str(e), code, envelope) from None
        result = notary.verify(n, notary.response_values(headers, envelope))
        if not result:
            raise SignatureError(str(result.error), code, envelope)
        if self.allowed_signers is not None:
            allowed = await self.allowed_signers(to)
            if allowed and n.signatory.lower() not in allowed:
                raise SignatureError(f"unexpected signatory {n.signatory}", code, envelope)

    # -- lists -------------------------------------------------------------------------

    async def get_all(self, module: str, to: Any, *, offset: int | None = None, limit: int | None = None,
                      date_from: str | None = None, date_to: str | None = None,
                      max_pages: int = 1000) -> list:
        """GET a SENDER list and follow ``Link: rel="next"`` until the end."""
        params = {"date_from": date_from, "date_to": date_to, "offset": offset, "limit": limit}
        url: str | None = self.url(module, "SENDER")
        items: list = []
        pages = 0
        while url is not None:
            reply = await self.send("GET", url, to, params=params)
            data = reply.data
            if isinstance(data, list):
                items.extend(data)
            pages += 1
            url = next_link(reply.headers.get("link"))
            params = None
            if pages >= max_pages:
                raise OcpiRequestError(None, f"more than {max_pages} pages", 200)
        return items


next_link = ocpi.next_link


def maybe(fn, *args, **kw) -> defer.Deferred:
    """Call a backoffice method that may return a value, Deferred or coroutine."""
    def call():
        result = fn(*args, **kw)
        if hasattr(result, "__await__") and not isinstance(result, defer.Deferred):
            return defer.ensureDeferred(result)
        return result

    return defer.maybeDeferred(call)
