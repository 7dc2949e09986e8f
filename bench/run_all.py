"""Run every bench script as a subprocess and print their figures.

    python bench/run_all.py [--quick] [--only routing,store]

Each script runs in its own process (one after the other, never in
parallel: they measure CPU-bound work on a small box).  Output is one line
per figure, prefixed with the script name; a script that fails or exceeds its
time budget is reported and the run exits non-zero.  The full run is sized to
finish within 5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# script, extra args for a full run, time budget in seconds
SCRIPTS = [
    ("signing.py", ["--seconds", "1.0"], 60),
    ("registry_lookup.py", [], 60),
    ("store.py", [], 90),
    ("memory.py", [], 90),
    ("routing.py", ["--seconds", "2.5", "--warmup", "0.75"], 240),
]


def machine() -> str:
    model = "?"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cpus, {model}, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick where scripts support it")
    parser.add_argument("--only", help="comma-separated script names (without .py)")
    args = parser.parse_args()
    started = time.perf_counter()
    print(f"# {machine()}; load average {os.getloadavg()[0]:.2f} at start")
    failed = []
    for script, extra, budget in SCRIPTS:
        name = script[:-3]
        if args.only and name not in args.only.split(","):
            continue
        cmd = [sys.executable, os.path.join(HERE, script)]
        if args.quick:
            cmd += ["--quick"] if name not in ("signing", "registry_lookup") else []
            if name == "signing":
                cmd += ["--seconds", "0.2"]
        else:
            cmd += extra
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=budget)
        except subprocess.TimeoutExpired:
            print(f"{name}: TIMEOUT after {budget}s")
            failed.append(name)
            continue
        for line in proc.stdout.splitlines():
            if line.strip():
                print(f"{name}: {line}")
        if proc.returncode != 0:
            print(f"{name}: FAILED (exit {proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}")
            failed.append(name)
        print(f"{name}: ({time.perf_counter() - t0:.1f}s)")
        sys.stdout.flush()
    print(f"# total {time.perf_counter() - started:.1f}s" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
