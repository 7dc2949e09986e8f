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


CPO_KEY = "0x" + "c1" * 32
MSP_KEY = "0x" + "e2" * 32


async def _register(node: NodeProcess, party, cc: str, pid: str, role: str, key: str, admin: dict) -> str:
    """List the party on the chain with this node, then the OCPI credentials handshake; returns token C."""
    from twisted.internet import threads

    from nodeproc import list_party_on_chain

    info = json.loads(await (await treq.get(node.base + "/ocn/registry/node-info", persistent=False)).content())
    await threads.deferToThread(list_party_on_chain, f"http://127.0.0.1:{node.rpc_port}", info["address"],
                                cc, pid, key, role)
    r = await treq.post(node.base + "/admin/generate-registration-token", headers=admin,
                        json=[{"country_code": cc, "party_id": pid}], persistent=False)
    token_a = json.loads(await r.content())["token"]
    roles = [{"role": role, "business_details": {"name": pid}, "party_id": pid, "country_code": cc}]
    r = await treq.post(node.base + "/ocpi/2.2/credentials", headers={"Authorization": f"Token {token_a}"},
                        json=party.credentials(roles), persistent=False)
    body = json.loads(await r.content())
    assert r.code == 200, body
    return body["data"]["token"]


def _ocpi_headers(token_c: str, sender: tuple[str, str], receiver: tuple[str, str], rid: str) -> dict:
    return {"Authorization": f"Token {token_c}", "Content-Type": "application/json", "X-Request-ID": rid,
            "X-Correlation-ID": "crash-" + rid, "OCPI-from-country-code": sender[0],
            "OCPI-from-party-id": sender[1], "OCPI-to-country-code": receiver[0], "OCPI-to-party-id": receiver[1]}


@pytest_twisted.ensureDeferred
async def test_sigkill_under_load_keeps_parties_rules_and_proxies(tmp_path):
    """SIGKILL while a CPO adds OcnRules entries, an MSP sends commands (each one stores a proxy for its
    response_url) and an operator issues registration tokens: after the restart every acknowledged
    rule entry is there, both parties are still registered, and every response_url the CPO was given
    still routes back to the MSP."""
    from nodeproc import free_port
    from ocnd.testing import MockParty
    from twisted.internet import reactor, task

    node = NodeProcess(str(tmp_path / "node"), rpc_port=free_port())
    node.start()
    cpo = MockParty(reactor, token_b="tb-cpo", modules=(("commands", "RECEIVER"),), country_code="DE",
                    party_id="CPO", role="CPO")
    msp = MockParty(reactor, token_b="tb-msp", modules=(("commands", "SENDER"),), country_code="NL",
                    party_id="MSP", role="EMSP")
    await cpo.start()
    await msp.start()
    admin = {"Authorization": f"Token {node.admin_key()}"}
    try:
        cpo_c = await _register(node, cpo, "DE", "CPO", "CPO", CPO_KEY, admin)
        msp_c = await _register(node, msp, "NL", "MSP", "EMSP", MSP_KEY, admin)
        acked = {"rules": [], "commands": [], "tokens": []}
        stop = False

        async def rules_worker(n: int):
            i = 0
            while not stop:
                entry = {"country_code": "FR", "party_id": f"{n}{i:02d}"[-3:], "modules": ["locations"]}
                i += 1
                try:
                    r = await treq.post(node.base + "/ocpi/receiver/2.2/ocnrules/blacklist", json=entry,
                                        headers={"Authorization": f"Token {cpo_c}"}, persistent=False)
                    if r.code == 200 and json.loads(await r.content())["status_code"] == 1000:
                        acked["rules"].append(entry["party_id"])
                except Exception:  # noqa: BLE001 - the node is being killed
                    return

        async def command_worker(n: int):
            i = 0
            while not stop:
                i += 1
                rid = f"cmd-{n}-{i}"
                body = {"response_url": f"{msp.base}/cb/{rid}", "token": {"uid": "T1", "type": "RFID"},
                        "location_id": "LOC1"}
                try:
                    r = await treq.post(node.base + "/ocpi/receiver/2.2/commands/START_SESSION", json=body,
                                        headers=_ocpi_headers(msp_c, ("NL", "MSP"), ("DE", "CPO"), rid),
                                        persistent=False)
                    if r.code == 200 and json.loads(await r.content())["status_code"] == 1000:
                        acked["commands"].append(rid)
                except Exception:  # noqa: BLE001
                    return

        async def token_worker(n: int):
            i = 0
            while not stop:
                pid = f"{n}{i:02d}"[-3:]
                i += 1
                try:
                    r = await treq.post(node.base + "/admin/generate-registration-token", headers=admin,
                                        json=[{"country_code": "IT", "party_id": pid}], persistent=False)
                    if r.code == 200:
                        await r.content()
                        acked["tokens"].append(pid)
                except Exception:  # noqa: BLE001
                    return

        workers = ([defer.ensureDeferred(rules_worker(n)) for n in range(2)]
                   + [defer.ensureDeferred(command_worker(n)) for n in range(3)]
                   + [defer.ensureDeferred(token_worker(n)) for n in range(2)])
        for _ in range(600):
            if len(acked["rules"]) >= 40 and len(acked["commands"]) >= 40 and len(acked["tokens"]) >= 40:
                break
            await task.deferLater(reactor, 0.05, lambda: None)
        node.kill()
        stop = True
        await defer.DeferredList(workers)
        assert min(len(v) for v in acked.values()) >= 40, {k: len(v) for k, v in acked.items()}
        db = os.path.join(node.data_dir, "ocnd.sqlite")
        assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0] == "ok"

        node.start()
        for token_c in (cpo_c, msp_c):  # both registrations survived
            r = await treq.get(node.base + "/ocpi/2.2/credentials", headers={"Authorization": f"Token {token_c}"},
                               persistent=False)
            assert r.code == 200, await r.content()
        r = await treq.get(node.base + "/ocpi/receiver/2.2/ocnrules", headers={"Authorization": f"Token {cpo_c}"},
                           persistent=False)
        rules = json.loads(await r.content())["data"]
        blacklisted = {e["party_id"] for e in rules["blacklist"]["list"]}
        assert set(acked["rules"]) <= blacklisted, sorted(set(acked["rules"]) - blacklisted)[:5]

        # every command the CPO received carries a node URL backed by a stored proxy entry
        received = [json.loads(r.body) for r in cpo.received if "/commands/START_SESSION" in r.path]
        assert len(received) >= len(acked["commands"])
        for n, command in enumerate(received):
            assert command["response_url"].startswith(node.base + "/ocpi/sender/2.2/commands/START_SESSION/")
            r = await treq.post(command["response_url"], json={"result": "ACCEPTED"},
                                headers=_ocpi_headers(cpo_c, ("DE", "CPO"), ("NL", "MSP"), f"result-{n}"),
                                persistent=False)
            body = json.loads(await r.content())
            assert r.code == 200 and body["status_code"] == 1000, (command["response_url"], body)
        callbacks = {r.path.rsplit("/", 1)[1] for r in msp.received if r.path.startswith("/cb/")}
        assert set(acked["commands"]) <= callbacks
    finally:
        node.stop()
        await cpo.stop()
        await msp.stop()
