"""``ocn demo --once`` as a subprocess: the whole local network and a charging day."""

from __future__ import annotations

import os
import random
import re
import socket
import subprocess
import sys
import time

import pytest

STEPS = [
    "start node A", "start node B", "list node B in the registry", "start the mock eMSP on node B",
    "start the mock CPO on node A", "eMSP pulls the CPO's locations", "CPO pushes its tariffs to the eMSP",
    "eMSP starts a session (START_SESSION)", "CPO pushes session updates", "eMSP stops the session (STOP_SESSION)",
    "CPO delivers the CDR", "CPO fetches the CDR through the proxied Location", "check the parties' push errors",
]


def _free_block(n: int = 7) -> int:
    for _ in range(50):
        base = random.randrange(20000, 60000 - n)
        ok = True
        for port in range(base, base + n):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    pytest.skip("no block of free loopback ports")


def _ocn() -> str:
    path = os.path.join(os.path.dirname(sys.executable), "ocn")
    return path if os.path.exists(path) else "ocn"


@pytest.mark.timeout(150)
def test_demo_once_runs_a_charging_day(tmp_path):
    base = _free_block()
    started = time.monotonic()
    proc = subprocess.run([_ocn(), "demo", "--once", "--base-port", str(base), "--data-dir", str(tmp_path / "d")],
                          capture_output=True, text=True, timeout=140, cwd=str(tmp_path))
    took = time.monotonic() - started
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert took < 120, f"ocn demo --once took {took:.1f} s"
    for n, title in enumerate(STEPS, 1):
        assert re.search(rf"^\[\s*{n}\] OK ", out, re.M), f"step {n} ({title}) not OK:\n{out}"
        assert f"] {title}" in out
    assert "FAIL" not in out
    assert "all 13 steps passed" in out
    # key numbers: async results, growing energy, the CDR read back unchanged
    assert out.count("async result: ACCEPTED") == 2
    kwh = [float(x) for x in re.findall(r"session \S+ update: ([0-9.]+) kWh", out)]
    assert len(kwh) >= 3 and kwh == sorted(kwh) and kwh[-1] > 0
    assert re.search(r"CDR \S+ received: [0-9.]+ kWh", out)
    assert "through the node-proxied Location: identical" in out
    assert "stopped 4 processes" in out
    # every child is gone: nothing listens on the demo's ports any more
    for port in range(base, base + 7):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"


def test_demo_reports_a_busy_port(tmp_path):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        proc = subprocess.run([_ocn(), "demo", "--once", "--base-port", str(port - 1)], capture_output=True,
                              text=True, timeout=60, cwd=str(tmp_path))
    assert proc.returncode == 1
    assert "port(s) in use" in proc.stdout and "--base-port" in proc.stdout
