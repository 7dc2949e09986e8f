"""Hypothesis fuzzing of every endpoint group over loopback against a real node.

Invariants: never HTTP 500, never a traceback (in the response or in the
node's log events); OCPI paths always answer a JSON envelope with an integer
status_code in 1000-4999; admin/health/registry helpers answer their
documented plain-text or JSON bodies.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
import pytest_twisted
import treq
from hypothesis import HealthCheck, given, settings, strategies as st
from twisted.internet import defer, threads
from twisted.logger import formatEvent, globalLogPublisher

from ocnd.testing import MockParty

from support import ADMIN_KEY

GROUPS = {
    "versions": ["/ocpi/versions", "/ocpi/2.2", "/ocpi/2.2.1", "/ocpi"],
    "credentials": ["/ocpi/2.2/credentials", "/ocpi/2.2.1/credentials"],
    "admin": ["/admin/generate-registration-token", "/admin/platforms", "/admin/platforms/{n}",
              "/admin/connection-status/{s}/{s}", "/admin"],
    "ocnrules": ["/ocpi/receiver/2.2/ocnrules", "/ocpi/2.2/receiver/ocnrules", "/ocpi/receiver/2.2/ocnrules/{s}",
                 "/ocpi/2.2.1/receiver/ocnrules/{s}"],
    "modules": ["/ocpi/{role}/{v}/{module}", "/ocpi/{v}/{role}/{module}/{s}", "/ocpi/{role}/{v}/{module}/{s}/{s}/{s}",
                "/ocpi/{role}/{v}/{module}/page/{s}", "/ocpi/{role}/{v}/custom/{s}/{s}", "/ocpi/{v}/custom/{s}"],
    "message": ["/ocn/message", "/ocn/client-info"],
    "infra": ["/health", "/ocn/registry/node-info", "/ocn/registry/node/{s}/{s}", "/{s}", "/"],
}
MODULES = ["locations", "sessions", "cdrs", "tariffs", "tokens", "commands", "chargingprofiles", "hubclientinfo",
           "credentials", "custom", "versions", "x"]
HEADER_NAMES = ["Authorization", "OCN-Signature", "X-Request-ID", "X-Correlation-ID", "OCPI-from-country-code",
                "OCPI-from-party-id", "OCPI-to-country-code", "OCPI-to-party-id", "Content-Type", "Accept",
                "X-Forwarded-For", "Content-Encoding", "X-Whatever"]
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
                      max_size=60)
segment = st.one_of(st.sampled_from(["DE", "CPO", "NL", "MSP", "..", "%2e%2e", "0", "-1", "page", "L1", ""]),
                    st.text(max_size=12).map(lambda t: quote(t, safe="")))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=4),
    max_leaves=12)


@st.composite
def requests(draw, group, secrets):
    template = draw(st.sampled_from(GROUPS[group]))
    path = template
    while "{" in path:
        start = path.index("{")
        key = path[start + 1:path.index("}")]
        value = {"s": lambda: draw(segment), "n": lambda: str(draw(st.integers(100, 10 ** 12))),
                 "role": lambda: draw(st.sampled_from(["sender", "receiver", "SENDER", "x"])),
                 "v": lambda: draw(st.sampled_from(["2.2", "2.2.1", "2.1.1"])),
                 "module": lambda: draw(st.sampled_from(MODULES))}[key]()
        path = path[:start] + value + path[path.index("}") + 1:]
    if draw(st.booleans()):
        path += "?" + draw(st.sampled_from(["limit=", "offset=-1", "date_from=x", "response_url=http://10.0.0.1/",
                                            "format=json", "a=%ff"]))
    method = draw(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "FOO"]))
    headers = {}
    for name in draw(st.lists(st.sampled_from(HEADER_NAMES), max_size=8, unique=True)):
        if name == "Authorization":
            value = draw(st.one_of(st.sampled_from(secrets), header_text,
                                   st.sampled_from(["", "Token", "Token ", "Bearer x", "Token ===="])))
        elif name.startswith("OCPI-"):
            value = draw(st.one_of(st.sampled_from(["DE", "CPO", "NL", "MSP", "CH", "OCN"]), header_text))
        else:
            value = draw(header_text)
        headers[name] = value
    # the fuzzer must not unregister its own party
    if method == "DELETE" and headers.get("Authorization") in secrets[:2]:
        method = "GET"
    body = draw(st.one_of(st.none(), st.binary(max_size=200),
                          json_values.map(lambda v: json.dumps(v).encode()),
                          st.fixed_dictionaries({"token": header_text, "url": st.sampled_from(
                              ["http://127.0.0.1:1/", "http://169.254.169.254/", "ftp://x", "https://[::1]/"]),
                              "roles": st.lists(json_values, max_size=2)}).map(lambda v: json.dumps(v).encode())))
    return method, path, headers, body


@pytest_twisted.async_yield_fixture
async def fuzz_node(nodes):
    from twisted.internet import reactor

    n = await nodes(OCND_SECURITY_AUTH_FAILURES_PER_MINUTE="0", OCND_SECURITY_ALLOW_PRIVATE_PARTY_URLS="false",
                    OCND_SECURITY_ALLOWED_PARTY_NETWORKS="127.0.0.1/32", OCND_LIMITS_REQUEST_TIMEOUT="2",
                    OCND_LIMITS_CONNECT_TIMEOUT="1")
    n.service.http.guard.resolver = lambda host, port: ["192.0.2.1"]  # no real DNS from the fuzzer
    party = MockParty(reactor, token_b="fuzz-token-b")
    await party.start()
    code, env, _ = await n.register(party.credentials([party.role_object()]))
    assert env["status_code"] == 1000, env
    n.secrets = [f"Token {env['data']['token']}", f"Token {ADMIN_KEY}"]
    globalLogPublisher.addObserver(n.events.append)
    yield n
    globalLogPublisher.removeObserver(n.events.append)
    await party.stop()


def _check(group, method, path, code, body):
    assert code != 500, (method, path, body[:300])
    assert b"Traceback" not in body and b'File "' not in body, (method, path, body[:300])
    if method == "HEAD":
        return
    bare = path.split("?")[0]
    ocpi_path = bare.startswith("/ocpi") or bare == "/ocn/message" or code in (404, 405, 413, 429)
    if bare.startswith(("/admin", "/health", "/ocn/registry", "/ocn/client-info")) and code not in (404, 405, 429):
        return  # documented plain-text or JSON bodies
    if ocpi_path:
        env = json.loads(body)
        assert isinstance(env, dict) and isinstance(env.get("status_code"), int), (method, path, body[:300])
        assert 1000 <= env["status_code"] <= 4999


@pytest.mark.parametrize("group", sorted(GROUPS))
@pytest_twisted.ensureDeferred
async def test_fuzz_endpoint_group(fuzz_node, group):
    """Hypothesis drives from a worker thread; each example is one real request on the reactor."""
    from twisted.internet import reactor

    n = fuzz_node

    @settings(max_examples=60, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(requests(group, n.secrets))
    def run(req):
        method, path, headers, body = req
        n.events.clear()

        async def go():
            response = await treq.request(method, n.base + path, headers=headers, data=body, persistent=False)
            return response.code, await response.content()

        code, raw = threads.blockingCallFromThread(reactor, lambda: defer.ensureDeferred(go()))
        _check(group, method, path, code, raw)
        for e in n.events:
            assert e.get("log_failure") is None, formatEvent(e)
            assert "Traceback" not in (formatEvent(e) or "")

    await threads.deferToThread(run)
