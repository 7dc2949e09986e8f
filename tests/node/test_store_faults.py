"""A full disk gives a clear OCPI error, nothing half-written, and the node recovers."""

from __future__ import annotations

import json
import sqlite3

import pytest_twisted

from support import call


@pytest_twisted.ensureDeferred
async def test_disk_full_is_a_clear_error_and_nothing_is_corrupted(node):
    def fill_up(conn):
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")

    await node.store.run(fill_up)
    body = [{"country_code": "DE", "party_id": f"{i:03d}"} for i in range(999)]
    code, raw, _ = await call("POST", node.url("/admin/generate-registration-token"), headers=node.admin_headers(),
                              json_body=body)
    assert code == 503
    env = json.loads(raw)
    assert env["status_code"] == 3000 and env["status_message"].startswith("Storage unavailable:")
    assert "full" in env["status_message"]
    # nothing of the failed transaction is visible, the file is intact, and the node recovers
    await node.store.run(lambda conn: conn.execute("PRAGMA max_page_count = 1073741823"))
    count = await node.store.read(lambda conn: conn.execute("SELECT count(*) FROM platforms").fetchone()[0])
    assert count == 0
    assert sqlite3.connect(node.store.path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    code, raw, _ = await call("POST", node.url("/admin/generate-registration-token"), headers=node.admin_headers(),
                              json_body=body[:1])
    assert code == 200
