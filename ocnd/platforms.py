"""Platform (OCPI connection) persistence.

Plain functions taking a sqlite3 connection; the caller runs them through
:meth:`ocnd.store.Store.run` so each call is one transaction on the DB thread.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Iterable

import attrs

PLANNED, CONNECTED, OFFLINE, SUSPENDED = "PLANNED", "CONNECTED", "OFFLINE", "SUSPENDED"


class RoleConflict(Exception):
    """A role (country_code, party_id) is already known to this node."""

    def __init__(self, country_code: str, party_id: str) -> None:
        super().__init__(f"{country_code}/{party_id}")
        self.country_code, self.party_id = country_code, party_id


@attrs.frozen
class PartyRole:
    role: str
    country_code: str
    party_id: str
    business_details: Any = None


@attrs.frozen
class Endpoint:
    identifier: str
    role: str
    url: str


@attrs.frozen
class Platform:
    id: int
    status: str
    ocpi_version: str | None
    versions_url: str | None
    token_b: str | None
    signatures: bool
    rules_mode: str
    last_updated: float
    roles: tuple[PartyRole, ...] = ()


def _platform(conn: sqlite3.Connection, row: sqlite3.Row | None) -> Platform | None:
    if row is None:
        return None
    roles = tuple(
        PartyRole(r["role"], r["country_code"], r["party_id"],
                  json.loads(r["business_details"]) if r["business_details"] else None)
        for r in conn.execute(
            "SELECT role, country_code, party_id, business_details FROM roles WHERE platform_id = ? ORDER BY id",
            (row["id"],))
    )
    return Platform(
        id=row["id"], status=row["status"], ocpi_version=row["ocpi_version"],
        versions_url=row["versions_url"], token_b=row["token_b"], signatures=bool(row["signatures"]),
        rules_mode=row["rules_mode"], last_updated=row["last_updated"], roles=roles,
    )


def party_known(conn: sqlite3.Connection, country_code: str, party_id: str,
                exclude_platform: int | None = None) -> bool:
    row = conn.execute(
        "SELECT 1 FROM roles WHERE country_code = ? AND party_id = ? AND platform_id IS NOT ?",
        (country_code.upper(), party_id.upper(), exclude_platform),
    ).fetchone()
    if row:
        return True
    # parties announced for a registration token that has not been used yet
    row = conn.execute(
        "SELECT 1 FROM registration_tokens rt JOIN platforms p ON p.id = rt.platform_id, json_each(rt.parties) j "
        "WHERE rt.used_at IS NULL AND p.status = 'PLANNED' AND p.id IS NOT ? "
        "AND json_extract(j.value, '$.country_code') = ? AND json_extract(j.value, '$.party_id') = ? LIMIT 1",
        (exclude_platform, country_code.upper(), party_id.upper())).fetchone()
    return row is not None


def create_planned(conn: sqlite3.Connection, parties: list[tuple[str, str]], token_hash: str,
                   now: float, expires_at: float | None) -> int:
    """A PLANNED platform with a registration token (Token A)."""
    norm = [(cc.upper(), pid.upper()) for cc, pid in parties]
    for cc, pid in norm:
        if party_known(conn, cc, pid):
            raise RoleConflict(cc, pid)
    cur = conn.execute(
        "INSERT INTO platforms (status, created_at, last_updated) VALUES (?, ?, ?)", (PLANNED, now, now))
    platform_id = cur.lastrowid
    conn.execute(
        "INSERT INTO registration_tokens (token_hash, platform_id, parties, created_at, expires_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (token_hash, platform_id,
         json.dumps([{"country_code": cc, "party_id": pid} for cc, pid in norm]), now, expires_at),
    )
    return platform_id


def find_by_token_a(conn: sqlite3.Connection, token_hash: str, now: float) -> Platform | None:
    row = conn.execute(
        "SELECT p.* FROM registration_tokens rt JOIN platforms p ON p.id = rt.platform_id "
        "WHERE rt.token_hash = ? AND rt.used_at IS NULL AND (rt.expires_at IS NULL OR rt.expires_at > ?)",
        (token_hash, now),
    ).fetchone()
    return _platform(conn, row)


def find_by_token_c(conn: sqlite3.Connection, token_hash: str) -> Platform | None:
    row = conn.execute("SELECT * FROM platforms WHERE token_c_hash = ?", (token_hash,)).fetchone()
    return _platform(conn, row)


def find_by_party(conn: sqlite3.Connection, country_code: str, party_id: str) -> Platform | None:
    row = conn.execute(
        "SELECT p.* FROM platforms p JOIN roles r ON r.platform_id = p.id "
        "WHERE r.country_code = ? AND r.party_id = ? LIMIT 1",
        (country_code.upper(), party_id.upper()),
    ).fetchone()
    return _platform(conn, row)


def get(conn: sqlite3.Connection, platform_id: int) -> Platform | None:
    row = conn.execute("SELECT * FROM platforms WHERE id = ?", (platform_id,)).fetchone()
    return _platform(conn, row)


def _replace_roles_and_endpoints(conn, platform_id: int, roles: Iterable[PartyRole],
                                 endpoints: Iterable[Endpoint]) -> None:
    conn.execute("DELETE FROM roles WHERE platform_id = ?", (platform_id,))
    conn.execute("DELETE FROM endpoints WHERE platform_id = ?", (platform_id,))
    for r in roles:
        if party_known(conn, r.country_code, r.party_id, exclude_platform=platform_id):
            raise RoleConflict(r.country_code, r.party_id)
        try:
            conn.execute(
                "INSERT INTO roles (platform_id, role, country_code, party_id, business_details) "
                "VALUES (?, ?, ?, ?, ?)",
                (platform_id, r.role, r.country_code.upper(), r.party_id.upper(),
                 json.dumps(r.business_details) if r.business_details is not None else None),
            )
        except sqlite3.IntegrityError:
            raise RoleConflict(r.country_code, r.party_id) from None
    conn.executemany(
        "INSERT INTO endpoints (platform_id, identifier, role, url) VALUES (?, ?, ?, ?)",
        [(platform_id, e.identifier, e.role, e.url) for e in endpoints],
    )


def register(conn: sqlite3.Connection, platform_id: int, token_a_hash: str, token_b: str,
             token_c_hash: str, versions_url: str, ocpi_version: str, roles: list[PartyRole],
             endpoints: list[Endpoint], signatures: bool, now: float) -> None:
    """Complete a registration (POST credentials) atomically."""
    cur = conn.execute(
        "UPDATE registration_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL",
        (now, token_a_hash))
    if cur.rowcount != 1:
        raise LookupError("registration token already used")
    conn.execute(
        "UPDATE platforms SET status = ?, ocpi_version = ?, versions_url = ?, token_b = ?, token_c_hash = ?, "
        "signatures = ?, last_updated = ? WHERE id = ?",
        (CONNECTED, ocpi_version, versions_url, token_b, token_c_hash, int(signatures), now, platform_id),
    )
    _replace_roles_and_endpoints(conn, platform_id, roles, endpoints)
    for r in roles:
        conn.execute("DELETE FROM network_client_info WHERE country_code = ? AND party_id = ? AND role = ?",
                     (r.country_code.upper(), r.party_id.upper(), r.role))


def update(conn: sqlite3.Connection, platform_id: int, old_token_c_hash: str, token_b: str,
           token_c_hash: str, versions_url: str, ocpi_version: str, roles: list[PartyRole],
           endpoints: list[Endpoint], now: float) -> None:
    """Credentials update (PUT): new tokens, roles and endpoints, atomically."""
    cur = conn.execute(
        "UPDATE platforms SET status = ?, ocpi_version = ?, versions_url = ?, token_b = ?, token_c_hash = ?, "
        "last_updated = ? WHERE id = ? AND token_c_hash = ?",
        (CONNECTED, ocpi_version, versions_url, token_b, token_c_hash, now, platform_id, old_token_c_hash),
    )
    if cur.rowcount != 1:
        raise LookupError("credentials changed concurrently")
    _replace_roles_and_endpoints(conn, platform_id, roles, endpoints)


def delete(conn: sqlite3.Connection, platform_id: int) -> None:
    conn.execute("DELETE FROM platforms WHERE id = ?", (platform_id,))


def endpoints_of(conn: sqlite3.Connection, platform_id: int) -> list[Endpoint]:
    return [Endpoint(r["identifier"], r["role"], r["url"]) for r in conn.execute(
        "SELECT identifier, role, url FROM endpoints WHERE platform_id = ? ORDER BY id", (platform_id,))]


def connection_status(conn: sqlite3.Connection, country_code: str, party_id: str) -> str | None:
    p = find_by_party(conn, country_code, party_id)
    if p is not None:
        return p.status
    if party_known(conn, country_code, party_id):
        return PLANNED
    return None


def listing(conn: sqlite3.Connection) -> list[dict]:
    """Admin listing of every platform; never includes tokens."""
    out = []
    for row in conn.execute("SELECT * FROM platforms ORDER BY id"):
        p = _platform(conn, row)
        assert p is not None
        announced = []
        rt = conn.execute("SELECT parties, created_at, expires_at, used_at FROM registration_tokens "
                          "WHERE platform_id = ?", (p.id,)).fetchone()
        if rt is not None:
            announced = json.loads(rt["parties"])
        out.append({
            "id": p.id,
            "status": p.status,
            "ocpi_version": p.ocpi_version,
            "versions_url": p.versions_url,
            "signatures": p.signatures,
            "rules_mode": p.rules_mode,
            "last_updated": p.last_updated,
            "roles": [{"role": r.role, "country_code": r.country_code, "party_id": r.party_id}
                      for r in p.roles],
            "announced_parties": announced,
            "registration_token_used": bool(rt and rt["used_at"]),
            "endpoints": len(endpoints_of(conn, p.id)),
        })
    return out
