"""GET /admin/status, its login, and /metrics access modes."""

from __future__ import annotations

import json

import pytest
import pytest_twisted
import treq

from ocnd.keys import address_of
from obskit import admin, push_location
from support import ADMIN_KEY, NODE_KEY, call, start_node

EVIL = '<script>alert("x")</script>&'


async def no_redirect(method, url, **kw):
    response = await treq.request(method, url, persistent=False, allow_redirects=False, **kw)
    return response, await response.content()


def session_cookie(response) -> str:
    cookies = response.headers.getRawHeaders("set-cookie") or []
    assert len(cookies) == 1, cookies
    attrs = [a.strip().lower() for a in cookies[0].split(";")]
    assert "httponly" in attrs and "samesite=strict" in attrs and "path=/admin" in attrs
    name, _, value = cookies[0].split(";")[0].partition("=")
    assert name == "ocnd_admin" and value and value != ADMIN_KEY
    return value


@pytest_twisted.ensureDeferred
async def test_status_page_shows_node_registry_parties_and_traffic(network):
    net = network
    a = net.node_a
    code, _, _ = await push_location(net.cpo, net.msp, "corr-status-1")
    assert code == 200
    code, _, body = await net.cpo.send("GET", a.base + "/ocpi/sender/2.2/locations", ("XX", "NOP"),
                                       correlation_id=EVIL)
    assert json.loads(body)["status_code"] != 1000

    code, body, response = await call("GET", a.base + "/admin/status")
    assert code == 401 and b'<form id="login"' in body
    code, body, response = await call("GET", a.base + "/admin/status", headers=admin(a))
    assert code == 200
    assert response.headers.getRawHeaders("content-type") == ["text/html; charset=utf-8"]
    assert "default-src 'none'" in response.headers.getRawHeaders("content-security-policy")[0]
    page = body.decode()
    assert a.base in page and a.node_address in page and "2.2, 2.2.1" in page
    assert "<td>embedded</td>" in page
    assert "DE/CPA CPO" in page and "CH/MSL EMSP" in page and "st-connected" in page
    # messages per module: 2 locations hops in the last hour on node A, one of them failed
    assert '<tr><td>locations</td><td class="n">2</td><td class="n bad">1</td>' in page
    # the failed hop is listed, its correlation id escaped (and linked to the trace)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in page
    assert "/admin/trace/%3Cscript%3E" in page
    for secret in (a.admin_key, net.cpo.token_c, net.msp_local.token_c, net.cpo.token_b):
        assert secret not in page


@pytest_twisted.ensureDeferred
async def test_browser_login_by_form_or_key_link_sets_a_session_cookie(network):
    a = network.node_a
    base = a.base
    response, body = await no_redirect("GET", base + "/admin/status?key=wrong")
    assert response.code == 401 and not response.headers.getRawHeaders("set-cookie")
    response, body = await no_redirect("GET", base + "/admin/status?key=" + a.admin_key)
    assert response.code == 303
    assert response.headers.getRawHeaders("location") == ["/admin/status"]
    cookie = session_cookie(response)
    response, body = await no_redirect("GET", base + "/admin/status", cookies={"ocnd_admin": cookie})
    assert response.code == 200 and b'id="parties"' in body and a.admin_key.encode() not in body
    # the session also opens the trace and (in admin mode) the metrics
    response, body = await no_redirect("GET", base + "/admin/trace/x", cookies={"ocnd_admin": cookie})
    assert response.code == 200
    response, body = await no_redirect("GET", base + "/metrics", cookies={"ocnd_admin": cookie})
    assert response.code == 200
    # but not the other admin API, which stays header-only
    response, body = await no_redirect("GET", base + "/admin/platforms", cookies={"ocnd_admin": cookie})
    assert response.code == 401
    # log out: the cookie is dead
    response, body = await no_redirect("POST", base + "/admin/logout", cookies={"ocnd_admin": cookie})
    assert response.code == 303
    response, body = await no_redirect("GET", base + "/admin/status", cookies={"ocnd_admin": cookie})
    assert response.code == 401
    assert (await no_redirect("GET", base + "/admin/status", cookies={"ocnd_admin": "forged"}))[0].code == 401
    # the login form
    response, body = await no_redirect("GET", base + "/admin/login")
    assert response.code == 200 and b'type="password" name="key"' in body
    response, body = await no_redirect("POST", base + "/admin/login", data={"key": "wrong"})
    assert response.code == 401 and b"Wrong key." in body
    response, body = await no_redirect("POST", base + "/admin/login", data={"key": a.admin_key})
    assert response.code == 303
    cookie = session_cookie(response)
    response, body = await no_redirect("GET", base + "/admin/status", cookies={"ocnd_admin": cookie})
    assert response.code == 200


@pytest.mark.parametrize("mode, anonymous, with_key", [("true", 200, 200), ("admin", 401, 200),
                                                       ("false", 404, 404)])
@pytest_twisted.ensureDeferred
async def test_metrics_modes(tmp_path, mode, anonymous, with_key):
    node = await start_node(tmp_path, OCND_OBSERVABILITY_METRICS=mode)
    try:
        code, body, _ = await call("GET", node.base + "/metrics")
        assert code == anonymous
        code, body, _ = await call("GET", node.base + "/metrics", headers={"Authorization": f"Token {ADMIN_KEY}"})
        assert code == with_key
        if code == 200:
            assert b"ocnd_registry_ok 1.0" in body and address_of(NODE_KEY).lower().encode() in body
        # OpenMetrics when asked for
        code, body, response = await call("GET", node.base + "/metrics", headers={
            "Authorization": f"Token {ADMIN_KEY}", "Accept": "application/openmetrics-text; version=1.0.0"})
        if code == 200:
            assert response.headers.getRawHeaders("content-type")[0].startswith("application/openmetrics-text")
            assert body.rstrip().endswith(b"# EOF")
    finally:
        await node.service.stopService()


@pytest_twisted.ensureDeferred
async def test_status_page_with_a_fake_registry_and_no_traffic(tmp_path):
    node = await start_node(tmp_path, OCND_OBSERVABILITY_TRACE_RETENTION="0")
    try:
        code, body, _ = await call("GET", node.base + "/admin/status", headers={"Authorization": f"Token {ADMIN_KEY}"})
        assert code == 200
        page = body.decode()
        assert "no platforms" in page and "no routed messages yet" in page and "message trace disabled" in page
    finally:
        await node.service.stopService()
