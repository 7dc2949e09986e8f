"""Functional OCPI modules (every module, both versions) and ``POST /ocn/message``.

The handlers only classify the path and hand over to :class:`ocnd.routing.router.Router`;
every module shares one generic routing path.
"""

from __future__ import annotations

from klein import Klein

from ..routing.paths import classify
from ..routing.router import Reply, Router

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def write_reply(request, reply: Reply) -> bytes:
    request.setResponseCode(reply.code)
    request.setHeader(b"Content-Type", b"application/json")
    for name, value in reply.headers.items():
        request.setHeader(name, value)
    return reply.body


class ModulesApi:
    def __init__(self, router: Router) -> None:
        self.router = router

    def install(self, app: Klein) -> None:
        app.route("/ocpi/<path:rest>", methods=METHODS, endpoint="ocpi_modules")(self.handle)
        app.route("/ocn/message", methods=["POST"], endpoint="ocn_message")(self.message)

    async def handle(self, request, rest):
        route = classify(request.method.decode(), rest.split("/"))
        reply = await self.router.from_party(request, route)
        return write_reply(request, reply)

    async def message(self, request):
        reply = await self.router.from_node(request)
        return write_reply(request, reply)
