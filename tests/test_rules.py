"""OcnRules evaluation and SQL helpers (no network, in-memory SQLite)."""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import defer
from twisted.internet.task import Clock

from ocnd import rules
from ocnd.ocpi import OcpiError
from ocnd.rules import BLACKLIST, WHITELIST, RuleEntry, Rules
from ocnd.store import _connect, apply_migrations


@pytest.fixture
def conn():
    c = _connect(":memory:")
    apply_migrations(c, ":memory:")
    yield c
    c.close()


def new_platform(conn, signatures=False) -> int:
    cur = conn.execute("INSERT INTO platforms (status, signatures, created_at, last_updated) "
                       "VALUES ('CONNECTED', ?, 0, 0)", (int(signatures),))
    return cur.lastrowid


def entry(cc, pid, *modules):
    return {"country_code": cc, "party_id": pid, "modules": list(modules)}


def refused(fn, *args, **kw) -> OcpiError:
    with pytest.raises(OcpiError) as info:
        fn(*args, **kw)
    return info.value


# -- v1 OcnRulesServiceTest "isWhitelisted" truth table -----------------------

@pytest.mark.parametrize("mode,listed,expected", [
    ("none", [], True),                                      # no rules
    (WHITELIST, [("DE", "MSP")], True),                       # whitelist hit
    (WHITELIST, [("NL", "XYZ")], False),                      # whitelist miss
    (BLACKLIST, [("NL", "XYZ")], True),                       # blacklist miss
    (BLACKLIST, [("DE", "MSP")], False),                      # blacklist hit
])
def test_v1_truth_table(conn, mode, listed, expected):
    p = new_platform(conn)
    if mode != "none":
        rules.replace_list(conn, p, mode, [entry(cc, pid, "locations") for cc, pid in listed])
    r = rules.load_rules(conn, p)
    assert r.allows("DE", "MSP", "locations") is expected
    assert r.allows("DE", "MSP", "locations", v1_blacklist=True) is expected
    if expected:
        rules.check_allowed(conn, p, "DE", "MSP", "locations")
    else:
        e = refused(rules.check_allowed, conn, p, "DE", "MSP", "locations")
        assert (e.http_status, e.status_code) == (400, 2000)


def test_whitelist_messages_and_module_scope(conn):
    p = new_platform(conn)
    rules.replace_list(conn, p, WHITELIST, [entry("de", "msp", "Locations", "lite-locations")])
    r = rules.load_rules(conn, p)
    r.check("DE", "MSP", "locations")                 # module ids compared case-insensitively
    r.check("de", "msp", "LITE-LOCATIONS")            # sender compared case-insensitively
    e = refused(r.check, "DE", "MSP", "sessions")
    assert (e.http_status, e.status_code, e.message) == (
        400, 2000, "Sender not whitelisted to request sessions from receiver.")
    e = refused(r.check, "NL", "XYZ", "locations")
    assert (e.http_status, e.status_code, e.message) == (400, 2000, "Message receiver not in sender's whitelist.")


def test_blacklist_is_module_scoped_with_v1_switch(conn):
    p = new_platform(conn)
    rules.replace_list(conn, p, BLACKLIST, [entry("DE", "MSP", "commands")])
    r = rules.load_rules(conn, p)
    r.check("DE", "MSP", "locations")                 # fix: other modules still allowed
    r.check("NL", "XYZ", "commands")                  # other senders unaffected
    e = refused(r.check, "de", "msp", "COMMANDS")
    assert e.message == "Sender not whitelisted to request COMMANDS from receiver."
    # v1 compatibility: a blacklisted sender is blocked for every module
    e = refused(r.check, "DE", "MSP", "locations", v1_blacklist=True)
    assert (e.status_code, e.message) == (2000, "Message receiver not in sender's whitelist.")
    e = refused(rules.check_allowed, conn, p, "DE", "MSP", "commands", v1_blacklist=True)
    assert e.message == "Sender not whitelisted to request commands from receiver."
    assert r.allows("NL", "XYZ", "locations", v1_blacklist=True)


def test_wildcard_module(conn):
    p = new_platform(conn)
    rules.replace_list(conn, p, WHITELIST, [entry("DE", "MSP", "*")])
    r = rules.load_rules(conn, p)
    for module in ("locations", "commands", "my-custom-module"):
        r.check("DE", "MSP", module)
    assert not r.allows("NL", "XYZ", "locations")
    q = new_platform(conn)
    rules.replace_list(conn, q, BLACKLIST, [entry("DE", "MSP", "*")])
    r = rules.load_rules(conn, q)
    assert not r.allows("DE", "MSP", "locations") and not r.allows("DE", "MSP", "custom-x")
    assert r.allows("NL", "XYZ", "locations")


def test_party_visible_module_agnostic(conn):
    none = Rules(1)
    assert rules.party_visible(none, "DE", "MSP")
    wl = Rules(1, WHITELIST, entries=(RuleEntry("DE", "MSP", ("locations",)),))
    assert rules.party_visible(wl, "de", "msp") and not rules.party_visible(wl, "NL", "XYZ")
    blocked_all = Rules(1, WHITELIST)                 # block-all
    assert not rules.party_visible(blocked_all, "DE", "MSP")
    bl = Rules(1, BLACKLIST, entries=(RuleEntry("DE", "MSP", ("commands",)), RuleEntry("NL", "XYZ", ("*",))))
    assert rules.party_visible(bl, "DE", "MSP")       # still reachable for other modules
    assert not rules.party_visible(bl, "nl", "xyz")   # blocked for everything
    assert not rules.party_visible(bl, "DE", "MSP", v1_blacklist=True)
    assert rules.party_visible(bl, "FR", "ABC", v1_blacklist=True)


def test_get_rules_shape(conn):
    p = new_platform(conn)
    assert rules.get_rules(conn, p) == {"signatures": False, "whitelist": {"active": False, "list": []},
                                        "blacklist": {"active": False, "list": []}}
    assert rules.get_rules(conn, p, node_signatures=True)["signatures"] is True
    rules.replace_list(conn, p, BLACKLIST, [entry("de", "abc", "locations", "sessions"), entry("NL", "XYZ", "*")])
    assert rules.get_rules(conn, p) == {
        "signatures": False,
        "whitelist": {"active": False, "list": []},
        "blacklist": {"active": True, "list": [
            {"party_id": "ABC", "country_code": "DE", "modules": ["locations", "sessions"]},
            {"party_id": "XYZ", "country_code": "NL", "modules": ["*"]}]},
    }


def test_replace_and_exclusivity(conn):
    p = new_platform(conn)
    rules.replace_list(conn, p, WHITELIST, [entry("DE", "AAA", "locations")])
    e = refused(rules.replace_list, conn, p, BLACKLIST, [entry("DE", "BBB", "locations")])
    assert (e.http_status, e.status_code, e.message) == (
        400, 2000, "OCN Rules whitelist and blacklist cannot be active at same time")
    # empty blacklist while whitelist active: nothing happens (whitelist rows survive)
    rules.replace_list(conn, p, BLACKLIST, [])
    assert rules.load_rules(conn, p).mode == WHITELIST
    assert [e.party_id for e in rules.load_rules(conn, p).entries] == ["AAA"]
    # replace whitelist
    rules.replace_list(conn, p, WHITELIST, [entry("DE", "CCC", "tokens"), entry("DE", "DDD", "cdrs")])
    assert [e.party_id for e in rules.load_rules(conn, p).entries] == ["CCC", "DDD"]
    # empty whitelist switches it off and removes rows
    rules.replace_list(conn, p, WHITELIST, [])
    r = rules.load_rules(conn, p)
    assert (r.mode, r.entries) == ("none", ())
    assert conn.execute("SELECT COUNT(*) FROM ocn_rules").fetchone()[0] == 0
    rules.replace_list(conn, p, BLACKLIST, [entry("DE", "BBB", "locations")])
    assert rules.load_rules(conn, p).mode == BLACKLIST


def test_entry_validation(conn):
    p = new_platform(conn)
    e = refused(rules.replace_list, conn, p, WHITELIST, [entry("DE", "AAA")])
    assert (e.http_status, e.status_code, e.message) == (400, 2000, "Module list of one the party is empty")
    e = refused(rules.append, conn, p, WHITELIST, entry("DE", "AAA", "locations", ""))
    assert (e.http_status, e.status_code, e.message) == (400, 2000, "One of the element of module list is empty")
    e = refused(rules.append, conn, p, WHITELIST, entry("DE", "AAA", "  "))
    assert e.message == "One of the element of module list is empty"
    for bad, msg in [
        (entry("DEU", "AAA", "x"), 'Given country_code "DEU" not 2 characters'),
        (entry("DE", "AA", "x"), 'Given party-id "AA" not 3 characters'),
        ({"country_code": "DE", "party_id": "AAA"}, None),
        ({"country_code": "DE", "party_id": "AAA", "modules": "locations"}, None),
        ({"country_code": "DE", "party_id": "AAA", "modules": [1]}, None),
        ("DE/AAA", None),
    ]:
        e = refused(rules.append, conn, p, WHITELIST, bad)
        assert (e.http_status, e.status_code) == (400, 2001), bad
        if msg:
            assert e.message == msg
    e = refused(rules.parse_entries, [entry("DE", "AAA", "x"), entry("de", "aaa", "y")])
    assert (e.http_status, e.status_code) == (400, 2001)
    e = refused(rules.parse_entries, {"not": "a list"})
    assert (e.http_status, e.status_code) == (400, 2001)
    # nothing was written by the failed calls
    assert rules.load_rules(conn, p).mode == "none"


def test_append_and_already_on_list_per_platform(conn):
    a, b = new_platform(conn), new_platform(conn)
    rules.append(conn, a, WHITELIST, entry("de", "msp", "locations"))
    assert rules.load_rules(conn, a).mode == WHITELIST
    e = refused(rules.append, conn, a, WHITELIST, entry("DE", "MSP", "sessions"))
    assert (e.http_status, e.status_code, e.message) == (400, 2001, "Party already on OCN Rules whitelist")
    # fix: another platform may list the same counterparty
    rules.append(conn, b, WHITELIST, entry("DE", "MSP", "sessions"))
    rules.append(conn, b, WHITELIST, entry("NL", "XYZ", "sessions"))
    assert [x.party_id for x in rules.load_rules(conn, b).entries] == ["MSP", "XYZ"]
    e = refused(rules.append, conn, b, BLACKLIST, entry("FR", "ABC", "x"))
    assert e.message == "OCN Rules whitelist and blacklist cannot be active at same time"
    c = new_platform(conn)
    rules.append(conn, c, BLACKLIST, entry("DE", "MSP", "x"))
    e = refused(rules.append, conn, c, BLACKLIST, entry("de", "msp", "y"))
    assert e.message == "Party already on OCN Rules blacklist"


def test_block_all_only_touches_caller(conn):
    a, b = new_platform(conn), new_platform(conn)
    rules.replace_list(conn, a, WHITELIST, [entry("DE", "AAA", "locations")])
    rules.replace_list(conn, b, WHITELIST, [entry("DE", "BBB", "locations")])
    rules.block_all(conn, a)
    ra, rb = rules.load_rules(conn, a), rules.load_rules(conn, b)
    assert (ra.mode, ra.entries) == (WHITELIST, ())
    assert not ra.allows("DE", "AAA", "locations")
    assert rb.mode == WHITELIST and [e.party_id for e in rb.entries] == ["BBB"]
    assert rb.allows("DE", "BBB", "locations")
    c = new_platform(conn)
    rules.replace_list(conn, c, BLACKLIST, [entry("DE", "CCC", "x")])
    e = refused(rules.block_all, conn, c)
    assert (e.http_status, e.status_code, e.message) == (
        400, 2000, "OCN Rules whitelist and blacklist cannot be active at same time")
    # block-all on a platform without rules
    d = new_platform(conn)
    rules.block_all(conn, d)
    assert rules.get_rules(conn, d)["whitelist"] == {"active": True, "list": []}


def test_delete_entry(conn):
    p = new_platform(conn)
    e = refused(rules.delete_entry, conn, p, WHITELIST, "DE", "AAA")
    assert (e.http_status, e.status_code, e.message) == (400, 2000, "Cannot delete entry from OCN Rules whitelist")
    rules.replace_list(conn, p, WHITELIST, [entry("DE", "AAA", "x"), entry("DE", "BBB", "x")])
    e = refused(rules.delete_entry, conn, p, BLACKLIST, "DE", "AAA")
    assert e.message == "Cannot delete entry from OCN Rules blacklist"
    rules.delete_entry(conn, p, WHITELIST, "de", "aaa")        # lower-case accepted
    assert [x.party_id for x in rules.load_rules(conn, p).entries] == ["BBB"]
    rules.delete_entry(conn, p, WHITELIST, "NL", "ZZZ")        # absent: no-op, list stays
    assert rules.load_rules(conn, p).mode == WHITELIST
    rules.delete_entry(conn, p, WHITELIST, "DE", "BBB")        # last one: list off
    assert rules.load_rules(conn, p).mode == "none"
    e = refused(rules.delete_entry, conn, p, WHITELIST, "DEU", "BBB")
    assert (e.http_status, e.status_code) == (400, 2001)
    # block-all followed by deleting an absent entry keeps everything blocked
    rules.block_all(conn, p)
    rules.delete_entry(conn, p, WHITELIST, "DE", "AAA")
    assert rules.load_rules(conn, p).mode == WHITELIST


def test_delete_does_not_touch_other_platforms(conn):
    a, b = new_platform(conn), new_platform(conn)
    rules.replace_list(conn, a, BLACKLIST, [entry("DE", "MSP", "x")])
    rules.replace_list(conn, b, BLACKLIST, [entry("DE", "MSP", "x")])
    rules.delete_entry(conn, a, BLACKLIST, "DE", "MSP")
    assert rules.load_rules(conn, a).mode == "none"
    assert not rules.load_rules(conn, b).allows("DE", "MSP", "x")


def test_toggle_signatures(conn):
    p = new_platform(conn)
    assert rules.toggle_signatures(conn, p) is True
    assert rules.get_rules(conn, p)["signatures"] is True
    assert rules.toggle_signatures(conn, p) is False
    assert rules.get_rules(conn, p)["signatures"] is False
    # node requires signatures: they can be forced on but never switched off
    q = new_platform(conn, signatures=True)
    e = refused(rules.toggle_signatures, conn, q, node_signatures=True)
    assert (e.http_status, e.status_code, e.message) == (400, 2000, rules.MSG_SIGNATURES_REQUIRED)
    r = new_platform(conn, signatures=False)
    refused(rules.toggle_signatures, conn, r, node_signatures=True)
    assert rules.get_rules(conn, r, node_signatures=True)["signatures"] is True


def test_unknown_platform(conn):
    with pytest.raises(LookupError):
        rules.load_rules(conn, 999)


def test_check_allowed_with_snapshot(conn):
    p = new_platform(conn)
    rules.replace_list(conn, p, WHITELIST, [entry("DE", "MSP", "locations")])
    snap = rules.load_rules(conn, p)
    rules.check_allowed(snap, p, "DE", "MSP", "locations")
    with pytest.raises(ValueError):
        rules.check_allowed(snap, p + 1, "DE", "MSP", "locations")
    # snapshots are immutable value objects
    with pytest.raises(AttributeError):
        snap.mode = "none"
    assert snap == rules.load_rules(conn, p)


class _SyncStore:
    """Store.read stand-in: the Deferred fires when the test calls flush()."""

    def __init__(self, conn):
        self.conn = conn
        self.reads = 0
        self.pending = []

    def read(self, fn, *args):
        self.reads += 1
        d = defer.Deferred()
        self.pending.append((d, fn, args))
        return d

    def flush(self):
        while self.pending:
            d, fn, args = self.pending.pop(0)
            d.callback(fn(self.conn, *args))


@pytest_twisted.ensureDeferred
async def test_rules_cache_generation_and_ttl(conn):
    p = new_platform(conn)
    store, clock = _SyncStore(conn), Clock()
    cache = rules.RulesCache(store, clock, ttl=10, max_entries=2)
    d = defer.ensureDeferred(cache.get(p))
    store.flush()
    first = await d
    assert first.mode == "none" and store.reads == 1
    assert (await cache.get(p)) is first and store.reads == 1
    # a write + invalidate -> next get reloads
    rules.block_all(conn, p)
    cache.invalidate(p)
    d = defer.ensureDeferred(cache.get(p))
    store.flush()
    assert (await d).mode == WHITELIST and store.reads == 2
    # a load racing with an invalidation is returned but not installed
    cache.invalidate(p)
    d = defer.ensureDeferred(cache.get(p))
    cache.invalidate(p)
    store.flush()
    await d
    assert cache.peek(p) is None
    # TTL
    d = defer.ensureDeferred(cache.get(p))
    store.flush()
    await d
    assert cache.peek(p) is not None
    clock.advance(11)
    assert cache.peek(p) is None
    # bounded size
    ids = [new_platform(conn) for _ in range(3)]
    for i in ids:
        d = defer.ensureDeferred(cache.get(i))
        store.flush()
        await d
    assert cache.peek(ids[0]) is None and cache.peek(ids[2]) is not None
