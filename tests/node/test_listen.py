"""The node's listening socket: the backlog that keeps bursts of new connections from being dropped."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import pytest_twisted

from support import start_node

pytestmark = pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2)")


def _listen_backlog(port: int) -> int:
    """Send-Q of a listening TCP socket is its accept-queue limit."""
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
    return int(out.split()[2])


@pytest.mark.parametrize("env, expected", [({}, 1024), ({"OCND_LIMITS_LISTEN_BACKLOG": "300"}, 300),
                                           ({"OCND_NODE_LISTEN": "tcp:0:interface=127.0.0.1:backlog=7"}, 7)])
@pytest_twisted.ensureDeferred
async def test_listen_backlog(tmp_path, env, expected):
    node = await start_node(tmp_path, **env)
    try:
        assert _listen_backlog(node.service.port.getHost().port) == expected  # Twisted's own default is 50
    finally:
        await node.service.stopService()
