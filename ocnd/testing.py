"""Test helpers shipped with the package: a fake registry and a real party server.

``MockParty`` is a small but real OCPI party (versions, version details,
credentials and a recorder for every module request) served over loopback
HTTP; it is used by ocnd's own tests and is handy for downstream tests.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
from twisted.application import service
from twisted.internet import defer
from twisted.web.server import Site

from .web import TrackingSite

from . import ocpi
from .api.common import Responder, error_mapper
from .api.resource import App
from .registry.model import NodeListing, PartyListing, Role, norm_party


class FakeRegistry(service.Service):
    """In-memory registry with the node-facing interface of RegistryService."""

    def __init__(self) -> None:
        self.parties: dict[tuple[str, str], PartyListing] = {}
        self.ready = defer.succeed(None)
        self.available = True

    def list_party(self, cc: str, pid: str, operator: str, url: str, address: str = "0x" + "11" * 20,
                   roles: tuple[Role, ...] = (Role.CPO,)) -> None:
        cc, pid = norm_party(cc, pid)
        self.parties[(cc, pid)] = PartyListing(address, cc, pid, roles, (), (), operator, url)

    def lookup_party(self, cc: str, pid: str):
        return defer.succeed(self.parties.get(norm_party(cc, pid)))

    def get_party(self, cc: str, pid: str):
        return self.parties.get(norm_party(cc, pid))

    def get_operator(self, cc: str, pid: str):
        p = self.parties.get(norm_party(cc, pid))
        return None if p is None or not p.url else NodeListing(p.operator, p.url)

    def status(self, now: float) -> dict:
        return {"mode": "fake", "ok": self.available, "last_sync_age": 0.0, "last_error": None}


_TrackingSite = TrackingSite  # kept for tests that import the old name


@attrs.define
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    query: dict[str, list[str]]


class MockParty:
    """A real OCPI party server for tests.

    It offers versions ``2.2`` and ``2.2.1`` (configurable), advertises the
    module endpoints given, answers module requests with ``responses`` keyed
    by (method, path) or a default 1000 envelope, and records every request.
    """

    def __init__(self, reactor, *, token_b: str = "token-b-of-party", versions=("2.2",),
                 modules=(("locations", "RECEIVER"), ("locations", "SENDER")), key: str | None = None,
                 country_code: str = "DE", party_id: str = "CPO", role: str = "CPO") -> None:
        self.reactor = reactor
        self.key = key
        self.country_code, self.party_id, self.role = country_code, party_id, role
        self.handler = None  # optional callable(Received) -> (code, headers, body bytes) | None
        self.delay = 0.0     # seconds to wait before answering module requests (slow party)
        self.token_b = token_b
        self.versions = versions
        self.modules = modules
        self.received: list[Received] = []
        self.responses: dict[tuple[str, str], tuple[int, dict[str, str], bytes]] = {}
        self.port = None
        self.base = ""
        self.token_c = ""
        self.app = App(error_mapper(Responder(reactor)))
        for n, rule in enumerate(("/", "/<path:rest>")):
            self.app.route(rule, methods=["GET", "POST", "PUT", "PATCH", "DELETE"], endpoint=f"any{n}")(self._handle)

    def start(self):
        from twisted.internet import endpoints

        ep = endpoints.TCP4ServerEndpoint(self.reactor, 0, backlog=1024, interface="127.0.0.1")
        self.site = _TrackingSite(self.app.resource())
        d = ep.listen(self.site)

        def listening(port):
            self.port = port
            self.base = f"http://127.0.0.1:{port.getHost().port}"
            return self

        return d.addCallback(listening)

    def stop(self):
        """Stop listening and drop open connections (a party that went down)."""
        if not self.port:
            return defer.succeed(None)
        d = defer.maybeDeferred(self.port.stopListening)
        self.site.drop_connections(abort=True)
        return d

    @property
    def versions_url(self) -> str:
        return f"{self.base}/ocpi/versions"

    def credentials(self, roles: list[dict]) -> dict:
        return {"token": self.token_b, "url": self.versions_url, "roles": roles}

    def _authorized(self, request) -> bool:
        return self.token_b in ocpi.token_candidates(request.getHeader("Authorization"))

    def _handle(self, request, rest=None):
        path = request.path.decode()
        body = request.content.read()
        self.received.append(Received(
            request.method.decode(), path,
            {k.decode().lower(): v[0].decode() for k, v in request.requestHeaders.getAllRawHeaders()},
            body, {k.decode(): [x.decode() for x in v] for k, v in request.args.items()}))
        request.setHeader("Content-Type", "application/json")
        now = self.reactor.seconds()
        if not self._authorized(request):
            request.setResponseCode(401)
            return ocpi.dumps(ocpi.envelope(ocpi.INVALID_PARAMS, now, message="Unauthorized"))
        if path == "/ocpi/versions":
            data: Any = [{"version": v, "url": f"{self.base}/ocpi/{v}"} for v in self.versions]
            return ocpi.dumps(ocpi.envelope(ocpi.SUCCESS, now, data))
        for v in self.versions:
            if path == f"/ocpi/{v}":
                data = {"version": v, "endpoints": [
                    {"identifier": m, "role": r, "url": f"{self.base}/ocpi/{v}/{r.lower()}/{m}"}
                    for m, r in self.modules]}
                return ocpi.dumps(ocpi.envelope(ocpi.SUCCESS, now, data))
        key = (request.method.decode(), path)
        answer = self.handler(self.received[-1]) if self.handler is not None else None
        if answer is None and key in self.responses:
            answer = self.responses[key]
        if answer is None:
            answer = (200, {}, ocpi.envelope(ocpi.SUCCESS, now))
        code, headers, payload = answer
        if not isinstance(payload, (bytes, bytearray)):
            payload = self.sign_envelope(payload, headers) if self.key else ocpi.dumps(payload)
        request.setResponseCode(code)
        for k, v in headers.items():
            request.setHeader(k, v)
        if self.delay:
            from twisted.internet import task

            return task.deferLater(self.reactor, self.delay, lambda: payload)
        return payload

    def sign_envelope(self, envelope: dict, headers: dict | None = None) -> bytes:
        """Serialize a response envelope with this party's OCN-Signature."""
        from .signing import notary, rawjson

        sig = notary.sign(notary.response_values(headers or {}, envelope), self.key)
        env = dict(envelope)
        env["ocn_signature"] = notary.serialize(sig)
        return rawjson.dumps(env).encode("utf-8")

    def role_object(self) -> dict:
        return {"role": self.role, "business_details": {"name": f"{self.country_code}/{self.party_id}"},
                "party_id": self.party_id, "country_code": self.country_code}

    @property
    def address(self) -> str:
        from eth_account import Account

        return Account.from_key(self.key).address

    # -- acting as a client of its node --------------------------------------------

    async def send(self, method: str, url: str, to: tuple[str, str], *, body: bytes | None = None,
                   sign: bool | None = None, headers: dict | None = None, correlation_id: str = "corr-1",
                   params: dict | None = None):
        """Send a routed request through the node with Token C; returns (code, headers, body)."""
        import uuid

        import treq

        from .signing import notary, rawjson

        h = {
            "Authorization": f"Token {self.token_c}",
            "X-Request-ID": str(uuid.uuid4()),
            "X-Correlation-ID": correlation_id,
            "OCPI-from-country-code": self.country_code,
            "OCPI-from-party-id": self.party_id,
            "OCPI-to-country-code": to[0],
            "OCPI-to-party-id": to[1],
        }
        if body is not None:
            h["Content-Type"] = "application/json"
        if sign if sign is not None else bool(self.key):
            values = notary.request_values(h, params, rawjson.loads(body) if body else None)
            h["OCN-Signature"] = notary.serialize(notary.sign(values, self.key))
        h.update(headers or {})
        if params:
            from urllib.parse import urlencode

            url += "?" + urlencode(params)
        response = await treq.request(method, url, headers=h, data=body, persistent=False)
        raw = await response.content()
        flat = {k.decode().lower(): v[0].decode() for k, v in response.headers.getAllRawHeaders()}
        return response.code, flat, raw


def json_body(raw: bytes) -> Any:
    return json.loads(raw.decode("utf-8"))


class TwoNodeNetwork:
    """Embedded chain + two real ocnd nodes on loopback + real parties.

    ``node_a`` and ``node_b`` are full :class:`ocnd.node.NodeService` instances
    (own SQLite file, own key, own HTTP port) sharing one embedded chain, the
    way two nodes share Energy Web Chain.  ``add_party(node, ...)`` lists a
    :class:`MockParty` in the registry with that node as operator and runs the
    real credentials handshake.
    """

    def __init__(self, reactor, tmp_dir: str, *, signatures: bool = False, env: dict | None = None,
                 rpc: bool = False) -> None:
        # rpc=True: the chain is served over JSON-RPC on loopback and both nodes use
        # [registry] mode = jsonrpc, as two real deployments would.
        self.rpc = rpc
        self.rpc_service = None
        self.rpc_port = None
        self.reactor = reactor
        self.tmp_dir = tmp_dir
        self.signatures = signatures
        self.env = env or {}
        self.chain = None
        self.nodes: list = []
        self.parties: list[MockParty] = []

    async def start(self):
        import os
        import socket

        from .config import load
        from .keys import load_admin_key
        from .node import NodeService
        from .registry.chain import EmbeddedChain
        from .registry.service import RegistryService
        from .store import Store

        self.chain = EmbeddedChain(self.reactor, None)
        await self.chain.start()
        if self.rpc:
            await self.start_rpc()
        for name, key in (("a", "0x" + "a1" * 32), ("b", "0x" + "b2" * 32)):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            data = os.path.join(self.tmp_dir, f"node-{name}")
            env = {"OCND_NODE_DATA_DIR": data, "OCND_NODE_PUBLIC_URL": f"http://127.0.0.1:{port}",
                   "OCND_NODE_LISTEN": f"tcp:{port}:interface=127.0.0.1",
                   "OCND_NODE_SIGNATURES": "true" if self.signatures else "false",
                   "OCND_REGISTRY_POLL_INTERVAL": "3600",
                   # frozen objects are never collected: many short-lived networks in one test
                   # process would pile them up
                   "OCND_NODE_GC_FREEZE": "false"}
            if self.rpc:
                env.update({"OCND_REGISTRY_MODE": "jsonrpc",
                            "OCND_REGISTRY_RPC_URL": f"http://127.0.0.1:{self.rpc_port}",
                            "OCND_REGISTRY_REGISTRY_ADDRESS": self.chain.registry_address,
                            "OCND_REGISTRY_PERMISSIONS_ADDRESS": self.chain.permissions_address,
                            "OCND_REGISTRY_CHAIN_ID": str(self.chain.chain_id),
                            "OCND_REGISTRY_RPC_TIMEOUT": "2",
                            # parties listen on 127.0.0.1: allow it outside embedded mode too
                            "OCND_SECURITY_ALLOW_PRIVATE_PARTY_URLS": "true"})
                await self._list_node(key, f"http://127.0.0.1:{port}")
            env.update(self.env)
            config = load([], env)
            os.makedirs(data, exist_ok=True)
            store = Store(config.path("store", "path"), self.reactor)
            registry = RegistryService(config=config, reactor=self.reactor, store=store, node_key=key,
                                       chain=None if self.rpc else self.chain)
            node = NodeService(config=config, reactor=self.reactor, store=store, registry=registry,
                               node_key=key, admin_key=load_admin_key(config.path("admin", "api_key_file")))
            node.base = f"http://127.0.0.1:{port}"
            node.startService()
            await node.ready
            self.nodes.append(node)
        await self.sync()
        return self

    async def start_rpc(self, port: int | None = None) -> None:
        import socket

        from twisted.application.internet import StreamServerEndpointService
        from twisted.internet.endpoints import serverFromString

        from .registry.rpcserver import JsonRpcResource

        if port is None:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
        self.rpc_port = port
        self.rpc_site = _TrackingSite(JsonRpcResource(self.chain))
        self.rpc_service = StreamServerEndpointService(
            serverFromString(self.reactor, f"tcp:{port}:interface=127.0.0.1:backlog=1024"), self.rpc_site)
        self.rpc_service.startService()
        await self.rpc_service._waitingForPort

    async def stop_rpc(self) -> None:
        """Take the JSON-RPC endpoint down (and drop kept-alive connections)."""
        if self.rpc_service is not None:
            await defer.maybeDeferred(self.rpc_service.stopService)
            self.rpc_site.drop_connections(abort=True)
            self.rpc_service = None

    async def _list_node(self, key: str, url: str) -> None:
        from .registry.client import EmbeddedBackend, RegistryClient

        client = RegistryClient(EmbeddedBackend(self.chain), self.chain.registry_address,
                                self.chain.permissions_address)
        await client.set_node_raw(key, self.chain.dev_accounts[0][1], url)

    @property
    def node_a(self):
        return self.nodes[0]

    @property
    def node_b(self):
        return self.nodes[1]

    async def sync(self) -> None:
        for node in self.nodes:
            await node.registry.snapshot.sync()

    async def add_party(self, node, *, country_code: str, party_id: str, role: str, modules, key: str,
                        versions=("2.2",), token_b: str | None = None) -> MockParty:
        import treq

        from .registry.model import Role

        party = MockParty(self.reactor, token_b=token_b or f"token-b-{country_code}-{party_id}",
                          versions=versions, modules=modules, key=key, country_code=country_code,
                          party_id=party_id, role=role)
        await party.start()
        self.parties.append(party)
        client = node.registry.client
        spender = self.chain.dev_accounts[0][1]
        await client.set_party_raw(key, spender, country_code, party_id, [int(Role[role])], node.node_address)
        response = await treq.post(node.base + "/admin/generate-registration-token",
                                   json=[{"country_code": country_code, "party_id": party_id}],
                                   headers={"Authorization": f"Token {node.admin_key}"}, persistent=False)
        token_a = (await response.json())["token"]
        version = versions[0]
        response = await treq.post(node.base + f"/ocpi/{version}/credentials",
                                   json=party.credentials([party.role_object()]),
                                   headers={"Authorization": f"Token {token_a}"}, persistent=False)
        answer = await response.json()
        if answer.get("status_code") != 1000:
            raise RuntimeError(f"handshake failed: {answer}")
        party.token_c = answer["data"]["token"]
        party.node = node
        party.received.clear()
        await self.sync()
        return party

    async def stop(self) -> None:
        for party in self.parties:
            await party.stop()
        for node in self.nodes:
            await node.stopService()
        await self.stop_rpc()
        if self.chain is not None:
            await self.chain.stop()
