"""Admin API: registration tokens, connection status, platform listing.

Every route requires ``Authorization: Token <api key>`` (compared in constant
time).  Responses never contain tokens other than a freshly generated Token A.
"""

from __future__ import annotations

import secrets

from klein import Klein
from twisted.logger import Logger

from .. import ocpi, platforms
from ..platforms import RoleConflict
from .auth import AdminAuth
from .common import read_json, send_json, send_text
from ..ocpi import OcpiError


class AdminApi:
    log = Logger()

    def __init__(self, *, store, clock, auth: AdminAuth, public_url: str, token_ttl: float) -> None:
        self.store = store
        self.clock = clock
        self.auth = auth
        self.public_url = public_url
        self.token_ttl = token_ttl

    def install(self, app: Klein) -> None:
        app.route("/admin/generate-registration-token", methods=["POST"],
                  endpoint="admin_token")(self.generate_token)
        app.route("/admin/connection-status/<cc>/<pid>", methods=["GET"],
                  endpoint="admin_status")(self.connection_status)
        app.route("/admin/platforms", methods=["GET"], endpoint="admin_platforms")(self.list_platforms)
        app.route("/admin/platforms/<int:platform_id>", methods=["DELETE"],
                  endpoint="admin_platform_delete")(self.delete_platform)

    def _denied(self, request):
        if self.auth.check(request):
            return None
        return send_text(request, "Unauthorized", 401)

    async def generate_token(self, request):
        denied = self._denied(request)
        if denied is not None:
            return denied
        try:
            body = read_json(request)
        except OcpiError as e:
            return send_text(request, e.message, 400)
        if isinstance(body, dict):
            body = [body]
        parties = []
        if not isinstance(body, list) or not body:
            return send_text(request, "Expected a JSON array of {\"country_code\", \"party_id\"}", 400)
        for entry in body:
            cc = entry.get("country_code") if isinstance(entry, dict) else None
            pid = entry.get("party_id") if isinstance(entry, dict) else None
            if not ocpi.valid_country_code(cc) or not ocpi.valid_party_id(pid):
                return send_text(request, f"Invalid party {entry!r}: need 2-letter country_code and "
                                          "3-character party_id", 400)
            parties.append((cc.upper(), pid.upper()))
        token = secrets.token_urlsafe(32)
        now = self.clock.seconds()
        expires = now + self.token_ttl if self.token_ttl > 0 else None
        try:
            await self.store.run(platforms.create_planned, parties, ocpi.token_hash(token), now, expires)
        except RoleConflict as e:
            return send_text(request, f"Role {e.country_code}/{e.party_id} already exists", 400)
        self.log.info("registration token issued for {parties}",
                      parties=",".join(f"{cc}/{pid}" for cc, pid in parties))
        return send_json(request, {"token": token, "versions": f"{self.public_url}/ocpi/versions"})

    async def connection_status(self, request, cc, pid):
        denied = self._denied(request)
        if denied is not None:
            return denied
        status = await self.store.read(platforms.connection_status, cc, pid)
        if status is None:
            return send_text(request, "Role not found", 404)
        return send_text(request, status)

    async def list_platforms(self, request):
        denied = self._denied(request)
        if denied is not None:
            return denied
        return send_json(request, await self.store.read(platforms.listing))

    async def delete_platform(self, request, platform_id):
        denied = self._denied(request)
        if denied is not None:
            return denied
        existing = await self.store.read(platforms.get, platform_id)
        if existing is None:
            return send_text(request, "Platform not found", 404)
        await self.store.run(platforms.delete, platform_id)
        self.log.info("platform {id} deleted by admin", id=platform_id)
        return send_json(request, {"deleted": platform_id})
