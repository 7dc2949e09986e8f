"""OcnRules endpoints over real loopback with registered platforms."""

from __future__ import annotations

import json

import pytest_twisted
from twisted.web.server import Site

from ocnd import rules
from ocnd.api import build_app
from ocnd.api.auth import TokenAuth
from ocnd.api.common import Responder
from ocnd.api.rules import RulesApi
from ocnd.store import Store

from support import call

CPO = [{"role": "CPO", "business_details": {"name": "Test CPO"}, "party_id": "CPO", "country_code": "DE"}]
MSP = [{"role": "EMSP", "business_details": {"name": "Test MSP"}, "party_id": "MSP", "country_code": "DE"}]
VERSIONS = ("2.2", "2.2.1")


async def _serve_rules(node, *, node_signatures=False):
    """A loopback site serving only RulesApi on the node's store."""
    from twisted.internet import endpoints, reactor

    api = RulesApi(store=node.store, auth=TokenAuth(node.store, reactor), responder=Responder(reactor),
                   versions=VERSIONS, node_signatures=node_signatures,
                   cache=rules.RulesCache(node.store, reactor))
    ep = endpoints.TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
    port = await ep.listen(Site(build_app(Responder(reactor), [api]).resource()))
    return port, f"http://127.0.0.1:{port.getHost().port}", api


@pytest_twisted.async_yield_fixture
async def rules_node(node):
    """The node, plus the base URL serving OcnRules.

    Uses the node's own port once RulesApi is wired into NodeService; until
    then a separate site with RulesApi on the same store.
    """
    code, _, _ = await call("GET", node.url("/ocpi/receiver/2.2/ocnrules"), headers={"Authorization": "Token x"})
    if code != 404:
        yield node, node.base
        return
    port, base, _ = await _serve_rules(node)
    yield node, base
    await port.stopListening()


async def token_c(node, party, roles):
    """Register a platform with the given roles; its Token C."""
    code, raw, _ = await call("POST", node.url("/admin/generate-registration-token"), headers=node.admin_headers(),
                              json_body=[{"country_code": r["country_code"], "party_id": r["party_id"]}
                                         for r in roles])
    assert code == 200, raw
    tok_a = json.loads(raw)["token"]
    for r in roles:
        node.list_party(r["country_code"], r["party_id"])
    code, raw, _ = await call("POST", node.url("/ocpi/2.2/credentials"), headers={"Authorization": f"Token {tok_a}"},
                              json_body=party.credentials(roles))
    assert code == 200, raw
    return json.loads(raw)["data"]["token"]


def auth(tok):
    return {"Authorization": f"Token {tok}"}


async def req(method, url, tok, body=None):
    code, raw, _ = await call(method, url, headers=auth(tok), json_body=body)
    return code, json.loads(raw)


def entry(cc, pid, *modules):
    return {"country_code": cc, "party_id": pid, "modules": list(modules)}


EMPTY = {"signatures": False, "whitelist": {"active": False, "list": []}, "blacklist": {"active": False, "list": []}}


def ok(code, body):
    assert code == 200, body
    assert body["status_code"] == 1000
    assert set(body) <= {"status_code", "timestamp", "data"}
    assert body["timestamp"].endswith("Z")


def err(code, body, http, status, message):
    assert (code, body["status_code"], body.get("status_message")) == (http, status, message), body


@pytest_twisted.ensureDeferred
async def test_get_and_auth(rules_node, party):
    node, base = rules_node
    tok = await token_c(node, party, CPO)
    for path in ("/ocpi/receiver/2.2/ocnrules", "/ocpi/2.2/receiver/ocnrules",
                 "/ocpi/receiver/2.2.1/ocnrules", "/ocpi/2.2.1/receiver/ocnrules"):
        code, body = await req("GET", base + path, tok)
        ok(code, body)
        assert body["data"] == EMPTY
        code, body = await req("GET", base + path, "not-a-token")
        err(code, body, 401, 2001, "Invalid CREDENTIALS_TOKEN_C")
    # writes need Token C as well, and nothing is changed without it
    code, body = await req("PUT", base + "/ocpi/receiver/2.2/ocnrules/block-all", "nope")
    err(code, body, 401, 2001, "Invalid CREDENTIALS_TOKEN_C")
    code, body = await req("POST", base + "/ocpi/receiver/2.2/ocnrules/whitelist", "nope", entry("DE", "MSP", "x"))
    err(code, body, 401, 2001, "Invalid CREDENTIALS_TOKEN_C")
    code, body = await req("GET", base + "/ocpi/receiver/2.2/ocnrules", tok)
    assert body["data"] == EMPTY


@pytest_twisted.ensureDeferred
async def test_whitelist_lifecycle_both_spellings(rules_node, party):
    node, base = rules_node
    tok = await token_c(node, party, CPO)
    a = base + "/ocpi/receiver/2.2/ocnrules"
    b = base + "/ocpi/2.2/receiver/ocnrules"
    code, body = await req("PUT", a + "/whitelist", tok, [entry("de", "msp", "locations", "sessions")])
    ok(code, body)
    assert "data" not in body
    code, body = await req("POST", b + "/whitelist", tok, entry("NL", "XYZ", "*"))
    ok(code, body)
    code, body = await req("GET", b, tok)
    assert body["data"] == {
        "signatures": False,
        "whitelist": {"active": True, "list": [
            {"party_id": "MSP", "country_code": "DE", "modules": ["locations", "sessions"]},
            {"party_id": "XYZ", "country_code": "NL", "modules": ["*"]}]},
        "blacklist": {"active": False, "list": []},
    }
    code, body = await req("POST", a + "/whitelist", tok, entry("de", "MSP", "cdrs"))
    err(code, body, 400, 2001, "Party already on OCN Rules whitelist")
    code, body = await req("POST", a + "/blacklist", tok, entry("FR", "ABC", "cdrs"))
    err(code, body, 400, 2000, "OCN Rules whitelist and blacklist cannot be active at same time")
    code, body = await req("PUT", b + "/blacklist", tok, [entry("FR", "ABC", "cdrs")])
    err(code, body, 400, 2000, "OCN Rules whitelist and blacklist cannot be active at same time")
    code, body = await req("DELETE", a + "/blacklist/de/msp", tok)
    err(code, body, 400, 2000, "Cannot delete entry from OCN Rules blacklist")
    # lower-case path values reach the store upper-cased
    code, body = await req("DELETE", a + "/whitelist/de/msp", tok)
    ok(code, body)
    code, body = await req("GET", a, tok)
    assert [e["party_id"] for e in body["data"]["whitelist"]["list"]] == ["XYZ"]
    code, body = await req("DELETE", b + "/whitelist/nl/xyz", tok)
    ok(code, body)
    code, body = await req("GET", a, tok)
    assert body["data"] == EMPTY
    code, body = await req("DELETE", a + "/whitelist/nl/xyz", tok)
    err(code, body, 400, 2000, "Cannot delete entry from OCN Rules whitelist")
    code, body = await req("DELETE", a + "/whitelist/nld/xyz", tok)
    err(code, body, 400, 2001, 'Given country_code "nld" not 2 characters')


@pytest_twisted.ensureDeferred
async def test_blacklist_replace_empty_and_block_all(rules_node, party):
    node, base = rules_node
    tok = await token_c(node, party, CPO)
    a = base + "/ocpi/receiver/2.2.1/ocnrules"
    ok(*await req("PUT", a + "/blacklist", tok, [entry("DE", "MSP", "commands")]))
    code, body = await req("GET", a, tok)
    assert body["data"]["blacklist"] == {"active": True, "list": [
        {"party_id": "MSP", "country_code": "DE", "modules": ["commands"]}]}
    code, body = await req("PUT", a + "/block-all", tok)
    err(code, body, 400, 2000, "OCN Rules whitelist and blacklist cannot be active at same time")
    code, body = await req("POST", a + "/blacklist", tok, entry("DE", "MSP", "x"))
    err(code, body, 400, 2001, "Party already on OCN Rules blacklist")
    ok(*await req("POST", a + "/blacklist", tok, entry("DE", "ABC", "x")))
    ok(*await req("PUT", a + "/blacklist", tok, []))
    code, body = await req("GET", a, tok)
    assert body["data"] == EMPTY
    ok(*await req("PUT", a + "/block-all", tok))
    code, body = await req("GET", a, tok)
    assert body["data"]["whitelist"] == {"active": True, "list": []}
    assert body["data"]["blacklist"] == {"active": False, "list": []}


@pytest_twisted.ensureDeferred
async def test_malformed_bodies(rules_node, party):
    node, base = rules_node
    tok = await token_c(node, party, CPO)
    a = base + "/ocpi/receiver/2.2/ocnrules"
    code, body = await req("PUT", a + "/whitelist", tok, [entry("DE", "MSP")])
    err(code, body, 400, 2000, "Module list of one the party is empty")
    code, body = await req("POST", a + "/blacklist", tok, entry("DE", "MSP", "locations", ""))
    err(code, body, 400, 2000, "One of the element of module list is empty")
    code, body = await req("POST", a + "/whitelist", tok, entry("D", "MSP", "x"))
    err(code, body, 400, 2001, 'Given country_code "D" not 2 characters')
    code, body = await req("POST", a + "/whitelist", tok, entry("DE", "MSPX", "x"))
    err(code, body, 400, 2001, 'Given party-id "MSPX" not 3 characters')
    for bad in ({"not": "a list"}, [entry("DE", "MSP", "x"), entry("de", "msp", "y")], ["DE/MSP"]):
        code, body = await req("PUT", a + "/whitelist", tok, bad)
        assert (code, body["status_code"]) == (400, 2001), body
    for bad in ([entry("DE", "MSP", "x")], {"country_code": "DE", "party_id": "MSP", "modules": [3]}):
        code, body = await req("POST", a + "/whitelist", tok, bad)
        assert (code, body["status_code"]) == (400, 2001), body
    code, raw, _ = await call("POST", a + "/whitelist", headers=auth(tok), data=b"{not json")
    assert (code, json.loads(raw)["status_code"]) == (400, 2001)
    code, raw, _ = await call("PUT", a + "/whitelist", headers=auth(tok))
    assert (code, json.loads(raw)["status_code"]) == (400, 2001)
    code, body = await req("GET", a, tok)
    assert body["data"] == EMPTY


@pytest_twisted.ensureDeferred
async def test_platforms_are_isolated(rules_node, party):
    node, base = rules_node
    tok_a = await token_c(node, party, CPO)
    tok_b = await token_c(node, party, MSP)
    a = base + "/ocpi/receiver/2.2/ocnrules"
    ok(*await req("POST", a + "/whitelist", tok_a, entry("NL", "XYZ", "locations")))
    # "already on list" is per platform: B may list the same counterparty
    ok(*await req("POST", a + "/whitelist", tok_b, entry("NL", "XYZ", "tokens")))
    # block-all on A leaves B's list alone
    ok(*await req("PUT", a + "/block-all", tok_a))
    code, body = await req("GET", a, tok_b)
    assert body["data"]["whitelist"] == {"active": True, "list": [
        {"party_id": "XYZ", "country_code": "NL", "modules": ["tokens"]}]}
    code, body = await req("GET", a, tok_a)
    assert body["data"]["whitelist"] == {"active": True, "list": []}


@pytest_twisted.ensureDeferred
async def test_signatures_toggle(rules_node, party):
    node, base = rules_node
    tok = await token_c(node, party, CPO)
    a = base + "/ocpi/receiver/2.2/ocnrules"
    ok(*await req("PUT", a + "/signatures", tok))
    code, body = await req("GET", a, tok)
    assert body["data"]["signatures"] is True
    ok(*await req("PUT", a + "/signatures", tok))
    code, body = await req("GET", a, tok)
    assert body["data"]["signatures"] is False
    # a node that requires signatures: GET shows them on, switching off refused
    port, strict, _ = await _serve_rules(node, node_signatures=True)
    try:
        s = strict + "/ocpi/2.2/receiver/ocnrules"
        code, body = await req("GET", s, tok)
        assert body["data"]["signatures"] is True
        code, body = await req("PUT", s + "/signatures", tok)
        err(code, body, 400, 2000, rules.MSG_SIGNATURES_REQUIRED)
    finally:
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_rules_survive_store_restart(rules_node, party):
    from twisted.internet import reactor

    node, base = rules_node
    tok = await token_c(node, party, CPO)
    a = base + "/ocpi/receiver/2.2/ocnrules"
    ok(*await req("PUT", a + "/blacklist", tok, [entry("de", "msp", "commands", "lite-locations")]))
    ok(*await req("PUT", a + "/signatures", tok))
    code, expected = await req("GET", a, tok)
    platform_id = (await node.store.read(lambda c: c.execute("SELECT id FROM platforms").fetchone()[0]))
    other = Store(node.store.path, reactor)
    await other.start()
    try:
        again = await other.read(rules.get_rules, platform_id)
        snapshot = await other.read(rules.load_rules, platform_id)
    finally:
        await other.stop()
    assert again == expected["data"]
    assert again["blacklist"]["list"] == [
        {"party_id": "MSP", "country_code": "DE", "modules": ["commands", "lite-locations"]}]
    assert not snapshot.allows("DE", "MSP", "commands") and snapshot.allows("DE", "MSP", "locations")


@pytest_twisted.ensureDeferred
async def test_cache_invalidated_by_api_writes(node, party):
    port, base, api = await _serve_rules(node)
    try:
        tok = await token_c(node, party, CPO)
        platform_id = (await node.store.read(lambda c: c.execute("SELECT id FROM platforms").fetchone()[0]))
        assert (await api.cache.get(platform_id)).allows("DE", "MSP", "locations")
        ok(*await req("PUT", base + "/ocpi/receiver/2.2/ocnrules/block-all", tok))
        assert api.cache.peek(platform_id) is None
        assert not (await api.cache.get(platform_id)).allows("DE", "MSP", "locations")
    finally:
        await port.stopListening()
