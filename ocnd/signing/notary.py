"""The party-level ``OCN-Signature`` ("Notary"), wire-compatible with
``@shareandcharge/ocn-notary`` 1.0.0 and the v1 JVM notary.

Summary of the format (reference digest, section 3):

* *ValuesToSign* is ``{"headers"?: ..., "params"?: ..., "body"?: ...}``.
* :func:`walk` visits it depth first in insertion order, skipping ``None``
  and ``""``; every scalar contributes its path (``$['body']['evses'][0]``)
  to ``fields`` and its string form to the message.
* ``hash`` is ``0x`` + keccak256(message) in lower-case hex; ``rsv`` is the
  EIP-191 personal signature over the 66 ASCII characters of ``hash``.
* The header value is base64(brotli_q4(compact JSON)) with the keys
  ``fields, hash, rsv, signatory, rewrites``.

Verification reads each field with the *lower-cased* path, like the JS
package does.  Numbers are rendered the JavaScript way first; if that does not
reproduce the hash, the message is rebuilt once with Java rendering
(``10.0`` stays ``10.0``, ``1e10`` becomes ``1.0E10``) so that signatures made
by JVM signers over the same raw JSON are accepted too.  This leniency is ours;
neither reference implementation does it.

Everything here is a pure function over plain data; no I/O.
"""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import gzip
import re
import zlib
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import brotli
from eth_hash.auto import keccak

from . import eip191, rawjson
from .rawjson import JsonNumber, java_number_str, js_number_str

__all__ = [
    "Notary",
    "Rewrite",
    "VerifyResult",
    "NotaryError",
    "walk",
    "sign",
    "verify",
    "stash",
    "resign",
    "rewrite",
    "serialize",
    "deserialize",
    "request_values",
    "response_values",
    "REQUEST_HEADER_KEYS",
    "RESPONSE_HEADER_KEYS",
    "MODIFIED",
    "SIGNATORIES_DIFFER",
]

NumberStyle = Literal["js", "java"]

# Error texts of the JS package (the node wraps them as "Invalid signature: <text>").
MODIFIED = "Request has been modified"
SIGNATORIES_DIFFER = "Signatories do not match"
REWRITE_HASH_DIFFERS = "Rewritten request hash does not match"
REWRITE_SIGNATORY_DIFFERS = "Rewritten signatory incorrect"

REQUEST_HEADER_KEYS = (
    "x-correlation-id",
    "ocpi-from-country-code",
    "ocpi-from-party-id",
    "ocpi-to-country-code",
    "ocpi-to-party-id",
)
RESPONSE_HEADER_KEYS = ("x-limit", "x-total-count", "link", "location")

#: Upper bound for a decompressed signature; real ones are a few kB.
MAX_DECOMPRESSED_BYTES = 1 << 20


class NotaryError(ValueError):
    """An OCN-Signature could not be decoded, or a notary operation is invalid."""


@dataclasses.dataclass(frozen=True)
class Rewrite:
    """A stashed earlier signature: the old values at the rewritten paths
    plus that earlier signature's hash, rsv and signatory."""

    rewritten_fields: dict[str, Any]
    hash: str
    rsv: str
    signatory: str

    def to_json(self) -> dict[str, Any]:
        return {
            "rewrittenFields": dict(self.rewritten_fields),
            "hash": self.hash,
            "rsv": self.rsv,
            "signatory": self.signatory,
        }


@dataclasses.dataclass(frozen=True)
class Notary:
    """One OCN-Signature: the newest signature plus the stack of rewrites
    (oldest first, as serialized)."""

    fields: tuple[str, ...]
    hash: str
    rsv: str
    signatory: str
    rewrites: tuple[Rewrite, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The JSON object in the key order the JS package serializes."""
        return {
            "fields": list(self.fields),
            "hash": self.hash,
            "rsv": self.rsv,
            "signatory": self.signatory,
            "rewrites": [r.to_json() for r in self.rewrites],
        }


@dataclasses.dataclass(frozen=True)
class VerifyResult:
    is_valid: bool
    error: str | None = None
    #: Number rendering that reproduced the top-level hash ("js" or "java").
    number_style: NumberStyle | None = None

    def __bool__(self) -> bool:
        return self.is_valid


# -- string forms -------------------------------------------------------------


def _scalar_str(value: Any, style: NumberStyle) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (JsonNumber, int, float)):
        return js_number_str(value) if style == "js" else java_number_str(value)
    raise TypeError(f"cannot sign a value of type {type(value).__name__}")


def _query_str(value: Any, style: NumberStyle) -> str:
    """String form of a value read back at a path, as ``"" + [value]`` in JS."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return "[object Object]"
    if isinstance(value, (list, tuple)):
        return ",".join(_query_str(v, style) for v in value)
    return _scalar_str(value, style)


# -- walking ------------------------------------------------------------------


def walk(values: Any, numbers: NumberStyle = "js") -> tuple[list[str], str]:
    """Return ``(fields, message)`` for a ValuesToSign object.

    ``numbers`` selects how number scalars are stringified: ``"js"`` (the JS
    package and our default) or ``"java"`` (a JVM signer).
    """
    fields: list[str] = []
    parts: list[str] = []
    _walk("$", values, fields, parts, numbers)
    return fields, "".join(parts)


def _walk(path: str, value: Any, fields: list[str], parts: list[str], style: NumberStyle) -> None:
    if value is None or (isinstance(value, str) and value == ""):
        return
    if isinstance(value, dict):
        for key, sub in value.items():
            _walk(f"{path}['{key}']", sub, fields, parts, style)
    elif isinstance(value, (list, tuple)):
        for index, sub in enumerate(value):
            _walk(f"{path}[{index}]", sub, fields, parts, style)
    else:
        fields.append(path)
        parts.append(_scalar_str(value, style))


# -- JSONPath subset: $['key'][0]... -------------------------------------------

_INDEX_RE = re.compile(r"\[(\d+)\]")


def _parse_path(path: str) -> list[str | int] | None:
    """Split a bracket-notation path into keys (str) and indexes (int).

    Returns None if the path is not of the form the walk produces.  A key runs
    up to the first ``']`` that is followed by ``[`` or the end of the path
    (keys containing that sequence cannot be addressed, as in the JS package).
    """
    if not path.startswith("$"):
        return None
    tokens: list[str | int] = []
    i, n = 1, len(path)
    while i < n:
        if path.startswith("['", i):
            j = i + 2
            while True:
                end = path.find("']", j)
                if end < 0:
                    return None
                if end + 2 == n or path[end + 2] == "[":
                    break
                j = end + 1
            tokens.append(path[i + 2 : end])
            i = end + 2
        else:
            m = _INDEX_RE.match(path, i)
            if not m:
                return None
            tokens.append(int(m.group(1)))
            i = m.end()
    return tokens


_MISSING = object()


def _get_path(values: Any, path: str) -> Any:
    tokens = _parse_path(path)
    if tokens is None:
        return _MISSING
    cur = values
    for tok in tokens:
        if isinstance(tok, int):
            if not isinstance(cur, (list, tuple)) or tok >= len(cur):
                return _MISSING
            cur = cur[tok]
        else:
            if not isinstance(cur, dict) or tok not in cur:
                return _MISSING
            cur = cur[tok]
    return cur


def _set_path(values: Any, path: str, new: Any) -> bool:
    """Write ``new`` at ``path``, creating missing objects/array slots."""
    tokens = _parse_path(path)
    if not tokens:
        return False
    cur = values
    for tok, nxt in zip(tokens, tokens[1:] + [None]):
        last = nxt is None
        fresh: Any = new if last else ([] if isinstance(nxt, int) else {})
        if isinstance(tok, int):
            if not isinstance(cur, list):
                return False
            while len(cur) <= tok:
                cur.append(None)
            if last or not isinstance(cur[tok], (dict, list)):
                cur[tok] = fresh
        else:
            if not isinstance(cur, dict):
                return False
            if last or not isinstance(cur.get(tok), (dict, list)):
                cur[tok] = fresh
        if not last:
            cur = cur[tok]
    return True


def _read_message(fields: Iterable[str], values: Any, style: NumberStyle) -> str:
    parts = []
    for field in fields:
        found = _get_path(values, field.lower())
        if found is not _MISSING:
            parts.append(_query_str(found, style))
    return "".join(parts)


def _hash_text(message: str) -> str:
    return "0x" + keccak(message.encode("utf-8")).hex()


def _matches(fields: Iterable[str], values: Any, expected_hash: str) -> NumberStyle | None:
    fields = list(fields)
    if _hash_text(_read_message(fields, values, "js")) == expected_hash:
        return "js"
    if _hash_text(_read_message(fields, values, "java")) == expected_hash:
        return "java"
    return None


# -- keys, signing, recovery -----------------------------------------------------

_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}\Z")
_RSV_RE = re.compile(r"(?:0x)?[0-9a-fA-F]{130}\Z")


def _sign_hash(hash_text: str, key: Any) -> tuple[str, str]:
    return "0x" + eip191.sign(hash_text.encode("utf-8"), key).hex(), eip191.address_of_key(key)


def _recover(hash_text: str, rsv: str) -> str | None:
    if not isinstance(rsv, str) or not _RSV_RE.match(rsv):
        return None
    try:
        return eip191.recover(hash_text.encode("utf-8"), bytes.fromhex(rsv.removeprefix("0x")))
    except eip191.RecoveryError:  # malformed r/s/v: treat as "does not recover"
        return None


def _same_address(recovered: str | None, claimed: Any) -> bool:
    if recovered is None or not isinstance(claimed, str) or not _ADDRESS_RE.match(claimed):
        return False
    return recovered.lower() == claimed.lower()


def sign(values: Any, private_key: Any, numbers: NumberStyle = "js") -> Notary:
    """Sign ValuesToSign with ``private_key`` (hex string, bytes or an
    eth_account LocalAccount).  No rewrites."""
    fields, message = walk(values, numbers)
    hash_text = _hash_text(message)
    rsv, signatory = _sign_hash(hash_text, private_key)
    return Notary(tuple(fields), hash_text, rsv, signatory, ())


def verify(notary: Notary, values: Any) -> VerifyResult:
    """Check ``notary`` against the ValuesToSign it came with.

    Error texts follow the JS package: ``Request has been modified``,
    ``Signatories do not match``, ``Rewrite <n>: Rewritten request hash does
    not match`` and ``Rewrite <n>: Rewritten signatory incorrect`` (n = 0 is
    the newest rewrite).  Signatory comparisons ignore address case.
    """
    style = _matches(notary.fields, values, notary.hash)
    if style is None:
        return VerifyResult(False, MODIFIED)
    if not _same_address(_recover(notary.hash, notary.rsv), notary.signatory):
        return VerifyResult(False, SIGNATORIES_DIFFER)
    current = values
    for index, rw in enumerate(reversed(notary.rewrites)):
        previous = copy.deepcopy(current)
        if not isinstance(previous, dict):
            previous = {}
        for path, old in rw.rewritten_fields.items():
            _set_path(previous, path, copy.deepcopy(old))
        if _matches(notary.fields, previous, rw.hash) is None:
            return VerifyResult(False, f"Rewrite {index}: {REWRITE_HASH_DIFFERS}")
        if not _same_address(_recover(rw.hash, rw.rsv), rw.signatory):
            return VerifyResult(False, f"Rewrite {index}: {REWRITE_SIGNATORY_DIFFERS}")
        current = previous
    return VerifyResult(True, None, style)


def stash(notary: Notary, rewritten_fields: Mapping[str, Any]) -> Notary:
    """Push the current signature onto the rewrite stack.

    ``rewritten_fields`` maps each path the caller is about to change to its
    *old* value, e.g. ``{"$['body']['response_url']": original_url}``.  The
    returned Notary still carries the old signature on top; follow with
    :func:`resign` (or use :func:`rewrite`).
    """
    rw = Rewrite(dict(rewritten_fields), notary.hash, notary.rsv, notary.signatory)
    return dataclasses.replace(notary, rewrites=notary.rewrites + (rw,))


def resign(notary: Notary, values: Any, private_key: Any, numbers: NumberStyle = "js") -> Notary:
    """Sign ``values`` afresh, keeping ``notary``'s rewrite stack."""
    fresh = sign(values, private_key, numbers)
    return dataclasses.replace(fresh, rewrites=notary.rewrites)


def rewrite(
    notary: Notary,
    values: Any,
    rewritten_fields: Mapping[str, Any],
    private_key: Any,
    *,
    numbers: NumberStyle = "js",
    strict: bool = True,
) -> Notary:
    """Stash ``rewritten_fields`` (path -> old value) and sign the modified
    ``values`` with ``private_key`` (the node key).

    Verifiers rebuild older versions over the *newest* field list, so a
    rewrite must not add, drop or reorder signed paths.  With ``strict`` (the
    default) a change in the field list raises :class:`NotaryError` instead of
    producing a signature that would fail downstream.
    """
    result = resign(stash(notary, rewritten_fields), values, private_key, numbers)
    if strict and result.fields != notary.fields:
        raise NotaryError("rewrite changed the list of signed fields; verifiers would reject it")
    return result


# -- serialization ---------------------------------------------------------------


def serialize(notary: Notary, compression: Literal["brotli", "gzip"] = "brotli") -> str:
    """Encode as the ``OCN-Signature`` header value.

    Brotli quality 4 (v1 / JS package, byte-identical output) by default;
    ``compression="gzip"`` for v2 peers.
    """
    raw = rawjson.dumps(notary.to_json()).encode("utf-8")
    if compression == "brotli":
        packed = brotli.compress(raw, quality=4)
    elif compression == "gzip":
        packed = gzip.compress(raw, mtime=0)
    else:
        raise ValueError(f"unknown compression {compression!r}")
    return base64.b64encode(packed).decode("ascii")


def _b64decode(text: str) -> bytes:
    compact = "".join(text.split())
    compact += "=" * (-len(compact) % 4)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        pass
    try:
        return base64.b64decode(compact, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise NotaryError("OCN-Signature is not valid base64") from None


def _decompress(data: bytes) -> bytes:
    limit = MAX_DECOMPRESSED_BYTES
    if data[:2] == b"\x1f\x8b":
        try:
            d = zlib.decompressobj(wbits=31)
            out = d.decompress(data, limit + 1)
        except zlib.error as e:
            raise NotaryError(f"OCN-Signature gzip data is corrupt: {e}") from None
        if len(out) > limit:
            raise NotaryError("OCN-Signature decompresses to more than the allowed size")
        if not d.eof:
            raise NotaryError("OCN-Signature gzip data is truncated")
        return out
    try:
        d = brotli.Decompressor()
        out = d.process(data, output_buffer_limit=limit + 1)
    except brotli.error as e:
        raise NotaryError(f"OCN-Signature is neither Brotli nor gzip data: {e}") from None
    if len(out) > limit:
        raise NotaryError("OCN-Signature decompresses to more than the allowed size")
    if not d.is_finished():
        raise NotaryError("OCN-Signature Brotli data is truncated")
    return out


def _want_str(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise NotaryError(f"OCN-Signature {where}: '{key}' must be a string")
    return value


def deserialize(text: str | bytes) -> Notary:
    """Decode an ``OCN-Signature`` value (Brotli or gzip, base64).

    Raises :class:`NotaryError` for anything that is not a well-formed
    signature object.
    """
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("ascii")
        except UnicodeDecodeError:
            raise NotaryError("OCN-Signature is not valid base64") from None
    if not isinstance(text, str) or not text.strip():
        raise NotaryError("OCN-Signature is empty")
    raw = _decompress(_b64decode(text))
    try:
        obj = rawjson.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise NotaryError(f"OCN-Signature does not contain valid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise NotaryError("OCN-Signature JSON is not an object")
    fields = obj.get("fields")
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise NotaryError("OCN-Signature: 'fields' must be a list of strings")
    rewrites_json = obj.get("rewrites")
    if rewrites_json is None:
        rewrites_json = []
    if not isinstance(rewrites_json, list):
        raise NotaryError("OCN-Signature: 'rewrites' must be a list")
    rewrites = []
    for i, rw in enumerate(rewrites_json):
        where = f"rewrite {i}"
        if not isinstance(rw, dict):
            raise NotaryError(f"OCN-Signature {where} is not an object")
        rf = rw.get("rewrittenFields")
        if rf is None:
            rf = {}
        if not isinstance(rf, dict):
            raise NotaryError(f"OCN-Signature {where}: 'rewrittenFields' must be an object")
        rewrites.append(
            Rewrite(
                rf,
                _want_str(rw, "hash", where),
                _want_str(rw, "rsv", where),
                _want_str(rw, "signatory", where),
            )
        )
    return Notary(
        tuple(fields),
        _want_str(obj, "hash", "object"),
        _want_str(obj, "rsv", "object"),
        _want_str(obj, "signatory", "object"),
        tuple(rewrites),
    )


# -- building ValuesToSign ----------------------------------------------------------


def _header_map(headers: Any) -> dict[str, str]:
    """Lower-cased header name -> first value, from a mapping, a Twisted
    ``Headers`` or an iterable of pairs.  Bytes are decoded as Latin-1 (what
    Node.js and Tomcat hand to their notaries)."""

    def text(v: Any) -> str | None:
        if isinstance(v, (list, tuple)):
            v = v[0] if v else None
        if v is None:
            return None
        if isinstance(v, (bytes, bytearray)):
            return bytes(v).decode("latin-1")
        return str(v)

    if headers is None:
        return {}
    if hasattr(headers, "getAllRawHeaders"):
        pairs: Iterable[Any] = headers.getAllRawHeaders()
    elif isinstance(headers, Mapping):
        pairs = headers.items()
    else:
        pairs = headers
    out: dict[str, str] = {}
    for name, value in pairs:
        key = text(name)
        val = text(value)
        if key is None or val is None:
            continue
        out.setdefault(key.lower(), val)
    return out


def _values(headers: dict[str, str], keys: Iterable[str]) -> dict[str, str]:
    return {k: headers[k] for k in keys if k in headers}


def request_values(headers: Any, params: Mapping[str, Any] | None = None, body: Any = None) -> dict[str, Any]:
    """ValuesToSign of a request: the correlation id and the four routing
    headers (lower-case keys, fixed order), query params and body."""
    out: dict[str, Any] = {}
    hv = _values(_header_map(headers), REQUEST_HEADER_KEYS)
    if hv:
        out["headers"] = hv
    if params:
        out["params"] = dict(params)
    if body is not None:
        out["body"] = body
    return out


def response_values(headers: Any, envelope: Any) -> dict[str, Any]:
    """ValuesToSign of a response: ``x-limit``, ``x-total-count``, ``link``,
    ``location`` and the OCPI envelope (any ``ocn_signature`` member is
    dropped)."""
    out: dict[str, Any] = {}
    hv = _values(_header_map(headers), RESPONSE_HEADER_KEYS)
    if hv:
        out["headers"] = hv
    if isinstance(envelope, dict):
        envelope = {k: v for k, v in envelope.items() if k != "ocn_signature"}
    if envelope is not None:
        out["body"] = envelope
    return out
