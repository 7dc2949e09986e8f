"""OcnRules configuration module (receiver interface, Token C only).

Served for every OCPI version under both spellings, because v1 advertised
``/ocpi/{v}/receiver/ocnrules`` but served ``/ocpi/receiver/{v}/ocnrules``.
"""

from __future__ import annotations

from klein import Klein

from .. import rules
from .auth import TokenAuth
from .common import Responder, read_json


class RulesApi:
    """GET/PUT/POST/DELETE .../ocnrules[...] for the calling platform."""

    def __init__(self, *, store, auth: TokenAuth, responder: Responder, versions: tuple[str, ...],
                 node_signatures: bool = False, cache: rules.RulesCache | None = None) -> None:
        self.store = store
        self.auth = auth
        self.responder = responder
        self.versions = tuple(versions)
        self.node_signatures = node_signatures
        self.cache = cache

    def install(self, app: Klein) -> None:
        routes = [
            ("", ["GET"], "get", self.get),
            ("/signatures", ["PUT"], "signatures", self.signatures),
            ("/block-all", ["PUT"], "block_all", self.block_all),
        ]
        for kind in rules.KINDS:
            routes += [
                (f"/{kind}", ["PUT"], f"put_{kind}", self._bind(self.replace, kind)),
                (f"/{kind}", ["POST"], f"post_{kind}", self._bind(self.append, kind)),
                (f"/{kind}/<cc>/<pid>", ["DELETE"], f"delete_{kind}", self._bind(self.delete, kind)),
            ]
        for v in self.versions:
            for n, base in enumerate((f"/ocpi/receiver/{v}/ocnrules", f"/ocpi/{v}/receiver/ocnrules")):
                for suffix, methods, name, handler in routes:
                    app.route(base + suffix, methods=methods,
                              endpoint=f"ocnrules_{name}_{v}_{n}")(handler)

    @staticmethod
    def _bind(method, kind):
        async def handler(request, **kw):
            return await method(request, kind, **kw)

        return handler

    async def _write(self, request, fn, *args, platform=None):
        if platform is None:
            platform, _ = await self.auth.require_token_c(request)
        try:
            result = await self.store.run(fn, platform.id, *args)
        finally:
            if self.cache is not None:
                self.cache.invalidate(platform.id)
        return result

    async def get(self, request, **_kw):
        platform, _ = await self.auth.require_token_c(request)
        data = await self.store.read(rules.get_rules, platform.id, self.node_signatures)
        return self.responder.ok(request, data)

    async def signatures(self, request, **_kw):
        await self._write(request, rules.toggle_signatures, self.node_signatures)
        return self.responder.ok(request)

    async def block_all(self, request, **_kw):
        await self._write(request, rules.block_all)
        return self.responder.ok(request)

    async def replace(self, request, kind):
        platform, _ = await self.auth.require_token_c(request)
        entries = rules.parse_entries(read_json(request))
        await self._write(request, rules.replace_list, kind, entries, platform=platform)
        return self.responder.ok(request)

    async def append(self, request, kind):
        platform, _ = await self.auth.require_token_c(request)
        entry = rules.parse_entry(read_json(request))
        await self._write(request, rules.append, kind, entry, platform=platform)
        return self.responder.ok(request)

    async def delete(self, request, kind, cc, pid):
        await self._write(request, rules.delete_entry, kind, cc, pid)
        return self.responder.ok(request)
