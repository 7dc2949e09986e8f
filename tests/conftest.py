"""Shared fixtures.  No module-level reactor import (pytest-twisted installs it)."""

from __future__ import annotations

import pytest
import pytest_twisted

from ocnd.testing import MockParty

from support import start_node


def pytest_sessionfinish(session, exitstatus):
    """A test that failed during setup may leave store/chain threads running: stop them so
    the interpreter can exit (a hung CI job tells nobody anything)."""
    from ocnd.store import stop_all_pools

    stop_all_pools()


def _is_server_error(event) -> bool:
    """An HTTP 5xx answered by an ocnd site, or a failure caught by the API's catch-all."""
    if event.get("http_5xx"):
        return True
    return event.get("log_namespace") == "ocnd.api" and "log_failure" in event


@pytest.fixture(autouse=True)
def no_server_errors(request):
    """Every test fails if any node in this process answered HTTP 5xx or hit the catch-all handler."""
    from twisted.logger import globalLogPublisher

    seen = []

    def observer(event):
        if _is_server_error(event):
            seen.append(event)

    globalLogPublisher.addObserver(observer)
    yield seen
    globalLogPublisher.removeObserver(observer)
    if seen and not request.node.get_closest_marker("allow_server_errors"):
        from twisted.logger import formatEvent

        pytest.fail("server error logged: " + "; ".join(formatEvent(e) for e in seen), pytrace=False)


@pytest_twisted.async_yield_fixture
async def node(tmp_path):
    n = await start_node(tmp_path)
    yield n
    await n.service.stopService()


@pytest_twisted.async_yield_fixture
async def party():
    from twisted.internet import reactor

    p = MockParty(reactor)
    await p.start()
    yield p
    await p.stop()


