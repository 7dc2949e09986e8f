"""The suite-wide guard against HTTP 5xx really notices one."""

from __future__ import annotations

import pytest
import pytest_twisted
from klein import Klein
from twisted.internet import defer

from ocnd.api import build_app
from ocnd.api.common import Responder
from ocnd.web import OcndSite
from support import call


class _Broken:
    def install(self, app: Klein) -> None:
        app.route("/boom", endpoint="boom")(self.boom)

    def boom(self, request):
        raise RuntimeError("deliberate bug")


@pytest.mark.allow_server_errors
@pytest_twisted.ensureDeferred
async def test_guard_sees_a_500(no_server_errors):
    from twisted.internet import reactor

    site = OcndSite(build_app(Responder(reactor), [_Broken()]).resource(), max_body=1000, clock=reactor)
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    try:
        code, body, _ = await call("GET", f"http://127.0.0.1:{port.getHost().port}/boom")
    finally:
        await defer.maybeDeferred(port.stopListening)
    assert code == 500 and b"deliberate bug" not in body and b"Traceback" not in body
    assert any(e.get("http_5xx") for e in no_server_errors)
    assert any(e.get("log_namespace") == "ocnd.api" for e in no_server_errors)
