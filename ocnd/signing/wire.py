"""Node-to-node ``OCN-Signature`` (``POST /ocn/message``, ``PUT /ocn/client-info``).

This is *not* a Notary: it is a bare EIP-191 personal signature over the
UTF-8 request body, written as 130 hex characters ``r || s || v`` without a
``0x`` prefix (v = 27/28).  Verifiers accept an optional ``0x``.

v1 nodes verify ``/ocn/message`` against *their own Jackson re-serialization*
of the parsed body, not against the bytes received.  To be accepted by them we
must send exactly what Jackson would emit: :func:`jackson_dumps` produces that
text, and :func:`ocn_message_record` builds the record with the member order
and null handling of v1's ``OcpiRequestVariables`` (reference digest §2.8,
§3.10).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from . import eip191
from .rawjson import JsonNumber, java_number_str

__all__ = [
    "WireSignatureError",
    "sign_body",
    "recover_body",
    "jackson_dumps",
    "ocn_message_record",
    "MODULES",
    "INTERFACE_ROLES",
    "METHODS",
]

MODULES = frozenset(
    {
        "CDRS",
        "CHARGING_PROFILES",
        "COMMANDS",
        "CREDENTIALS",
        "HUB_CLIENT_INFO",
        "LOCATIONS",
        "SESSIONS",
        "TARIFFS",
        "TOKENS",
        "CUSTOM",
    }
)
INTERFACE_ROLES = frozenset({"SENDER", "RECEIVER"})
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


class WireSignatureError(ValueError):
    """A node wire signature is malformed or does not recover."""


def _as_bytes(body: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    raise TypeError(f"body must be bytes or str, got {type(body).__name__}")


def sign_body(body: bytes | str, private_key: Any) -> str:
    """Sign the exact body bytes; returns 130 hex chars (r, s, v=1b/1c), no ``0x``."""
    return eip191.sign(_as_bytes(body), private_key).hex()


_SIG_RE = re.compile(r"[0-9a-fA-F]{130}\Z")


def recover_body(body: bytes | str, signature: str) -> str:
    """Recover the EIP-55 address that signed ``body``.

    Raises :class:`WireSignatureError` when ``signature`` is not 65 bytes of
    hex (optionally ``0x``-prefixed) with v in 27/28 (0/1 tolerated), or does
    not recover to a public key.
    """
    if not isinstance(signature, str):
        raise WireSignatureError("signature must be a hex string")
    sig = signature.strip()
    if sig[:2] in ("0x", "0X"):
        sig = sig[2:]
    if not _SIG_RE.match(sig):
        raise WireSignatureError("signature must be 130 hex characters (r, s, v)")
    raw = bytes.fromhex(sig)
    if raw[64] not in (0, 1, 27, 28):
        raise WireSignatureError(f"signature has invalid v value {raw[64]}")
    try:
        return eip191.recover(_as_bytes(body), raw)
    except eip191.RecoveryError as e:
        raise WireSignatureError(str(e)) from None


# -- Jackson-compatible serialization ---------------------------------------------

_JACKSON_SHORT = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}
_JACKSON_ESCAPE_RE = re.compile(r'["\\\x00-\x1f]')


def _jackson_escape(m: re.Match[str]) -> str:
    c = m.group(0)
    return _JACKSON_SHORT.get(c) or "\\u%04X" % ord(c)


def _jackson_string(s: str) -> str:
    if re.search(r"[\ud800-\udfff]", s):
        # Python keeps escaped surrogate pairs from json input as two code points
        try:
            s = s.encode("utf-16", "surrogatepass").decode("utf-16")
        except UnicodeDecodeError:
            raise ValueError("string contains a lone surrogate; not representable in UTF-8") from None
    return '"' + _JACKSON_ESCAPE_RE.sub(_jackson_escape, s) + '"'


def _jackson_number(token: Any) -> str:
    text = java_number_str(token)
    if text in ("Infinity", "-Infinity", "NaN"):
        # Jackson's QUOTE_NON_NUMERIC_NUMBERS (on by default)
        return '"' + text + '"'
    return text


def _jackson(obj: Any, out: list[str]) -> None:
    if obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, JsonNumber):
        out.append(_jackson_number(obj))
    elif isinstance(obj, str):
        out.append(_jackson_string(obj))
    elif isinstance(obj, int):
        out.append(str(int(obj)))
    elif isinstance(obj, float):
        if math.isnan(obj) or math.isinf(obj):
            out.append(_jackson_number(obj))
        else:
            out.append(java_number_str(obj))
    elif isinstance(obj, dict):
        out.append("{")
        for i, (k, v) in enumerate(obj.items()):
            if not isinstance(k, str):
                raise TypeError(f"JSON object keys must be str, got {type(k).__name__}")
            if i:
                out.append(",")
            out.append(_jackson_string(k))
            out.append(":")
            _jackson(v, out)
        out.append("}")
    elif isinstance(obj, (list, tuple)):
        out.append("[")
        for i, v in enumerate(obj):
            if i:
                out.append(",")
            _jackson(v, out)
        out.append("]")
    else:
        raise TypeError(f"cannot serialize {type(obj).__name__} to JSON")


def jackson_dumps(obj: Any) -> bytes:
    """Serialize like a default Jackson ``ObjectMapper`` re-emitting parsed JSON.

    Compact; dict order kept; integer tokens as digits, other numbers as Java
    ``Double.toString`` (``10.0``, ``1.0E10``, ``1.0E-4``); strings escape only
    ``"``, ``\\`` and U+0000..U+001F (``\\b \\t \\n \\f \\r`` short forms, others
    ``\\u00XX`` upper-case); ``/`` and non-ASCII are written raw as UTF-8.
    """
    out: list[str] = []
    _jackson(obj, out)
    return "".join(out).encode("utf-8")


# -- the /ocn/message record ----------------------------------------------------------


def _basic_role(role: Any, what: str) -> dict[str, str]:
    """``{"party_id", "country_code"}`` from a (country_code, party_id) pair,
    a mapping, or an object with those attributes."""
    if isinstance(role, Mapping):
        cc, pid = role.get("country_code"), role.get("party_id")
    elif isinstance(role, (tuple, list)) and len(role) == 2:
        cc, pid = role
    else:
        cc, pid = getattr(role, "country_code", None), getattr(role, "party_id", None)
    if not isinstance(cc, str) or not isinstance(pid, str):
        raise ValueError(f"{what} must give country_code and party_id as strings")
    return {"party_id": pid, "country_code": cc}


def ocn_message_record(
    module: str,
    interface_role: str,
    method: str,
    *,
    request_id: str,
    correlation_id: str,
    sender: Any,
    receiver: Any,
    ocn_signature: str | None = None,
    authorization: str = "",
    url_path: str | None = None,
    query_params: Mapping[str, Any] | None = None,
    proxy_uid: str | None = None,
    proxy_resource: str | None = None,
    custom_module_id: str | None = None,
    body: Any = None,
) -> dict[str, Any]:
    """Build the body of ``POST /ocn/message`` in v1 member order.

    ``sender``/``receiver`` are ``(country_code, party_id)`` pairs, mappings or
    objects with those attributes.  ``authorization`` is always sent empty by
    v1.  ``None`` members are omitted at the top level and in ``headers``;
    nulls *inside* ``query_params``/``body`` are kept.  Serialize the result
    with :func:`jackson_dumps` and sign those bytes with :func:`sign_body`.
    """
    if module not in MODULES:
        raise ValueError(f"unknown module {module!r}")
    if interface_role not in INTERFACE_ROLES:
        raise ValueError(f"unknown interface role {interface_role!r}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}")
    if (module == "CUSTOM") != (custom_module_id is not None):
        raise ValueError("custom_module_id is required for CUSTOM and forbidden otherwise")

    headers: dict[str, Any] = {"Authorization": authorization}
    if ocn_signature is not None:
        headers["OCN-Signature"] = ocn_signature
    headers["X-Request-ID"] = request_id
    headers["X-Correlation-ID"] = correlation_id
    headers["sender"] = _basic_role(sender, "sender")
    headers["receiver"] = _basic_role(receiver, "receiver")

    record: dict[str, Any] = {
        "module": module,
        "interface_role": interface_role,
        "method": method,
        "headers": headers,
    }
    optional = (
        ("url_path", url_path),
        ("query_params", dict(query_params) if query_params is not None else None),
        ("proxy_uid", proxy_uid),
        ("proxy_resource", proxy_resource),
        ("custom_module_id", custom_module_id),
        ("body", body),
    )
    for key, value in optional:
        if value is not None:
            record[key] = value
    return record
