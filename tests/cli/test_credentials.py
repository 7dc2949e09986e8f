"""``ocn credentials`` against a running node and a real party server."""

from __future__ import annotations

import configparser
import os
import stat

import pytest_twisted

from support import ADMIN_KEY


async def _token_a(cli, node, tmp_path, cc="DE", pid="CPO"):
    kf = tmp_path / "admin.key"
    kf.write_text(ADMIN_KEY)
    r = await cli("--json", "admin", "generate-token", cc, pid, "--node", node.base, "--api-key-file", kf)
    assert r.code == 0, r.err
    return r.json()["token"]


def _party_args(party, *extra):
    return [f"--token-b={party.token_b}", "--versions-url", party.versions_url, "--party", "de/cpo/cpo", *extra]


@pytest_twisted.ensureDeferred
async def test_register_get_update_delete(node, party, cli, tmp_path):
    node.list_party("DE", "CPO")
    token_a = await _token_a(cli, node, tmp_path)

    r = await cli("credentials", "register", "--node", node.base + "/ocpi/versions", f"--token-a={token_a}",
                  *_party_args(party, "--save", "cpo"))
    assert r.code == 0, r.err
    out = dict(line.split(":", 1) for line in r.out.splitlines())
    token_c = out["Token C"].strip()
    assert out["node versions"].strip() == "http://node.test:8080/ocpi/versions"
    assert out["OCPI version"].strip() == "2.2"
    assert "saved Token C in profile [cpo]" in r.err
    assert "warning" not in r.err
    # the node called the party's server with Token B
    assert any(rec.path == "/ocpi/versions" for rec in party.received)

    path = os.environ["OCN_CONFIG"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    cp = configparser.RawConfigParser()
    cp.read(path)
    assert dict(cp.items("cpo")) == {"node_url": node.base, "token_c": token_c, "party": "DE/CPO",
                                     "ocpi_version": "2.2"}

    r = await cli("admin", "status", "DE", "CPO", "--node", node.base, "--api-key-file", tmp_path / "admin.key")
    assert r.out.strip() == "CONNECTED"

    # get: from the profile, and with --token-c in JSON
    r = await cli("credentials", "get", "--profile", "cpo")
    assert r.code == 0, r.err
    assert f"Token C: {token_c}" in r.out
    r = await cli("--json", "credentials", "get", "--node", node.base, f"--token-c={token_c}")
    obj = r.json()
    assert obj["version"] == "2.2" and obj["node"] == node.base
    assert obj["credentials"]["token"] == token_c
    assert obj["credentials"]["roles"][0]["role"] == "HUB"

    # update rotates Token C and updates the profile
    r = await cli("credentials", "update", "--profile", "cpo", *_party_args(party, "--save", "cpo"))
    assert r.code == 0, r.err
    new_c = dict(line.split(":", 1) for line in r.out.splitlines())["new Token C"].strip()
    assert new_c != token_c
    cp = configparser.RawConfigParser()
    cp.read(path)
    assert cp.get("cpo", "token_c") == new_c

    r = await cli("credentials", "get", "--node", node.base, f"--token-c={token_c}")
    assert r.code == 1
    assert r.err.strip() == (f"ocn: error: GET {node.base}/ocpi/2.2/credentials: HTTP 401 Unauthorized, "
                             "OCPI status 2001: Invalid CREDENTIALS_TOKEN_C")

    # 2.2.1 sends the token base64-encoded; the node accepts it
    r = await cli("credentials", "get", "--profile", "cpo", "--version", "2.2.1", "--json")
    assert r.code == 0, r.err
    assert r.json()["credentials"]["token"] == new_c

    r = await cli("credentials", "delete", "--profile", "cpo")
    assert (r.code, r.out.strip()) == (0, f"unregistered from {node.base}")
    r = await cli("credentials", "delete", "--profile", "cpo", "--json")
    assert r.code == 1 and "Invalid CREDENTIALS_TOKEN_C" in r.err


@pytest_twisted.ensureDeferred
async def test_register_json_221(node, party, cli, tmp_path):
    node.list_party("DE", "CPO")
    token_a = await _token_a(cli, node, tmp_path)
    r = await cli("--json", "credentials", "register", "--node", node.base, "--version", "2.2.1",
                  f"--token-a={token_a}", *_party_args(party, "--name", "My CPO"))
    assert r.code == 0, r.err
    obj = r.json()
    assert obj["version"] == "2.2.1"
    assert obj["credentials"]["url"] == "http://node.test:8080/ocpi/versions"
    assert not os.path.exists(os.environ["OCN_CONFIG"])  # nothing stored without --save


@pytest_twisted.ensureDeferred
async def test_register_errors(node, party, cli, tmp_path):
    # wrong Token A
    r = await cli("credentials", "register", "--node", node.base, "--token-a", "nope", *_party_args(party))
    assert r.code == 1
    assert r.err.strip().endswith("HTTP 401 Unauthorized, OCPI status 2001: Invalid CREDENTIALS_TOKEN_A")

    # party not listed in the registry with this node
    token_a = await _token_a(cli, node, tmp_path)
    r = await cli("credentials", "register", "--node", node.base, f"--token-a={token_a}", *_party_args(party))
    assert r.code == 1
    assert ("OCPI status 2001: Role with party_id=CPO and country_code=DE not listed in OCN Registry "
            "with my node info!") in r.err

    # the party's server is down: preflight warns, the node answers 3001
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/ocpi/versions"
    node.list_party("DE", "CPO")
    r = await cli("credentials", "register", "--node", node.base, f"--token-a={token_a}", "--token-b", "b",
                  "--versions-url", dead, "--party", "DE/CPO/CPO")
    assert r.code == 1
    err = r.err.strip().splitlines()
    assert err[0] == f"ocn: warning: preflight: cannot reach {dead}: connection refused (the node will call this URL)"
    assert "HTTP 200 OK, OCPI status 3001: Failed to request from" in err[1]
    r = await cli("credentials", "register", "--node", node.base, f"--token-a={token_a}", "--token-b", "b",
                  "--versions-url", dead, "--party", "DE/CPO/CPO", "--no-preflight")
    assert r.code == 1 and "preflight" not in r.err

    # wrong Token B: the preflight sees the party refuse it
    r = await cli("credentials", "register", "--node", node.base, f"--token-a={token_a}", "--token-b", "bad",
                  "--versions-url", party.versions_url, "--party", "DE/CPO/CPO")
    assert r.code == 1
    assert f"ocn: warning: preflight: GET {party.versions_url}: HTTP 401" in r.err

    # a token with a leading '-' works in the --opt=VALUE form
    r = await cli("credentials", "get", "--node", node.base, "--token-c=-leading-dash")
    assert r.code == 1 and "Invalid CREDENTIALS_TOKEN_C" in r.err

    # node down
    r = await cli("credentials", "get", "--node", dead.rsplit("/ocpi", 1)[0], "--token-c", "x")
    assert r.code == 4 and "connection refused" in r.err


@pytest_twisted.ensureDeferred
async def test_usage_errors(cli):
    base = ["credentials", "register", "--node", "http://127.0.0.1:9", "--token-a", "a", "--token-b", "b",
            "--versions-url", "http://127.0.0.1:9/ocpi/versions"]
    r = await cli(*base, "--party", "DE/CPO")
    assert r.code == 2 and "expected CC/PID/ROLE" in r.err
    r = await cli(*base, "--party", "DE/CPO/BOSS")
    assert r.code == 2 and "invalid role 'BOSS'" in r.err
    r = await cli(*base, "--party", "DE/CPO/CPO", "--party", "de/cpo/emsp")
    assert r.code == 2 and "DE/CPO given twice" in r.err
    r = await cli("credentials", "register", "--node", "http://127.0.0.1:9", "--token-a", "a", "--token-b", "b",
                  "--versions-url", "ftp://x", "--party", "DE/CPO/CPO")
    assert r.code == 2 and "--versions-url: not an http(s) URL" in r.err
    r = await cli("credentials", "get", "--node", "http://127.0.0.1:9")
    assert r.code == 2 and "no Token C" in r.err
    r = await cli("credentials", "get", "--version", "2.1.1", "--token-c", "x")
    assert r.code == 2
