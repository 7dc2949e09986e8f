"""SSRF guard: party URLs resolving to non-public addresses are refused unless allowed."""

from __future__ import annotations

import ipaddress
import json

import pytest
import pytest_twisted

from ocnd.config import load
from ocnd.security import ForbiddenDestination, UrlGuard, forbidden_reason, parse_networks
from ocnd.testing import MockParty

from support import call

REFUSE = {"OCND_SECURITY_ALLOW_PRIVATE_PARTY_URLS": "false"}
LOOPBACK_OK = dict(REFUSE, OCND_SECURITY_ALLOWED_PARTY_NETWORKS="127.0.0.0/8")


@pytest.mark.parametrize("address,reason", [
    ("127.0.0.1", "loopback"), ("127.255.0.9", "loopback"), ("10.1.2.3", "private"),
    ("172.16.0.1", "private"), ("192.168.1.1", "private"), ("169.254.169.254", "link-local"),
    ("224.0.0.251", "multicast"), ("0.0.0.0", "unspecified"), ("100.64.0.1", "shared (carrier-grade NAT)"),
    ("255.255.255.255", "reserved"), ("::1", "loopback"), ("::", "unspecified"), ("fe80::1", "link-local"),
    ("ff02::1", "multicast"), ("fd12:3456::1", "private"), ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
    ("::ffff:10.0.0.1", "IPv4-mapped private"), ("::7f00:1", "IPv4-compatible (deprecated)"),
    ("2002:7f00:1::1", "6to4 loopback"), ("64:ff9b::a9fe:a9fe", "NAT64 link-local"),
    ("8.8.8.8", None), ("2606:4700:4700::1111", None), ("::ffff:8.8.8.8", None),
])
def test_address_classification(address, reason):
    assert forbidden_reason(ipaddress.ip_address(address)) == reason


def test_parse_networks():
    assert parse_networks(" 10.0.0.0/8, fd00::/8,192.168.1.7 ") == (
        ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"), ipaddress.ip_network("192.168.1.7/32"))
    with pytest.raises(ValueError, match="CIDR"):
        parse_networks("10.0.0.0/8, nonsense")


def test_default_depends_on_registry_mode(tmp_path):
    base = {"OCND_NODE_DATA_DIR": str(tmp_path)}
    assert load([], base)["security"]["allow_private_party_urls"] is True  # embedded = dev
    prod = dict(base, OCND_REGISTRY_MODE="jsonrpc", OCND_REGISTRY_RPC_URL="https://rpc.example",
                OCND_REGISTRY_REGISTRY_ADDRESS="0x" + "12" * 20)
    assert load([], prod)["security"]["allow_private_party_urls"] is False
    assert load([], dict(prod, OCND_SECURITY_ALLOW_PRIVATE_PARTY_URLS="true"))["security"][
        "allow_private_party_urls"] is True
    assert load([], dict(base, OCND_SECURITY_ALLOW_PRIVATE_PARTY_URLS="false"))["security"][
        "allow_private_party_urls"] is False


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/x", "http://127.1/x", "http://0x7f000001/x", "http://2130706433/x", "http://0177.0.0.1/x",
    "http://[::1]:8080/x", "http://[::ffff:127.0.0.1]/x", "http://localhost:9/x", "http://api.localhost/x",
    "http://LOCALHOST./x", "https://169.254.169.254/latest/meta-data", "http://0/x", "http://10.0.0.7:80/x",
])
@pytest_twisted.ensureDeferred
async def test_guard_refuses_numeric_tricks_with_real_resolver(url):
    from twisted.internet import reactor

    guard = UrlGuard(allow_private=False, reactor=reactor)
    with pytest.raises(ForbiddenDestination) as info:
        await guard.check_url(url)
    assert "Refusing to call" in str(info.value) and "allowed_party_networks" in str(info.value)
    # allowed explicitly, nothing is resolved or refused
    assert await UrlGuard(allow_private=True, reactor=reactor).check_url(url) == []


@pytest_twisted.ensureDeferred
async def test_guard_checks_every_resolved_address_and_honours_allow_list():
    answers = {"public.example": ["93.184.216.34"], "mixed.example": ["93.184.216.34", "10.9.8.7"],
               "internal.example": ["10.9.8.7"]}
    guard = UrlGuard(allow_private=False, resolver=lambda host, port: answers[host])
    assert await guard.check_url("https://public.example/ocpi/versions") == ["93.184.216.34"]
    for host in ("mixed.example", "internal.example"):
        with pytest.raises(ForbiddenDestination, match=r"\(10\.9\.8\.7\) is a private address") as info:
            await guard.check_url(f"http://{host}/ocpi/versions?secret=1")
        assert "secret" not in str(info.value)  # query strings never appear in messages
    allowed = UrlGuard(allow_private=False, allowed_networks=parse_networks("10.0.0.0/8"),
                       resolver=lambda host, port: answers[host])
    assert await allowed.check_url("http://internal.example/x") == ["10.9.8.7"]


async def _credentials_for(party: MockParty) -> dict:
    return party.credentials([party.role_object()])


@pytest_twisted.ensureDeferred
async def test_handshake_refuses_loopback_versions_url(nodes, party):
    n = await nodes(**REFUSE)
    code, body, _ = await n.register(await _credentials_for(party))
    assert code == 400 and body["status_code"] == 2001
    assert party.versions_url in body["status_message"]
    assert "loopback" in body["status_message"]
    assert party.received == []  # the node never connected


@pytest_twisted.ensureDeferred
async def test_handshake_allowed_by_default_in_dev_and_by_network_allow_list(nodes, party):
    dev = await nodes()
    code, body, _ = await dev.register(await _credentials_for(party))
    assert body["status_code"] == 1000, body
    party.received.clear()
    n = await nodes(**LOOPBACK_OK)
    code, body, _ = await n.register(await _credentials_for(party))
    assert body["status_code"] == 1000, body
    assert [r.path for r in party.received] == ["/ocpi/versions", "/ocpi/2.2"]


@pytest_twisted.ensureDeferred
async def test_handshake_refuses_private_details_and_endpoint_urls(nodes, static_party):
    sp = static_party
    if True:
        n = await nodes(**LOOPBACK_OK)
        creds = {"token": "tok-b", "url": sp.base + "/versions",
                 "roles": [{"role": "CPO", "party_id": "CPO", "country_code": "DE",
                            "business_details": {"name": "x"}}]}
        # details URL at the cloud metadata address
        sp.docs["/versions"] = [{"version": "2.2", "url": "http://169.254.169.254/latest/meta-data"}]
        code, body, _ = await n.register(creds)
        assert code == 400 and body["status_code"] == 2001, body
        assert "http://169.254.169.254/latest/meta-data" in body["status_message"]
        assert "link-local" in body["status_message"]
        # details fine, one module endpoint points into a private network
        sp.docs["/versions"] = [{"version": "2.2", "url": sp.base + "/details"}]
        sp.docs["/details"] = {"version": "2.2", "endpoints": [
            {"identifier": "locations", "role": "SENDER", "url": sp.base + "/locations"},
            {"identifier": "tokens", "role": "RECEIVER", "url": "http://[::ffff:10.0.0.1]/tokens"}]}
        creds["roles"][0]["party_id"] = "CP2"
        code, body, _ = await n.register(creds)
        assert code == 400 and body["status_code"] == 2001, body
        assert "http://[::ffff:10.0.0.1]/tokens" in body["status_message"]
        assert "IPv4-mapped private" in body["status_message"]
        # nothing was stored: the platform is still only planned
        _, listing, _ = await call("GET", n.url("/admin/platforms"), headers=n.admin_headers())
        assert [p["status"] for p in json.loads(listing)] == ["PLANNED", "PLANNED"]


@pytest_twisted.ensureDeferred
async def test_delivery_resolves_checks_and_pins(nodes):
    """A host name is resolved by the guard at connect time and the connection goes to the checked
    address; when the name later resolves to a private address (DNS rebinding), delivery is refused."""
    from twisted.internet import reactor

    n = await nodes(**LOOPBACK_OK)
    answers = {"cpo.party.test": "127.0.0.1"}
    n.service.http.guard.resolver = lambda host, port: [answers[host]]
    cpo = MockParty(reactor, token_b="tb-cpo", country_code="DE", party_id="CPO",
                    modules=(("locations", "RECEIVER"),))
    msp = MockParty(reactor, token_b="tb-msp", country_code="NL", party_id="MSP", role="EMSP",
                    modules=(("locations", "SENDER"),))
    await cpo.start()
    await msp.start()
    try:
        # the CPO is reachable only through a name that no real DNS knows: pinning makes it work
        cpo.base = cpo.base.replace("127.0.0.1", "cpo.party.test")
        code, body, _ = await n.register(cpo.credentials([cpo.role_object()]))
        assert body["status_code"] == 1000, body
        code, body, _ = await n.register(msp.credentials([msp.role_object()]))
        assert body["status_code"] == 1000, body
        msp.token_c = body["data"]["token"]
        loc = b'{"country_code":"DE","party_id":"CPO","id":"L1"}'
        code, _, raw = await msp.send("GET", n.url("/ocpi/receiver/2.2/locations/DE/CPO/L1"), ("DE", "CPO"))
        assert json.loads(raw)["status_code"] == 1000, raw
        assert cpo.received[-1].path == "/ocpi/2.2/receiver/locations/DE/CPO/L1"
        # rebinding: the same name now points at a private address
        answers["cpo.party.test"] = "10.20.30.40"
        await n.service.pool.closeCachedConnections()
        seen = len(cpo.received)
        code, _, raw = await msp.send("GET", n.url("/ocpi/receiver/2.2/locations/DE/CPO/L1"), ("DE", "CPO"))
        env = json.loads(raw)
        assert env["status_code"] == 4003, env
        assert "Refusing to call" in env["status_message"] and "10.20.30.40" in env["status_message"]
        assert len(cpo.received) == seen
        del loc
    finally:
        await cpo.stop()
        await msp.stop()
