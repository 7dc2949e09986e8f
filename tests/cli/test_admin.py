"""``ocn admin`` against a running node."""

from __future__ import annotations

import os

import pytest_twisted

from support import ADMIN_KEY


def _key_file(tmp_path, key=ADMIN_KEY, name="admin.key"):
    p = tmp_path / name
    p.write_text(key + "\n")
    return str(p)


def _no_key(r):
    assert ADMIN_KEY not in r.out and ADMIN_KEY not in r.err


@pytest_twisted.ensureDeferred
async def test_generate_token_status_platforms_delete(node, cli, tmp_path):
    kf = _key_file(tmp_path)
    base = ["--node", node.base, "--api-key-file", kf]

    r = await cli("admin", "generate-token", "de", "abc", "NL", "XYZ", *base)
    assert r.code == 0, r.err
    lines = dict(line.split(":", 1) for line in r.out.splitlines())
    assert len(lines["token"].strip()) > 20
    assert lines["versions"].strip() == "http://node.test:8080/ocpi/versions"
    assert lines["parties"].strip() == "DE/ABC, NL/XYZ"
    _no_key(r)

    r = await cli("--json", "admin", "generate-token", "FR/AAA", *base)
    assert r.code == 0, r.err
    obj = r.json()
    assert set(obj) == {"token", "versions", "parties"}
    assert obj["parties"] == [{"country_code": "FR", "party_id": "AAA"}]

    r = await cli("admin", "status", "DE", "ABC", *base)
    assert (r.code, r.out.strip()) == (0, "PLANNED")
    r = await cli("admin", "status", "fr", "aaa", *base, "--json")
    assert r.code == 0 and r.json() == {"country_code": "FR", "party_id": "AAA", "status": "PLANNED"}
    r = await cli("admin", "status", "XX", "NOP", *base)
    assert r.code == 3
    assert r.err.strip() == "ocn: error: XX/NOP: Role not found"

    r = await cli("admin", "platforms", *base)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "OCPI", "ROLES", "SIGNED", "ENDPOINTS", "VERSIONS", "URL"]
    assert len(lines) == 3
    assert "PLANNED" in lines[1] and "(DE/ABC,NL/XYZ)" in lines[1]
    r = await cli("--json", "admin", "platforms", *base)
    listing = r.json()
    assert [p["status"] for p in listing] == ["PLANNED", "PLANNED"]
    first = listing[0]["id"]

    r = await cli("admin", "delete-platform", str(first), *base)
    assert (r.code, r.out.strip()) == (0, f"deleted platform {first}")
    r = await cli("admin", "delete-platform", str(first), *base, "--json")
    assert r.code == 3 and f"platform {first}: Platform not found" in r.err
    r = await cli("admin", "delete-platform", str(listing[1]["id"]), *base, "--json")
    assert r.code == 0 and r.json() == {"deleted": listing[1]["id"]}
    r = await cli("admin", "platforms", *base)
    assert (r.code, r.out.strip()) == (0, "no platforms")


@pytest_twisted.ensureDeferred
async def test_admin_key_sources(node, cli, tmp_path, monkeypatch):
    # no key anywhere
    r = await cli("admin", "platforms", "--node", node.base)
    assert r.code == 2 and "no admin key" in r.err

    # ./data/admin.key (the node's default location), relative to the cwd
    os.makedirs("data")
    _key_file(tmp_path / "cwd" / "data")
    r = await cli("admin", "platforms", "--node", node.base)
    assert r.code == 0, r.err

    # env beats the default file
    monkeypatch.setenv("OCN_ADMIN_KEY", "wrong-key-wrong-key-wrong")
    r = await cli("admin", "platforms", "--node", node.base)
    assert r.code == 1
    assert r.err.strip() == (f"ocn: error: GET {node.base}/admin/platforms: HTTP 401: admin key from "
                             "$OCN_ADMIN_KEY was refused")
    assert "wrong-key" not in r.err
    monkeypatch.delenv("OCN_ADMIN_KEY")

    # profile: node_url and admin_key_file relative to profiles.ini
    conf = tmp_path / "ocn"
    conf.mkdir()
    _key_file(conf, name="node.admin")
    (conf / "profiles.ini").write_text(f"[dev]\nnode_url = {node.base}/\nadmin_key_file = node.admin\n")
    r = await cli("admin", "generate-token", "DE", "PRO", "--profile", "dev")
    assert r.code == 0, r.err
    _no_key(r)
    r = await cli("admin", "platforms", "--profile", "nope")
    assert r.code == 2 and "no profile [nope]" in r.err

    # a wrong key file names the file, never the key
    bad = _key_file(tmp_path, "another-wrong-key-0123456789", "bad.key")
    r = await cli("admin", "platforms", "--node", node.base, "--api-key-file", bad)
    assert r.code == 1 and f"admin key from {bad} was refused" in r.err
    r = await cli("admin", "platforms", "--node", node.base, "--api-key-file", str(tmp_path / "missing"))
    assert r.code == 2 and "cannot read admin key" in r.err


@pytest_twisted.ensureDeferred
async def test_generate_token_usage_errors(node, cli, tmp_path):
    base = ["--node", node.base, "--api-key-file", _key_file(tmp_path)]
    r = await cli("admin", "generate-token", "DE", *base)
    assert r.code == 2 and "pairs of CC PID" in r.err
    r = await cli("admin", "generate-token", "DEU", "ABC", *base)
    assert r.code == 2 and "invalid country code 'DEU'" in r.err
    r = await cli("admin", "generate-token", "DE", "AB", *base)
    assert r.code == 2 and "invalid party id 'AB'" in r.err
    r = await cli("admin", "delete-platform", "x", *base)
    assert r.code == 2
    # the same party twice is refused by the node: HTTP 400 with its message
    r = await cli("admin", "generate-token", "DE", "ABC", *base)
    assert r.code == 0
    r = await cli("admin", "generate-token", "DE", "ABC", *base)
    assert r.code == 1
    assert r.err.strip() == (f"ocn: error: POST {node.base}/admin/generate-registration-token: "
                             "HTTP 400 Bad Request: Role DE/ABC already exists")


@pytest_twisted.ensureDeferred
async def test_health_and_node_info(node, cli):
    r = await cli("admin", "health", "--node", node.base)
    assert r.code == 0, r.err
    import json

    report = json.loads(r.out)
    assert report["status"] == "OK" and report["store"]["ok"] is True
    assert r.out.startswith("{\n  ")
    r = await cli("--json", "admin", "health", "--node", node.base)
    assert r.code == 0 and r.json()["node"]["address"] == node.address.lower()

    r = await cli("admin", "node-info", "--node", node.base)
    assert r.code == 0
    assert r.out.splitlines() == ["url:     http://node.test:8080", f"address: {node.address.lower()}"]
    r = await cli("admin", "node-info", "--node", node.base, "--json")
    assert r.json() == {"url": "http://node.test:8080", "address": node.address.lower()}


@pytest_twisted.ensureDeferred
async def test_unhealthy_node_exits_1(node, cli, monkeypatch):
    async def broken():
        return False

    monkeypatch.setattr(node.store, "check", broken)
    r = await cli("admin", "health", "--node", node.base)
    assert r.code == 1
    assert '"status": "UNHEALTHY"' in r.out
    assert r.err.strip() == "ocn: error: node is unhealthy: UNHEALTHY"
    r = await cli("--json", "admin", "health", "--node", node.base)
    assert r.code == 1 and r.json()["status"] == "UNHEALTHY"
    assert r.err.strip() == "ocn: error: node is unhealthy: UNHEALTHY"


@pytest_twisted.ensureDeferred
async def test_unreachable_and_bad_url(cli, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = await cli("admin", "node-info", "--node", f"http://127.0.0.1:{port}")
    assert r.code == 4
    assert r.err.strip() == (f"ocn: error: cannot reach http://127.0.0.1:{port}/ocn/registry/node-info: "
                             "connection refused")
    r = await cli("admin", "node-info", "--node", "ftp://x")
    assert r.code == 2 and "not an http(s) URL" in r.err


@pytest_twisted.ensureDeferred
async def test_entry_point_subprocess(node, tmp_path):
    """The installed ``ocn`` console script."""
    import subprocess
    import sys

    from twisted.internet import threads

    env = {k: v for k, v in os.environ.items() if not k.startswith("OCN_")}
    env["OCN_ADMIN_KEY"] = ADMIN_KEY
    script = os.path.join(os.path.dirname(sys.executable), "ocn")
    ocn = [script] if os.path.exists(script) else [sys.executable, "-c",
                                                   "import sys; from ocnd.cli import main; sys.exit(main())"]
    cmd = [*ocn, "--json", "admin", "platforms", "--node", node.base]
    proc = await threads.deferToThread(subprocess.run, cmd, capture_output=True, text=True, env=env,
                                       cwd=str(tmp_path), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    cmd = [*ocn, "admin", "status", "DE", "ABC", "--node", node.base]
    proc = await threads.deferToThread(subprocess.run, cmd, capture_output=True, text=True, env=env,
                                       cwd=str(tmp_path), timeout=60)
    assert (proc.returncode, proc.stderr.strip()) == (3, "ocn: error: DE/ABC: Role not found")
    proc = await threads.deferToThread(subprocess.run, [*ocn, "send", "--help"],
                                       capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0 and "exit codes: 0 HTTP 2xx" in proc.stdout
