"""OcnRules: per-platform whitelist / blacklist of counterparties, and signatures.

A platform (the *receiver* of routed requests) keeps at most one active list:

* ``whitelist`` -- only the listed counterparties may send it requests, and
  only for the modules named in their entry;
* ``blacklist`` -- the listed counterparties may not send it requests for the
  modules named in their entry (every other module still flows).

Storage: ``platforms.rules_mode`` ('none' | 'whitelist' | 'blacklist') says
which list is active, ``ocn_rules`` holds that list's rows.  Invariant kept by
every write helper here: mode 'none' means the platform has no rows.
Counterparties are stored upper-case; module ids are stored as given and
compared case-insensitively.

Semantics (deliberate differences from the v1 node are marked *fix*):

* Module wildcard: the module id ``"*"`` in an entry means "every module".
  An empty module list is rejected (v1 wire behaviour), as is an empty string.
* *fix*: a blacklist blocks only the modules listed for the counterparty;
  v1 blocked a blacklisted counterparty for every module.  ``v1_blacklist=True``
  on the evaluation functions restores the v1 behaviour.
* *fix*: block-all and the "already on the list" check concern the calling
  platform only (v1 wiped, resp. searched, the rows of every platform).
* Deleting the last entry of the active list switches the list off (v1);
  deleting an entry that is not on the list changes nothing.

Evaluation is meant for the routing hot path: :func:`load_rules` builds an
immutable :class:`Rules` snapshot (two small SELECTs) whose :meth:`Rules.check`
is a dictionary lookup.  Callers that already run a store transaction for the
request (e.g. resolving the receiver platform) should call :func:`load_rules`
in that same transaction -- always fresh, no cache.  Callers outside a
transaction can use :class:`RulesCache`: a bounded, TTL-limited cache with a
generation counter; every write through the OcnRules API invalidates the
platform's entry after commit, and a load that raced with an invalidation is
not installed.
"""

from __future__ import annotations

import json
import sqlite3
from collections import OrderedDict
from typing import Any, Iterable

import attrs
from twisted.internet import defer

from . import ocpi
from .ocpi import OcpiError

WHITELIST, BLACKLIST, NONE = "whitelist", "blacklist", "none"
KINDS = (WHITELIST, BLACKLIST)
WILDCARD = "*"

MSG_BOTH_ACTIVE = "OCN Rules whitelist and blacklist cannot be active at same time"
MSG_EMPTY_MODULES = "Module list of one the party is empty"
MSG_EMPTY_MODULE = "One of the element of module list is empty"
MSG_NOT_IN_WHITELIST = "Message receiver not in sender's whitelist."
MSG_SIGNATURES_REQUIRED = "Signatures are required by this OCN Node and cannot be switched off"


def msg_already_on(kind: str) -> str:
    return f"Party already on OCN Rules {kind}"


def msg_cannot_delete(kind: str) -> str:
    return f"Cannot delete entry from OCN Rules {kind}"


def msg_module_refused(module: str) -> str:
    return f"Sender not whitelisted to request {module} from receiver."


# -- model -------------------------------------------------------------------

@attrs.frozen
class RuleEntry:
    country_code: str
    party_id: str
    modules: tuple[str, ...]

    def to_json(self) -> dict:
        return {"party_id": self.party_id, "country_code": self.country_code, "modules": list(self.modules)}


def _bad(message: str) -> OcpiError:
    return OcpiError(ocpi.INVALID_PARAMS, message, 400)


def check_party(country_code: Any, party_id: Any) -> tuple[str, str]:
    """Validated, upper-cased (country_code, party_id); 400/2001 otherwise."""
    if not ocpi.valid_country_code(country_code):
        raise _bad(f'Given country_code "{country_code}" not 2 characters')
    if not ocpi.valid_party_id(party_id):
        raise _bad(f'Given party-id "{party_id}" not 3 characters')
    return country_code.upper(), party_id.upper()


def parse_entry(obj: Any) -> RuleEntry:
    """One ``{party_id, country_code, modules}`` object from a request body.

    Malformed shapes are 400/2001; an empty module list or an empty module id
    are 400/2000 with the v1 texts.
    """
    if not isinstance(obj, dict):
        raise _bad("OCN Rules entry must be an object with party_id, country_code and modules")
    cc, pid = check_party(obj.get("country_code"), obj.get("party_id"))
    modules = obj.get("modules")
    if not isinstance(modules, list):
        raise _bad("OCN Rules entry modules must be a list of module identifiers")
    if not modules:
        raise OcpiError(ocpi.CLIENT_ERROR, MSG_EMPTY_MODULES, 400)
    out: list[str] = []
    for m in modules:
        if not isinstance(m, str):
            raise _bad("OCN Rules entry modules must be a list of module identifiers")
        m = m.strip()
        if not m:
            raise OcpiError(ocpi.CLIENT_ERROR, MSG_EMPTY_MODULE, 400)
        if m.lower() not in (x.lower() for x in out):
            out.append(m)
    return RuleEntry(cc, pid, tuple(out))


def parse_entries(body: Any) -> list[RuleEntry]:
    if not isinstance(body, list):
        raise _bad("OCN Rules list must be a JSON array")
    entries = [parse_entry(e) for e in body]
    seen: set[tuple[str, str]] = set()
    for e in entries:
        key = (e.country_code, e.party_id)
        if key in seen:
            raise _bad(f"Party {e.country_code}/{e.party_id} appears more than once in the list")
        seen.add(key)
    return entries


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown OCN Rules list {kind!r}")
    return kind


def _other(kind: str) -> str:
    return BLACKLIST if kind == WHITELIST else WHITELIST


@attrs.frozen
class Rules:
    """Immutable snapshot of one platform's rules, cheap to evaluate."""

    platform_id: int
    mode: str = NONE
    signatures: bool = False
    entries: tuple[RuleEntry, ...] = ()
    # (CC, PID) -> lower-case module ids; built from entries
    _index: dict = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        index = {(e.country_code, e.party_id): frozenset(m.lower() for m in e.modules) for e in self.entries}
        object.__setattr__(self, "_index", index)

    def _modules_of(self, cc: str, pid: str) -> frozenset | None:
        return self._index.get(((cc or "").upper(), (pid or "").upper()))

    def check(self, sender_cc: str, sender_pid: str, module: str, *, v1_blacklist: bool = False) -> None:
        """Raise OcpiError 400/2000 if the sender may not send ``module`` to this platform."""
        if self.mode == NONE:
            return
        modules = self._modules_of(sender_cc, sender_pid)
        wanted = (module or "").lower()
        if self.mode == WHITELIST:
            if modules is None:
                raise OcpiError(ocpi.CLIENT_ERROR, MSG_NOT_IN_WHITELIST, 400)
            if wanted not in modules and WILDCARD not in modules:
                raise OcpiError(ocpi.CLIENT_ERROR, msg_module_refused(module), 400)
            return
        # blacklist
        if modules is None:
            return
        if wanted in modules or WILDCARD in modules:
            raise OcpiError(ocpi.CLIENT_ERROR, msg_module_refused(module), 400)
        if v1_blacklist:
            raise OcpiError(ocpi.CLIENT_ERROR, MSG_NOT_IN_WHITELIST, 400)

    def allows(self, sender_cc: str, sender_pid: str, module: str, *, v1_blacklist: bool = False) -> bool:
        try:
            self.check(sender_cc, sender_pid, module, v1_blacklist=v1_blacklist)
        except OcpiError:
            return False
        return True

    def visible(self, cc: str, pid: str, *, v1_blacklist: bool = False) -> bool:
        """Module-agnostic check: may this platform see/hear about counterparty cc/pid?

        True iff at least one module could flow between them: whitelist -> the
        counterparty is listed (any module); blacklist -> the counterparty is
        not blocked for every module (entry without ``"*"``).  With
        ``v1_blacklist`` any blacklist entry hides the counterparty (v1).
        """
        if self.mode == NONE:
            return True
        modules = self._modules_of(cc, pid)
        if self.mode == WHITELIST:
            return modules is not None
        if modules is None:
            return True
        return not (v1_blacklist or WILDCARD in modules)

    def to_json(self) -> dict:
        """The v1 GET shape."""
        listed = [e.to_json() for e in self.entries]
        return {
            "signatures": self.signatures,
            "whitelist": {"active": self.mode == WHITELIST, "list": listed if self.mode == WHITELIST else []},
            "blacklist": {"active": self.mode == BLACKLIST, "list": listed if self.mode == BLACKLIST else []},
        }


# -- SQL helpers (run through Store.run / Store.read) ------------------------

def _platform_row(conn: sqlite3.Connection, platform_id: int) -> sqlite3.Row:
    row = conn.execute("SELECT rules_mode, signatures FROM platforms WHERE id = ?", (platform_id,)).fetchone()
    if row is None:
        raise LookupError(f"platform {platform_id} does not exist")
    return row


def _entries(conn: sqlite3.Connection, platform_id: int) -> tuple[RuleEntry, ...]:
    return tuple(
        RuleEntry(r["country_code"], r["party_id"], tuple(json.loads(r["modules"])))
        for r in conn.execute(
            "SELECT country_code, party_id, modules FROM ocn_rules WHERE platform_id = ? ORDER BY id",
            (platform_id,))
    )


def load_rules(conn: sqlite3.Connection, platform_id: int, node_signatures: bool = False) -> Rules:
    """Snapshot of a platform's rules.  ``signatures`` is the effective value
    (platform flag or node default)."""
    row = _platform_row(conn, platform_id)
    mode = row["rules_mode"]
    entries = _entries(conn, platform_id) if mode != NONE else ()
    return Rules(platform_id, mode, bool(row["signatures"]) or node_signatures, entries)


def get_rules(conn: sqlite3.Connection, platform_id: int, node_signatures: bool = False) -> dict:
    """The v1 GET body ``{"signatures", "whitelist": {...}, "blacklist": {...}}``."""
    return load_rules(conn, platform_id, node_signatures).to_json()


def _set_mode(conn: sqlite3.Connection, platform_id: int, mode: str) -> None:
    conn.execute("UPDATE platforms SET rules_mode = ? WHERE id = ?", (mode, platform_id))


def _clear(conn: sqlite3.Connection, platform_id: int) -> None:
    conn.execute("DELETE FROM ocn_rules WHERE platform_id = ?", (platform_id,))


def _insert(conn: sqlite3.Connection, platform_id: int, entry: RuleEntry) -> None:
    conn.execute(
        "INSERT INTO ocn_rules (platform_id, country_code, party_id, modules) VALUES (?, ?, ?, ?)",
        (platform_id, entry.country_code.upper(), entry.party_id.upper(), json.dumps(list(entry.modules))))


def toggle_signatures(conn: sqlite3.Connection, platform_id: int, node_signatures: bool = False) -> bool:
    """Flip the platform's signature flag; returns the new effective value.

    A platform may force signatures on, but not switch them off while the node
    itself requires them (400/2000).
    """
    row = _platform_row(conn, platform_id)
    effective = bool(row["signatures"]) or node_signatures
    if effective and node_signatures:
        raise OcpiError(ocpi.CLIENT_ERROR, MSG_SIGNATURES_REQUIRED, 400)
    new = not effective
    conn.execute("UPDATE platforms SET signatures = ? WHERE id = ?", (int(new), platform_id))
    return new


def replace_list(conn: sqlite3.Connection, platform_id: int, kind: str,
                 entries: Iterable[RuleEntry | dict]) -> None:
    """PUT whitelist/blacklist: replace the list; an empty list switches it off."""
    kind = _check_kind(kind)
    items = [e if isinstance(e, RuleEntry) else parse_entry(e) for e in entries]
    mode = _platform_row(conn, platform_id)["rules_mode"]
    if not items:
        if mode == kind:
            _clear(conn, platform_id)
            _set_mode(conn, platform_id, NONE)
        return
    if mode == _other(kind):
        raise OcpiError(ocpi.CLIENT_ERROR, MSG_BOTH_ACTIVE, 400)
    _clear(conn, platform_id)
    seen = set()
    for e in items:
        key = (e.country_code.upper(), e.party_id.upper())
        if key in seen:
            raise _bad(f"Party {key[0]}/{key[1]} appears more than once in the list")
        seen.add(key)
        _insert(conn, platform_id, e)
    _set_mode(conn, platform_id, kind)


def block_all(conn: sqlite3.Connection, platform_id: int) -> None:
    """PUT block-all: whitelist on with no entries -- for this platform only."""
    if _platform_row(conn, platform_id)["rules_mode"] == BLACKLIST:
        raise OcpiError(ocpi.CLIENT_ERROR, MSG_BOTH_ACTIVE, 400)
    _clear(conn, platform_id)
    _set_mode(conn, platform_id, WHITELIST)


def append(conn: sqlite3.Connection, platform_id: int, kind: str, entry: RuleEntry | dict) -> None:
    """POST whitelist/blacklist: add one entry and switch the list on."""
    kind = _check_kind(kind)
    if not isinstance(entry, RuleEntry):
        entry = parse_entry(entry)
    mode = _platform_row(conn, platform_id)["rules_mode"]
    if mode == _other(kind):
        raise OcpiError(ocpi.CLIENT_ERROR, MSG_BOTH_ACTIVE, 400)
    if mode == NONE:
        _clear(conn, platform_id)  # keep the invariant even for rows left by older versions
    exists = conn.execute(
        "SELECT 1 FROM ocn_rules WHERE platform_id = ? AND country_code = ? AND party_id = ?",
        (platform_id, entry.country_code.upper(), entry.party_id.upper())).fetchone()
    if exists:
        raise OcpiError(ocpi.INVALID_PARAMS, msg_already_on(kind), 400)
    _insert(conn, platform_id, entry)
    _set_mode(conn, platform_id, kind)


def delete_entry(conn: sqlite3.Connection, platform_id: int, kind: str, country_code: str,
                 party_id: str) -> None:
    """DELETE whitelist/blacklist/{cc}/{pid}.

    Only while that list is active; the list stays active iff rows remain
    after deleting an existing entry.  Deleting an absent entry is a no-op.
    """
    kind = _check_kind(kind)
    cc, pid = check_party(country_code, party_id)
    if _platform_row(conn, platform_id)["rules_mode"] != kind:
        raise OcpiError(ocpi.CLIENT_ERROR, msg_cannot_delete(kind), 400)
    cur = conn.execute("DELETE FROM ocn_rules WHERE platform_id = ? AND country_code = ? AND party_id = ?",
                       (platform_id, cc, pid))
    if cur.rowcount == 0:
        return
    left = conn.execute("SELECT COUNT(*) FROM ocn_rules WHERE platform_id = ?", (platform_id,)).fetchone()[0]
    if left == 0:
        _set_mode(conn, platform_id, NONE)


# -- evaluation entry points ------------------------------------------------

def check_allowed(conn_or_rules: sqlite3.Connection | Rules, receiver_platform_id: int, sender_cc: str,
                  sender_pid: str, module_id: str, v1_blacklist: bool = False) -> None:
    """Raise OcpiError 400/2000 when the receiver's rules refuse the sender for the module."""
    rules = conn_or_rules
    if not isinstance(rules, Rules):
        rules = load_rules(conn_or_rules, receiver_platform_id)
    elif rules.platform_id != receiver_platform_id:
        raise ValueError(f"rules of platform {rules.platform_id} used for platform {receiver_platform_id}")
    rules.check(sender_cc, sender_pid, module_id, v1_blacklist=v1_blacklist)


def party_visible(rules: Rules, country_code: str, party_id: str, *, v1_blacklist: bool = False) -> bool:
    """Module-agnostic variant (hub client info lists and pushes); see :meth:`Rules.visible`."""
    return rules.visible(country_code, party_id, v1_blacklist=v1_blacklist)


# -- cache -------------------------------------------------------------------

class RulesCache:
    """Small LRU of :class:`Rules` snapshots for use outside a transaction.

    ``get`` returns a cached snapshot or loads one through ``store.read``.
    ``invalidate(platform_id)`` (called after every committed rules write, and
    it should be called when a platform is registered or deleted) bumps a
    generation counter so that a load started before the write is not
    installed.  ``ttl`` bounds staleness for writes that bypass the
    invalidation (other code paths, other processes).
    """

    def __init__(self, store, clock, *, node_signatures: bool = False, max_entries: int = 1024,
                 ttl: float = 30.0) -> None:
        self.store = store
        self.clock = clock
        self.node_signatures = node_signatures
        self.max_entries = max_entries
        self.ttl = ttl
        self.generation = 0
        self._entries: OrderedDict[int, tuple[Rules, float]] = OrderedDict()
        self.hits = self.misses = 0

    def peek(self, platform_id: int) -> Rules | None:
        item = self._entries.get(platform_id)
        if item is None:
            return None
        rules, loaded_at = item
        if self.clock.seconds() - loaded_at > self.ttl:
            del self._entries[platform_id]
            return None
        self._entries.move_to_end(platform_id)
        return rules

    async def get(self, platform_id: int) -> Rules:
        rules = self.peek(platform_id)
        if rules is not None:
            self.hits += 1
            return rules
        self.misses += 1
        generation = self.generation
        started = self.clock.seconds()
        rules = await self.store.read(load_rules, platform_id, self.node_signatures)
        if generation == self.generation:
            self._entries[platform_id] = (rules, started)
            self._entries.move_to_end(platform_id)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return rules

    def get_deferred(self, platform_id: int) -> defer.Deferred:
        return defer.ensureDeferred(self.get(platform_id))

    def invalidate(self, platform_id: int | None = None) -> None:
        """Forget one platform's snapshot (or all of them)."""
        self.generation += 1
        if platform_id is None:
            self._entries.clear()
        else:
            self._entries.pop(platform_id, None)
