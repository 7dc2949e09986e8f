"""The upstream OCN registry CLI (npm ``@shareandcharge/ocn-registry`` 1.2.1, ethers v4) against ocnd's
embedded chain over JSON-RPC, and ocnd's own ``ocn registry`` reading what it wrote (and the other way
round).  The upstream CLI is installed by ``npm ci`` in tests/registry/upstream_cli (``.ci/run`` does it);
without it the test skips, unless OCND_REQUIRE_JS_CLIENTS=1 makes that a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from ocnd.registry.chain import derive_dev_accounts
from registry.test_cli import DevChain, ocn

HERE = os.path.dirname(os.path.abspath(__file__))
CLI = os.path.join(HERE, "upstream_cli", "node_modules", "@shareandcharge", "ocn-registry", "dist", "cli.js")


def _missing() -> str | None:
    if shutil.which("node") is None:
        return "node (Node.js) is not installed"
    if not os.path.exists(CLI):
        return "the upstream CLI is not installed (npm ci in tests/registry/upstream_cli)"
    return None


@pytest.fixture
def upstream(tmp_path):
    missing = _missing()
    if missing:
        if os.environ.get("OCND_REQUIRE_JS_CLIENTS") == "1":
            pytest.fail(missing)
        pytest.skip(missing)
    chain = DevChain(tmp_path / "journal.sqlite")
    try:
        port = int(chain.url.rsplit(":", 1)[1])
        netfile = tmp_path / "network.json"
        # the contracts sit at the upstream "local" addresses, so only the provider needs retargeting
        netfile.write_text(json.dumps({"provider": {"protocol": "http", "host": "127.0.0.1", "port": port}}))

        def run(*args: str) -> subprocess.CompletedProcess:
            env = {k: v for k, v in os.environ.items() if k not in ("SIGNER", "SPENDER")}
            return subprocess.run(["node", CLI, "--nf", str(netfile), *args], capture_output=True, text=True,
                                  timeout=60, env=env, cwd=str(tmp_path))

        yield chain, run
    finally:
        chain.stop()


def _json_after_banner(out: str):
    """The CLI prints ``connecting to …`` and then the JSON of a read."""
    assert out.startswith("connecting to http://127.0.0.1:"), out
    return json.loads(out.split("\n", 1)[1])


def test_upstream_cli_writes_ocnd_reads_and_back(upstream, tmp_path):
    chain, run = upstream
    (_, _), (op, op_key), (party, party_key), (party2, party2_key) = derive_dev_accounts(4)
    net = ["--network", chain.url]

    # upstream CLI writes: a node, a party (direct), a party (raw: signed by the party, paid by the operator),
    # modules
    r = run("set-node", "http://node.test:8080", "-s", op_key)
    assert r.returncode == 0, r.stderr + r.stdout
    r = run("set-party", "-c", "de", "abc", "-r", "CPO", "EMSP", "-o", op, "-s", party_key)
    assert r.returncode == 0, r.stderr + r.stdout
    r = run("set-party-raw", "-c", "NL", "XYZ", "-r", "EMSP", "-o", op, "-s", party2_key, "-x", op_key)
    assert r.returncode == 0, r.stderr + r.stdout
    r = run("set-modules", "-s", party_key, "--si", "locations", "sessions", "--ri", "commands")
    assert r.returncode == 0, r.stderr + r.stdout

    # ocnd reads it
    r = ocn("--json", "registry", "list-nodes", *net)
    assert r.returncode == 0, r.stderr
    assert {(n["operator"].lower(), n["url"]) for n in json.loads(r.stdout)} == {(op.lower(), "http://node.test:8080")}
    r = ocn("--json", "registry", "get-party", "DE", "ABC", *net)
    assert r.returncode == 0, r.stderr
    text = r.stdout.lower()
    assert party.lower() in text and op.lower() in text and "http://node.test:8080" in text
    r = ocn("--json", "registry", "get-party", "NL", "XYZ", *net)
    assert r.returncode == 0, r.stderr
    assert party2.lower() in r.stdout.lower()

    # the upstream CLI reads what it wrote, through our JSON-RPC server
    r = run("get-party", "-c", "DE", "ABC")
    assert r.returncode == 0, r.stderr + r.stdout
    details = _json_after_banner(r.stdout)
    assert details == {
        "countryCode": "DE", "partyId": "ABC", "address": party, "roles": ["CPO", "EMSP"],
        "modules": {"sender": ["locations", "sessions"], "receiver": ["commands"]},
        "node": {"operator": op, "url": "http://node.test:8080"},
    }

    # ocnd writes (a raw party listing signed by the party), the upstream CLI reads it
    p2_file = _keyfile(tmp_path, "p2", party2_key)
    r = ocn("registry", "delete-party", *net, "--key-file", p2_file)
    assert r.returncode == 0, r.stderr
    r = ocn("registry", "set-party", "-c", "GB", "QRS", "-r", "CPO", "-o", op, "--raw", *net,
            "--key-file", p2_file, "--spender-key-file", _keyfile(tmp_path, "op", op_key))
    assert r.returncode == 0, r.stderr
    r = run("get-party", "-c", "GB", "QRS")
    assert r.returncode == 0, r.stderr + r.stdout
    details = _json_after_banner(r.stdout)
    assert (details["address"], details["roles"], details["node"]) == (
        party2, ["CPO"], {"operator": op, "url": "http://node.test:8080"})
    r = run("get-party", "-c", "NL", "XYZ")
    assert "OCPI Party not listed in registry." in r.stdout + r.stderr

    # a revert reaches the upstream client with its reason (our error shape is what ethers v4 expects)
    r = run("set-party", "-c", "FR", "AAA", "-r", "CPO", "-o", party, "-s", party2_key)
    assert r.returncode != 0
    assert "Provided operator not registered." in r.stdout + r.stderr


def _keyfile(tmp_path, name: str, key: str) -> str:
    path = tmp_path / f"{name}.key"
    path.write_text(key + "\n")
    path.chmod(0o600)
    return str(path)
