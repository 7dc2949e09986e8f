"""Proxy resources: URLs of one party that the node hands out under its own URL.

Pagination ``Link`` targets, CDR ``Location`` URLs and async ``response_url``
values are stored here and replaced by node URLs.  An entry can only be used
by the (sender, receiver) pair it was stored for, and it expires.
"""

from __future__ import annotations

import sqlite3


def put(conn: sqlite3.Connection, uid: str, sender: tuple[str, str], receiver: tuple[str, str],
        resource: str, now: float, ttl: float | None) -> None:
    conn.execute(
        "INSERT INTO proxy_resources (uid, sender_cc, sender_pid, receiver_cc, receiver_pid, resource, "
        "created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(uid) DO UPDATE SET resource = excluded.resource, expires_at = excluded.expires_at",
        (uid, sender[0].upper(), sender[1].upper(), receiver[0].upper(), receiver[1].upper(), resource, now,
         now + ttl if ttl else None),
    )


def get(conn: sqlite3.Connection, uid: str, sender: tuple[str, str], receiver: tuple[str, str],
        now: float) -> str | None:
    row = conn.execute(
        "SELECT resource FROM proxy_resources WHERE uid = ? AND sender_cc = ? AND sender_pid = ? "
        "AND receiver_cc = ? AND receiver_pid = ? AND (expires_at IS NULL OR expires_at > ?)",
        (uid, sender[0].upper(), sender[1].upper(), receiver[0].upper(), receiver[1].upper(), now),
    ).fetchone()
    return row[0] if row else None


def delete(conn: sqlite3.Connection, uid: str) -> None:
    conn.execute("DELETE FROM proxy_resources WHERE uid = ?", (uid,))


def sweep(conn: sqlite3.Connection, now: float) -> int:
    """Delete expired entries; returns how many."""
    return conn.execute("DELETE FROM proxy_resources WHERE expires_at IS NOT NULL AND expires_at <= ?",
                        (now,)).rowcount
