"""A local, persisted copy of the registry, and the service that keeps it fresh.

The node answers routing questions ("which node serves DE/ABC?") from memory,
with zero RPC calls.  The maps are written to SQLite (schema 002) on every
change and loaded at start, so routing works before the first sync and while
the chain RPC is unreachable.

Keeping it up to date:

* :meth:`RegistrySnapshot.sync` applies contract events since the last
  synced block (parties touched by events are re-read via the getters);
* :meth:`RegistrySnapshot.full_reconcile` re-reads everything and replaces
  the snapshot in one step (catches anything events could miss);
* :class:`RegistryPoller` runs them on a schedule, never overlapping, and
  keeps going after failures.
"""

from __future__ import annotations

from typing import Any, Iterable

import attrs
from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger

from ocnd.registry.client import RegistryUnavailable
from ocnd.registry.model import Module, NodeListing, PartyListing, Role, norm_party
from ocnd.store import StoreError

#: blocks per eth_getLogs request during incremental sync
EVENT_WINDOW = 5000


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x != ""]


def _csv(values: Iterable[int]) -> str:
    return ",".join(str(int(v)) for v in values)


def _party_row(p: PartyListing) -> tuple:
    return (p.address, p.country_code.upper(), p.party_id.upper(), _csv(p.roles),
            _csv(p.modules_sender), _csv(p.modules_receiver), p.operator)


@attrs.define
class _State:
    operators: dict[str, NodeListing] = attrs.Factory(dict)       # address -> node
    parties: dict[str, PartyListing] = attrs.Factory(dict)        # address -> party
    by_ocpi: dict[tuple[str, str], str] = attrs.Factory(dict)     # (CC, PID) -> address
    last_block: int | None = None

    def put_party(self, p: PartyListing) -> None:
        old = self.parties.get(p.address)
        if old is not None and self.by_ocpi.get(old.key) == p.address:
            del self.by_ocpi[old.key]
        self.parties[p.address] = p
        self.by_ocpi[p.key] = p.address

    def drop_party(self, address: str) -> None:
        old = self.parties.pop(address, None)
        if old is not None and self.by_ocpi.get(old.key) == address:
            del self.by_ocpi[old.key]


class RegistrySnapshot:
    log = Logger()

    def __init__(self, store: Any, client: Any, clock: Any) -> None:
        self.store = store
        self.client = client
        self.clock = clock
        self._state = _State()
        self._lock = defer.DeferredLock()
        self.last_sync: float | None = None
        self.last_full: float | None = None
        self.last_error: str | None = None
        self.rpc_errors = 0
        self.ok = False
        self.loaded = False

    # -- start-up ----------------------------------------------------------------

    @defer.inlineCallbacks
    def start(self):
        """Load the persisted snapshot (no RPC)."""
        registry = self.client.registry_address
        state, last_sync, last_full = yield self.store.run(self._load_rows, registry)
        self._state = state
        self.last_sync, self.last_full = last_sync, last_full
        self.loaded = True
        self.log.info("registry snapshot loaded: {n} nodes, {p} parties, block {b}",
                      n=len(state.operators), p=len(state.parties), b=state.last_block)

    @staticmethod
    def _load_rows(conn, registry: str):
        row = conn.execute("SELECT registry_address, last_block, last_sync, last_full "
                           "FROM registry_sync WHERE id = 1").fetchone()
        state = _State()
        if row is None or (row["registry_address"] and row["registry_address"] != registry):
            # Different contract (or never synced under this one): start empty.
            conn.execute("DELETE FROM registry_operators")
            conn.execute("DELETE FROM registry_parties")
            conn.execute("INSERT OR REPLACE INTO registry_sync (id, registry_address) VALUES (1, ?)",
                         (registry,))
            return state, None, None
        for r in conn.execute("SELECT address, url FROM registry_operators"):
            state.operators[r["address"]] = NodeListing(r["address"], r["url"])
        for r in conn.execute("SELECT * FROM registry_parties"):
            state.put_party(PartyListing(
                address=r["address"], country_code=r["country_code"], party_id=r["party_id"],
                roles=tuple(Role(v) for v in _ints(r["roles"])),
                modules_sender=tuple(Module(v) for v in _ints(r["modules_sender"])),
                modules_receiver=tuple(Module(v) for v in _ints(r["modules_receiver"])),
                operator=r["operator"], url=""))
        state.last_block = row["last_block"]
        return state, row["last_sync"], row["last_full"]

    # -- lookups (synchronous, no RPC) ---------------------------------------------

    def _resolve(self, p: PartyListing | None) -> PartyListing | None:
        if p is None:
            return None
        node = self._state.operators.get(p.operator)
        url = node.url if node is not None else ""
        return p if p.url == url else attrs.evolve(p, url=url)

    def get_party(self, country_code: str, party_id: str) -> PartyListing | None:
        addr = self._state.by_ocpi.get(norm_party(country_code, party_id))
        return self._resolve(self._state.parties.get(addr)) if addr else None

    def get_party_by_address(self, address: str) -> PartyListing | None:
        return self._resolve(self._state.parties.get(_checksum(address)))

    def get_operator(self, country_code: str, party_id: str) -> NodeListing | None:
        """The node serving a party; None when the party or its node is unknown."""
        addr = self._state.by_ocpi.get(norm_party(country_code, party_id))
        if addr is None:
            return None
        return self._state.operators.get(self._state.parties[addr].operator)

    def get_node(self, address: str) -> NodeListing | None:
        return self._state.operators.get(_checksum(address))

    def nodes(self) -> list[NodeListing]:
        return list(self._state.operators.values())

    def parties(self) -> list[PartyListing]:
        return [self._resolve(p) for p in self._state.parties.values()]

    @property
    def last_block(self) -> int | None:
        return self._state.last_block

    # -- status ---------------------------------------------------------------------

    def age(self, now: float | None = None) -> float | None:
        if self.last_sync is None:
            return None
        return (self.clock.seconds() if now is None else now) - self.last_sync

    def status(self) -> dict:
        return {"ok": self.ok, "last_sync": self.last_sync, "age": self.age(),
                "last_block": self.last_block, "last_error": self.last_error,
                "rpc_errors": self.rpc_errors, "nodes": len(self._state.operators),
                "parties": len(self._state.parties)}

    def _failed(self, failure):
        self.ok = False
        self.rpc_errors += 1
        self.last_error = " ".join(str(failure.value).split())[:300] or type(failure.value).__name__
        return failure

    def _succeeded(self):
        self.ok = True
        self.last_error = None
        self.last_sync = self.clock.seconds()

    # -- updating -------------------------------------------------------------------

    def sync(self) -> defer.Deferred:
        """Apply events since the last synced block; full reconcile if never synced."""
        return self._lock.run(self._sync)

    def full_reconcile(self) -> defer.Deferred:
        return self._lock.run(self._full)

    @defer.inlineCallbacks
    def _sync(self):
        if self._state.last_block is None:
            result = yield self._full()
            return result
        try:
            head = yield self.client.block_number()
            start = self._state.last_block + 1
            node_updates: dict[str, str] = {}
            touched_parties: list[str] = []
            while start <= head:
                end = min(head, start + EVENT_WINDOW - 1)
                events = yield self.client.get_events(start, end)
                for ev in events:
                    if ev.name == "OperatorUpdate":
                        node_updates[_checksum(ev.args["operator"])] = ev.args["domain"]
                    elif ev.name == "PartyUpdate":
                        addr = _checksum(ev.args["partyAddress"])
                        if addr not in touched_parties:
                            touched_parties.append(addr)
                start = end + 1
            fresh: dict[str, PartyListing | None] = {}
            for addr in touched_parties:
                fresh[addr] = yield self.client.get_party_details_by_address(addr)
        except Exception:
            self._failed(_current_failure())
            raise
        now = self.clock.seconds()
        yield self.store.run(self._write_delta, node_updates, fresh, head, now)
        st = self._state
        for op, url in node_updates.items():
            if url:
                st.operators[op] = NodeListing(op, url)
            else:
                st.operators.pop(op, None)
        for addr, p in fresh.items():
            if p is None:
                st.drop_party(addr)
            else:
                st.put_party(attrs.evolve(p, url=""))
        st.last_block = max(head, st.last_block or 0)
        self._succeeded()
        if node_updates or fresh:
            self.log.info("registry sync to block {b}: {n} node and {p} party changes",
                          b=head, n=len(node_updates), p=len(fresh))
        return head

    @staticmethod
    def _write_delta(conn, node_updates, fresh, head, now):
        for op, url in node_updates.items():
            if url:
                conn.execute("INSERT OR REPLACE INTO registry_operators (address, url) VALUES (?, ?)",
                             (op, url))
            else:
                conn.execute("DELETE FROM registry_operators WHERE address = ?", (op,))
        for addr, p in fresh.items():
            if p is None:
                conn.execute("DELETE FROM registry_parties WHERE address = ?", (addr,))
            else:
                conn.execute("INSERT OR REPLACE INTO registry_parties VALUES (?,?,?,?,?,?,?)",
                             _party_row(p))
        conn.execute("UPDATE registry_sync SET last_block = ?, last_sync = ? WHERE id = 1", (head, now))

    @defer.inlineCallbacks
    def _full(self):
        try:
            head = yield self.client.block_number()  # read first: later events get replayed
            nodes = yield self.client.get_nodes()
            parties = yield self.client.list_parties()
        except Exception:
            self._failed(_current_failure())
            raise
        state = _State(last_block=head)
        for n in nodes:
            if n.url:
                state.operators[n.operator] = n
        for p in parties:
            state.put_party(attrs.evolve(p, url=""))
        now = self.clock.seconds()
        yield self.store.run(self._write_full, state, now, self.client.registry_address)
        self._state = state  # one assignment: readers see old or new, never a mix
        self.last_full = now
        self._succeeded()
        self.log.info("registry full reconcile at block {b}: {n} nodes, {p} parties",
                      b=head, n=len(state.operators), p=len(state.parties))
        return head

    @staticmethod
    def _write_full(conn, state: _State, now: float, registry: str):
        conn.execute("DELETE FROM registry_operators")
        conn.execute("DELETE FROM registry_parties")
        conn.executemany("INSERT INTO registry_operators (address, url) VALUES (?, ?)",
                         [(n.operator, n.url) for n in state.operators.values()])
        conn.executemany("INSERT INTO registry_parties VALUES (?,?,?,?,?,?,?)",
                         [_party_row(p) for p in state.parties.values()])
        conn.execute("UPDATE registry_sync SET registry_address = ?, last_block = ?, last_sync = ?, "
                     "last_full = ? WHERE id = 1", (registry, state.last_block, now, now))

    @defer.inlineCallbacks
    def refresh_party(self, country_code: str, party_id: str):
        """One live lookup that also updates the snapshot.

        When the RPC fails, the snapshot's current value is returned instead.
        """
        cc, pid = norm_party(country_code, party_id)
        try:
            p = yield self.client.get_party_details_by_ocpi(cc, pid)
        except Exception as e:  # noqa: BLE001
            self.rpc_errors += 1
            self.last_error = " ".join(str(e).split())[:300] or type(e).__name__
            self.log.warn("registry lookup of {cc}/{pid} failed, using snapshot: {e}",
                          cc=cc, pid=pid, e=self.last_error)
            return self.get_party(cc, pid)
        st = self._state
        old_addr = st.by_ocpi.get((cc, pid))
        if p is None:
            if old_addr is not None:
                yield self.store.run(self._write_delta, {}, {old_addr: None},
                                     st.last_block, self.last_sync)
                st.drop_party(old_addr)
            return None
        node_updates = {p.operator: p.url}
        fresh = {p.address: p}
        if old_addr is not None and old_addr != p.address:
            fresh[old_addr] = None
        yield self.store.run(self._write_delta, node_updates, fresh, st.last_block, self.last_sync)
        for addr, q in fresh.items():
            if q is None:
                st.drop_party(addr)
            else:
                st.put_party(attrs.evolve(q, url=""))
        if p.url:
            st.operators[p.operator] = NodeListing(p.operator, p.url)
        else:
            st.operators.pop(p.operator, None)
        return self._resolve(st.parties[p.address])


def _current_failure():
    from twisted.python.failure import Failure

    return Failure()


def _checksum(address: str) -> str:
    from eth_utils import to_checksum_address

    try:
        return to_checksum_address(address)
    except ValueError:
        return address


class RegistryPoller(service.Service):
    """Keeps a :class:`RegistrySnapshot` fresh.

    Runs immediately on start, then ``snapshot.sync()`` every ``interval``
    seconds and ``snapshot.full_reconcile()`` every ``full_interval`` seconds
    (the first run is a full reconcile).  Polls never overlap; a failed poll is
    logged and the next one is scheduled as usual.
    """

    log = Logger()

    def __init__(self, snapshot: RegistrySnapshot, clock: Any, interval: float = 15.0,
                 full_interval: float = 3600.0) -> None:
        self.snapshot = snapshot
        self.clock = clock
        self.interval = interval
        self.full_interval = full_interval
        self._call = None
        self._inflight: defer.Deferred | None = None
        self._again = False
        self._waiters: list[defer.Deferred] = []
        self._last_full: float | None = None
        self.polls = 0
        self.failures = 0

    def startService(self) -> None:
        super().startService()
        self._schedule(0)

    def stopService(self) -> defer.Deferred | None:
        super().stopService()
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        if self._inflight is not None:
            d = defer.Deferred()
            self._waiters.append(d)
            return d
        return None

    def _schedule(self, delay: float) -> None:
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = self.clock.callLater(delay, self._tick)

    def _tick(self) -> None:
        self._call = None
        self._run()

    def poll_now(self) -> defer.Deferred:
        """Poll as soon as possible; fires when that poll has finished.

        If a poll is running, another one follows right after it.
        """
        d = defer.Deferred()
        self._waiters.append(d)
        if self._inflight is not None:
            self._again = True
        else:
            if self._call is not None and self._call.active():
                self._call.cancel()
                self._call = None
            self._run()
        return d

    def _run(self) -> None:
        if self._inflight is not None:
            return
        now = self.clock.seconds()
        full = self._last_full is None or now - self._last_full >= self.full_interval
        self.polls += 1
        waiters, self._waiters = self._waiters, []
        try:
            d = self.snapshot.full_reconcile() if full else self.snapshot.sync()
        except Exception:  # noqa: BLE001 - a synchronous bug must not kill the loop
            d = defer.fail()
        self._inflight = d

        def ok(_):
            if full:
                self._last_full = now

        def failed(f):
            self.failures += 1
            what = "full reconcile" if full else "sync"
            if not self.running:  # the chain or store went away while stopping: nothing to retry
                self.log.info("registry {what} abandoned at shutdown: {error}", what=what,
                              error=f.getErrorMessage())
            elif f.check(RegistryUnavailable, StoreError):  # expected outages: one line, no traceback
                self.log.warn("registry {what} failed (will retry in {interval}s): {error}", what=what,
                              interval=self.interval, error=f.getErrorMessage())
            else:
                self.log.failure("registry {what} failed (will retry in {interval}s)", f, what=what,
                                 interval=self.interval)

        def done(_):
            self._inflight = None
            again, self._again = self._again, False
            for w in waiters:
                w.callback(None)
            if self.running:
                self._schedule(0 if again else self.interval)
            else:
                for w in self._waiters:
                    w.callback(None)
                self._waiters = []

        d.addCallbacks(ok, failed)
        d.addBoth(done)
