"""Clock jumps: liveness checks and proxy expiry keep working when the wall clock moves."""

from __future__ import annotations

from ocnd import hubclientinfo, platforms, proxies
from ocnd.store import Store


def _store(tmp_path):
    store = Store(str(tmp_path / "s.sqlite"), None)
    store.open_sync()
    return store._conn


def _connected_platform(conn, last_updated):
    pid = platforms.create_planned(conn, [("DE", "ABC")], "h", last_updated, None)
    conn.execute("UPDATE platforms SET status = 'CONNECTED', last_updated = ? WHERE id = ?", (last_updated, pid))
    return pid


def test_backward_jump_does_not_stop_liveness_checks(tmp_path):
    conn = _store(tmp_path)
    pid = _connected_platform(conn, last_updated=10_000.0)
    # the clock jumped back one hour: the platform was "updated in the future"
    now = 10_000.0 - 3600
    due = hubclientinfo.due_for_check(conn, now - 900, now)
    assert [p.id for p in due] == [pid]
    # a normal, recent update is not due
    conn.execute("UPDATE platforms SET last_updated = ? WHERE id = ?", (now - 10, pid))
    assert hubclientinfo.due_for_check(conn, now - 900, now) == []


def test_forward_jump_expires_proxies_and_a_backward_jump_keeps_them(tmp_path):
    conn = _store(tmp_path)
    proxies.put(conn, "u1", ("DE", "ABC"), ("NL", "XYZ"), "http://x", now=1000.0, ttl=600)
    assert proxies.get(conn, "u1", ("DE", "ABC"), ("NL", "XYZ"), now=1000.0 - 3600) == "http://x"
    assert proxies.get(conn, "u1", ("DE", "ABC"), ("NL", "XYZ"), now=1000.0 + 86400) is None
    assert proxies.sweep(conn, 1000.0 + 86400) == 1
