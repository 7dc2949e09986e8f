"""Helpers shared by the bench scripts (not a bench itself).

* :func:`rss_kb` / :func:`peak_rss_kb` read ``/proc/self/status``;
* :func:`percentile` is nearest-rank on a sorted list;
* :func:`load` is a small keep-alive HTTP/1.1 load generator on asyncio
  (raw sockets, pre-built request bytes, Content-Length and chunked replies).
  It is meant to run in its own process so that it does not share a GIL with
  the servers being measured; per request it costs a few tens of
  microseconds, far less than treq, so it is not the bottleneck at the rates
  a Twisted node reaches.
"""

from __future__ import annotations

import asyncio
import json
import os
import math
import pathlib
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def rss_kb() -> int:
    return _status_kb("VmRSS")


def peak_rss_kb() -> int:
    return _status_kb("VmHWM")


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, math.ceil(p / 100.0 * len(sorted_values)) - 1))
    return sorted_values[k]


# -- load generator ---------------------------------------------------------------


def build_request(method: str, host: str, port: int, path: str, headers: dict[str, str], body: bytes,
                  request_id: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", f"X-Request-ID: {request_id}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = None
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if chunked:
        parts = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers expected
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        return status, b"".join(parts)
    if length is None:
        return status, await reader.read()
    return status, await reader.readexactly(length)


async def _worker(host, port, method, path, headers, body, ok_marker, state, wid, prefix):
    reader, writer = await asyncio.open_connection(host, port)
    n = 0
    rate = state["rate"]
    try:
        while not state["stop"]:
            n += 1
            req = build_request(method, host, port, path, headers, body, f"{prefix}-{wid}-{n}")
            if rate:
                # open loop: request k is due at start + k / rate; latency counts from when it was due,
                # so a request that waited for a free connection is not flattered (coordinated omission)
                slot = state["next"]
                state["next"] += 1
                t0 = state["start"] + slot / rate
                delay = t0 - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                if state["stop"]:
                    break
            else:
                t0 = time.perf_counter()
            writer.write(req)
            status, payload = await _read_response(reader)
            dt = time.perf_counter() - t0
            state["total"] += 1
            good = status == 200 and (ok_marker is None or ok_marker in payload)
            if state["measure"]:
                if good:
                    state["lat"].append(dt)
                    state["when"].append(t0)
                else:
                    state["errors"] += 1
                    if state["first_error"] is None:
                        state["first_error"] = f"HTTP {status}: {payload[:200]!r}"
    finally:
        writer.close()


async def _load(spec: dict) -> dict:
    state = {"stop": False, "measure": False, "lat": [], "when": [], "errors": 0, "first_error": None, "total": 0,
             "rate": spec.get("rate"), "next": 0, "start": time.perf_counter()}
    prefix = uuid.uuid4().hex[:12]  # request ids unique across runs (node messages are replay-checked)
    body = spec.get("body", "").encode("utf-8")
    marker = spec.get("ok_marker")
    marker = marker.encode() if marker else None
    tasks = [asyncio.ensure_future(_worker(spec["host"], spec["port"], spec["method"], spec["path"],
                                           spec["headers"], body, marker, state, i, prefix))
             for i in range(spec["concurrency"])]
    await asyncio.sleep(spec["warmup"])
    state["measure"] = True
    t0 = time.perf_counter()
    await asyncio.sleep(spec["seconds"])
    state["measure"] = False
    elapsed = time.perf_counter() - t0
    state["stop"] = True
    done, _ = await asyncio.wait(tasks, timeout=30)
    for t in done:
        if t.exception() is not None and state["first_error"] is None:
            state["first_error"] = repr(t.exception())
    dump = os.environ.get("OCND_BENCH_SAMPLES")
    if dump:  # (due time relative to the measured window, latency) per good reply, for timelines
        with open(dump, "a") as f:
            f.write(json.dumps([[round(w - t0, 5), round(d, 6)] for w, d in zip(state["when"], state["lat"])]) + "\n")
    lat = sorted(state["lat"])
    return {"concurrency": spec["concurrency"], "requests": len(lat), "total_requests": state["total"], "errors": state["errors"],
            "first_error": state["first_error"], "seconds": elapsed, "rps": len(lat) / elapsed,
            "p50_ms": percentile(lat, 50) * 1e3, "p99_ms": percentile(lat, 99) * 1e3,
            "mean_ms": (sum(lat) / len(lat) * 1e3) if lat else float("nan"),
            **({"lat_ms": [round(x * 1e3, 3) for x in state["lat"]]} if spec.get("samples") else {})}


def load(spec: dict) -> dict:
    """Run load over ``concurrency`` connections, each one request at a time.

    Closed loop (each connection sends its next request when the last one
    answered) unless ``spec["rate"]`` is set: then requests are due at that
    total rate (open loop) and latency counts from when each was due.

    ``spec``: host, port, method, path, headers (X-Request-ID is added per
    request), body (str), ok_marker (bytes expected in a good reply), warmup
    and seconds.
    """
    return asyncio.run(_load(spec))
