"""Infrastructure endpoints: health and the registry helpers bridges use."""

from __future__ import annotations

from klein import Klein

from .. import __version__
from .common import send_json, send_text


class InfraApi:
    def __init__(self, *, store, registry, clock, started_at: float, public_url: str,
                 node_address: str) -> None:
        self.store = store
        self.registry = registry
        self.clock = clock
        self.started_at = started_at
        self.public_url = public_url
        self.node_address = node_address

    def install(self, app: Klein) -> None:
        app.route("/health", methods=["GET"], endpoint="health")(self.health)
        app.route("/ocn/registry/node-info", methods=["GET"], endpoint="node_info")(self.node_info)
        app.route("/ocn/registry/node/<cc>/<pid>", methods=["GET"], endpoint="node_of")(self.node_of)

    async def health(self, request):
        store_ok = await self.store.check()
        fmt = request.args.get(b"format", [b""])[0]
        wants_json = fmt == b"json" or b"application/json" in (request.getHeader(b"accept") or b"")
        if not wants_json:
            return send_text(request, "OK" if store_ok else "UNHEALTHY", 200 if store_ok else 503)
        now = self.clock.seconds()
        reg = self.registry.status(now)
        body = {
            "status": "OK" if store_ok else "UNHEALTHY",
            "version": __version__,
            "uptime": round(now - self.started_at, 3),
            "node": {"url": self.public_url, "address": self.node_address.lower()},
            "store": {"ok": store_ok, "writable": self.store.write_error is None, "error": self.store.last_error},
            "registry": reg,
        }
        return send_json(request, body, 200 if store_ok else 503)

    def node_info(self, request):
        return send_json(request, {"url": self.public_url, "address": self.node_address.lower()})

    def node_of(self, request, cc, pid):
        listing = self.registry.get_operator(cc.upper(), pid.upper())
        if listing is None or not listing.url:
            return send_text(request, "Party not registered on OCN")
        return send_json(request, {"url": listing.url, "address": listing.operator})
