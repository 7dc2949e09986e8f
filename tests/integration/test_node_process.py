"""Acceptance: a real ``twistd -n ocnd`` process, a real party, restart, delete."""

from __future__ import annotations

import json
import socket

import pytest
import pytest_twisted
from twisted.internet import threads

from nodeproc import NodeProcess, free_port, list_party_on_chain
from support import call

PARTY_KEY = "0x" + "ab" * 32


@pytest_twisted.ensureDeferred
async def test_handshake_restart_delete(tmp_path, party):
    node = NodeProcess(str(tmp_path / "node"), rpc_port=free_port())
    node.start()
    try:
        code, body, _ = await call("GET", node.base + "/ocn/registry/node-info")
        info = json.loads(body)
        assert info["url"] == node.base
        await threads.deferToThread(list_party_on_chain, f"http://127.0.0.1:{node.rpc_port}",
                                    info["address"], "DE", "CPO", PARTY_KEY)
        admin = {"Authorization": f"Token {node.admin_key()}"}
        code, body, _ = await call("POST", node.base + "/admin/generate-registration-token", headers=admin,
                                   json_body=[{"country_code": "DE", "party_id": "CPO"}])
        assert code == 200, body
        token_a = json.loads(body)["token"]
        roles = [{"role": "CPO", "business_details": {"name": "CPO"}, "party_id": "CPO", "country_code": "DE"}]
        code, body, _ = await call("POST", node.base + "/ocpi/2.2/credentials",
                                   headers={"Authorization": f"Token {token_a}"}, json_body=party.credentials(roles))
        assert code == 200, body
        token_c = json.loads(body)["data"]["token"]
        assert node.admin_key() not in node.log() and token_c not in node.log() and token_a not in node.log()

        assert node.stop() in (0, -15)  # twistd re-raises SIGTERM on exit, which systemd counts as clean
        node.start()
        # the registry listing and the platform survived the restart
        code, body, _ = await call("GET", node.base + "/ocn/registry/node/DE/CPO")
        assert json.loads(body) == {"url": node.base, "address": info["address"].lower()} or \
            json.loads(body)["url"] == node.base
        code, body, _ = await call("GET", node.base + "/ocpi/2.2/credentials",
                                   headers={"Authorization": f"Token {token_c}"})
        assert code == 200 and json.loads(body)["data"]["token"] == token_c
        code, body, _ = await call("GET", node.base + "/admin/connection-status/DE/CPO", headers=admin)
        assert body == b"CONNECTED"
        code, body, _ = await call("DELETE", node.base + "/ocpi/2.2/credentials",
                                   headers={"Authorization": f"Token {token_c}"})
        assert code == 200 and json.loads(body)["status_code"] == 1000
        code, body, _ = await call("GET", node.base + "/ocpi/2.2/credentials",
                                   headers={"Authorization": f"Token {token_c}"})
        assert code == 401
    finally:
        node.stop()
    assert "Traceback" not in node.log()


def test_ready_notification_reaches_notify_socket(tmp_path):
    sock_path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind(sock_path)
        s.settimeout(60)
        node = NodeProcess(str(tmp_path / "node"), extra_env={"NOTIFY_SOCKET": sock_path,
                                                              "WATCHDOG_USEC": "2000000"})
        node.start()
        try:
            messages = []
            while not any(m.startswith(b"READY=1") for m in messages):
                messages.append(s.recv(4096))
            s.settimeout(5)
            messages.append(s.recv(4096))  # a watchdog ping within WATCHDOG_USEC/2
            assert b"WATCHDOG=1" in messages
        finally:
            node.stop()
            s.settimeout(5)
            tail = []
            try:
                while True:
                    tail.append(s.recv(4096))
                    if tail[-1] == b"STOPPING=1":
                        break
            except OSError:
                pass
            assert b"STOPPING=1" in tail


def test_plugin_is_discovered():
    from twisted.application.service import IServiceMaker
    from twisted.plugin import getPlugins

    assert "ocnd" in {p.tapname for p in getPlugins(IServiceMaker)}
