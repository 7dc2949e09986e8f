"""The node's view of the OCN Registry: chain or RPC backend + snapshot + poller.

Routing code only ever reads the local snapshot (zero RPC calls); the
credentials handshake does one live lookup (:meth:`lookup_party`) that falls
back to the snapshot when the RPC endpoint is down.
"""

from __future__ import annotations

from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger

from ..keys import address_of
from .model import NodeListing, PartyListing

# Deterministic addresses of the embedded chain (the upstream "local" network).
LOCAL_REGISTRY = "0x345cA3e014Aaf5dcA488057592ee47305D9B3e10"
LOCAL_PERMISSIONS = "0xf25186B5081Ff5cE73482AD761DB0eB0d25abfBF"
LOCAL_CHAIN_ID = 9


class RegistryService(service.MultiService):
    log = Logger()

    def __init__(self, *, config, reactor, store, node_key: str, chain=None) -> None:
        super().__init__()
        self.config = config
        self.reactor = reactor
        self.store = store
        self.node_key = node_key
        self.node_address = address_of(node_key)
        reg = config["registry"]
        self.mode = reg["mode"]
        self.chain = chain
        self._own_chain = chain is None
        self.client = None
        self.snapshot = None
        self.poller = None
        self.ready: defer.Deferred = defer.Deferred()
        if self.mode == "embedded" and chain is None:
            from .chain import EmbeddedChain

            self.chain = EmbeddedChain(reactor, config.path("registry", "journal"),
                                       reg["chain_id"] or LOCAL_CHAIN_ID)

    def startService(self) -> None:
        super().startService()
        d = defer.ensureDeferred(self._start())
        d.addCallbacks(self.ready.callback, self.ready.errback)

    async def _start(self) -> None:
        from .client import EmbeddedBackend, JsonRpcBackend, RegistryClient
        from .snapshot import RegistryPoller, RegistrySnapshot

        reg = self.config["registry"]
        await self.store.start()
        if self.chain is not None:
            if self._own_chain:
                await self.chain.start()
            backend = EmbeddedBackend(self.chain)
            registry_address = self.chain.registry_address
            permissions_address = self.chain.permissions_address
            if reg["serve_rpc"] and self._own_chain:
                from .rpcserver import rpc_service

                rpc = rpc_service(self.reactor, self.chain, reg["serve_rpc"])
                rpc.setServiceParent(self)
                self.log.info("embedded chain JSON-RPC served on {endpoint}", endpoint=reg["serve_rpc"])
        else:
            backend = JsonRpcBackend(self.reactor, reg["rpc_url"], reg["rpc_timeout"],
                                     expected_chain_id=reg["chain_id"])
            if hasattr(backend, "start"):
                backend.start()
            registry_address = reg["registry_address"]
            permissions_address = reg["permissions_address"] or None
        self._backend = backend
        self.client = RegistryClient(backend, registry_address, permissions_address)
        self.snapshot = RegistrySnapshot(self.store, self.client, self.reactor)
        await self.snapshot.start()
        if self.chain is not None and reg["list_node"]:
            await self._list_self()
        try:
            await self.snapshot.full_reconcile()
        except Exception as e:  # noqa: BLE001 - keep serving from the stored snapshot
            self.log.warn("initial registry sync failed, serving the stored snapshot: {error}", error=e)
        self.poller = RegistryPoller(self.snapshot, self.reactor, reg["poll_interval"], reg["full_sync_interval"])
        self.poller.setServiceParent(self)

    async def _list_self(self) -> None:
        """Embedded chain only: make this node the operator of its public URL."""
        url = self.config["node"]["public_url"]
        current = await self.client.get_node(self.node_address)
        if current is not None and current.url == url:
            return
        spender = self.chain.dev_accounts[0][1]
        await self.client.set_node_raw(self.node_key, spender, url)
        self.log.info("listed this node ({address}) as operator of {url} on the embedded chain",
                      address=self.node_address, url=url)

    async def _stop(self) -> None:
        await defer.maybeDeferred(super().stopService)
        backend = getattr(self, "_backend", None)
        if backend is not None and hasattr(backend, "stop"):
            await backend.stop()
        if self.chain is not None and self._own_chain and self.chain.running:
            await self.chain.stop()

    def stopService(self):
        return defer.ensureDeferred(self._stop())

    # -- the node-facing interface ---------------------------------------------------

    def lookup_party(self, country_code: str, party_id: str) -> defer.Deferred:
        """Fresh listing of a party (live, falling back to the snapshot)."""
        return self.snapshot.refresh_party(country_code, party_id)

    def get_party(self, country_code: str, party_id: str) -> PartyListing | None:
        return self.snapshot.get_party(country_code, party_id) if self.snapshot else None

    def get_operator(self, country_code: str, party_id: str) -> NodeListing | None:
        return self.snapshot.get_operator(country_code, party_id) if self.snapshot else None

    def status(self, now: float) -> dict:
        out = {"mode": self.mode}
        if self.chain is not None:
            out["chain_id"] = self.chain.chain_id
        if self.snapshot is not None:
            s = self.snapshot.status()
            out.update(ok=s["ok"], last_sync_age=self.snapshot.age(now), last_block=s["last_block"],
                       last_error=s["last_error"], rpc_errors=s["rpc_errors"], nodes=s["nodes"],
                       parties=s["parties"])
        else:
            out.update(ok=False, last_sync_age=None, last_error="starting")
        return out
