"""Slow clients: idle timeout, absolute header and body deadlines (raw sockets)."""

from __future__ import annotations

import select
import socket
import time

import pytest_twisted
from twisted.internet import threads

SLOW = {"OCND_LIMITS_IDLE_TIMEOUT": "2", "OCND_LIMITS_HEADER_TIMEOUT": "1", "OCND_LIMITS_BODY_TIMEOUT": "1"}


def _closed(sock, wait: float) -> bool:
    r, _, _ = select.select([sock], [], [], wait)
    if not r:
        return False
    try:
        return sock.recv(4096) == b""
    except OSError:
        return True


def trickle(port: int, prefix: bytes, payload: bytes, interval: float, limit: float) -> float | None:
    """Send ``prefix`` at once, then ``payload`` one byte per ``interval``; seconds until the server
    dropped us, or None if it still listened after ``limit`` seconds."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        start = time.monotonic()
        if prefix:
            sock.sendall(prefix)
        i = 0
        while time.monotonic() - start < limit:
            if _closed(sock, interval):
                return time.monotonic() - start
            try:
                sock.sendall(payload[i % len(payload):i % len(payload) + 1])
            except OSError:
                return time.monotonic() - start
            i += 1
        return None


@pytest_twisted.ensureDeferred
async def test_headers_sent_byte_by_byte_are_dropped(nodes):
    n = await nodes(**SLOW)
    port = n.service.port.getHost().port
    # one byte every 0.25 s keeps resetting the 2 s idle timeout: only the header deadline ends it
    took = await threads.deferToThread(trickle, port, b"", b"GET /health HTTP/1.1\r\nX-Pad: " + b"a" * 200,
                                       0.25, 5.0)
    assert took is not None and took < 2.0, took


@pytest_twisted.ensureDeferred
async def test_body_sent_byte_by_byte_is_dropped(nodes):
    n = await nodes(**SLOW)
    port = n.service.port.getHost().port
    head = b"POST /ocpi/2.2/credentials HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n"
    took = await threads.deferToThread(trickle, port, head, b"{" * 500, 0.25, 5.0)
    assert took is not None and took < 2.0, took


@pytest_twisted.ensureDeferred
async def test_idle_connection_is_dropped(nodes):
    n = await nodes(OCND_LIMITS_IDLE_TIMEOUT="0.5")
    port = n.service.port.getHost().port

    def idle():
        with socket.create_connection(("127.0.0.1", port)) as sock:
            start = time.monotonic()
            return time.monotonic() - start if _closed(sock, 3.0) else None

    took = await threads.deferToThread(idle)
    assert took is not None and took < 2.0


@pytest_twisted.ensureDeferred
async def test_keep_alive_connection_survives_between_requests(nodes):
    n = await nodes(**SLOW)
    port = n.service.port.getHost().port

    def two_requests():
        out = []
        with socket.create_connection(("127.0.0.1", port)) as sock:
            for pause in (0, 1.5):  # longer than the header deadline, shorter than the idle timeout
                time.sleep(pause)
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                out.append(_read_response(sock))
        return out

    first, second = await threads.deferToThread(two_requests)
    assert first.startswith(b"HTTP/1.1 200") and second.startswith(b"HTTP/1.1 200")


def _read_response(sock) -> bytes:
    """One HTTP/1.1 response with a Content-Length body (what the node sends), or b"" if closed first."""
    data = b""
    while True:
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), None)
            assert length is not None, head
            if len(body) >= length:
                return data
        chunk = sock.recv(4096)
        if not chunk:
            return b""
        data += chunk
