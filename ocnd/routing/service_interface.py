"""Permissions-contract service interface: copies of requests to service providers.

A party (the *user*) can sign an agreement with a service provider in the
Permissions contract; a provider's service lists permissions (0 FORWARD_ALL,
1 FORWARD_ALL_SENDER, 2 FORWARD_ALL_RECEIVER, 3..16 FORWARD_MODULE_<M>_<ROLE>
for locations, sessions, cdrs, tariffs, tokens, commands, chargingprofiles,
SENDER before RECEIVER).  After routing a standard-module request from a
local party, the node sends a copy to every provider whose permissions match
(module, interface), re-signed with the OCPI-to headers stashed; answers are
ignored.  Agreements are read from a cache refreshed in the background, so
the routing path never waits for an RPC call (a new agreement takes effect
within ``ttl`` seconds).
"""

from __future__ import annotations

from twisted.internet import defer
from twisted.logger import Logger

MODULE_ORDER = ("locations", "sessions", "cdrs", "tariffs", "tokens", "commands", "chargingprofiles")


def permitted(permissions, module: str, interface: str) -> bool:
    for p in permissions:
        p = int(p)
        if p == 0 or (p == 1 and interface == "SENDER") or (p == 2 and interface == "RECEIVER"):
            return True
        if 3 <= p <= 16:
            index, role = divmod(p - 3, 2)
            if MODULE_ORDER[index] == module and ("SENDER", "RECEIVER")[role] == interface:
                return True
    return False


class ServiceInterface:
    log = Logger()

    def __init__(self, router, registry, clock, ttl: float = 60.0) -> None:
        self.router = router
        self.registry = registry
        self.clock = clock
        self.ttl = ttl
        self._cache: dict[tuple[str, str], tuple[float, list]] = {}
        self._loading: set[tuple[str, str]] = set()

    def services_for(self, party: tuple[str, str]) -> list:
        key = (party[0].upper(), party[1].upper())
        now = self.clock.seconds()
        cached = self._cache.get(key)
        if (cached is None or now - cached[0] > self.ttl) and key not in self._loading:
            self._refresh(key)
        return cached[1] if cached else []

    def _refresh(self, key) -> None:
        client = getattr(self.registry, "client", None)
        if client is None:
            return
        self._loading.add(key)
        d = client.get_user_agreements_by_ocpi(*key)

        def done(services):
            self._cache[key] = (self.clock.seconds(), list(services))

        def failed(f):
            self.log.warn("service agreements of {cc}/{pid} unavailable: {e}", cc=key[0], pid=key[1],
                          e=f.getErrorMessage())

        d.addCallbacks(done, failed)
        d.addBoth(lambda _: self._loading.discard(key))

    def copy(self, req, body_json) -> None:
        """Fire-and-forget copies of ``req`` to matching providers."""
        if req.custom:
            return
        for service in self.services_for(req.sender):
            if not permitted(service.permissions, req.module, req.interface):
                continue
            to = (service.country_code, service.party_id)
            if not to[0] or to == (req.receiver[0].upper(), req.receiver[1].upper()):
                continue
            d = defer.ensureDeferred(self._send(req, body_json, to))
            d.addErrback(lambda f: self.log.warn("service copy failed: {e}", e=f.getErrorMessage()))

    async def _send(self, req, body_json, to) -> None:
        router = self.router
        copy_req = router.broadcaster._for_recipient(req, body_json, to)
        view = await router.store.read(router._remote_view, copy_req)
        if view.receiver_platform is not None:
            await router._deliver_local(copy_req, view.receiver_platform, view.endpoint_url)
            return
        operator = router.registry.get_operator(*to)
        if operator is not None and operator.operator.lower() != router.node_address.lower():
            await router._deliver_remote(copy_req, operator.url)
