"""A real node whose store lives on its own small tmpfs: remounted read-only, then filled up.

The node runs in a user + mount namespace (``unshare -rm``) so the test can remount and fill that
filesystem as an operator's disk would fail, without touching the machine's mounts.  Skipped where
user namespaces are not allowed.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import urllib.error
import urllib.request

import pytest

from nodeproc import NodeProcess


def _userns_available() -> bool:
    try:
        return subprocess.run(["unshare", "-rm", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


pytestmark = pytest.mark.skipif(not _userns_available(), reason="user namespaces (unshare -rm) not available")


class FsNode(NodeProcess):
    """ocnd with ``<data>/store`` on a tmpfs of ``size`` inside its own mount namespace.

    With ``seed`` the tmpfs starts with a copy of that directory; ``read_only`` mounts it read-only
    before ocnd starts (a filesystem cannot be remounted read-only while SQLite holds files open for
    writing, short of a kernel error; that case is the disk-full one below as far as SQLite sees it).
    """

    def __init__(self, data_dir: str, size: str = "8m", seed: str | None = None, read_only: bool = False,
                 port: int | None = None) -> None:
        self.store_dir = os.path.join(data_dir, "store")
        os.makedirs(self.store_dir, exist_ok=True)
        steps = ['mount -t tmpfs -o size="$1" tmpfs "$2"']
        if seed:
            steps.append(f'cp -a {seed}/. "$2"/')
        if read_only:
            steps.append('mount -o remount,ro "$2"')
        mount = " && ".join(steps) + ' && shift 2 && exec "$@"'
        super().__init__(data_dir, port=port,
                         extra_env={"OCND_STORE_PATH": os.path.join(self.store_dir, "ocnd.sqlite")},
                         wrap=["unshare", "-rm", "sh", "-c", mount, "sh", size, self.store_dir])

    def in_namespace(self, script: str) -> subprocess.CompletedProcess:
        return subprocess.run(["nsenter", "-t", str(self.proc.pid), "-U", "-m", "--preserve-credentials",
                               "sh", "-c", script], capture_output=True, text=True, timeout=60)

    def remount(self, mode: str) -> None:
        done = self.in_namespace(f"mount -o remount,{mode} {self.store_dir}")
        assert done.returncode == 0, done.stderr

    def request(self, method: str, path: str, body=None) -> tuple[int, dict | str]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "Authorization": f"Token {self.admin_key()}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                code, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            code, raw = e.code, e.read()
        try:
            return code, json.loads(raw)
        except ValueError:
            return code, raw.decode()

    def new_token(self, party_id: str) -> tuple[int, dict | str]:
        return self.request("POST", "/admin/generate-registration-token",
                            [{"country_code": "DE", "party_id": party_id}])

    def copy_db(self, dest: str) -> str:
        """The store as a reader outside the namespace sees it (the tmpfs is only visible inside)."""
        done = self.in_namespace(f"cp {self.store_dir}/ocnd.sqlite* {os.path.dirname(dest)}/ && echo ok")
        assert done.returncode == 0, done.stderr
        return dest


def _stored_tokens(node: FsNode, tmp_path) -> tuple[str, list[str]]:
    """(integrity_check, parties column of each registration token) of the store's file."""
    path = node.copy_db(str(tmp_path / "copy" / "ocnd.sqlite"))
    conn = sqlite3.connect(path)
    try:
        check = conn.execute("PRAGMA integrity_check").fetchone()[0]
        rows = conn.execute("SELECT parties FROM registration_tokens ORDER BY id").fetchall()
    finally:
        conn.close()
    return check, [r[0] for r in rows]


def test_read_only_store_is_a_one_line_startup_error(tmp_path):
    first = FsNode(str(tmp_path / "node"))
    first.start()
    assert first.new_token("AAA")[0] == 200
    seed = str(tmp_path / "seed")
    os.makedirs(seed)
    assert first.in_namespace(f"cp -a {first.store_dir}/. {seed}/").returncode == 0
    first.stop()

    node = FsNode(str(tmp_path / "node"), seed=seed, read_only=True, port=first.port)
    with pytest.raises(RuntimeError, match="exited with 2"):
        node.start(timeout=60)
    errors = [line for line in node.log().splitlines() if "store error" in line]
    assert errors and "not writable" in errors[-1] and "readonly" in errors[-1], node.log()[-2000:]
    assert "Traceback" not in node.log()


def test_disk_full_on_a_real_file_system_then_freed(tmp_path):
    (tmp_path / "copy").mkdir()
    node = FsNode(str(tmp_path / "node"), size="2m")
    node.start()
    try:
        assert node.new_token("AAA")[0] == 200
        filler = os.path.join(node.store_dir, "filler")
        node.in_namespace(f"dd if=/dev/zero of={filler} bs=64k 2>/dev/null; sync")
        assert node.in_namespace(f"echo x > {node.store_dir}/probe").returncode != 0  # the disk is full

        # a write that needs new pages fails with an exact OCPI error, never a 500
        parties = [{"country_code": "DE", "party_id": f"{i:03d}"} for i in range(300)]
        code, env = node.request("POST", "/admin/generate-registration-token", parties)
        assert code == 503, env
        assert env["status_code"] == 3000 and env["status_message"].startswith("Storage unavailable:"), env
        assert "full" in env["status_message"]
        code, health = node.request("GET", "/health?format=json")
        assert code == 503 and health["store"]["writable"] is False, health
        code, versions = node.request("GET", "/ocpi/versions")  # reads still answer (a token lookup)
        assert code == 401 and versions["status_code"] == 2001, versions

        node.in_namespace(f"rm -f {filler}")
        code, health = node.request("GET", "/health?format=json")
        assert code == 200 and health["store"]["writable"] is True, health   # health re-probes: recovered
        assert node.new_token("BBB")[0] == 200
        check, stored = _stored_tokens(node, tmp_path)
        assert check == "ok"
        assert len(stored) == 2  # AAA and BBB: nothing of the failed 300-party transaction
    finally:
        node.stop()
    assert "Traceback" not in node.log(), node.log()[-3000:]
