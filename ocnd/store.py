"""The SQLite store: one file, one connection, one dedicated thread.

Every database access runs on a single worker thread that owns the only
connection (sqlite connections must not be shared between threads, and a pool
of several connections just produces "database is locked").  Callers get
Deferreds and never block the reactor.

Schema changes are numbered SQL files in ``ocnd/schema`` (``NNN_name.sql``);
the applied version lives in ``PRAGMA user_version``.  Before upgrading an
existing database a consistent backup copy is written next to it.

Durability: WAL journal with ``synchronous=FULL``, so a transaction whose
Deferred has fired survives a crash of the process or of the machine.
"""

from __future__ import annotations

import errno
import os
import re
import sqlite3
import time
import weakref
from importlib import resources
from typing import Any, Callable, TypeVar

from twisted.internet import defer, threads
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

T = TypeVar("T")

_MIGRATION_RE = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


class StoreError(Exception):
    """The store could not do what was asked (disk full, read-only, corrupt...)."""


def migrations(package: str = "ocnd.schema") -> list[tuple[int, str, str]]:
    """All migrations shipped in ``package`` as (version, name, sql), in order."""
    found = []
    for entry in resources.files(package).iterdir():
        m = _MIGRATION_RE.match(entry.name)
        if m:
            found.append((int(m.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort()
    for expected, (version, name, _) in enumerate(found, start=1):
        if version != expected:
            raise StoreError(f"schema migrations are not contiguous at {name}")
    return found


def _connect(path: str) -> sqlite3.Connection:
    if path != ":memory:":
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        if path != ":memory:":
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreError(f"could not enable WAL journal on {path} (got {mode})")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA busy_timeout = 5000")
    except BaseException:
        conn.close()
        raise
    return conn


_NOT_WRITABLE = ("readonly", "read-only", "unable to open database file", "permission denied")


def _not_writable(e: BaseException) -> bool:
    """Does this error from opening the store mean we may not write where it lives?"""
    if isinstance(e, OSError) and e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return True
    text = str(e).lower()
    return any(m in text for m in _NOT_WRITABLE)


def apply_migrations(conn: sqlite3.Connection, path: str, package: str = "ocnd.schema") -> int:
    """Bring the schema up to date; returns the resulting version."""
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    pending = [m for m in migrations(package) if m[0] > current]
    if not pending:
        return current
    if current > 0 and path != ":memory:":
        backup_path = f"{path}.v{current}.bak"
        dest = sqlite3.connect(backup_path)
        try:
            conn.backup(dest)
        finally:
            dest.close()
    for version, name, sql in pending:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _split_sql(sql):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except Exception as e:
            conn.execute("ROLLBACK")
            raise StoreError(f"migration {name} failed: {e}") from e
    return pending[-1][0]


def _split_sql(sql: str) -> list[str]:
    """Split a migration file into statements (no semicolons inside literals)."""
    out = []
    buf = []
    for line in sql.splitlines():
        stripped = line.strip()
        if stripped.startswith("--"):
            continue
        buf.append(line)
        if stripped.endswith(";") and sqlite3.complete_statement("\n".join(buf)):
            out.append("\n".join(buf))
            buf = []
    rest = "\n".join(buf).strip()
    if rest:
        out.append(rest)
    return out


_ALL_STORES: "weakref.WeakSet[Store]" = None  # type: ignore[assignment]


def stop_all_pools() -> None:
    """Stop the worker thread of every Store still running (test teardown safety net)."""
    for store in list(_ALL_STORES or ()):
        if store._pool.started:
            store._pool.stop()


class Store:
    """Asynchronous facade over the single SQLite connection."""

    log = Logger()
    #: package holding the numbered ``NNN_name.sql`` migrations of this database
    schema_package = "ocnd.schema"

    def __init__(self, path: str, reactor: Any) -> None:
        self.path = path
        self._reactor = reactor
        self._pool = ThreadPool(minthreads=1, maxthreads=1, name="ocnd-store")
        self._conn: sqlite3.Connection | None = None
        self.version = 0
        self.last_error: str | None = None
        #: error of the last write transaction, None once a write succeeded again
        self.write_error: str | None = None
        #: bumped (on the reactor thread) each time a write transaction ends;
        #: in-memory caches of stored rows compare it to know they are stale
        self.generation = 0
        global _ALL_STORES
        if _ALL_STORES is None:
            _ALL_STORES = weakref.WeakSet()
        _ALL_STORES.add(self)

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> defer.Deferred:
        if not self._pool.started:
            self._pool.start()
        if self._conn is not None:
            return defer.succeed(self.version)

        def failed(f):
            self._pool.stop()  # its thread would keep the process alive after the error is reported
            return f

        return self._call(self._open).addErrback(failed)

    def open_sync(self) -> int:
        """Open and migrate before the reactor runs (errors surface at once)."""
        return self._open()

    def _open(self) -> int:
        hint = "check the file system and the permissions of the file and its directory"
        try:
            self._conn = _connect(self.path)
            self.version = apply_migrations(self._conn, self.path, self.schema_package)
            if self.path != ":memory:":
                try:
                    _probe_write(self._conn)
                except sqlite3.Error as e:  # read-only file system, no write permission, disk full
                    raise StoreError(f"the database is not writable ({e}); {hint}") from e
        except (StoreError, sqlite3.Error, OSError) as e:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            # e.g. a service user that may read the file but not create its -wal: name the real problem
            if isinstance(e, StoreError):
                cause = e.__cause__
                if cause is not None and "not writable" not in str(e) and _not_writable(cause):
                    raise StoreError(f"the database is not writable ({cause}); {hint}") from e
                raise
            if _not_writable(e):
                raise StoreError(f"the database is not writable ({e}); {hint}") from e
            raise StoreError(f"cannot open the database: {e}") from e
        return self.version

    def stop(self) -> defer.Deferred:
        d = self._call(self._close) if self._pool.started else defer.succeed(None)

        def _stop_pool(result):
            self._pool.stop()
            return result

        return d.addBoth(_stop_pool)

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass
            self._conn.close()
            self._conn = None

    # -- access --------------------------------------------------------------

    def _call(self, fn: Callable[..., T], *args: Any, **kw: Any) -> defer.Deferred:
        return threads.deferToThreadPool(self._reactor, self._pool, fn, *args, **kw)

    def run(self, fn: Callable[..., T], *args: Any, **kw: Any) -> defer.Deferred:
        """Run ``fn(conn, *args, **kw)`` in one write transaction.

        The transaction commits when ``fn`` returns and rolls back when it
        raises; the Deferred fires only after the commit reached the disk.
        sqlite errors are turned into :class:`StoreError` with a clear text.
        """
        d = self._call(self._transaction, fn, args, kw, "BEGIN IMMEDIATE")
        d.addBoth(self._written)
        return d

    def run_side(self, fn: Callable[..., T], *args: Any, **kw: Any) -> defer.Deferred:
        """Like :meth:`run`, for tables no in-memory cache mirrors (proxy resources, trace).

        It leaves :attr:`generation` alone, so the routing views stay cached;
        using it for platforms, roles, endpoints or rules would serve stale views.
        """
        return self._call(self._transaction, fn, args, kw, "BEGIN IMMEDIATE")

    def _written(self, result):
        # first callback of every write: runs before anyone else learns the outcome, and the
        # single DB thread delivers results in order, so a read that started before this write
        # fired earlier (see ocnd.routing.viewcache)
        self.generation += 1
        return result

    def read(self, fn: Callable[..., T], *args: Any, **kw: Any) -> defer.Deferred:
        """Run ``fn(conn, *args, **kw)`` in a read transaction."""
        return self._call(self._transaction, fn, args, kw, "BEGIN")

    def _transaction(self, fn, args, kw, begin):
        conn = self._conn
        if conn is None:
            raise StoreError("store is not open")
        started = time.perf_counter()
        write = begin != "BEGIN"
        try:
            conn.execute(begin)
        except sqlite3.Error as e:
            self.last_error = str(e)
            if write:
                self.write_error = str(e)
            raise StoreError(f"database unavailable: {e}") from e
        try:
            result = fn(conn, *args, **kw)
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            _rollback(conn)
            self.last_error = str(e)
            if write:
                self.write_error = str(e)
            raise StoreError(f"database error: {e}") from e
        except BaseException:
            _rollback(conn)
            raise
        self.last_error = None
        if write:
            self.write_error = None
        self.last_latency = time.perf_counter() - started
        return result

    def check(self) -> defer.Deferred:
        """Health probe: a trivial read, plus a real write while the last write failed
        (so a disk that filled up or went read-only shows, and its recovery too).
        Fires with True or False."""
        d = self.read(lambda conn: conn.execute("SELECT 1").fetchone()[0] == 1)
        if self.write_error is not None:
            d.addCallback(lambda ok: self.run_side(_touch_header).addCallback(lambda _: ok) if ok else ok)
        d.addErrback(lambda f: False)
        return d


def _touch_header(conn: sqlite3.Connection) -> None:
    """One real write: the header's user_version, set to what it is."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    conn.execute(f"PRAGMA user_version = {version}")


def _probe_write(conn: sqlite3.Connection) -> None:
    """A write transaction of :func:`_touch_header`: fails on a read-only or full disk."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        _touch_header(conn)
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass
