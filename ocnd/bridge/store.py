"""The bridge's own SQLite store (tokens and node endpoints).

It reuses :class:`ocnd.store.Store` (one connection on one worker thread,
WAL, durable commits) but applies the migrations shipped in
``ocnd.bridge.schema`` instead of the node's.
"""

from __future__ import annotations

import attrs

from ..store import Store

@attrs.frozen
class Auth:
    node_url: str = ""
    ocpi_version: str = ""
    token_b: str = ""
    token_c: str = ""


class BridgeStore(Store):
    """``Store`` over the bridge schema, plus the few queries the bridge needs."""

    schema_package = "ocnd.bridge.schema"

    # -- queries (run on the store thread) --------------------------------------

    @staticmethod
    def _get_auth(conn) -> Auth:
        row = conn.execute("SELECT node_url, ocpi_version, token_b, token_c FROM auth WHERE id = 1").fetchone()
        return Auth(*row) if row else Auth()

    @staticmethod
    def _set_auth(conn, now: float, **values) -> None:
        conn.execute("INSERT OR IGNORE INTO auth (id) VALUES (1)")
        for key, value in values.items():
            if key not in ("node_url", "ocpi_version", "token_b", "token_c"):
                raise ValueError(key)
            conn.execute(f"UPDATE auth SET {key} = ?, updated = ? WHERE id = 1", (value, now))

    @staticmethod
    def _save_endpoints(conn, endpoints) -> None:
        conn.execute("DELETE FROM endpoints")
        conn.executemany("INSERT OR REPLACE INTO endpoints (identifier, role, url) VALUES (?, ?, ?)",
                         [(e, r.upper(), u) for e, r, u in endpoints])

    @staticmethod
    def _endpoints(conn) -> dict[tuple[str, str], str]:
        return {(r[0], r[1]): r[2] for r in conn.execute("SELECT identifier, role, url FROM endpoints")}

    def get_auth(self):
        return self.read(self._get_auth)

    def set_auth(self, now: float, **values):
        return self.run(self._set_auth, now, **values)

    def save_endpoints(self, endpoints):
        return self.run(self._save_endpoints, list(endpoints))

    def endpoints(self):
        return self.read(self._endpoints)
