"""Failed Token A/C/admin authentications are rate limited per client IP (HTTP 429)."""

from __future__ import annotations

import json

import pytest_twisted
from twisted.internet import task

from ocnd.security import AuthLimiter

from support import ADMIN_KEY, call

LIMIT = {"OCND_SECURITY_AUTH_FAILURES_PER_MINUTE": "5"}
ROUTING = {"X-Request-ID": "r", "X-Correlation-ID": "c", "OCPI-from-country-code": "DE",
           "OCPI-from-party-id": "CPO", "OCPI-to-country-code": "NL", "OCPI-to-party-id": "MSP"}


def test_token_bucket_refills():
    clock = task.Clock()
    lim = AuthLimiter(3, clock=clock)  # 3 per minute = one every 20 s
    for _ in range(3):
        assert lim.retry_after("1.2.3.4") == 0
        lim.failure("1.2.3.4")
    assert 19.9 < lim.retry_after("1.2.3.4") <= 20.0
    assert lim.retry_after("5.6.7.8") == 0  # per IP
    clock.advance(20)
    assert lim.retry_after("1.2.3.4") == 0
    assert not AuthLimiter(0).enabled


def _assert_429(code, body, response):
    assert code == 429, body
    env = json.loads(body)
    assert env["status_code"] == 2000 and "Too many failed authentication attempts" in env["status_message"]
    assert int(response.headers.getRawHeaders("Retry-After")[0]) >= 1


@pytest_twisted.ensureDeferred
async def test_token_c_brute_force_gets_429_across_endpoints(nodes, party):
    n = await nodes(**LIMIT)
    code, env, _ = await n.register(party.credentials([party.role_object()]))
    token_c = env["data"]["token"]
    # failures on three different authenticated surfaces share one budget
    for i in range(2):
        code, _, _ = await call("GET", n.url("/ocpi/2.2/credentials"), headers={"Authorization": f"Token guess{i}"})
        assert code == 401
    code, _, _ = await call("GET", n.url("/ocpi/sender/2.2/locations"),
                            headers=dict(ROUTING, Authorization="Token guess-x"))
    assert code == 401
    code, _, _ = await call("POST", n.url("/ocpi/2.2/credentials"), headers={"Authorization": "Token guess-a"},
                            json_body={})
    assert code == 401
    code, _, _ = await call("GET", n.url("/admin/platforms"), headers={"Authorization": "Token wrong-admin"})
    assert code == 401
    # budget exhausted: every authenticated request is refused without looking at the token
    _assert_429(*await call("GET", n.url("/ocpi/2.2/credentials"), headers={"Authorization": "Token guess9"}))
    _assert_429(*await call("GET", n.url("/ocpi/2.2/credentials"), headers={"Authorization": f"Token {token_c}"}))
    _assert_429(*await call("GET", n.url("/admin/platforms"), headers={"Authorization": f"Token {ADMIN_KEY}"}))
    # unauthenticated infrastructure stays reachable
    code, body, _ = await call("GET", n.url("/health"))
    assert code == 200 and body == b"OK"
    # the bucket refills (5/min = one every 12 s): pretend 13 s passed
    lim = n.service.auth_limiter
    lim._buckets = {ip: (tokens, at - 13) for ip, (tokens, at) in lim._buckets.items()}
    code, body, _ = await call("GET", n.url("/ocpi/2.2/credentials"), headers={"Authorization": f"Token {token_c}"})
    assert code == 200 and json.loads(body)["status_code"] == 1000


@pytest_twisted.ensureDeferred
async def test_successful_auth_never_limited(nodes):
    n = await nodes(**LIMIT)
    for _ in range(20):
        code, _, _ = await call("GET", n.url("/admin/platforms"), headers=n.admin_headers())
        assert code == 200


@pytest_twisted.ensureDeferred
async def test_forwarded_for_only_from_trusted_proxies(nodes):
    spoofed = await nodes(**LIMIT)
    for i in range(6):  # X-Forwarded-For from an untrusted peer is ignored: spoofing does not evade
        code, body, resp = await call("GET", spoofed.url("/admin/platforms"),
                                      headers={"Authorization": "Token no", "X-Forwarded-For": f"203.0.113.{i}"})
    _assert_429(code, body, resp)
    proxied = await nodes(OCND_SECURITY_TRUSTED_PROXIES="127.0.0.1/32", **LIMIT)
    for _ in range(6):
        code, body, resp = await call("GET", proxied.url("/admin/platforms"),
                                      headers={"Authorization": "Token no", "X-Forwarded-For": "203.0.113.9"})
    _assert_429(code, body, resp)
    # another client behind the same proxy is not affected
    code, _, _ = await call("GET", proxied.url("/admin/platforms"),
                            headers={"Authorization": f"Token {ADMIN_KEY}", "X-Forwarded-For": "203.0.113.10"})
    assert code == 200
