"""OCPI versions and version-details endpoints (the node as hub)."""

from __future__ import annotations

from klein import Klein

from .. import ocpi
from ..ocpi import OcpiError
from .auth import TokenAuth
from .common import Responder

# (identifier, role, path template) in the order the v1 node advertises them.
# {v} is the OCPI version.  chargingprofiles and ocnrules are advertised with
# the v1 spelling; both spellings are served (see ocnd.api.routes).
ENDPOINTS = [
    ("cdrs", "SENDER", "/ocpi/sender/{v}/cdrs"),
    ("cdrs", "RECEIVER", "/ocpi/receiver/{v}/cdrs"),
    ("chargingprofiles", "SENDER", "/ocpi/sender/{v}/chargingprofiles"),
    ("chargingprofiles", "RECEIVER", "/ocpi/receiver/{v}/chargingprofiles"),
    ("commands", "SENDER", "/ocpi/sender/{v}/commands"),
    ("commands", "RECEIVER", "/ocpi/receiver/{v}/commands"),
    ("credentials", "SENDER", "/ocpi/{v}/credentials"),
    ("hubclientinfo", "SENDER", "/ocpi/{v}/hubclientinfo"),
    ("locations", "SENDER", "/ocpi/sender/{v}/locations"),
    ("locations", "RECEIVER", "/ocpi/receiver/{v}/locations"),
    ("sessions", "SENDER", "/ocpi/sender/{v}/sessions"),
    ("sessions", "RECEIVER", "/ocpi/receiver/{v}/sessions"),
    ("tariffs", "SENDER", "/ocpi/sender/{v}/tariffs"),
    ("tariffs", "RECEIVER", "/ocpi/receiver/{v}/tariffs"),
    ("tokens", "SENDER", "/ocpi/sender/{v}/tokens"),
    ("tokens", "RECEIVER", "/ocpi/receiver/{v}/tokens"),
    ("custom", "SENDER", "/ocpi/custom/sender"),
    ("custom", "RECEIVER", "/ocpi/custom/receiver"),
    ("ocnrules", "RECEIVER", "/ocpi/{v}/receiver/ocnrules"),
]


class VersionsApi:
    """GET /ocpi/versions and GET /ocpi/{version}; Token A or Token C."""

    def __init__(self, public_url: str, versions: tuple[str, ...], auth: TokenAuth,
                 responder: Responder) -> None:
        self.public_url = public_url
        self.versions = versions
        self.auth = auth
        self.responder = responder

    def install(self, app: Klein) -> None:
        app.route("/ocpi/versions", methods=["GET"], endpoint="versions")(self.versions_list)
        for v in self.versions:
            app.route(f"/ocpi/{v}", methods=["GET"], endpoint=f"version_details_{v}")(
                self._details_handler(v))

    async def _authorize(self, request) -> None:
        if await self.auth.token_a_platform(request) is None and await self.auth.token_c_platform(request) is None:
            raise OcpiError(ocpi.INVALID_PARAMS, "Invalid CREDENTIALS_TOKEN_A", 401)

    async def versions_list(self, request):
        await self._authorize(request)
        data = [{"version": v, "url": f"{self.public_url}/ocpi/{v}"} for v in self.versions]
        return self.responder.ok(request, data)

    def _details_handler(self, version: str):
        async def details(request):
            await self._authorize(request)
            return self.responder.ok(request, self.details(version))

        return details

    def details(self, version: str) -> dict:
        return {
            "version": version,
            "endpoints": [
                {"identifier": ident, "role": role, "url": self.public_url + path.format(v=version)}
                for ident, role, path in ENDPOINTS
            ],
        }
