"""Hub client info: who is on the network and in what state.

The node keeps the status of its own platforms (CONNECTED / OFFLINE /
PLANNED / SUSPENDED) and of parties served by other nodes
(``network_client_info``), pushes every change to its connected parties that
implement the hubclientinfo receiver interface and to every other node
(``PUT /ocn/client-info``, node-signed), checks that connected parties are
still alive, and discovers parties listed in the registry for this node that
have not connected yet (PLANNED).  Fixes over v1: real pagination, remote
parties reported with their real status, one push per party and role,
signed node pushes, timers that survive failures.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from typing import Any

import attrs
from twisted.application import service
from twisted.internet import defer, task
from twisted.logger import Logger

from . import ocpi, platforms, rules
from .platforms import CONNECTED, OFFLINE, PLANNED, SUSPENDED
from .registry.model import Role
from .signing import wire

STATUSES = (CONNECTED, OFFLINE, PLANNED, SUSPENDED)


@attrs.frozen
class ClientInfo:
    party_id: str
    country_code: str
    role: str
    status: str
    last_updated: float

    def to_json(self) -> dict:
        return {"party_id": self.party_id, "country_code": self.country_code, "role": self.role,
                "status": self.status, "last_updated": ocpi.timestamp(self.last_updated)}


def parse_client_info(raw: bytes) -> ClientInfo:
    from datetime import datetime

    obj = json.loads(raw)
    if not isinstance(obj, dict):
        raise ValueError("expected a ClientInfo object")
    cc, pid, role, status, updated = (obj.get(k) for k in ("country_code", "party_id", "role", "status",
                                                            "last_updated"))
    if not ocpi.valid_country_code(cc) or not ocpi.valid_party_id(pid):
        raise ValueError("invalid country_code/party_id")
    if role not in Role.__members__ or status not in STATUSES or not isinstance(updated, str):
        raise ValueError("invalid role, status or last_updated")
    ts = datetime.fromisoformat(updated.replace("Z", "+00:00")).timestamp()
    return ClientInfo(pid.upper(), cc.upper(), role, status, ts)


# -- SQL ----------------------------------------------------------------------------------

def local_infos(conn: sqlite3.Connection) -> list[ClientInfo]:
    return [ClientInfo(r["party_id"], r["country_code"], r["role"], r["status"], r["last_updated"])
            for r in conn.execute(
                "SELECT r.party_id, r.country_code, r.role, p.status, p.last_updated FROM roles r "
                "JOIN platforms p ON p.id = r.platform_id ORDER BY r.id")]


def network_infos(conn: sqlite3.Connection) -> list[ClientInfo]:
    return [ClientInfo(r["party_id"], r["country_code"], r["role"], r["status"], r["last_updated"])
            for r in conn.execute("SELECT * FROM network_client_info ORDER BY id")]


def visible_list(conn: sqlite3.Connection, platform_id: int, v1_blacklist: bool = False) -> list[ClientInfo]:
    """Everything the requesting platform may see, local parties first."""
    r = rules.load_rules(conn, platform_id)
    out = local_infos(conn)
    seen = {(i.country_code, i.party_id, i.role) for i in out}
    out += [i for i in network_infos(conn) if (i.country_code, i.party_id, i.role) not in seen]
    return [i for i in out if r.visible(i.country_code, i.party_id, v1_blacklist=v1_blacklist)]


def upsert_network(conn: sqlite3.Connection, info: ClientInfo) -> bool:
    """Store a remote party's status; True when it changed (or is new)."""
    if platforms.find_by_party(conn, info.country_code, info.party_id) is not None:
        return False  # a local platform is authoritative
    row = conn.execute("SELECT status FROM network_client_info WHERE country_code = ? AND party_id = ? AND role = ?",
                       (info.country_code, info.party_id, info.role)).fetchone()
    if row is not None and row["status"] == info.status:
        return False
    conn.execute(
        "INSERT INTO network_client_info (country_code, party_id, role, status, last_updated) VALUES (?,?,?,?,?) "
        "ON CONFLICT(country_code, party_id, role) DO UPDATE SET status = excluded.status, "
        "last_updated = excluded.last_updated",
        (info.country_code, info.party_id, info.role, info.status, info.last_updated))
    return True


def recipients(conn: sqlite3.Connection, changed: ClientInfo, exclude_platform: int | None,
               v1_blacklist: bool = False) -> list[tuple[str, str, str]]:
    """(url, token_b, version) of connected platforms with a hubclientinfo receiver allowed to see it."""
    out = []
    for row in conn.execute(
            "SELECT p.id, p.token_b, p.ocpi_version, e.url FROM platforms p JOIN endpoints e ON e.platform_id = p.id "
            "WHERE p.status = 'CONNECTED' AND e.identifier = 'hubclientinfo' AND e.role = 'RECEIVER'"):
        if row["id"] == exclude_platform:
            continue
        if not rules.load_rules(conn, row["id"]).visible(changed.country_code, changed.party_id,
                                                         v1_blacklist=v1_blacklist):
            continue
        out.append((row["url"], row["token_b"], row["ocpi_version"] or "2.2"))
    return out


def set_status(conn: sqlite3.Connection, platform_id: int, status: str, now: float) -> list[ClientInfo]:
    """Change a platform's status; returns its roles as ClientInfo when the status changed."""
    p = platforms.get(conn, platform_id)
    if p is None:
        return []
    conn.execute("UPDATE platforms SET status = ?, last_updated = ? WHERE id = ?", (status, now, platform_id))
    if p.status == status:
        return []
    return [ClientInfo(r.party_id, r.country_code, r.role, status, now) for r in p.roles]


def due_for_check(conn: sqlite3.Connection, older_than: float, now: float | None = None,
                  skew: float = 60.0) -> list[platforms.Platform]:
    """Platforms not heard of since ``older_than``.

    A ``last_updated`` in the future (the clock jumped backwards) also counts
    as due, otherwise liveness checks would stop until the clock caught up.
    """
    future = (now if now is not None else older_than) + skew
    return [p for p in (platforms.get(conn, row["id"]) for row in conn.execute(
        "SELECT id FROM platforms WHERE status IN ('CONNECTED','OFFLINE') AND (last_updated < ? OR last_updated > ?)",
        (older_than, future)))
        if p is not None]


def add_planned(conn: sqlite3.Connection, parties: list[tuple[str, str, str]], now: float) -> list[ClientInfo]:
    """Insert PLANNED rows for registry parties of this node not yet connected."""
    added = []
    for cc, pid, role in parties:
        if platforms.find_by_party(conn, cc, pid) is not None:
            continue
        cur = conn.execute("INSERT OR IGNORE INTO network_client_info (country_code, party_id, role, status, "
                           "last_updated) VALUES (?, ?, ?, 'PLANNED', ?)", (cc, pid, role, now))
        if cur.rowcount:
            added.append(ClientInfo(pid, cc, role, PLANNED, now))
    return added


class HubClientInfoService(service.Service):
    """Pushes, liveness and planned-party discovery, on timers that survive failures."""

    log = Logger()

    def __init__(self, *, store, registry, http, reactor, node_key: str, node_address: str,
                 still_alive_interval: float, planned_interval: float, request_timeout: float,
                 renew_after: float = 60.0) -> None:
        self.store = store
        self.registry = registry
        self.http = http
        self.reactor = reactor
        self.node_key = node_key
        self.node_address = node_address
        self.still_alive_interval = still_alive_interval
        self.planned_interval = planned_interval
        self.request_timeout = request_timeout
        self.renew_after = renew_after
        self._loops: list[task.LoopingCall] = []
        self.pending: set[defer.Deferred] = set()

    # -- lifecycle ----------------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        for interval, fn in ((self.still_alive_interval, self.check_still_alive),
                             (self.planned_interval, self.discover_planned)):
            if interval > 0:
                loop = task.LoopingCall(self._guarded, fn)
                loop.clock = self.reactor
                loop.start(interval, now=False)
                self._loops.append(loop)

    def stopService(self):
        for loop in self._loops:
            if loop.running:
                loop.stop()
        self._loops = []
        super().stopService()
        return defer.DeferredList(list(self.pending), consumeErrors=True)

    def _guarded(self, fn):
        d = defer.ensureDeferred(fn())
        d.addErrback(lambda f: self.log.failure("hub client info task failed", f))
        return d

    def _track(self, coro) -> None:
        d = defer.ensureDeferred(coro)
        self.pending.add(d)
        d.addErrback(lambda f: self.log.failure("hub client info push failed", f))
        d.addBoth(lambda _: self.pending.discard(d))

    # -- events -----------------------------------------------------------------------

    def platform_changed(self, infos: list[ClientInfo], platform_id: int | None) -> None:
        """Fire-and-forget pushes of changed statuses to local parties and other nodes."""
        for info in infos:
            self._track(self.push_local(info, platform_id))
            self._track(self.push_nodes(info))

    async def set_status(self, platform_id: int, status: str) -> None:
        infos = await self.store.run(set_status, platform_id, status, self.reactor.seconds())
        self.platform_changed(infos, platform_id)

    def renew(self, platform: platforms.Platform) -> None:
        """Liveness: a successful exchange with a local platform (throttled write)."""
        now = self.reactor.seconds()
        if platform.status == CONNECTED and now - platform.last_updated < self.renew_after:
            return
        self._track(self.set_status(platform.id, CONNECTED))

    async def push_local(self, info: ClientInfo, changed_platform: int | None) -> None:
        targets = await self.store.read(recipients, info, changed_platform)
        body = ocpi.dumps(info.to_json())
        for url, token_b, version in targets:
            target = url.rstrip("/") + f"/{info.country_code}/{info.party_id}"
            headers = {"Authorization": ocpi.auth_header(token_b, version), "X-Request-ID": str(uuid.uuid4()),
                       "X-Correlation-ID": str(uuid.uuid4()), "Content-Type": "application/json"}
            try:
                response = await self.http.put(target, data=body, headers=headers, timeout=self.request_timeout,
                                               reactor=self.reactor)
                await response.content()
            except Exception as e:  # noqa: BLE001
                self.log.warn("hub client info push to {url} failed: {error}", url=target.split("?")[0],
                              error=e.__class__.__name__)

    async def push_nodes(self, info: ClientInfo) -> None:
        snapshot = getattr(self.registry, "snapshot", None)
        nodes = snapshot.nodes() if snapshot is not None else []
        body = ocpi.dumps(info.to_json())
        signature = wire.sign_body(body, self.node_key)
        for node in nodes:
            if not node.url or node.operator.lower() == self.node_address.lower():
                continue
            try:
                response = await self.http.put(node.url.rstrip("/") + "/ocn/client-info", data=body,
                                               headers={"OCN-Signature": signature,
                                                        "Content-Type": "application/json",
                                                        "X-Request-ID": str(uuid.uuid4())},
                                               timeout=self.request_timeout, reactor=self.reactor)
                await response.content()
                if response.code != 200:
                    self.log.warn("node {url} refused client info: HTTP {code}", url=node.url, code=response.code)
            except Exception as e:  # noqa: BLE001
                self.log.warn("client info push to node {url} failed: {error}", url=node.url,
                              error=e.__class__.__name__)

    async def receive_from_node(self, raw: bytes, signature: str) -> tuple[int, str]:
        """PUT /ocn/client-info: verify the operator's signature, store, push on."""
        try:
            info = parse_client_info(raw)
        except (ValueError, TypeError) as e:
            return 400, f"Invalid ClientInfo: {e}"
        try:
            signer = wire.recover_body(raw, signature)
        except wire.WireSignatureError:
            signer = None
        listing = self.registry.get_party(info.country_code, info.party_id)
        if signer is not None and (listing is None or listing.operator.lower() != signer.lower()):
            # the snapshot may lag behind a party that was listed a moment ago
            listing = await self.registry.lookup_party(info.country_code, info.party_id)
        operator = listing.operator if listing is not None else None
        if signer is None or operator is None or signer.lower() != operator.lower():
            return 400, (f"Invalid OCN-Signature header. Client registered with operator {operator} "
                         f"but update signed by {signer}.")
        changed = await self.store.run(upsert_network, info)
        if changed:
            self._track(self.push_local(info, None))
        return 200, ""

    # -- timers ---------------------------------------------------------------------------

    async def check_still_alive(self) -> None:
        now = self.reactor.seconds()
        for p in await self.store.read(due_for_check, now - self.still_alive_interval, now):
            alive = False
            if p.versions_url and p.token_b:
                try:
                    response = await self.http.get(
                        p.versions_url, headers={"Authorization": ocpi.auth_header(p.token_b, p.ocpi_version or "2.2")},
                        timeout=self.request_timeout, reactor=self.reactor)
                    body = json.loads(await response.content())
                    alive = response.code == 200 and isinstance(body, dict) and body.get("status_code") == 1000
                except Exception:  # noqa: BLE001
                    alive = False
            await self.set_status(p.id, CONNECTED if alive else OFFLINE)

    async def discover_planned(self) -> None:
        snapshot = getattr(self.registry, "snapshot", None)
        if snapshot is None:
            return
        mine = [(p.country_code, p.party_id, r.name) for p in snapshot.parties()
                if p.operator.lower() == self.node_address.lower() for r in p.roles]
        added = await self.store.run(add_planned, mine, self.reactor.seconds())
        self.platform_changed(added, None)
