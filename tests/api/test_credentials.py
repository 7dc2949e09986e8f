"""Credentials handshake and versions endpoints against a real party server."""

from __future__ import annotations

import base64
import json

import pytest_twisted

from support import ADMIN_KEY, PUBLIC_URL, call

ROLES = [{"role": "CPO", "business_details": {"name": "Test CPO"}, "party_id": "CPO", "country_code": "DE"}]


async def token_a(node, parties=(("DE", "CPO"),)):
    code, body, _ = await call("POST", node.url("/admin/generate-registration-token"),
                               headers=node.admin_headers(),
                               json_body=[{"country_code": cc, "party_id": pid} for cc, pid in parties])
    assert code == 200, body
    data = json.loads(body)
    assert data["versions"] == f"{PUBLIC_URL}/ocpi/versions"
    return data["token"]


async def register(node, party, version="2.2", roles=ROLES):
    tok = await token_a(node, [(r["country_code"], r["party_id"]) for r in roles])
    for r in roles:
        node.list_party(r["country_code"], r["party_id"])
    code, body, _ = await call("POST", node.url(f"/ocpi/{version}/credentials"),
                               headers={"Authorization": f"Token {tok}"}, json_body=party.credentials(roles))
    return code, json.loads(body)


@pytest_twisted.ensureDeferred
async def test_full_handshake_token_a_b_c(node, party):
    code, body = await register(node, party)
    assert code == 200, body
    assert body["status_code"] == 1000
    data = body["data"]
    assert data["url"] == f"{PUBLIC_URL}/ocpi/versions"
    assert data["roles"] == [{"role": "HUB", "business_details": {"name": "Open Charging Network Node"},
                              "party_id": "OCN", "country_code": "CH"}]
    token_c = data["token"]
    # the node called the party with Token B
    assert [r.path for r in party.received] == ["/ocpi/versions", "/ocpi/2.2"]
    assert all(r.headers["authorization"] == f"Token {party.token_b}" for r in party.received)
    # Token C works for GET credentials and versions
    code, body, _ = await call("GET", node.url("/ocpi/2.2/credentials"), headers={"Authorization": f"Token {token_c}"})
    assert code == 200 and json.loads(body)["data"]["token"] == token_c
    code, body, _ = await call("GET", node.url("/ocpi/versions"), headers={"Authorization": f"Token {token_c}"})
    versions = json.loads(body)["data"]
    assert versions == [{"version": "2.2", "url": f"{PUBLIC_URL}/ocpi/2.2"},
                        {"version": "2.2.1", "url": f"{PUBLIC_URL}/ocpi/2.2.1"}]
    code, body, _ = await call("GET", node.url("/ocpi/2.2"), headers={"Authorization": f"Token {token_c}"})
    endpoints = json.loads(body)["data"]["endpoints"]
    assert len(endpoints) == 19
    assert endpoints[0] == {"identifier": "cdrs", "role": "SENDER", "url": f"{PUBLIC_URL}/ocpi/sender/2.2/cdrs"}
    assert endpoints[1]["role"] == "RECEIVER"
    # admin sees the platform connected, without any token
    code, body, _ = await call("GET", node.url("/admin/connection-status/de/cpo"), headers=node.admin_headers())
    assert (code, body) == (200, b"CONNECTED")
    code, body, _ = await call("GET", node.url("/admin/platforms"), headers=node.admin_headers())
    assert token_c.encode() not in body and party.token_b.encode() not in body
    # the token A cannot be used twice
    # PUT rotates Token C
    code, body, _ = await call("PUT", node.url("/ocpi/2.2/credentials"), headers={"Authorization": f"Token {token_c}"},
                               json_body=party.credentials(ROLES))
    assert code == 200, body
    new_c = json.loads(body)["data"]["token"]
    assert new_c != token_c
    code, body, _ = await call("GET", node.url("/ocpi/2.2/credentials"), headers={"Authorization": f"Token {token_c}"})
    assert code == 401
    # DELETE unregisters
    code, body, _ = await call("DELETE", node.url("/ocpi/2.2/credentials"), headers={"Authorization": f"Token {new_c}"})
    assert code == 200
    assert json.loads(body)["status_code"] == 1000 and "data" not in json.loads(body)
    code, body, _ = await call("GET", node.url("/ocpi/2.2/credentials"), headers={"Authorization": f"Token {new_c}"})
    assert code == 401
    code, body, _ = await call("GET", node.url("/admin/connection-status/DE/CPO"), headers=node.admin_headers())
    assert code == 404


@pytest_twisted.ensureDeferred
async def test_token_a_single_use(node, party):
    tok = await token_a(node)
    node.list_party("DE", "CPO")
    code, _, _ = await call("POST", node.url("/ocpi/2.2/credentials"), headers={"Authorization": f"Token {tok}"},
                            json_body=party.credentials(ROLES))
    assert code == 200
    code, body, _ = await call("POST", node.url("/ocpi/2.2/credentials"), headers={"Authorization": f"Token {tok}"},
                               json_body=party.credentials(ROLES))
    assert code == 401
    assert json.loads(body)["status_message"] == "Invalid CREDENTIALS_TOKEN_A"


@pytest_twisted.ensureDeferred
async def test_2_2_1_handshake_with_base64_tokens(node, party):
    party.versions = ("2.2.1",)
    tok = await token_a(node)
    node.list_party("DE", "CPO")
    b64 = base64.b64encode(tok.encode()).decode()
    code, body, _ = await call("POST", node.url("/ocpi/2.2.1/credentials"), headers={"Authorization": f"Token {b64}"},
                               json_body=party.credentials(ROLES))
    assert code == 200, body
    token_c = json.loads(body)["data"]["token"]
    # the node called the 2.2.1 party with a base64 Token B
    expected = "Token " + base64.b64encode(party.token_b.encode()).decode()
    assert all(r.headers["authorization"] == expected for r in party.received)
    b64c = base64.b64encode(token_c.encode()).decode()
    code, body, _ = await call("GET", node.url("/ocpi/2.2.1/credentials"), headers={"Authorization": f"Token {b64c}"})
    assert code == 200


@pytest_twisted.ensureDeferred
async def test_unknown_token_is_401_2001(node):
    for path in ("/ocpi/versions", "/ocpi/2.2", "/ocpi/2.2.1"):
        code, body, _ = await call("GET", node.url(path), headers={"Authorization": "Token nope"})
        assert code == 401
        b = json.loads(body)
        assert b["status_code"] == 2001 and b["status_message"] == "Invalid CREDENTIALS_TOKEN_A"
    code, body, _ = await call("GET", node.url("/ocpi/2.2/credentials"))
    assert code == 401
    assert json.loads(body)["status_message"] == "Invalid CREDENTIALS_TOKEN_C"
    code, body, _ = await call("POST", node.url("/ocpi/2.2/credentials"), json_body={})
    assert code == 401
    assert json.loads(body)["status_message"] == "Invalid CREDENTIALS_TOKEN_A"


@pytest_twisted.ensureDeferred
async def test_malformed_json_and_bad_credentials_object(node, party):
    tok = await token_a(node)
    code, body, _ = await call("POST", node.url("/ocpi/2.2/credentials"), headers={"Authorization": f"Token {tok}",
                               "Content-Type": "application/json"}, data=b"{not json")
    assert code == 400
    assert json.loads(body)["status_code"] == 2001
    code, body, _ = await call("POST", node.url("/ocpi/2.2/credentials"), headers={"Authorization": f"Token {tok}"},
                               json_body={"token": "x", "url": party.versions_url, "roles": [
                                   {"role": "CPO", "party_id": "TOOLONG", "country_code": "DE"}]})
    assert code == 400
    assert json.loads(body)["status_message"] == 'Given party-id "TOOLONG" not 3 characters'
    code, body, _ = await call("POST", node.url("/ocpi/2.2/credentials"), headers={"Authorization": f"Token {tok}"},
                               json_body=[1, 2])
    assert code == 400 and json.loads(body)["status_code"] == 2001


@pytest_twisted.ensureDeferred
async def test_party_not_in_registry_or_under_other_node(node, party):
    tok = await token_a(node)
    code, body, _ = await call("POST", node.url("/ocpi/2.2/credentials"), headers={"Authorization": f"Token {tok}"},
                               json_body=party.credentials(ROLES))
    assert code == 400
    b = json.loads(body)
    assert b["status_code"] == 2001
    assert b["status_message"] == ("Role with party_id=CPO and country_code=DE not listed in OCN Registry "
                                   "with my node info!")
    # listed, but under another operator
    node.registry.list_party("DE", "CPO", "0x" + "99" * 20, PUBLIC_URL)
    code, body, _ = await call("POST", node.url("/ocpi/2.2/credentials"), headers={"Authorization": f"Token {tok}"},
                               json_body=party.credentials(ROLES))
    assert code == 400 and "not listed in OCN Registry" in json.loads(body)["status_message"]
    # listed with our address but another URL
    node.list_party("DE", "CPO", party_url="https://other.example")
    code, body, _ = await call("POST", node.url("/ocpi/2.2/credentials"), headers={"Authorization": f"Token {tok}"},
                               json_body=party.credentials(ROLES))
    assert code == 400
    # the token is still usable once the listing is right
    node.list_party("DE", "CPO")
    code, body, _ = await call("POST", node.url("/ocpi/2.2/credentials"), headers={"Authorization": f"Token {tok}"},
                               json_body=party.credentials(ROLES))
    assert code == 200, body


@pytest_twisted.ensureDeferred
async def test_party_versions_unreachable_is_3001(node, party):
    tok = await token_a(node)
    node.list_party("DE", "CPO")
    creds = party.credentials(ROLES)
    creds["url"] = "http://127.0.0.1:1/ocpi/versions"
    code, body, _ = await call("POST", node.url("/ocpi/2.2/credentials"), headers={"Authorization": f"Token {tok}"},
                               json_body=creds)
    assert code == 200
    b = json.loads(body)
    assert b["status_code"] == 3001 and b["status_message"].startswith("Failed to request from http://127.0.0.1:1")
    # wrong token B: party answers 401
    creds = party.credentials(ROLES)
    creds["token"] = "wrong"
    code, body, _ = await call("POST", node.url("/ocpi/2.2/credentials"), headers={"Authorization": f"Token {tok}"},
                               json_body=creds)
    assert json.loads(body)["status_code"] == 3001


@pytest_twisted.ensureDeferred
async def test_no_matching_version_is_3003(node, party):
    party.versions = ("2.1.1",)
    tok = await token_a(node)
    node.list_party("DE", "CPO")
    code, body, _ = await call("POST", node.url("/ocpi/2.2/credentials"), headers={"Authorization": f"Token {tok}"},
                               json_body=party.credentials(ROLES))
    b = json.loads(body)
    assert code == 200 and b["status_code"] == 3003
    assert b["status_message"] == "Expected version 2.2 or 2.2.1 from ['2.1.1']"


@pytest_twisted.ensureDeferred
async def test_role_already_connected(node, party):
    code, body = await register(node, party)
    assert code == 200
    # admin cannot even issue a token for the same party
    code, body, _ = await call("POST", node.url("/admin/generate-registration-token"), headers=node.admin_headers(),
                               json_body=[{"country_code": "de", "party_id": "cpo"}])
    assert (code, body) == (400, b"Role DE/CPO already exists")
    # a second platform trying to claim the role on PUT is refused
    other = await token_a(node, [("NL", "ABC")])
    node.list_party("NL", "ABC")
    code, body, _ = await call("POST", node.url("/ocpi/2.2/credentials"), headers={"Authorization": f"Token {other}"},
                               json_body=party.credentials([{"role": "EMSP", "business_details": {"name": "x"},
                                                             "party_id": "ABC", "country_code": "NL"}]))
    assert code == 200
    token_c = json.loads(body)["data"]["token"]
    code, body, _ = await call("PUT", node.url("/ocpi/2.2/credentials"), headers={"Authorization": f"Token {token_c}"},
                               json_body=party.credentials(ROLES))
    assert code == 400
    assert json.loads(body)["status_message"] == ("Role with party_id=CPO and country_code=DE already connected "
                                                  "to this node!")


@pytest_twisted.ensureDeferred
async def test_admin_requires_key(node):
    for method, path in (("POST", "/admin/generate-registration-token"), ("GET", "/admin/platforms"),
                         ("GET", "/admin/connection-status/DE/CPO")):
        code, body, _ = await call(method, node.url(path), headers={"Authorization": "Token wrong"}, json_body=[])
        assert (code, body) == (401, b"Unauthorized")
    code, body, _ = await call("POST", node.url("/admin/generate-registration-token"),
                               headers=node.admin_headers(), json_body=[{"country_code": "D", "party_id": "X"}])
    assert code == 400


@pytest_twisted.ensureDeferred
async def test_oversize_body_is_413_not_500(node):
    big = b"[" + b"1," * 600_000 + b"1]"
    code, body, _ = await call("POST", node.url("/ocpi/2.2/credentials"), headers={"Authorization": "Token x",
                               "Content-Type": "application/json"}, data=big)
    assert code == 413
    assert json.loads(body)["status_code"] == 2001


@pytest_twisted.ensureDeferred
async def test_health_and_registry_endpoints(node):
    code, body, _ = await call("GET", node.url("/health"))
    assert (code, body) == (200, b"OK")
    code, body, _ = await call("GET", node.url("/health?format=json"))
    detail = json.loads(body)
    assert detail["status"] == "OK" and detail["store"]["ok"] is True and "registry" in detail
    code, body, _ = await call("GET", node.url("/ocn/registry/node-info"))
    assert json.loads(body) == {"url": PUBLIC_URL, "address": node.address.lower()}
    code, body, _ = await call("GET", node.url("/ocn/registry/node/de/msp"))
    assert body == b"Party not registered on OCN"
    node.list_party("DE", "MSP")
    code, body, _ = await call("GET", node.url("/ocn/registry/node/de/msp"))
    assert json.loads(body) == {"url": PUBLIC_URL, "address": node.address}
    code, body, _ = await call("GET", node.url("/no/such/path"))
    assert code == 404 and json.loads(body)["status_code"] == 2000
