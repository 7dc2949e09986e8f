"""A real ``twistd -n ocnd`` whose wall clock is stepped while monotonic time runs on.

The node process gets a ``sitecustomize`` that adds an offset, read from a file, to ``time.time``
before anything imports it (Twisted's reactor clock, log timestamps, ocnd's timestamps); monotonic
time is untouched, as when an operator or NTP steps the system clock.  (libfaketime does the same
from outside but stalls multi-threaded Python processes now and then: its pthread_cond_timedwait
wrapper meets the GIL.)
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import time

from nodeproc import NodeProcess

SHIM = """
import os
import time

_path = os.environ.get("OCND_TEST_WALL_OFFSET_FILE")
if _path:
    _real, _monotonic = time.time, time.monotonic
    _state = [0.0, -1.0]  # offset, when it was read (monotonic)

    def _stepped_time():
        now = _monotonic()
        if now - _state[1] > 0.05:
            _state[1] = now
            try:
                with open(_path) as fh:
                    _state[0] = float(fh.read())
            except (OSError, ValueError):
                pass
        return _real() + _state[0]

    time.time = _stepped_time
"""


def step_to(path: str, offset: float) -> None:
    with open(path + ".tmp", "w") as fh:
        fh.write(f"{offset}\n")
    os.replace(path + ".tmp", path)


class Pings:
    """Collects WATCHDOG=1 datagrams on a thread (a full socket queue would block the node)."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.times: list[float] = []
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while self.running:
            try:
                data = self.sock.recv(256)
            except (TimeoutError, OSError):
                continue
            if b"WATCHDOG=1" in data:
                self.times.append(time.monotonic())

    def during(self, seconds: float) -> int:
        start = time.monotonic()
        time.sleep(seconds)
        return sum(1 for t in self.times if t >= start)

    def close(self) -> None:
        self.running = False
        self.thread.join(2)
        self.sock.close()


def get(conn: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    """One request on an open keep-alive connection (never reconnects: a closed one raises)."""
    sock = conn.sock
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    assert conn.sock is sock, "the node closed the keep-alive connection"
    return response.status, body


def test_wall_clock_steps_do_not_stall_or_fire_timers(tmp_path):
    stamp = str(tmp_path / "wall-offset")
    step_to(stamp, 0)
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(SHIM)
    notify = str(tmp_path / "notify.sock")
    watchdog = Pings(notify)
    node = NodeProcess(str(tmp_path / "node"), extra_env={
        "PYTHONPATH": os.pathsep.join([str(shim), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "OCND_TEST_WALL_OFFSET_FILE": stamp,
        "NOTIFY_SOCKET": notify, "WATCHDOG_USEC": "400000",        # a ping every 0.2 s
        "OCND_LIMITS_IDLE_TIMEOUT": "30",
    })
    node.start()
    try:
        assert watchdog.during(1.0) >= 2
        keepalive = http.client.HTTPConnection("127.0.0.1", node.port, timeout=5)
        keepalive.connect()
        assert get(keepalive, "/health")[0] == 200

        # backwards by an hour: without the guard every timer (watchdog included) waits an hour
        step_to(stamp, -3600)
        assert watchdog.during(1.5) >= 3, node.log()[-2000:]  # 7 expected, 0 without the guard
        code, body = get(keepalive, "/health")
        assert code == 200

        # forwards by a day: without the guard the idle timeout of the open connection fires at once
        step_to(stamp, 86400)
        time.sleep(1.0)
        assert watchdog.during(1.0) >= 2
        code, body = get(keepalive, "/ocpi/versions")  # no token: an OCPI error envelope
        assert code == 401
        stamp_seen = json.loads(body)["timestamp"]
        expected = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
        assert stamp_seen.startswith(expected), stamp_seen  # timestamps follow the new wall time
        keepalive.close()
        log = node.log()
        assert "wall clock stepped by -3600" in log and "wall clock stepped by +90000" in log, log[-3000:]
    finally:
        node.stop()
        watchdog.close()
