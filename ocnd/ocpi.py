"""OCPI envelope, status codes, errors and token handling (pure logic)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import datetime, timezone
from typing import Any

# status codes (OCPI 2.2 §5 plus OCN hub codes)
SUCCESS = 1000
CLIENT_ERROR = 2000
INVALID_PARAMS = 2001
NOT_ENOUGH_INFO = 2002
UNKNOWN_LOCATION = 2003
UNKNOWN_TOKEN = 2004
SERVER_ERROR = 3000
UNUSABLE_API = 3001
UNSUPPORTED_VERSION = 3002
NO_MATCHING_ENDPOINTS = 3003
HUB_ERROR = 4000
UNKNOWN_RECEIVER = 4001
TIMEOUT = 4002
CONNECTION_PROBLEM = 4003


class OcpiError(Exception):
    """An error that is answered with an OCPI envelope."""

    def __init__(self, status_code: int, message: str, http_status: int = 200) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.http_status = http_status


def timestamp(seconds: float) -> str:
    """ISO-8601 UTC with milliseconds and Z, e.g. 2020-03-25T09:49:05.429Z."""
    dt = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def envelope(status_code: int, now: float, data: Any = None, message: str | None = None) -> dict:
    """The response envelope with keys in the order OCPI clients expect."""
    out: dict[str, Any] = {"status_code": status_code}
    if message is not None:
        out["status_message"] = message
    if data is not None:
        out["data"] = data
    out["timestamp"] = timestamp(now)
    return out


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def token_candidates(header: str | bytes | None) -> list[str]:
    """Possible tokens in an Authorization header.

    Accepts ``Token <t>`` (any case), a bare token, and the OCPI 2.2.1 style
    where ``<t>`` is base64 encoded: the raw value comes first, then the
    decoded one if the value is valid base64 of printable text.
    """
    if header is None:
        return []
    if isinstance(header, bytes):
        header = header.decode("latin-1")
    header = header.strip()
    if not header:
        return []
    parts = header.split(" ")
    raw = parts[-1]
    if not raw:
        return []
    out = [raw]
    try:
        decoded = base64.b64decode(raw, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    if decoded and decoded != raw and decoded.isprintable() and " " not in decoded:
        out.append(decoded)
    return out


def token_hash(token: str) -> str:
    """SHA-256 hex digest used to store tokens the node only has to recognise."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def auth_header(token: str, version: str) -> str:
    """Authorization header value for calling a party with its Token B."""
    if version == "2.2.1":
        return "Token " + base64.b64encode(token.encode("utf-8")).decode("ascii")
    return "Token " + token


def valid_country_code(v: str) -> bool:
    return isinstance(v, str) and len(v) == 2 and v.isascii() and v.isalpha()


def valid_party_id(v: str) -> bool:
    return isinstance(v, str) and len(v) == 3 and v.isascii() and v.isalnum()


def next_link(link: str | None) -> str | None:
    """URL of the ``rel="next"`` entry of a Link header, or None."""
    if not link:
        return None
    for entry in link.split(","):
        entry = entry.strip()
        if 'rel="next"' in entry or "rel=next" in entry:
            start, end = entry.find("<"), entry.find(">")
            if 0 <= start < end:
                return entry[start + 1:end]
    return None
