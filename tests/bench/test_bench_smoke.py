"""Keep the bench scripts from rotting: each runs in a tiny configuration.

Asserts only that a script exits 0 and prints its figure lines with ratios;
never any timing.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest

BENCH = pathlib.Path(__file__).resolve().parents[2] / "bench"
RATIO = re.compile(r"ratio\s+[0-9.,]+x|[0-9.,]+x (of|snapshot)")

CASES = {
    "signing": ["--seconds", "0.2"],
    "registry_lookup": [],
    "store": ["--quick"],
    "memory": ["--quick"],
}  # routing --quick has its own test below


def _run(args, timeout=120):
    env = dict(os.environ)
    env.pop("OCND_BENCH_PROFILE", None)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bench_script_runs(name):
    proc = _run([str(BENCH / f"{name}.py"), *CASES[name]])
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.strip() and not line.startswith("#")]
    assert lines, proc.stdout
    assert any(RATIO.search(line) for line in lines), proc.stdout


def test_routing_quick_reports_hot_path_and_targets():
    proc = _run([str(BENCH / "routing.py"), "--quick"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert re.search(r"RPC calls on routing hot path: \d+ during \d+ routed requests", out), out
    assert "bad replies: 0" in out, out + proc.stderr[-2000:]
    assert re.search(r"routed A->B\s+c=10 .*ratio [0-9.]+x of bare proxy", out), out
    assert "targets (c=10)" in out
    assert any(re.search(r"ratio [0-9.]+x", line) for line in out.splitlines())


def test_run_all_quick_subset():
    proc = _run([str(BENCH / "run_all.py"), "--quick", "--only", "store,memory"], timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    assert re.search(r"^store: .*ratio", proc.stdout, re.M), proc.stdout
    assert re.search(r"^memory: .*ratio", proc.stdout, re.M), proc.stdout
