"""OCPI credentials module (registration handshake) for 2.2 and 2.2.1."""

from __future__ import annotations

import secrets
from typing import Any

from klein import Klein
from twisted.logger import Logger

from .. import ocpi, platforms
from ..handshake import fetch_party_api
from ..ocpi import OcpiError
from ..platforms import PartyRole, RoleConflict
from .auth import TokenAuth
from .common import Responder, read_json

_ROLES = ("CPO", "EMSP", "HUB", "NAP", "NSP", "OTHER", "SCSP")


def parse_credentials(body: Any) -> tuple[str, str, list[PartyRole]]:
    """Validate an OCPI Credentials object; 2001 on anything malformed."""
    def bad(msg: str) -> OcpiError:
        return OcpiError(ocpi.INVALID_PARAMS, f"Invalid credentials object: {msg}", 400)

    if not isinstance(body, dict):
        raise bad("expected a JSON object")
    token, url, roles = body.get("token"), body.get("url"), body.get("roles")
    if not isinstance(token, str) or not token or len(token) > 64:
        raise bad("token must be a non-empty string of at most 64 characters")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise bad("url must be an http(s) URL")
    if not isinstance(roles, list) or not roles:
        raise bad("roles must be a non-empty list")
    out = []
    for i, r in enumerate(roles):
        if not isinstance(r, dict):
            raise bad(f"roles[{i}] must be an object")
        role, cc, pid = r.get("role"), r.get("country_code"), r.get("party_id")
        if role not in _ROLES:
            raise bad(f"roles[{i}].role must be one of {', '.join(_ROLES)}")
        if not ocpi.valid_country_code(cc):
            raise OcpiError(ocpi.INVALID_PARAMS, f'Given country_code "{cc}" not 2 characters', 400)
        if not ocpi.valid_party_id(pid):
            raise OcpiError(ocpi.INVALID_PARAMS, f'Given party-id "{pid}" not 3 characters', 400)
        out.append(PartyRole(role, cc.upper(), pid.upper(), r.get("business_details")))
    return token, url, out


class CredentialsApi:
    """GET/POST/PUT/DELETE /ocpi/{2.2,2.2.1}/credentials."""

    log = Logger()

    def __init__(self, *, store, clock, auth: TokenAuth, responder: Responder, http, registry,
                 node_address: str, public_url: str, hub_identity: dict, versions: tuple[str, ...],
                 signatures: bool, request_timeout: float, reactor, hub=None) -> None:
        self.store = store
        self.clock = clock
        self.auth = auth
        self.responder = responder
        self.http = http
        self.registry = registry
        self.node_address = node_address.lower()
        self.public_url = public_url
        self.hub_identity = hub_identity
        self.versions = versions
        self.signatures = signatures
        self.request_timeout = request_timeout
        self.reactor = reactor
        self.hub = hub

    def install(self, app: Klein) -> None:
        for v in self.versions:
            path = f"/ocpi/{v}/credentials"
            app.route(path, methods=["GET"], endpoint=f"cred_get_{v}")(self._bind(self.get, v))
            app.route(path, methods=["POST"], endpoint=f"cred_post_{v}")(self._bind(self.post, v))
            app.route(path, methods=["PUT"], endpoint=f"cred_put_{v}")(self._bind(self.put, v))
            app.route(path, methods=["DELETE"], endpoint=f"cred_delete_{v}")(self._bind(self.delete, v))

    @staticmethod
    def _bind(method, version):
        async def handler(request):
            return await method(request, version)

        return handler

    def _wanted(self, version: str) -> tuple[str, ...]:
        others = tuple(v for v in ("2.2.1", "2.2") if v != version)
        return (version,) + others

    def node_credentials(self, token_c: str) -> dict:
        return {"token": token_c, "url": f"{self.public_url}/ocpi/versions", "roles": [self.hub_identity]}

    async def _check_registry(self, roles: list[PartyRole]) -> None:
        for r in roles:
            listing = await self.registry.lookup_party(r.country_code, r.party_id)
            ok = (listing is not None and listing.operator.lower() == self.node_address
                  and listing.url.rstrip("/") == self.public_url)
            if not ok:
                raise OcpiError(
                    ocpi.INVALID_PARAMS,
                    f"Role with party_id={r.party_id} and country_code={r.country_code} "
                    "not listed in OCN Registry with my node info!", 400)

    def _changed(self, roles, status: str, platform_id: int) -> None:
        if self.hub is None:
            return
        from ..hubclientinfo import ClientInfo

        now = self.clock.seconds()
        self.hub.platform_changed([ClientInfo(r.party_id, r.country_code, r.role, status, now) for r in roles],
                                  platform_id)

    async def get(self, request, version):
        platform, _digest = await self.auth.require_token_c(request)
        # Token C is only stored hashed: echo the caller's own token back.
        presented = ocpi.token_candidates(request.getHeader("Authorization"))
        token_c = next(t for t in presented if ocpi.token_hash(t) == _digest)
        return self.responder.ok(request, self.node_credentials(token_c))

    async def post(self, request, version):
        found = await self.auth.token_a_platform(request)
        if found is None:
            if await self.auth.token_c_platform(request) is not None:
                raise OcpiError(ocpi.CLIENT_ERROR,
                                "Platform already registered; use PUT to update credentials", 405)
            raise OcpiError(ocpi.INVALID_PARAMS, "Invalid CREDENTIALS_TOKEN_A", 401)
        platform, token_a_digest = found
        token_b, versions_url, roles = parse_credentials(read_json(request))
        api = await fetch_party_api(self.http, versions_url, token_b, self._wanted(version),
                                    self.request_timeout, self.reactor, ocpi.NO_MATCHING_ENDPOINTS)
        await self._check_registry(roles)
        token_c = secrets.token_urlsafe(32)
        try:
            await self.store.run(platforms.register, platform.id, token_a_digest, token_b,
                                 ocpi.token_hash(token_c), versions_url, api.version, roles,
                                 list(api.endpoints), self.signatures, self.clock.seconds())
        except RoleConflict as e:
            raise OcpiError(ocpi.INVALID_PARAMS,
                            f"Role with party_id={e.party_id} and country_code={e.country_code} "
                            "already connected to this node!", 400) from None
        except LookupError:
            raise OcpiError(ocpi.INVALID_PARAMS, "Invalid CREDENTIALS_TOKEN_A", 401) from None
        self._changed(roles, "CONNECTED", platform.id)
        self.log.info("platform {id} registered: {roles} (OCPI {version})", id=platform.id,
                      roles=",".join(f"{r.country_code}/{r.party_id}/{r.role}" for r in roles),
                      version=api.version)
        return self.responder.ok(request, self.node_credentials(token_c))

    async def put(self, request, version):
        platform, old_digest = await self.auth.require_token_c(request)
        token_b, versions_url, roles = parse_credentials(read_json(request))
        api = await fetch_party_api(self.http, versions_url, token_b, self._wanted(version),
                                    self.request_timeout, self.reactor, ocpi.INVALID_PARAMS)
        await self._check_registry(roles)
        token_c = secrets.token_urlsafe(32)
        try:
            await self.store.run(platforms.update, platform.id, old_digest, token_b, ocpi.token_hash(token_c),
                                 versions_url, api.version, roles, list(api.endpoints), self.clock.seconds())
        except RoleConflict as e:
            raise OcpiError(ocpi.INVALID_PARAMS,
                            f"Role with party_id={e.party_id} and country_code={e.country_code} "
                            "already connected to this node!", 400) from None
        except LookupError:
            raise OcpiError(ocpi.INVALID_PARAMS, "Invalid CREDENTIALS_TOKEN_C", 401) from None
        self.log.info("platform {id} updated its credentials", id=platform.id)
        return self.responder.ok(request, self.node_credentials(token_c))

    async def delete(self, request, version):
        platform, _digest = await self.auth.require_token_c(request)
        await self.store.run(platforms.delete, platform.id)
        self._changed(platform.roles, "SUSPENDED", platform.id)
        self.log.info("platform {id} unregistered", id=platform.id)
        return self.responder.ok(request)
