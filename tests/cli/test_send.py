"""``ocn send`` through two real nodes requiring signatures, and against a party directly."""

from __future__ import annotations

import json

import pytest_twisted

from ocnd import ocpi
from ocnd.signing import notary, rawjson

from cli.helpers import CPO_KEY, key_file

LOCATION = (b'{"country_code":"DE","party_id":"CPA","id":"LOC1","publish":true,"name":"Gent Zuid",'
            b'"x_vendor_field":{"kwh":10.0,"big":1e+21},"last_updated":"2015-06-29T20:39:09Z"}')


def _cpo(net, *extra):
    return ["--node", net.node_a.base, f"--token-c={net.cpo.token_c}", "--from", "DE/CPA", "--to", "NL/MSP", *extra]


@pytest_twisted.ensureDeferred
async def test_signed_push_across_nodes(signed_net, cli, tmp_path):
    net = signed_net
    kf = key_file(tmp_path, CPO_KEY)
    r = await cli("send", "PUT", "receiver/locations/DE/CPA/LOC1", *_cpo(net, "--body", LOCATION.decode(),
                  "--sign-key-file", kf, "--correlation-id", "corr-cli"))
    assert r.code == 0, r.out + r.err
    lines = r.out.splitlines()
    assert lines[0] == f"PUT {net.node_a.base}/ocpi/receiver/2.2/locations/DE/CPA/LOC1"
    assert "X-Correlation-ID: corr-cli" in lines[1] and f"signed by {net.cpo.address}" in lines[1]
    assert lines[2].startswith("HTTP 200 OK")
    assert "OCPI status 1000" in r.out
    assert lines[-1] == f"ocn_signature: valid, signatory {net.msp.address}"
    got = [x for x in net.msp.received if x.method == "PUT"]
    assert len(got) == 1 and got[0].body == LOCATION  # byte-faithful, numbers untouched
    assert got[0].headers["x-correlation-id"] == "corr-cli"
    assert notary.deserialize(got[0].headers["ocn-signature"]).signatory == net.cpo.address


@pytest_twisted.ensureDeferred
async def test_unsigned_is_refused_and_json_output(signed_net, cli):
    net = signed_net
    r = await cli("--json", "send", "put", "/ocpi/receiver/2.2/locations/DE/CPA/LOC1",
                  *_cpo(net, "--body", LOCATION.decode(), "--request-id", "req-1"))
    assert r.code == 1
    assert r.err.strip() == (f"ocn: error: PUT {net.node_a.base}/ocpi/receiver/2.2/locations/DE/CPA/LOC1: "
                             "HTTP 400 Bad Request, OCPI status 2001: Missing OCN Signature")
    obj = r.json()
    assert obj["ok"] is False
    assert obj["request"]["signed"] is False and obj["request"]["signatory"] is None
    assert obj["request"]["headers"]["X-Request-ID"] == "req-1"
    assert "Authorization" not in obj["request"]["headers"] and net.cpo.token_c not in r.out
    assert obj["response"]["http_status"] == 400
    assert obj["response"]["body"]["status_message"] == "Missing OCN Signature"
    # the node signs its error answers
    assert obj["signature"]["valid"] is True
    assert obj["signature"]["signatory"].lower() == net.node_a.node_address.lower()


@pytest_twisted.ensureDeferred
async def test_get_with_params_headers_and_profile(signed_net, cli, tmp_path, monkeypatch):
    net = signed_net
    env = ocpi.envelope(1000, 0, [{"id": "LOC1"}])
    net.cpo.responses[("GET", "/ocpi/2.2/sender/locations")] = (
        200, {"X-Total-Count": "5", "X-Limit": "1"}, env)
    conf = tmp_path / "ocn"
    conf.mkdir()
    (conf / "msp.key").write_text("0x" + "e1" * 32)
    (conf / "profiles.ini").write_text(
        f"[msp]\nnode_url = {net.node_b.base}\ntoken_c = {net.msp.token_c}\nparty = NL/MSP\n"
        "ocpi_version = 2.2\nkey_file = msp.key\n")
    r = await cli("send", "GET", "sender/locations?offset=0", "--profile", "msp", "--to", "DE/CPA",
                  "--param", "limit=1", "--sign")
    assert r.code == 0, r.out + r.err
    assert "X-Total-Count: 5" in r.out and "X-Limit: 1" in r.out
    assert '"id": "LOC1"' in r.out
    assert f"ocn_signature: valid, signatory {net.cpo.address}" in r.out
    got = [x for x in net.cpo.received if x.method == "GET"]
    assert got[-1].query == {"offset": ["0"], "limit": ["1"]}
    assert notary.deserialize(got[-1].headers["ocn-signature"]).signatory == net.msp.address

    # OCN_SIGNER_KEY is what --sign takes first; a wrong key is refused by the node
    monkeypatch.setenv("OCN_SIGNER_KEY", CPO_KEY)
    r = await cli("send", "GET", "sender/locations", "--profile", "msp", "--to", "DE/CPA", "--sign")
    assert r.code == 1
    assert "Actual signatory" in r.err and "differs from expected signatory" in r.err


@pytest_twisted.ensureDeferred
async def test_body_from_stdin_and_file(signed_net, cli, tmp_path):
    net = signed_net
    kf = key_file(tmp_path, CPO_KEY)
    r = await cli("send", "PUT", "receiver/locations/DE/CPA/LOC1", *_cpo(net, "--body", "-", "--sign-key-file", kf),
                  stdin=LOCATION)
    assert r.code == 0, r.err
    body = tmp_path / "loc.json"
    body.write_bytes(LOCATION)
    r = await cli("send", "PUT", "receiver/locations/DE/CPA/LOC1",
                  *_cpo(net, "--body", f"@{body}", "--sign-key-file", kf))
    assert r.code == 0, r.err
    assert [x.body for x in net.msp.received if x.method == "PUT"] == [LOCATION, LOCATION]


@pytest_twisted.ensureDeferred
async def test_invalid_response_signature_detected(party, cli):
    party.key = "0x" + "d4" * 32

    def tampered(received):
        env = ocpi.envelope(1000, 0, {"id": "LOC1"})
        good = rawjson.loads(party.sign_envelope(env))
        good["data"]["id"] = "LOC2"
        return 200, {}, rawjson.dumps(good).encode()

    party.handler = tampered
    url = party.base + "/ocpi/2.2/sender/locations/LOC1"
    r = await cli("send", "GET", url, f"--token-c={party.token_b}", "--from", "NL/MSP", "--to", "DE/CPO")
    assert r.code == 1
    assert f"ocn_signature: INVALID (Request has been modified), signatory {party.address}" in r.out
    assert r.err.strip() == "ocn: error: response signature is invalid: Request has been modified"

    r = await cli("--json", "send", "GET", url, f"--token-c={party.token_b}", "--from", "NL/MSP", "--to", "DE/CPO")
    obj = r.json()
    assert obj["ok"] is False
    assert obj["signature"] == {"valid": False, "signatory": party.address, "error": "Request has been modified",
                                "rewrites": 0}
    # the request carried the routing headers
    h = party.received[-1].headers
    assert (h["ocpi-from-country-code"], h["ocpi-from-party-id"], h["ocpi-to-party-id"]) == ("NL", "MSP", "CPO")
    assert h["authorization"] == f"Token {party.token_b}" and "ocn-signature" not in h


@pytest_twisted.ensureDeferred
async def test_not_found_unreachable_and_usage(node, cli, tmp_path):
    base = ["--node", node.base, "--token-c", "t", "--from", "DE/ABC", "--to", "NL/XYZ"]
    r = await cli("send", "GET", "/ocpi/nothing/here", *base)
    assert r.code == 3 and "HTTP 404" in r.err
    r = await cli("send", "GET", "sender/locations", *base)
    assert r.code == 1 and "Invalid CREDENTIALS_TOKEN_C" in r.err
    assert "HTTP 401" in r.out

    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    r = await cli("send", "GET", "sender/locations", "--node", dead, "--token-c", "t", "--from", "DE/ABC",
                  "--to", "NL/XYZ")
    assert r.code == 4 and "connection refused" in r.err

    r = await cli("send", "PUT", "receiver/x", *base, "--body", "{not json")
    assert r.code == 2 and "--body is not valid JSON" in r.err
    r = await cli("send", "PUT", "receiver/x", *base, "--body", str(tmp_path / "missing.json"))
    assert r.code == 2 and "missing.json" in r.err
    r = await cli("send", "GET", "x", *base, "--param", "novalue")
    assert r.code == 2 and "expected K=V" in r.err
    r = await cli("send", "GET", "x", "--node", node.base, "--from", "DE/ABC", "--to", "NL/XYZ")
    assert r.code == 2 and "no Token C" in r.err
    r = await cli("send", "GET", "x", "--node", node.base, "--token-c", "t", "--to", "NL/XYZ")
    assert r.code == 2 and "no sender" in r.err
    r = await cli("send", "GET", "x", *base[:-2], "--to", "NLD/XYZ")
    assert r.code == 2 and "invalid country code" in r.err
    r = await cli("send", "FETCH", "x", *base)
    assert r.code == 2
    r = await cli("send", "GET", "x", *base, "--sign")
    assert r.code == 2 and "--sign needs a key" in r.err


def test_expand_path():
    from ocnd.cli.send import expand_path

    assert expand_path("receiver/locations/DE/A/1", "2.2.1") == "/ocpi/receiver/2.2.1/locations/DE/A/1"
    assert expand_path("sender/tariffs", "2.2") == "/ocpi/sender/2.2/tariffs"
    assert expand_path("hubclientinfo", "2.2") == "/ocpi/2.2/hubclientinfo"
    assert expand_path("/ocpi/custom/sender/x", "2.2") == "/ocpi/custom/sender/x"
    assert expand_path("https://h/x", "2.2") == "https://h/x"
