"""The internal request record and its ``POST /ocn/message`` wire form.

Bodies are carried as raw bytes.  On the wire the body is spliced into the
message verbatim (so key order, number text and unknown fields survive), and
on receipt it is cut back out of the message bytes by position, so the
recipient party gets exactly the bytes the sender sent.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from .. import ocpi
from ..ocpi import OcpiError
from ..signing import rawjson, wire
from .paths import MODULE_IDS, MODULE_NAMES

INT_PARAMS = ("offset", "limit", "duration")


@attrs.define
class OcpiRequest:
    """One functional-module request as the node routes it."""

    version: str
    module: str                  # identifier ("locations") or custom module id
    interface: str               # SENDER / RECEIVER (recipient's endpoint role)
    method: str
    request_id: str
    correlation_id: str
    sender: tuple[str, str]
    receiver: tuple[str, str]
    routing_headers: dict[str, str]    # the four OCPI-from/to headers exactly as received
    signature: str | None = None
    url_path: str | None = None
    query: list[tuple[str, str]] = attrs.Factory(list)
    proxy_uid: str | None = None
    proxy_resource: str | None = None
    custom: bool = False
    body: bytes | None = None

    @property
    def module_name(self) -> str:
        return "CUSTOM" if self.custom else MODULE_NAMES[self.module]

    def query_params(self) -> dict[str, Any]:
        """Typed params as v1 carries them (offset/limit/duration as ints)."""
        out: dict[str, Any] = {}
        for k, v in self.query:
            if k in INT_PARAMS and v.lstrip("-").isdigit():
                out[k] = int(v)
            else:
                out[k] = v
        return out


def encode(req: OcpiRequest, v1_wire: bool = False) -> bytes:
    """Compact JSON in v1 member order, the raw body spliced in last.

    With ``v1_wire`` the body is re-serialized the way a v1 (Kotlin/Jackson)
    node re-emits it (compact, Java number style), because v1 verifies the node
    signature over its own re-serialization; ocnd peers verify the raw bytes,
    so the default keeps the party's bytes untouched.
    """
    params = req.query_params() if req.query else None
    record = wire.ocn_message_record(
        req.module_name, req.interface, req.method,
        request_id=req.request_id, correlation_id=req.correlation_id,
        sender=req.sender, receiver=req.receiver, ocn_signature=req.signature,
        url_path=req.url_path, query_params=params, proxy_uid=req.proxy_uid,
        proxy_resource=req.proxy_resource, custom_module_id=req.module if req.custom else None,
        body=None,
    )
    head = wire.jackson_dumps(record)
    if req.body is None or not req.body.strip():
        return head
    body = req.body
    try:
        json.loads(body)
    except ValueError:
        if not req.custom:
            raise
        body = json.dumps(body.decode("utf-8", "replace"), ensure_ascii=False).encode("utf-8")
    else:
        if v1_wire:
            body = wire.jackson_dumps(rawjson.loads(body))
    return head[:-1] + b',"body":' + body + b"}"


def _top_level_spans(text: str) -> dict[str, tuple[int, int]]:
    """Character spans of each top-level member value of a JSON object.

    The span of the last member reaches from just after its ':' to just
    before the closing '}', so whitespace around a spliced body survives.
    """
    dec = json.JSONDecoder()
    ws = " \t\n\r"
    i = 0
    n = len(text)

    def skip(j: int) -> int:
        while j < n and text[j] in ws:
            j += 1
        return j

    i = skip(i)
    if i >= n or text[i] != "{":
        raise ValueError("expected a JSON object")
    i = skip(i + 1)
    spans: dict[str, tuple[int, int]] = {}
    if i < n and text[i] == "}":
        return spans
    while True:
        key, i = dec.raw_decode(text, i)
        if not isinstance(key, str):
            raise ValueError("expected a member name")
        i = skip(i)
        if i >= n or text[i] != ":":
            raise ValueError("expected ':'")
        after_colon = i + 1
        i = skip(i + 1)
        _value, end = dec.raw_decode(text, i)
        spans[key] = (i, end)
        i = skip(end)
        if i < n and text[i] == ",":
            i = skip(i + 1)
            continue
        if i < n and text[i] == "}":
            if skip(i + 1) != n:
                raise ValueError("trailing data")
            spans[key] = (after_colon, i)
            return spans
        raise ValueError("expected ',' or '}'")


def _str(obj: dict, key: str, required: bool = True) -> str | None:
    v = obj.get(key)
    if v is None and not required:
        return None
    if not isinstance(v, str):
        raise OcpiError(ocpi.INVALID_PARAMS, f"Invalid /ocn/message: {key} must be a string", 400)
    return v


def _role(obj: Any, what: str) -> tuple[str, str]:
    if not isinstance(obj, dict) or not isinstance(obj.get("country_code"), str) \
            or not isinstance(obj.get("party_id"), str):
        raise OcpiError(ocpi.INVALID_PARAMS, f"Invalid /ocn/message: headers.{what} must have "
                                             "country_code and party_id", 400)
    return obj["country_code"], obj["party_id"]


def decode(raw: bytes, version: str = "2.2") -> OcpiRequest:
    """Parse a received message; the body is returned as the exact bytes sent."""
    try:
        text = raw.decode("utf-8")
        spans = _top_level_spans(text)
        msg = rawjson.loads(raw)
    except (UnicodeDecodeError, ValueError) as e:
        raise OcpiError(ocpi.INVALID_PARAMS, f"Invalid /ocn/message: malformed JSON: {e}", 400) from None
    if not isinstance(msg, dict):
        raise OcpiError(ocpi.INVALID_PARAMS, "Invalid /ocn/message: expected a JSON object", 400)
    module_name = _str(msg, "module")
    interface = _str(msg, "interface_role")
    method = _str(msg, "method")
    if module_name not in MODULE_IDS:
        raise OcpiError(ocpi.INVALID_PARAMS, f"Invalid /ocn/message: unknown module {module_name}", 400)
    if interface not in ("SENDER", "RECEIVER"):
        raise OcpiError(ocpi.INVALID_PARAMS, f"Invalid /ocn/message: unknown interface_role {interface}", 400)
    if method not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        raise OcpiError(ocpi.INVALID_PARAMS, f"Invalid /ocn/message: unknown method {method}", 400)
    headers = msg.get("headers")
    if not isinstance(headers, dict):
        raise OcpiError(ocpi.INVALID_PARAMS, "Invalid /ocn/message: headers missing", 400)
    custom_id = _str(msg, "custom_module_id", required=False)
    custom = module_name == "CUSTOM"
    if custom != (custom_id is not None):
        raise OcpiError(ocpi.INVALID_PARAMS, "Invalid /ocn/message: custom_module_id must be given exactly "
                                             "for CUSTOM requests", 400)
    sender = _role(headers.get("sender"), "sender")
    receiver = _role(headers.get("receiver"), "receiver")
    params = msg.get("query_params")
    query: list[tuple[str, str]] = []
    if isinstance(params, dict):
        for k, v in params.items():
            if v is None:
                continue
            query.append((k, v.text if isinstance(v, rawjson.JsonNumber) else
                          ("true" if v is True else "false" if v is False else str(v))))
    body = None
    if "body" in spans and msg.get("body") is not None:
        start, end = spans["body"]
        value = msg["body"]
        if custom and isinstance(value, str):
            body = value.encode("utf-8")
        else:
            body = text[start:end].encode("utf-8")
    routing = {
        "OCPI-from-country-code": sender[0], "OCPI-from-party-id": sender[1],
        "OCPI-to-country-code": receiver[0], "OCPI-to-party-id": receiver[1],
    }
    return OcpiRequest(
        version=version, module=custom_id if custom else MODULE_IDS[module_name], interface=interface,
        method=method, request_id=_str(headers, "X-Request-ID", required=False) or "",
        correlation_id=_str(headers, "X-Correlation-ID", required=False) or "",
        sender=sender, receiver=receiver, routing_headers=routing,
        signature=_str(headers, "OCN-Signature", required=False),
        url_path=_str(msg, "url_path", required=False), query=query,
        proxy_uid=_str(msg, "proxy_uid", required=False),
        proxy_resource=_str(msg, "proxy_resource", required=False), custom=custom, body=body,
    )
