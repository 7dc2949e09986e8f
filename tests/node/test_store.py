"""The SQLite store: migrations, WAL, off-reactor access, crash safety."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import pytest
import pytest_twisted

from ocnd import platforms
from ocnd.store import Store, StoreError, migrations


def test_migrations_are_contiguous_and_apply(tmp_path):
    ms = migrations()
    assert [m[0] for m in ms] == list(range(1, len(ms) + 1))
    store = Store(str(tmp_path / "s.sqlite"), None)
    version = store.open_sync()
    assert version == len(ms)
    conn = sqlite3.connect(str(tmp_path / "s.sqlite"))
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"platforms", "roles", "endpoints", "registration_tokens", "proxy_resources", "ocn_rules",
            "network_client_info"} <= tables


def test_upgrade_from_version_1_keeps_data_and_backs_up(tmp_path):
    path = str(tmp_path / "s.sqlite")
    conn = sqlite3.connect(path)
    conn.executescript(migrations()[0][2])
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO platforms (status, created_at, last_updated) VALUES ('PLANNED', 1, 1)")
    conn.commit()
    conn.close()
    store = Store(path, None)
    assert store.open_sync() == len(migrations())
    if len(migrations()) > 1:
        assert os.path.exists(path + ".v1.bak")
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM platforms").fetchone()[0] == 1


@pytest_twisted.ensureDeferred
async def test_run_is_transactional_and_off_reactor(tmp_path):
    import threading

    from twisted.internet import reactor

    store = Store(str(tmp_path / "s.sqlite"), reactor)
    await store.start()
    main = threading.get_ident()

    def work(conn):
        assert threading.get_ident() != main
        conn.execute("INSERT INTO platforms (status, created_at, last_updated) VALUES ('PLANNED', 1, 1)")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await store.run(work)
    count = await store.read(lambda c: c.execute("SELECT count(*) FROM platforms").fetchone()[0])
    assert count == 0
    with pytest.raises(StoreError, match="database error"):
        await store.run(lambda c: c.execute("INSERT INTO nope VALUES (1)"))
    assert await store.check() is True
    await store.stop()


@pytest_twisted.ensureDeferred
async def test_read_only_store_gives_clear_error(tmp_path):
    from twisted.internet import reactor

    if os.geteuid() == 0:
        # root ignores file permissions: open the store as an unprivileged user instead (a real read-only
        # file system is covered by tests/integration/test_store_filesystem_faults.py)
        _read_only_store_as_nobody()
        return
    path = str(tmp_path / "s.sqlite")
    Store(path, None).open_sync()
    os.chmod(path, 0o444)
    store = Store(path, reactor)
    with pytest.raises(StoreError, match="not writable"):
        await store.start()


def _read_only_store_as_nobody() -> None:
    import shutil
    import tempfile

    if shutil.which("setpriv") is None:
        pytest.skip("running as root and setpriv (util-linux) is not installed")
    d = tempfile.mkdtemp(prefix="ocnd-ro-")
    try:
        os.chmod(d, 0o755)  # the user may enter and read, not create (the store's directory is root's)
        path = os.path.join(d, "s.sqlite")
        Store(path, None).open_sync()
        os.chmod(path, 0o644)
        script = textwrap.dedent(f"""
            from twisted.internet import reactor, defer
            from ocnd.store import Store, StoreError

            async def go():
                # an existing store the user may read, and a new one in a directory it may not write
                for path in ({path!r}, {os.path.join(d, "new.sqlite")!r}):
                    try:
                        await Store(path, reactor).start()
                        print("STARTED")
                    except StoreError as e:
                        print("ERROR", e)
                reactor.stop()

            reactor.callWhenRunning(lambda: defer.ensureDeferred(go()))
            reactor.run()
        """)
        out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable,
                              "-c", script], capture_output=True, text=True, timeout=60,
                             env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "HOME": "/"})
        lines = out.stdout.splitlines()
        assert len(lines) == 2 and all(line.startswith("ERROR") and "not writable" in line for line in lines), (
            out.stdout, out.stderr[-2000:])
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_kill_minus_9_loses_nothing_acknowledged(tmp_path):
    """A child writes registration tokens and prints each id after commit; we SIGKILL it."""
    path = str(tmp_path / "s.sqlite")
    script = textwrap.dedent(f"""
        import sys
        from twisted.internet import reactor, defer
        from ocnd.store import Store
        from ocnd import platforms

        store = Store({path!r}, reactor)

        @defer.inlineCallbacks
        def go():
            yield store.start()
            i = 0
            while True:
                i += 1
                yield store.run(platforms.create_planned, [("DE", "%03d" % (i % 1000))], "hash%d" % i, 1.0, None)
                sys.stdout.write("%d\\n" % i)
                sys.stdout.flush()

        reactor.callWhenRunning(go)
        reactor.run()
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    acknowledged = 0
    for line in proc.stdout:
        acknowledged = int(line)
        if acknowledged >= 150:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = conn.execute("SELECT count(*) FROM registration_tokens").fetchone()[0]
    assert stored >= acknowledged
    hashes = {r[0] for r in conn.execute("SELECT token_hash FROM registration_tokens")}
    assert {f"hash{i}" for i in range(1, acknowledged + 1)} <= hashes
