"""Helpers for the security tests: nodes with custom settings, handshakes, tiny party servers."""

from __future__ import annotations

import json

import attrs
import pytest_twisted
from klein import Klein

from ocnd import ocpi

from support import RunningNode, call, start_node


@attrs.define
class SecNode(RunningNode):
    secrets: list = attrs.Factory(list)
    events: list = attrs.Factory(list)

    async def token_a(self, parties=(("DE", "CPO"),)) -> str:
        code, body, _ = await call("POST", self.url("/admin/generate-registration-token"),
                                   headers=self.admin_headers(),
                                   json_body=[{"country_code": cc, "party_id": pid} for cc, pid in parties])
        assert code == 200, body
        return json.loads(body)["token"]

    async def register(self, credentials: dict, version: str = "2.2"):
        """Admin token + POST credentials; returns (http code, envelope, token A)."""
        parties = [(r["country_code"], r["party_id"]) for r in credentials["roles"]]
        tok = await self.token_a(parties)
        for cc, pid in parties:
            self.list_party(cc, pid)
        code, body, _ = await call("POST", self.url(f"/ocpi/{version}/credentials"),
                                   headers={"Authorization": f"Token {tok}"}, json_body=credentials)
        return code, json.loads(body), tok


@pytest_twisted.async_yield_fixture
async def nodes(tmp_path):
    """Factory: ``await nodes(**env)`` starts a node (own data dir); all are stopped at teardown."""
    started: list[SecNode] = []
    counter = [0]

    async def factory(**env) -> SecNode:
        counter[0] += 1
        d = tmp_path / f"n{counter[0]}"
        d.mkdir()
        n = await start_node(d, cls=SecNode, **env)
        started.append(n)
        return n

    yield factory
    for n in started:
        await n.service.stopService()


class StaticParty:
    """A minimal party server whose versions/details documents are given verbatim."""

    def __init__(self, reactor) -> None:
        self.reactor = reactor
        self.docs: dict[str, object] = {}
        self.hits: list[str] = []
        self.app = Klein()
        self.app.route("/", branch=True, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])(self._handle)
        self.port = None
        self.base = ""

    async def start(self):
        from twisted.web.server import Site

        self.port = self.reactor.listenTCP(0, Site(self.app.resource()), interface="127.0.0.1")
        self.base = f"http://127.0.0.1:{self.port.getHost().port}"
        return self

    async def stop(self):
        if self.port is not None:
            await self.port.stopListening()

    def _handle(self, request):
        path = request.path.decode()
        self.hits.append(path)
        request.setHeader("Content-Type", "application/json")
        if path in self.docs:
            return ocpi.dumps(ocpi.envelope(ocpi.SUCCESS, self.reactor.seconds(), self.docs[path]))
        return ocpi.dumps(ocpi.envelope(ocpi.SUCCESS, self.reactor.seconds()))


@pytest_twisted.async_yield_fixture
async def static_party():
    from twisted.internet import reactor

    sp = await StaticParty(reactor).start()
    yield sp
    await sp.stop()
