"""The ocnd node: wiring of store, registry, HTTP client and API."""

from __future__ import annotations

import gc
import os
import sys

from twisted.application import service
from twisted.internet import defer, endpoints, task
from twisted.logger import Logger

from . import clockguard, sdnotify, security, web
from .api import build_app
from .api.admin import AdminApi
from .api.auth import AdminAuth, TokenAuth
from .api.common import Responder
from .api.credentials import CredentialsApi
from .api.hubclientinfo import HubClientInfoApi
from .api.infra import InfraApi
from .api.modules import ModulesApi
from .api.rules import RulesApi
from .api.status import StatusApi
from .api.versions import VersionsApi
from .config import Config
from .httpclient import make_http_client
from .hubclientinfo import HubClientInfoService
from .keys import address_of
from .observe import Observability
from .ocpi import OcpiError
from .routing.router import Router
from . import rules
from .web import OcndSite


def freeze_startup_objects() -> int:
    """Collect once, then move all surviving objects to the permanent generation.

    A node keeps a large, long-lived object graph (modules, the embedded
    chain, the registry snapshot); without this every full collection walks
    all of it, a pause of ~100 ms that lands on whichever requests are in
    flight (see bench/routing.py, "gen2 GC").
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def tune_gc(young_threshold: int) -> None:
    """Collect the youngest generation every ``young_threshold`` allocations (0: Python's default)."""
    if young_threshold > 0:
        _, older, oldest = gc.get_threshold()
        gc.set_threshold(young_threshold, older, oldest)


class NodeService(service.MultiService):
    """Top-level service: starts registry and store, then listens.

    Startup is asynchronous (the registry may need to start a chain and sync);
    the HTTP port is opened only when everything it serves is ready, then
    READY=1 is sent to systemd.  A startup failure stops the process with a
    non-zero exit status.
    """

    log = Logger()

    def __init__(self, *, config: Config, reactor, store, registry, node_key: str, admin_key: str) -> None:
        super().__init__()
        self.config = config
        self.reactor = reactor
        self.store = store
        self.registry = registry
        self.node_key = node_key
        self.node_address = address_of(node_key)
        self.admin_key = admin_key
        self.port = None
        self.ready = defer.Deferred()
        self._watchdog = None
        sec = config["security"]
        self.http, self.pool = make_http_client(
            reactor, max_per_host=config["limits"]["max_connections_per_host"],
            connect_timeout=config["limits"]["connect_timeout"],
            tls_policy=security.tls_policy(config.path("security", "ca_bundle")),
            guard=security.UrlGuard(allow_private=sec["allow_private_party_urls"],
                                    allowed_networks=sec["allowed_party_networks"], reactor=reactor))
        self.auth_limiter = security.AuthLimiter(sec["auth_failures_per_minute"], clock=reactor)
        registry.setServiceParent(self)
        self.observability = Observability(config=config, clock=reactor, registry=registry, store=store,
                                           node_address=self.node_address)
        self.observability.setServiceParent(self)
        tasks = config["tasks"]
        self.hub = HubClientInfoService(
            store=store, registry=registry, http=self.http, reactor=reactor, node_key=node_key,
            node_address=self.node_address, still_alive_interval=tasks["still_alive_interval"],
            planned_interval=tasks["planned_party_interval"],
            request_timeout=config["limits"]["request_timeout"], renew_after=tasks["liveness_write_interval"])

    # -- HTTP -----------------------------------------------------------------

    def build_resource(self):
        cfg = self.config
        clock = self.reactor
        public_url = cfg["node"]["public_url"]
        versions = cfg["node"]["ocpi_versions"]
        responder = Responder(clock)
        token_auth = TokenAuth(self.store, clock)
        hub_identity = {
            "role": "HUB",
            "business_details": {"name": cfg["node"]["name"]},
            "party_id": cfg["node"]["party_id"],
            "country_code": cfg["node"]["country_code"],
        }
        self.router = Router(
            store=self.store, registry=self.registry, http=self.http, reactor=self.reactor,
            node_key=self.node_key, node_address=self.node_address, public_url=public_url,
            signatures_required=cfg["node"]["signatures"], request_timeout=cfg["limits"]["request_timeout"],
            proxy_ttl=cfg["routing"]["proxy_ttl"], ownership_exempt=cfg["routing"]["ownership_exempt"],
            replay_window=cfg["routing"]["replay_window"], rules_check=self._rules_check,
            liveness=self.hub.renew, hub_identity=(cfg["node"]["country_code"], cfg["node"]["party_id"]),
            v1_blacklist=cfg["routing"]["v1_blacklist"], observers=self.observability.observers)
        self.router.v1_wire = cfg["routing"]["v1_wire"]
        if cfg["routing"]["service_interface"]:
            from .routing.service_interface import ServiceInterface

            self.router.service_interface = ServiceInterface(self.router, self.registry, self.reactor,
                                                             cfg["routing"]["service_interface_ttl"])
        groups = [
            InfraApi(store=self.store, registry=self.registry, clock=clock, started_at=clock.seconds(),
                     public_url=public_url, node_address=self.node_address),
            VersionsApi(public_url, versions, token_auth, responder),
            CredentialsApi(store=self.store, clock=clock, auth=token_auth, responder=responder, http=self.http,
                           registry=self.registry, node_address=self.node_address, public_url=public_url,
                           hub_identity=hub_identity, versions=versions,
                           signatures=cfg["node"]["signatures"],
                           request_timeout=cfg["limits"]["request_timeout"], reactor=self.reactor,
                           hub=self.hub),
            AdminApi(store=self.store, clock=clock, auth=AdminAuth(self.admin_key), public_url=public_url,
                     token_ttl=cfg["admin"]["registration_token_ttl"]),
            RulesApi(store=self.store, auth=token_auth, responder=responder, versions=versions,
                     node_signatures=cfg["node"]["signatures"]),
            HubClientInfoApi(store=self.store, auth=token_auth, responder=responder, service=self.hub,
                             public_url=public_url, versions=versions,
                             v1_blacklist=cfg["routing"]["v1_blacklist"]),
            StatusApi(self.observability, store=self.store, registry=self.registry, http=self.http, clock=clock,
                      node_key=self.node_key, admin_key=self.admin_key, started_at=clock.seconds(),
                      versions=versions, name=cfg["node"]["name"],
                      request_timeout=cfg["limits"]["request_timeout"]),
            ModulesApi(self.router),
        ]
        return build_app(responder, groups).resource()

    def _rules_check(self, conn, platform_id: int, sender: tuple[str, str], module: str) -> OcpiError | None:
        """Runs inside the router's read transaction: the receiver's OcnRules, always fresh."""
        try:
            rules.check_allowed(conn, platform_id, sender[0], sender[1], module,
                                v1_blacklist=self.config["routing"]["v1_blacklist"])
        except OcpiError as e:
            return e
        return None

    def build_site(self) -> OcndSite:
        limits = self.config["limits"]
        return OcndSite(self.build_resource(), max_body=limits["max_body_size"], clock=self.reactor,
                        idle_timeout=limits["idle_timeout"],
                        access_log=self.config["logging"]["access_log"],
                        header_timeout=limits["header_timeout"], body_timeout=limits["body_timeout"],
                        limiter=self.auth_limiter if self.auth_limiter.enabled else None,
                        trusted_proxies=self.config["security"]["trusted_proxies"])

    # -- lifecycle ------------------------------------------------------------

    def startService(self) -> None:
        clockguard.install(self.reactor)  # timers survive steps of the wall clock
        super().startService()
        d = defer.ensureDeferred(self._start())
        d.addErrback(self._start_failed)

    async def _start(self) -> None:
        await self.store.start()
        await self.observability.start_trace()
        await self.registry.ready
        listen = web.with_backlog(self.config["node"]["listen"], self.config["limits"]["listen_backlog"])
        endpoint = endpoints.serverFromString(self.reactor, listen)
        self.site = self.build_site()
        self.port = await endpoint.listen(self.site)
        host = self.port.getHost()
        self.log.info("ocnd listening on {host}:{port} as {url} (node address {address})",
                      host=getattr(host, "host", "?"), port=getattr(host, "port", "?"),
                      url=self.config["node"]["public_url"], address=self.node_address)
        sdnotify.notify("READY=1\nSTATUS=serving OCPI on " + self.config["node"]["public_url"])
        interval = sdnotify.watchdog_interval()
        if interval:
            self._watchdog = task.LoopingCall(sdnotify.notify, "WATCHDOG=1")
            self._watchdog.clock = self.reactor
            self._watchdog.start(interval)
        self.hub.setServiceParent(self)
        self._sweeper = task.LoopingCall(self.sweep_proxies)
        self._sweeper.clock = self.reactor
        self._sweeper.start(self.config["routing"]["proxy_sweep_interval"], now=False)
        tune_gc(self.config["node"]["gc_young_threshold"])
        if self.config["node"]["gc_freeze"]:
            frozen = freeze_startup_objects()
            self.log.info("gc: {n} objects from startup excluded from collections", n=frozen)
        self.ready.callback(self)

    def _start_failed(self, failure) -> None:
        self.log.critical("ocnd failed to start: {error}", error=failure.getErrorMessage(),
                          log_failure=failure)
        print(f"ocnd: failed to start: {failure.getErrorMessage()}", file=sys.stderr)
        if not self.ready.called:
            self.ready.errback(failure)
        self.reactor.addSystemEventTrigger("after", "shutdown", os._exit, 1)
        if self.reactor.running:
            self.reactor.stop()

    def sweep_proxies(self):
        """Delete expired proxy resources; a failure is logged and the timer keeps running."""
        from . import proxies

        d = self.store.run_side(proxies.sweep, self.reactor.seconds())
        d.addCallback(lambda n: n and self.log.info("swept {n} expired proxy resources", n=n))
        d.addErrback(lambda f: self.log.failure("proxy sweep failed", f))
        return d

    async def _stop(self) -> None:
        sdnotify.notify("STOPPING=1")
        try:
            if getattr(self, "_sweeper", None) is not None and self._sweeper.running:
                self._sweeper.stop()
            if self._watchdog is not None and self._watchdog.running:
                self._watchdog.stop()
            if self.port is not None:
                await self.port.stopListening()
                self.site.drop_connections()
            await self.pool.closeCachedConnections()
            await defer.maybeDeferred(super().stopService)
        except Exception:  # noqa: BLE001 - the store must be closed whatever failed before
            self.log.failure("error while stopping ocnd")
        finally:
            await self.store.stop()

    def stopService(self):
        return defer.ensureDeferred(self._stop())
