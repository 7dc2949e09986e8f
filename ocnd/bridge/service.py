"""The :class:`Bridge` service: registry listing, handshake, OCPI server and
the sender-side helpers a backoffice calls.

Start-up order (``startService``; ``bridge.ready`` fires when done):

1. open the bridge's own SQLite store (tokens, node endpoints);
2. listen on ``config.listen`` (the node calls ``/ocpi/versions`` back during
   the handshake, so the server must be up first);
3. with ``config.register``: ``GET <node>/ocn/registry/node-info`` and make
   sure the registry lists the party (roles, operator = that node), calling
   ``setParty`` (or ``setPartyRaw`` paid by ``spender_key``) when not;
4. if a Token C is stored for this node and ``GET credentials`` with it
   answers 1000, stop; otherwise do the credentials handshake with Token A
   (Token B is stored *before* the POST because the node calls back with it).
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import attrs
from twisted.application import service
from twisted.internet import defer, endpoints
from twisted.logger import Logger
from twisted.web.server import Site

from .. import clockguard, ocpi
from ..web import with_backlog
from ..registry.model import Role
from . import backoffice as bo
from .backoffice import CommandResponse
from .client import NodeClient, OcpiRequestError, Reply, maybe, party_of
from .config import BridgeConfig
from .server import COMMANDS, BridgeServer
from .store import BridgeStore


class RegistrationError(Exception):
    """Listing or handshake failed; the text says what to fix."""


@attrs.define
class State:
    node_url: str = ""
    version: str = ""
    token_b: str = ""
    token_c: str = ""
    endpoints: dict = attrs.Factory(dict)

    def endpoint(self, module: str, role: str) -> str | None:
        return self.endpoints.get((module, role.upper()))


@attrs.define
class _Pending:
    deferred: defer.Deferred
    session_id: str | None
    timer: Any = None


class Bridge(service.MultiService):
    """One OCPI party (``config``) on one OCN node, backed by ``backoffice``.

    If the backoffice has an ``attach(bridge)`` method it is called here, so
    it can push through the bridge later.

    ``registry``: an :class:`ocnd.registry.client.RegistryClient`; built from
    the config (JSON-RPC) when omitted and ``config.registry_mode`` is
    ``jsonrpc``.  ``http``: a treq-compatible client (default: treq).
    """

    log = Logger()

    def __init__(self, config: BridgeConfig, backoffice: Any, *, reactor=None, registry=None, http=None) -> None:
        super().__init__()
        if reactor is None:
            from twisted.internet import reactor as _reactor

            reactor = _reactor
        self.config = config
        self.backoffice = backoffice
        self.reactor = reactor
        self.modules = tuple(config.enabled_modules)
        bo.check(backoffice, self.modules)
        self.registry = registry
        if http is None:
            import treq

            http = treq
        self.http = http
        self.store = BridgeStore(config.db_path, reactor)
        self.state = State()
        self.node_address: str | None = None
        self.port = None
        self.server = BridgeServer(self)
        self.client = NodeClient(reactor=reactor, http=http, party=config.party, key=config.party_key,
                                 signatures=config.signatures, state=self.state, timeout=config.request_timeout,
                                 allowed_signers=self.allowed_signers)
        self.ready: defer.Deferred = defer.Deferred()
        self._pending: dict[str, _Pending] = {}
        self._signers: dict[tuple[str, str], tuple[float, set[str]]] = {}
        self.deliveries: list[defer.Deferred] = []   # async results being delivered (for tests)
        self.handshakes = 0
        attach = getattr(backoffice, "attach", None)
        if callable(attach):
            attach(self)

    @property
    def address(self) -> str:
        from ..keys import address_of

        return address_of(self.config.party_key)

    # -- lifecycle ----------------------------------------------------------------------

    def startService(self) -> None:
        clockguard.install(self.reactor)  # timers survive steps of the wall clock
        super().startService()
        d = defer.ensureDeferred(self._start())
        d.addCallbacks(self.ready.callback, self._failed)

    def _failed(self, failure):
        self.log.failure("bridge start failed", failure)
        self.ready.errback(failure)

    async def _start(self) -> "Bridge":
        await self.store.start()
        auth = await self.store.get_auth()
        self.state.node_url, self.state.version = auth.node_url, auth.ocpi_version
        self.state.token_b, self.state.token_c = auth.token_b, auth.token_c
        self.state.endpoints = await self.store.endpoints()
        if self.registry is None and self.config.registry_mode == "jsonrpc" and self.config.rpc_url:
            from ..registry.client import JsonRpcBackend, RegistryClient

            backend = JsonRpcBackend(self.reactor, self.config.rpc_url, self.config.request_timeout,
                                     expected_chain_id=self.config.chain_id)
            self.registry = RegistryClient(backend, self.config.registry_address)
            self._own_backend = backend
        ep = endpoints.serverFromString(self.reactor, with_backlog(self.config.listen, 1024))
        self.port = await ep.listen(Site(self.server.resource()))
        if self.config.register:
            await self.ensure_listing()
        await self.connect()
        return self

    async def _stop(self) -> None:
        await defer.maybeDeferred(super().stopService)
        for p in list(self._pending.values()):
            if p.timer is not None and p.timer.active():
                p.timer.cancel()
        self._pending.clear()
        if self.port is not None:
            await self.port.stopListening()
            self.port = None
        backend = getattr(self, "_own_backend", None)
        if backend is not None:
            await backend.stop()
        await self.store.stop()

    def stopService(self):
        return defer.ensureDeferred(self._stop())

    # -- registry and handshake -----------------------------------------------------------

    async def node_info(self) -> dict:
        response = await self.http.get(self.config.node_url + "/ocn/registry/node-info",
                                       timeout=self.config.request_timeout)
        info = await response.json()
        if not isinstance(info, dict) or not info.get("address"):
            raise RegistrationError(f"unexpected node-info from {self.config.node_url}: {info!r}")
        self.node_address = info["address"]
        return info

    async def ensure_listing(self) -> bool:
        """Make the registry list the party under the node's operator; True if a tx was sent."""
        if self.registry is None:
            raise RegistrationError("register = true but no registry is configured (rpc_url/registry_address)")
        info = await self.node_info()
        cc, pid = self.config.party
        roles = [int(Role[r]) for r in self.config.roles]
        listing = await self.registry.get_party_details_by_ocpi(cc, pid)
        ok = (listing is not None and listing.operator.lower() == info["address"].lower()
              and listing.address.lower() == self.address.lower()
              and sorted(int(r) for r in listing.roles) == sorted(roles))
        if ok:
            return False
        key, spender = self.config.party_key, self.config.spender_key
        if spender:
            await self.registry.set_party_raw(key, spender, cc, pid, roles, info["address"])
        else:
            await self.registry.set_party(key, cc, pid, roles, info["address"])
        if self.config.list_modules:
            from ..registry.model import Module

            sender = [int(Module[m]) for m, r in self.modules if r == "SENDER"]
            receiver = [int(Module[m]) for m, r in self.modules if r == "RECEIVER"]
            if spender:
                await self.registry.set_party_modules_raw(key, spender, sender, receiver)
            else:
                await self.registry.set_party_modules(key, sender, receiver)
        self.log.info("listed {cc}/{pid} in the registry with operator {op}", cc=cc, pid=pid, op=info["address"])
        return True

    async def is_connected(self) -> bool:
        st = self.state
        if not st.token_c or st.node_url != self.config.node_url:
            return False
        url = st.endpoint("credentials", "SENDER") or st.endpoint("credentials", "RECEIVER")
        if url is None:
            return False
        try:
            response = await self.http.get(url, headers={"Authorization": ocpi.auth_header(st.token_c, st.version)},
                                           timeout=self.config.request_timeout)
            body = await response.json()
        except Exception as e:  # noqa: BLE001
            self.log.warn("could not check Token C with the node: {e}", e=e)
            return False
        return isinstance(body, dict) and body.get("status_code") == ocpi.SUCCESS

    async def connect(self) -> bool:
        """Handshake unless already connected; True if a handshake happened."""
        if await self.is_connected():
            return False
        token_a = self.config.token_a
        if not token_a:
            raise RegistrationError("not connected to the node and no registration token (token_a) configured")
        version = self.config.ocpi_version
        auth = {"Authorization": ocpi.auth_header(token_a, version)}
        versions = await self._get_data(self.config.node_url + "/ocpi/versions", auth, "versions")
        url = next((v.get("url") for v in versions or [] if isinstance(v, dict) and v.get("version") == version),
                   None)
        if not url:
            raise RegistrationError(f"the node does not offer OCPI {version}")
        details = await self._get_data(url, auth, f"{version} version details")
        eps = [(e["identifier"], e["role"], e["url"]) for e in (details or {}).get("endpoints", [])
               if isinstance(e, dict) and {"identifier", "role", "url"} <= e.keys()]
        cred_url = next((u for i, _r, u in eps if i == "credentials"), None)
        if cred_url is None:
            raise RegistrationError("the node advertises no credentials endpoint")
        token_b = secrets.token_urlsafe(32)
        now = self.reactor.seconds()
        await self.store.save_endpoints(eps)
        await self.store.set_auth(now, token_b=token_b, token_c="", node_url=self.config.node_url,
                                  ocpi_version=version)
        self.state.endpoints = {(i, r.upper()): u for i, r, u in eps}
        self.state.token_b, self.state.token_c = token_b, ""
        self.state.node_url, self.state.version = self.config.node_url, version
        body = {"token": token_b, "url": f"{self.config.public_url}/ocpi/versions",
                "roles": self.config.role_objects()}
        response = await self.http.post(cred_url, json=body, headers=auth, timeout=self.config.request_timeout)
        answer = await response.json()
        token_c = (answer.get("data") or {}).get("token") if isinstance(answer, dict) else None
        if not token_c or answer.get("status_code") != ocpi.SUCCESS:
            raise RegistrationError(f"credentials handshake refused: HTTP {response.code} {answer!r}")
        await self.update_token_c(token_c)
        self.handshakes += 1
        self.log.info("connected {cc}/{pid} to {node}", cc=self.config.party[0], pid=self.config.party[1],
                      node=self.config.node_url)
        return True

    async def _get_data(self, url: str, headers: dict, what: str) -> Any:
        response = await self.http.get(url, headers=headers, timeout=self.config.request_timeout)
        try:
            body = await response.json()
        except ValueError:
            body = None
        if response.code != 200 or not isinstance(body, dict) or body.get("status_code") != ocpi.SUCCESS:
            raise RegistrationError(f"could not get the node's {what} from {url}: HTTP {response.code} {body!r}")
        return body.get("data")

    async def update_token_c(self, token_c: str) -> None:
        await self.store.set_auth(self.reactor.seconds(), token_c=token_c)
        self.state.token_c = token_c

    def own_credentials(self) -> dict:
        return {"token": self.state.token_b, "url": f"{self.config.public_url}/ocpi/versions",
                "roles": self.config.role_objects()}

    async def allowed_signers(self, party: tuple[str, str]) -> set[str]:
        """Addresses accepted as signatories for ``party``: its registry
        address, its node operator, and our own node.  Empty = no registry,
        signatory not checked."""
        now = self.reactor.seconds()
        cached = self._signers.get(party)
        if cached and cached[0] > now:
            return cached[1]
        out: set[str] = set()
        listed = False
        if self.registry is not None:
            listing = await self.registry.get_party_details_by_ocpi(*party)
            if listing is not None:
                listed = True
                out |= {listing.address.lower(), listing.operator.lower()}
            if self.node_address:
                out.add(self.node_address.lower())
        if listed or self.registry is None:
            # never cache "not listed": the party may be listed a moment later
            self._signers[party] = (now + 60.0, out)
        return out

    # -- async results --------------------------------------------------------------------

    def _register_pending(self, timeout: float, session_id: str | None = None) -> tuple[str, defer.Deferred]:
        uid = uuid.uuid4().hex
        d: defer.Deferred = defer.Deferred()
        p = _Pending(d, session_id)
        p.timer = self.reactor.callLater(timeout, self._expire, uid)
        self._pending[uid] = p
        return uid, d

    def _expire(self, uid: str) -> None:
        p = self._pending.pop(uid, None)
        if p is not None and not p.deferred.called:
            p.deferred.callback({"result": "TIMEOUT"})

    def _drop(self, uid: str, result: Any = None) -> None:
        p = self._pending.pop(uid, None)
        if p is not None:
            if p.timer is not None and p.timer.active():
                p.timer.cancel()
            if not p.deferred.called:
                p.deferred.callback(result)

    def resolve_async(self, uid: str, result: dict) -> bool:
        p = self._pending.pop(uid, None)
        if p is None:
            return False
        if p.timer is not None and p.timer.active():
            p.timer.cancel()
        if not p.deferred.called:
            p.deferred.callback(result)
        return True

    def async_session(self, uid: str) -> str | None:
        p = self._pending.get(uid)
        return p.session_id if p else None

    def deliver_async_result(self, resp: CommandResponse, response_url: str, to, correlation_id, module) -> None:
        """Await the backoffice's async result (bounded) and POST it to response_url."""
        d = defer.ensureDeferred(self._deliver(resp, response_url, to, correlation_id, module))
        self.deliveries.append(d)

        def done(result):
            if d in self.deliveries:
                self.deliveries.remove(d)
            return result

        d.addBoth(done)
        d.addErrback(lambda f: self.log.failure("async result delivery to {url} failed", f, url=response_url))

    async def _deliver(self, resp, response_url, to, correlation_id, module) -> Reply:
        limit = min(float(resp.timeout or self.config.async_timeout), self.config.async_timeout)
        source = resp.async_result
        inner = maybe(source) if callable(source) else maybe(lambda: source)
        outer: defer.Deferred = defer.Deferred()

        def fire(r):
            if not outer.called:
                outer.callback(r)

        inner.addBoth(fire)
        timer = self.reactor.callLater(limit, fire, {"result": "TIMEOUT"})
        try:
            result = await outer
        except Exception as e:  # noqa: BLE001 - backoffice failure becomes FAILED
            self.log.warn("async result failed in the backoffice: {e}", e=e)
            result = {"result": "FAILED"}
        finally:
            if timer.active():
                timer.cancel()
        if isinstance(result, str):
            result = {"result": result}
        return await self.client.send("POST", response_url, to, body=result, correlation_id=correlation_id)

    # -- sender-side helpers ----------------------------------------------------------------

    @property
    def _v(self) -> str:
        return self.state.version or self.config.ocpi_version

    def _own(self) -> tuple[str, str]:
        return self.config.party

    async def push_location(self, to, location: dict) -> Reply:
        cc, pid = self._own()
        return await self.client.send("PUT", self.client.url("locations", "RECEIVER", cc, pid, location["id"]),
                                      to, body=location)

    async def push_evse(self, to, location_id: str, evse: dict) -> Reply:
        cc, pid = self._own()
        url = self.client.url("locations", "RECEIVER", cc, pid, location_id, evse["uid"])
        return await self.client.send("PUT", url, to, body=evse)

    async def push_connector(self, to, location_id: str, evse_uid: str, connector: dict) -> Reply:
        cc, pid = self._own()
        url = self.client.url("locations", "RECEIVER", cc, pid, location_id, evse_uid, connector["id"])
        return await self.client.send("PUT", url, to, body=connector)

    async def patch_location(self, to, location_id: str, patch: dict, evse_uid: str | None = None,
                             connector_id: str | None = None) -> Reply:
        cc, pid = self._own()
        url = self.client.url("locations", "RECEIVER", cc, pid, location_id, evse_uid, connector_id)
        return await self.client.send("PATCH", url, to, body=patch)

    async def push_session(self, to, session: dict) -> Reply:
        cc, pid = self._own()
        return await self.client.send("PUT", self.client.url("sessions", "RECEIVER", cc, pid, session["id"]),
                                      to, body=session)

    async def patch_session(self, to, session_id: str, patch: dict) -> Reply:
        cc, pid = self._own()
        return await self.client.send("PATCH", self.client.url("sessions", "RECEIVER", cc, pid, session_id),
                                      to, body=patch)

    async def push_tariff(self, to, tariff: dict) -> Reply:
        cc, pid = self._own()
        return await self.client.send("PUT", self.client.url("tariffs", "RECEIVER", cc, pid, tariff["id"]),
                                      to, body=tariff)

    async def delete_tariff(self, to, tariff_id: str) -> Reply:
        cc, pid = self._own()
        return await self.client.send("DELETE", self.client.url("tariffs", "RECEIVER", cc, pid, tariff_id), to)

    async def push_cdr(self, to, cdr: dict) -> str | None:
        """POST a CDR; returns the ``Location`` (a node proxy URL)."""
        reply = await self.client.send("POST", self.client.url("cdrs", "RECEIVER"), to, body=cdr)
        return reply.headers.get("location")

    async def get_cdr(self, to, location_url: str) -> dict:
        """GET a CDR through the ``Location`` returned by :meth:`push_cdr`."""
        return (await self.client.send("GET", location_url, to)).data

    async def push_token(self, to, token: dict) -> Reply:
        cc, pid = self._own()
        url = self.client.url("tokens", "RECEIVER", cc, pid, token["uid"])
        return await self.client.send("PUT", url, to, params={"type": token.get("type", "RFID")}, body=token)

    async def patch_token(self, to, uid: str, patch: dict, type: str = "RFID") -> Reply:
        cc, pid = self._own()
        url = self.client.url("tokens", "RECEIVER", cc, pid, uid)
        return await self.client.send("PATCH", url, to, params={"type": type}, body=patch)

    async def push_active_charging_profile(self, to, session_id: str, profile: dict) -> Reply:
        url = self.client.url("chargingprofiles", "SENDER", session_id)
        return await self.client.send("PUT", url, to, body=profile)

    async def set_charging_preferences(self, to, session_id: str, preferences: dict) -> Any:
        url = self.client.url("sessions", "SENDER", session_id, "charging_preferences")
        return (await self.client.send("PUT", url, to, body=preferences)).data

    # pulls

    async def get_list(self, module: str, to, *, offset: int | None = None, limit: int | None = None,
                       date_from: str | None = None, date_to: str | None = None) -> list:
        """Every object of a SENDER list, following the pagination links."""
        return await self.client.get_all(module, to, offset=offset, limit=limit, date_from=date_from,
                                         date_to=date_to)

    async def get_locations(self, to, offset: int | None = None, limit: int | None = None, **kw) -> list:
        return await self.get_list("locations", to, offset=offset, limit=limit, **kw)

    async def get_location(self, to, location_id: str, evse_uid: str | None = None,
                           connector_id: str | None = None) -> dict:
        url = self.client.url("locations", "SENDER", location_id, evse_uid, connector_id)
        return (await self.client.send("GET", url, to)).data

    async def get_tariffs(self, to, **kw) -> list:
        return await self.get_list("tariffs", to, **kw)

    async def get_sessions(self, to, **kw) -> list:
        return await self.get_list("sessions", to, **kw)

    async def get_cdrs(self, to, **kw) -> list:
        return await self.get_list("cdrs", to, **kw)

    async def get_tokens(self, to, **kw) -> list:
        return await self.get_list("tokens", to, **kw)

    async def authorize(self, to, token_uid: str, type: str = "RFID", location_references: dict | None = None):
        """Real-time authorization; returns AuthorizationInfo.  An unknown
        token raises :class:`OcpiRequestError` with ``status_code == 2004``."""
        url = self.client.url("tokens", "SENDER", token_uid, "authorize")
        reply = await self.client.send("POST", url, to, params={"type": type}, body=location_references)
        return reply.data

    # commands and charging profiles

    async def send_command(self, to, command: str, body: dict) -> tuple[dict, defer.Deferred]:
        """Send a command; returns (CommandResponse dict, Deferred firing with
        the CommandResult dict, ``{"result": "TIMEOUT"}`` after the timeout, or
        ``None`` when the command was not ACCEPTED)."""
        if command not in COMMANDS:
            raise ValueError(f"unknown command {command}")
        uid, d = self._register_pending(self.config.async_timeout)
        payload = {"response_url": f"{self.config.public_url}/ocpi/sender/{self._v}/commands/{command}/{uid}"}
        payload.update({k: v for k, v in body.items() if k != "response_url"})
        try:
            reply = await self.client.send("POST", self.client.url("commands", "RECEIVER", command), to,
                                           body=payload)
        except Exception:
            self._drop(uid)
            raise
        response = reply.data or {}
        if response.get("result") != "ACCEPTED":
            self._drop(uid, None)
        else:
            self._retime(uid, response.get("timeout"))
        return response, d

    def _retime(self, uid: str, timeout) -> None:
        p = self._pending.get(uid)
        if p is None or not isinstance(timeout, (int, float)) or timeout <= 0:
            return
        if p.timer is not None and p.timer.active():
            p.timer.reset(min(float(timeout) + 5.0, self.config.async_timeout))

    def _profile_url(self, kind: str, uid: str) -> str:
        return f"{self.config.public_url}/ocpi/sender/{self._v}/chargingprofiles/{kind}/{uid}"

    async def _profile_request(self, to, method: str, session_id: str, kind: str, *, params=None, body=None):
        uid, d = self._register_pending(self.config.async_timeout, session_id)
        url = self.client.url("chargingprofiles", "RECEIVER", session_id)
        response_url = self._profile_url(kind, uid)
        if body is not None:
            body = dict(body)
            body["response_url"] = response_url
        else:
            params = dict(params or {})
            params["response_url"] = response_url
        try:
            reply = await self.client.send(method, url, to, params=params, body=body)
        except Exception:
            self._drop(uid)
            raise
        response = reply.data or {}
        if response.get("result") != "ACCEPTED":
            self._drop(uid, None)
        else:
            self._retime(uid, response.get("timeout"))
        return response, d

    async def set_charging_profile(self, to, session_id: str, charging_profile: dict):
        """PUT a SetChargingProfile; returns (ChargingProfileResponse, Deferred[ChargingProfileResult])."""
        return await self._profile_request(to, "PUT", session_id, "set", body={"charging_profile": charging_profile})

    async def get_active_charging_profile(self, to, session_id: str, duration: int):
        return await self._profile_request(to, "GET", session_id, "get", params={"duration": duration})

    async def clear_charging_profile(self, to, session_id: str):
        return await self._profile_request(to, "DELETE", session_id, "clear", params={})


__all__ = ["Bridge", "RegistrationError", "OcpiRequestError", "party_of"]
