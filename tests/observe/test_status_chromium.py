"""The status page in a real headless browser (Debian's chromium-headless-shell).

CI installs it (.ci/run: apt-get install chromium-headless-shell) and sets
OCND_REQUIRE_CHROMIUM=1; elsewhere the test skips only when no binary is
found (OCND_TEST_CHROMIUM names a binary explicitly).
"""

from __future__ import annotations

import os
import shutil

import pytest
import pytest_twisted
from twisted.internet import utils

from obskit import push_location
from pngcheck import distinct_colors

CANDIDATES = ("/usr/lib/chromium/chromium-headless-shell", "/usr/bin/chromium-headless-shell")


def chromium() -> str | None:
    found = os.environ.get("OCND_TEST_CHROMIUM") or shutil.which("chromium-headless-shell")
    if found:
        return found
    return next((c for c in CANDIDATES if os.access(c, os.X_OK)), None)


BROWSER = chromium()
# CI sets OCND_REQUIRE_CHROMIUM=1 so that a failed install fails instead of skipping
pytestmark = pytest.mark.skipif(BROWSER is None and not os.environ.get("OCND_REQUIRE_CHROMIUM"),
                                reason="chromium-headless-shell not installed")


async def run_browser(tmp_path, *args: str) -> bytes:
    """Run the browser without blocking the reactor (the node under test runs on it)."""
    assert BROWSER is not None, "OCND_REQUIRE_CHROMIUM is set but no chromium-headless-shell was found"
    profile = tmp_path / "chromium-profile"
    argv = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
            "--no-first-run", f"--user-data-dir={profile}", *args]
    out, err, code = await utils.getProcessOutputAndValue(BROWSER, argv, env={"HOME": str(tmp_path)})
    assert code == 0, err.decode("utf-8", "replace")[-2000:]
    return out


@pytest_twisted.ensureDeferred
async def test_status_page_renders_in_chromium(network, tmp_path):
    net = network
    a = net.node_a
    code, _, _ = await push_location(net.cpo, net.msp, "corr-browser-1")
    assert code == 200
    # the key link logs the browser in (303 + cookie) and lands on the page
    url = f"{a.base}/admin/status?key={a.admin_key}"
    dom = (await run_browser(tmp_path, "--dump-dom", url)).decode()
    assert "<h1>ocnd status - Open Charging Network Node</h1>" in dom
    for ident in ('id="node"', 'id="registry"', 'id="parties"', 'id="messages"', 'id="errors"'):
        assert ident in dom, ident
    assert "DE/CPA CPO" in dom and "CONNECTED" in dom and "<td>locations</td>" in dom
    assert a.admin_key not in dom and "ocnd admin login" not in dom

    shot = tmp_path / "status.png"
    await run_browser(tmp_path, f"--screenshot={shot}", "--window-size=1280,900", url)
    png = shot.read_bytes()
    assert len(png) > 20_000, len(png)
    # text, table headers and status colours: far more than a blank or error page
    assert distinct_colors(png) > 50


@pytest_twisted.ensureDeferred
async def test_chromium_without_key_sees_the_login_form(network, tmp_path):
    dom = (await run_browser(tmp_path, "--dump-dom", network.node_a.base + "/admin/status")).decode()
    assert '<form id="login"' in dom and 'id="parties"' not in dom
