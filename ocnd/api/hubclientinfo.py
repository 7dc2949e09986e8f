"""HubClientInfo sender interface (node as hub) and ``PUT /ocn/client-info``."""

from __future__ import annotations

from klein import Klein

from .. import hubclientinfo, ocpi
from ..ocpi import OcpiError
from .auth import TokenAuth
from .common import Responder, send_text

MAX_LIMIT = 100


class HubClientInfoApi:
    def __init__(self, *, store, auth: TokenAuth, responder: Responder, service, public_url: str,
                 versions: tuple[str, ...], v1_blacklist: bool = False) -> None:
        self.store = store
        self.auth = auth
        self.responder = responder
        self.service = service
        self.public_url = public_url
        self.versions = versions
        self.v1_blacklist = v1_blacklist

    def install(self, app: Klein) -> None:
        for v in self.versions:
            app.route(f"/ocpi/{v}/hubclientinfo", methods=["GET"], endpoint=f"hci_list_{v}")(self._bind(v))
        app.route("/ocn/client-info", methods=["PUT"], endpoint="hci_from_node")(self.from_node)

    def _bind(self, version):
        async def handler(request):
            return await self.get_list(request, version)

        return handler

    async def get_list(self, request, version):
        for name in ("X-Request-ID", "X-Correlation-ID", "OCPI-from-country-code", "OCPI-from-party-id"):
            if not request.getHeader(name):
                raise OcpiError(ocpi.INVALID_PARAMS, f"Missing required header: {name}", 400)
        platform, _ = await self.auth.require_token_c(request)
        cc, pid = request.getHeader("OCPI-from-country-code"), request.getHeader("OCPI-from-party-id")
        if not any(r.country_code == cc.upper() and r.party_id == pid.upper() for r in platform.roles):
            raise OcpiError(ocpi.INVALID_PARAMS, "Could not find role on sending platform using OCPI-from-* headers",
                            400)
        try:
            offset = int(request.args.get(b"offset", [b"0"])[0])
            limit = int(request.args.get(b"limit", [str(MAX_LIMIT).encode()])[0])
        except ValueError:
            raise OcpiError(ocpi.INVALID_PARAMS, "offset and limit must be whole numbers", 400) from None
        if offset < 0 or limit < 1:
            raise OcpiError(ocpi.INVALID_PARAMS, "offset must be >= 0 and limit >= 1", 400)
        limit = min(limit, MAX_LIMIT)
        infos = await self.store.read(hubclientinfo.visible_list, platform.id, self.v1_blacklist)
        page = infos[offset:offset + limit]
        request.setHeader("X-Total-Count", str(len(infos)))
        request.setHeader("X-Limit", str(limit))
        if offset + limit < len(infos):
            request.setHeader("Link", f'<{self.public_url}/ocpi/{version}/hubclientinfo?offset={offset + limit}'
                                      f'&limit={limit}>; rel="next"')
        return self.responder.ok(request, [i.to_json() for i in page])

    async def from_node(self, request):
        signature = request.getHeader("OCN-Signature")
        if not signature:
            return send_text(request, "Missing OCN-Signature header", 400)
        raw = request.content.read() if request.content is not None else b""
        code, message = await self.service.receive_from_node(raw, signature)
        if code != 200:
            return send_text(request, message, code)
        request.setResponseCode(200)
        return b""
