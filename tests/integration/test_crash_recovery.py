"""SIGKILL under load: nothing that was acknowledged is lost, the database is intact."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest_twisted
import treq
from twisted.internet import defer

from nodeproc import NodeProcess


@pytest_twisted.ensureDeferred
async def test_sigkill_under_load_loses_nothing_acknowledged(tmp_path):
    node = NodeProcess(str(tmp_path / "node"))
    node.start()
    admin = {"Authorization": f"Token {node.admin_key()}"}
    acknowledged: list[str] = []
    stop = False

    async def worker(n: int):
        i = 0
        while not stop:
            pid = f"{n}{i:02d}"[-3:].rjust(3, "0")
            i += 1
            try:
                r = await treq.post(node.base + "/admin/generate-registration-token", headers=admin,
                                    json=[{"country_code": "D" + chr(65 + n), "party_id": pid}], persistent=False)
                if r.code == 200:
                    await r.content()
                    acknowledged.append(f"D{chr(65 + n)}/{pid}")
            except Exception:  # noqa: BLE001 - the process is being killed
                return

    from twisted.internet import reactor, task

    workers = [defer.ensureDeferred(worker(n)) for n in range(8)]
    while len(acknowledged) < 200:
        await task.deferLater(reactor, 0.05, lambda: None)
    node.kill()
    stop = True
    await defer.DeferredList(workers)
    db = os.path.join(node.data_dir, "ocnd.sqlite")
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    node.start()
    try:
        r = await treq.get(node.base + "/admin/platforms", headers=admin, persistent=False)
        listing = json.loads(await r.content())
        stored = {f"{p['country_code']}/{p['party_id']}" for x in listing for p in x["announced_parties"]}
        missing = [a for a in acknowledged if a not in stored]
        assert not missing, f"{len(missing)} acknowledged registrations lost: {missing[:5]}"
    finally:
        node.stop()
