"""Test helpers shipped with the package: a fake registry and a real party server.

``MockParty`` is a small but real OCPI party (versions, version details,
credentials and a recorder for every module request) served over loopback
HTTP; it is used by ocnd's own tests and is handy for downstream tests.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
from klein import Klein
from twisted.application import service
from twisted.internet import defer
from twisted.web.server import Site

from . import ocpi
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
                 modules=(("locations", "RECEIVER"), ("locations", "SENDER"))) -> None:
        self.reactor = reactor
        self.token_b = token_b
        self.versions = versions
        self.modules = modules
        self.received: list[Received] = []
        self.responses: dict[tuple[str, str], tuple[int, dict[str, str], bytes]] = {}
        self.port = None
        self.base = ""
        self.app = Klein()
        self.app.route("/", branch=True, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])(self._handle)

    def start(self):
        from twisted.internet import endpoints

        ep = endpoints.TCP4ServerEndpoint(self.reactor, 0, interface="127.0.0.1")
        d = ep.listen(Site(self.app.resource()))

        def listening(port):
            self.port = port
            self.base = f"http://127.0.0.1:{port.getHost().port}"
            return self

        return d.addCallback(listening)

    def stop(self):
        return defer.maybeDeferred(self.port.stopListening) if self.port else defer.succeed(None)

    @property
    def versions_url(self) -> str:
        return f"{self.base}/ocpi/versions"

    def credentials(self, roles: list[dict]) -> dict:
        return {"token": self.token_b, "url": self.versions_url, "roles": roles}

    def _authorized(self, request) -> bool:
        return self.token_b in ocpi.token_candidates(request.getHeader("Authorization"))

    def _handle(self, request):
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
        if key in self.responses:
            code, headers, payload = self.responses[key]
            request.setResponseCode(code)
            for k, v in headers.items():
                request.setHeader(k, v)
            return payload
        return ocpi.dumps(ocpi.envelope(ocpi.SUCCESS, now))


def json_body(raw: bytes) -> Any:
    return json.loads(raw.decode("utf-8"))
