"""``ocn doctor`` against a node, a party's versions endpoint, a skewed clock,
TLS with a self-signed certificate and the registry over JSON-RPC."""

from __future__ import annotations

import datetime
import json

import pytest_twisted
from twisted.web import resource, server

from ocnd import ocpi

from cli.helpers import CPO_KEY, key_file
from support import ADMIN_KEY


def _by_name(obj):
    return {c["name"]: c for c in obj["checks"]}


async def _register(cli, node, party, tmp_path):
    node.list_party("DE", "CPO")
    kf = tmp_path / "admin.key"
    kf.write_text(ADMIN_KEY)
    r = await cli("--json", "admin", "generate-token", "DE", "CPO", "--node", node.base, "--api-key-file", kf)
    token_a = r.json()["token"]
    r = await cli("--json", "credentials", "register", "--node", node.base, f"--token-a={token_a}",
                  f"--token-b={party.token_b}", "--versions-url", party.versions_url, "--party", "DE/CPO/CPO")
    assert r.code == 0, r.err
    return token_a, r.json()["credentials"]["token"]


@pytest_twisted.ensureDeferred
async def test_node_without_token(node, cli):
    r = await cli("doctor", node.base)
    assert r.code == 0, r.out + r.err
    lines = r.out.splitlines()
    assert lines[0] == f"node {node.base}"
    assert lines[1].split() == ["CHECK", "RESULT", "DETAIL"]
    assert lines[-1] == "3 pass, 1 warn, 0 fail, 7 skip"
    r = await cli("--json", "doctor", node.base)
    obj = r.json()
    assert obj["ok"] is True and obj["kind"] == "node" and obj["url"] == node.base
    c = _by_name(obj)
    assert [x["name"] for x in obj["checks"]] == ["reachable", "tls", "health", "node-info", "registry", "versions",
                                                  "version 2.2", "version 2.2.1", "token", "round trip", "clock"]
    assert c["reachable"]["result"] == "pass" and c["reachable"]["data"]["latency_ms"] >= 0
    assert c["tls"] == {"name": "tls", "result": "skip", "detail": "plain HTTP on loopback"}
    assert c["health"]["result"] == "pass" and "registry fake ok" in c["health"]["detail"]
    assert c["node-info"]["result"] == "warn"
    assert c["node-info"]["detail"] == (f"operator {node.address.lower()}; the node advertises "
                                        f"http://node.test:8080 but was reached at {node.base}")
    assert c["registry"]["result"] == "skip" and "--network" in c["registry"]["detail"]
    assert c["versions"]["result"] == "skip"
    assert c["clock"]["result"] == "pass" and "Date header" in c["clock"]["detail"]
    r = await cli("doctor", node.base, "--strict")
    assert r.code == 1


@pytest_twisted.ensureDeferred
async def test_node_with_tokens_and_local_round_trip(node, party, cli, tmp_path):
    token_a, token_c = await _register(cli, node, party, tmp_path)
    r = await cli("--json", "doctor", node.base, f"--token={token_c}", "--party", "DE/CPO")
    assert r.code == 0, r.out
    c = _by_name(r.json())
    assert c["versions"]["result"] == "pass" and c["versions"]["detail"] == "offers 2.2, 2.2.1"
    for v in ("2.2", "2.2.1"):
        assert c[f"version {v}"]["result"] == "pass"
        assert c[f"version {v}"]["data"]["endpoints"] == 19
    assert c["token"]["result"] == "pass"
    assert c["round trip"]["result"] == "pass", c["round trip"]
    assert c["round trip"]["detail"].startswith("GET /ocpi/sender/2.2/locations to DE/CPO: HTTP 200")
    assert c["round trip"]["detail"].endswith("response unsigned")
    assert c["clock"]["result"] == "pass" and "OCPI timestamp" in c["clock"]["detail"]
    got = [x for x in party.received if x.method == "GET" and "locations" in x.path]
    assert got and got[-1].query == {"limit": ["1"]}

    # a Token A is recognised as "not a Token C" (registration not finished)
    kf = tmp_path / "admin.key"
    r = await cli("--json", "admin", "generate-token", "NL", "NEW", "--node", node.base, "--api-key-file", kf)
    r = await cli("--json", "doctor", node.base, "--token=" + r.json()["token"], "--party", "NL/NEW")
    c = _by_name(r.json())
    assert c["versions"]["result"] == "pass"
    assert c["token"]["result"] == "warn" and "not a Token C" in c["token"]["detail"]
    assert c["round trip"] == {"name": "round trip", "result": "skip", "detail": "token is not a Token C"}
    assert r.code == 0

    # an unknown token fails the versions check
    r = await cli("doctor", node.base, "--token", "nope")
    assert r.code == 1
    assert "versions       FAIL" in r.out and "Invalid CREDENTIALS_TOKEN_A" in r.out

    # round trip to a module the party does not offer fails with the node's answer
    r = await cli("--json", "doctor", node.base, f"--token={token_c}", "--party", "DE/CPO",
                  "--round-trip", "sender/tariffs")
    c = _by_name(r.json())
    assert r.code == 1 and c["round trip"]["result"] == "fail"
    r = await cli("--json", "doctor", node.base, f"--token={token_c}", "--party", "DE/CPO", "--round-trip", "none")
    assert _by_name(r.json())["round trip"]["detail"] == "--round-trip none"


@pytest_twisted.ensureDeferred
async def test_party_versions_endpoint(party, cli):
    r = await cli("--json", "doctor", party.versions_url, f"--token={party.token_b}")
    assert r.code == 0, r.out
    obj = r.json()
    assert obj["kind"] == "party versions"
    c = _by_name(obj)
    assert list(c) == ["reachable", "tls", "versions", "version 2.2", "version 2.2.1", "clock"]
    assert c["versions"]["detail"] == "offers 2.2"
    assert c["version 2.2"]["result"] == "pass"
    assert c["version 2.2"]["detail"] == "2 endpoints (locations)"
    assert c["version 2.2.1"] == {"name": "version 2.2.1", "result": "skip", "detail": "not offered"}

    r = await cli("doctor", party.versions_url, "--token", "wrong")
    assert r.code == 1
    assert f"versions       FAIL    GET {party.versions_url}: HTTP 401" in r.out
    r = await cli("doctor", party.versions_url)
    assert r.code == 0 and "give --token to read versions" in r.out


class _ClockServer(resource.Resource):
    isLeaf = True

    def __init__(self, offset: float) -> None:
        super().__init__()
        self.offset = offset

    def render_GET(self, request):
        import time

        request.setHeader(b"content-type", b"application/json")
        scheme = "https" if request.isSecure() else "http"
        base = f"{scheme}://{request.getRequestHostname().decode()}:{request.getHost().port}"
        if request.path == b"/ocpi/versions":
            data = [{"version": "2.2.1", "url": base + "/ocpi/2.2.1"}]
        else:
            data = {"version": "2.2.1", "endpoints": [{"identifier": "credentials", "role": "RECEIVER",
                                                       "url": base + "/c"}, {"bad": 1}]}
        return ocpi.dumps(ocpi.envelope(1000, time.time() + self.offset, data))


async def _serve(site, endpoint="tcp:0:interface=127.0.0.1"):
    from twisted.internet import endpoints, reactor

    return await endpoints.serverFromString(reactor, endpoint).listen(site)


@pytest_twisted.ensureDeferred
async def test_clock_skew(cli):
    for offset, expected in ((0, "pass"), (15, "warn"), (-600, "fail")):
        port = await _serve(server.Site(_ClockServer(offset)))
        try:
            url = f"http://127.0.0.1:{port.getHost().port}/ocpi/versions"
            r = await cli("--json", "doctor", url, "--token", "t", "--version", "2.2.1")
        finally:
            await port.stopListening()
        c = _by_name(r.json())
        assert c["clock"]["result"] == expected, c["clock"]
        assert abs(c["clock"]["data"]["skew_seconds"] - offset) < 2
        assert c["version 2.2.1"]["result"] == "warn" and "1 malformed" in c["version 2.2.1"]["detail"]
        assert r.code == (1 if expected == "fail" else 0)


def _self_signed(tmp_path, days):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ocn test CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_pem = tmp_path / "cert.pem"
    key_pem = tmp_path / "key.pem"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return str(cert_pem), str(key_pem)


@pytest_twisted.ensureDeferred
async def test_tls(cli, tmp_path):
    cert, key = _self_signed(tmp_path, days=10)
    port = await _serve(server.Site(_ClockServer(0)),
                        f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={cert}")
    url = f"https://localhost:{port.getHost().port}/ocpi/versions"
    try:
        r = await cli("--json", "doctor", url, "--token", "t", "--version", "2.2.1")
        c = _by_name(r.json())
        assert r.code == 1
        assert c["reachable"]["result"] == "fail"
        assert "TLS certificate verification failed" in c["reachable"]["detail"]
        assert c["tls"]["result"] == "fail" and "certificate not accepted" in c["tls"]["detail"]
        assert c["versions"]["result"] == "skip"

        r = await cli("--json", "doctor", url, "--token", "t", "--version", "2.2.1", "--ca-file", cert)
        c = _by_name(r.json())
        assert c["reachable"]["result"] == "pass"
        assert c["tls"]["result"] == "warn", c["tls"]      # expires within 14 days
        assert "certificate for localhost by ocn test CA" in c["tls"]["detail"]
        assert 9 < c["tls"]["data"]["days_left"] <= 10
        assert c["versions"]["result"] == "pass"
        assert r.code == 0, r.out
    finally:
        await port.stopListening()
    r = await cli("doctor", url, "--ca-file", str(tmp_path / "missing.pem"))
    assert r.code == 2 and "--ca-file" in r.err


@pytest_twisted.ensureDeferred
async def test_registry_and_signed_round_trip(signed_net, cli, tmp_path):
    net = signed_net
    reg = ["--network", net.rpc_url, "--registry", net.chain.registry_address]
    kf = key_file(tmp_path, CPO_KEY)
    r = await cli("--json", "doctor", net.node_a.base, *reg, "--party", "DE/CPA", f"--token={net.cpo.token_c}",
                  "--sign-key-file", kf)
    obj = r.json()
    c = _by_name(obj)
    assert r.code == 0, json.dumps(obj, indent=1)
    assert all(x["result"] in ("pass", "skip") for x in obj["checks"]), obj
    assert c["node-info"]["result"] == "pass"
    assert c["registry"]["detail"] == (f"node listed as {net.node_a.base}; DE/CPA listed with this node "
                                       f"({net.cpo.address})")
    assert c["registry"]["data"]["rpc_url"] == net.rpc_url
    assert c["round trip"]["result"] == "pass"
    assert f"signed by {net.cpo.address}; response signed by {net.cpo.address}" in c["round trip"]["detail"]

    # unsigned round trip on a network requiring signatures
    r = await cli("--json", "doctor", net.node_a.base, "--party", "DE/CPA", f"--token={net.cpo.token_c}")
    c = _by_name(r.json())
    assert r.code == 1 and c["round trip"]["result"] == "fail"
    assert c["round trip"]["detail"].endswith("HTTP 400 Bad Request, OCPI status 2001: Missing OCN Signature")

    # a party served by the other node
    r = await cli("--json", "doctor", net.node_a.base, *reg, "--party", "NL/MSP")
    c = _by_name(r.json())
    assert r.code == 1
    assert c["registry"]["detail"] == (f"NL/MSP is listed with operator {net.node_b.node_address}, "
                                       "not this node")
    r = await cli("--json", "doctor", net.node_a.base, *reg, "--party", "XX/NOP")
    assert _by_name(r.json())["registry"]["detail"] == "XX/NOP is not listed in the registry"

    # registry RPC unreachable
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    r = await cli("--json", "doctor", net.node_a.base, "--network", dead, "--timeout", "3")
    c = _by_name(r.json())
    assert r.code == 1 and c["registry"]["result"] == "fail"
    assert c["registry"]["detail"].startswith(dead)

    # profile with rpc_url and registry, as the registry commands use it
    conf = tmp_path / "ocn"
    conf.mkdir()
    (conf / "profiles.ini").write_text(f"[net]\nrpc_url = {net.rpc_url}\nregistry = {net.chain.registry_address}\n"
                                       f"node_url = {net.node_a.base}\n")
    r = await cli("--json", "doctor", "--profile", "net")
    c = _by_name(r.json())
    assert r.code == 0 and c["registry"]["result"] == "pass"


@pytest_twisted.ensureDeferred
async def test_doctor_usage(cli):
    r = await cli("doctor")
    assert r.code == 2 and "give the URL to check" in r.err
    r = await cli("doctor", "example.com")
    assert r.code == 2 and "not an http(s) URL" in r.err
    r = await cli("doctor", "http://127.0.0.1:9", "--party", "DEU/X")
    assert r.code == 2
