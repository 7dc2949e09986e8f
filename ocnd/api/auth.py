"""Token authentication for party-facing endpoints and the admin API."""

from __future__ import annotations

import hashlib
import hmac

from .. import ocpi, platforms
from ..ocpi import OcpiError
from ..platforms import Platform


class TokenAuth:
    """Resolves Authorization headers to platforms (Token A / Token C).

    Tokens are stored as SHA-256 digests and looked up by digest, so the
    secret itself is never compared byte by byte (lookup timing can at most
    reveal digest prefixes, useless for finding a token); both plain and
    base64 (OCPI 2.2.1) forms are accepted.  Every failure ends in HTTP 401,
    which the Site counts per client IP (``ocnd.security.AuthLimiter``).
    """

    def __init__(self, store, clock) -> None:
        self.store = store
        self.clock = clock

    async def token_a_platform(self, request) -> tuple[Platform, str] | None:
        now = self.clock.seconds()
        for candidate in ocpi.token_candidates(request.getHeader("Authorization")):
            digest = ocpi.token_hash(candidate)
            p = await self.store.read(platforms.find_by_token_a, digest, now)
            if p is not None:
                return p, digest
        return None

    async def token_c_platform(self, request) -> tuple[Platform, str] | None:
        for candidate in ocpi.token_candidates(request.getHeader("Authorization")):
            digest = ocpi.token_hash(candidate)
            p = await self.store.read(platforms.find_by_token_c, digest)
            if p is not None:
                return p, digest
        return None

    async def require_token_c(self, request) -> tuple[Platform, str]:
        found = await self.token_c_platform(request)
        if found is None:
            raise OcpiError(ocpi.INVALID_PARAMS, "Invalid CREDENTIALS_TOKEN_C", 401)
        return found


class AdminAuth:
    """``Authorization: Token <api key>`` compared in constant time.

    Both sides are hashed first so ``compare_digest`` always sees 32 bytes:
    neither the key's content nor its length leaks through timing.  Failed
    checks answer 401 and count for the per-IP limiter (``ocnd.security``).
    """

    def __init__(self, api_key: str) -> None:
        self._digest = hashlib.sha256(api_key.encode("utf-8")).digest()

    def check(self, request) -> bool:
        value = request.getHeader("Authorization") or ""
        presented = value.split(" ")[-1].encode("utf-8", "surrogateescape")
        return hmac.compare_digest(hashlib.sha256(presented).digest(), self._digest)
