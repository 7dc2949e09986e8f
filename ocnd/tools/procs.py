"""Child processes for ``ocn demo``: ``twistd -n ...`` with a log file each.

Children run in their own process group (so a Ctrl-C in the terminal reaches
only the demo, which then stops them in order) and, on Linux, get SIGTERM
if the demo dies without cleaning up.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    os.setpgrp()
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: rely on the demo's own cleanup
        pass


def twistd() -> str:
    path = os.path.join(os.path.dirname(sys.executable), "twistd")
    return path if os.path.exists(path) else "twistd"


class Child:
    """One ``twistd -n <tap> ...`` process."""

    def __init__(self, name: str, args: list[str], *, log_path: str, env: dict | None = None,
                 cwd: str | None = None) -> None:
        self.name = name
        self.args = args
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen([twistd(), "-n", "--pidfile=", *self.args], stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env,
                                         cwd=self.cwd, preexec_fn=_die_with_parent)
        finally:
            log.close()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def log_tail(self, lines: int = 15) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as fh:
                return "".join(fh.readlines()[-lines:])
        except OSError:
            return ""


class HttpError(Exception):
    def __init__(self, status: int, body: Any, url: str) -> None:
        message = body.get("error") if isinstance(body, dict) and body.get("error") else body
        super().__init__(f"{url}: HTTP {status}: {message}")
        self.status = status
        self.body = body


def http_json(method: str, url: str, body: Any = None, headers: dict | None = None, timeout: float = 60.0) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    h = {"Accept": "application/json"}
    if data is not None:
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    req = urllib.request.Request(url, data=data, headers=h, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return json.loads(raw) if raw.strip() else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw.decode("utf-8", "replace")[:200]
        raise HttpError(e.code, parsed, url) from None


def wait_until(check, *, timeout: float, interval: float = 0.1, what: str = "condition", child: Child | None = None):
    """Call ``check()`` until it returns a truthy value (returned); exceptions count as not yet.

    Raises TimeoutError naming ``what``; if ``child`` died, says so with its log tail."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        if child is not None and child.proc is not None and child.proc.poll() is not None:
            raise RuntimeError(f"{child.name} exited with code {child.proc.returncode}; last log lines:\n"
                               f"{child.log_tail()}")
        try:
            value = check()
            if value:
                return value
        except Exception as e:  # noqa: BLE001
            last = e
        if time.monotonic() >= deadline:
            detail = f" (last error: {last})" if last else ""
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}{detail}")
        time.sleep(interval)
