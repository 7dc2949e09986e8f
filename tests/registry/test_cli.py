"""Acceptance test for ``ocn registry``: a devchain subprocess with JSON-RPC on
127.0.0.1, the CLI run as subprocesses, and a devchain restart on the same
journal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from ocnd.registry.chain import derive_dev_accounts

OCN = [sys.executable, "-c", "import sys; from ocnd.cli import main; sys.exit(main())"]


class DevChain:
    def __init__(self, journal):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ocnd.registry.devchain", "--journal", str(journal),
             "--listen", "tcp:0:interface=127.0.0.1"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        line = ""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith("listening on") or not line:
                break
        if not line.startswith("listening on"):
            self.stop()
            raise RuntimeError(f"devchain did not start: {self.proc.stderr.read()[-2000:]}")
        self.url = "http://" + line.split()[-1]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def ocn(*args, env=None):
    full_env = dict(os.environ)
    for k in ("OCN_SIGNER_KEY", "OCN_SPENDER_KEY", "OCN_CONFIG"):
        full_env.pop(k, None)
    full_env.update(env or {})
    return subprocess.run(OCN + list(args), capture_output=True, text=True, timeout=120, env=full_env)


@pytest.fixture
def keyfiles(tmp_path):
    accounts = derive_dev_accounts(4)[1:]
    files = []
    for i, (address, key) in enumerate(accounts):
        path = tmp_path / f"key{i}"
        path.write_text(key + "\n")
        os.chmod(path, 0o600)
        files.append((address, str(path)))
    return files


def test_cli_roundtrip_and_restart(tmp_path, keyfiles):
    journal = tmp_path / "chain.sqlite"
    (op, op_key), (party, party_key), (party2, party2_key) = keyfiles
    chain = DevChain(journal)
    try:
        net = ["--network", chain.url]
        r = ocn("registry", "set-node", "http://node.test:8080", *net, "--key-file", op_key)
        assert r.returncode == 0, r.stderr
        assert "sent" in r.stderr and "mined in block" in r.stderr

        r = ocn("--json", "registry", "set-party", "-c", "de", "abc", "-r", "CPO", "emsp",
                "-o", op, *net, "--key-file", party_key)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["sender"] == party

        # raw: party2 signs, the operator pays (spender key from the environment)
        r = ocn("registry", "set-party", "-c", "NL", "XYZ", "-r", "EMSP", "-o", op, "--raw", *net,
                "--key-file", party2_key, env={"OCN_SPENDER_KEY": open(op_key).read().strip()})
        assert r.returncode == 0, r.stderr

        r = ocn("--json", "registry", "list-nodes", *net)
        assert json.loads(r.stdout) == [{"operator": op, "url": "http://node.test:8080"}]
        r = ocn("--json", "registry", "get-party", "de", "ABC", *net)
        got = json.loads(r.stdout)
        assert (got["address"], got["roles"], got["node"]["url"]) == (party, ["CPO", "EMSP"],
                                                                      "http://node.test:8080")

        # errors: one line, documented exit codes
        r = ocn("registry", "get-party", "XX", "YYY", *net)
        assert r.returncode == 3 and r.stderr.strip() == "ocn: error: OCPI Party not listed in registry."
        r = ocn("registry", "set-node", "http://node.test:8080", *net, "--key-file", party_key)
        assert r.returncode == 5
        assert r.stderr.strip() == "ocn: error: reverted: Domain name already registered."
        r = ocn("registry", "set-node", "http://x.test", *net, "--chain-id", "246", "--key-file", op_key)
        assert r.returncode == 1 and "wrong chain id: expected 246" in r.stderr
        r = ocn("registry", "list-nodes", "--network", "http://127.0.0.1:9", "--timeout", "3")
        assert r.returncode == 4 and "unreachable" in r.stderr and len(r.stderr.strip().splitlines()) == 1
        r = ocn("registry", "set-node", "http://x.test", *net)
        assert r.returncode == 2 and "no signer key" in r.stderr
    finally:
        chain.stop()

    # restart on the same journal: everything is still there
    chain = DevChain(journal)
    try:
        r = ocn("--json", "registry", "list-parties", "--network", chain.url)
        assert r.returncode == 0, r.stderr
        parties = {(p["countryCode"], p["partyId"]): p["address"] for p in json.loads(r.stdout)}
        assert parties == {("DE", "ABC"): party, ("NL", "XYZ"): party2}
        r = ocn("--json", "registry", "get-party", "--address", party2, "--network", chain.url)
        assert json.loads(r.stdout)["node"]["operator"] == op
    finally:
        chain.stop()


def test_cli_profile_and_keystore(tmp_path, keyfiles):
    from eth_account import Account

    (op, op_key), _, _ = keyfiles
    keystore = tmp_path / "op.json"
    keystore.write_text(json.dumps(Account.encrypt(open(op_key).read().strip(), "pw")))
    chain = DevChain(tmp_path / "j.sqlite")
    try:
        ini = tmp_path / "profiles.ini"
        ini.write_text(f"[dev]\nrpc_url = {chain.url}\nchain_id = 9\nkeystore = op.json\n")
        env = {"OCN_CONFIG": str(ini), "OCN_KEYSTORE_PASSWORD": "pw"}
        r = ocn("registry", "set-node", "http://ks.test", "--profile", "dev", env=env)
        assert r.returncode == 0, r.stderr
        r = ocn("registry", "get-node", op, "--profile", "dev", env=env)
        assert r.stdout.split() == [op, "http://ks.test"]
        r = ocn("registry", "list-nodes", "--profile", "nope", env=env)
        assert r.returncode == 2 and "no profile [nope]" in r.stderr
    finally:
        chain.stop()
