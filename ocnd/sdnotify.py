"""Minimal sd_notify(3): READY=1, STATUS=, WATCHDOG=1, STOPPING=1."""

from __future__ import annotations

import os
import socket
from typing import Mapping


def notify(state: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send ``state`` to $NOTIFY_SOCKET; False when not under systemd."""
    environ = os.environ if environ is None else environ
    addr = environ.get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr[0] == "@":
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            # runs on the reactor thread: a receiver whose queue is full (systemd stuck, or
            # nobody reading) must not block the node; the message is dropped after 50 ms
            s.settimeout(0.05)
            s.connect(addr)
            s.sendall(state.encode("utf-8"))
    except OSError:
        return False
    return True


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Half of $WATCHDOG_USEC in seconds (when it is meant for this process)."""
    environ = os.environ if environ is None else environ
    usec = environ.get("WATCHDOG_USEC")
    pid = environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2e6
    except ValueError:
        return None
