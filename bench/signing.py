"""Throughput of OCN signing with the coincurve backend vs pure-Python eth-keys.

    python bench/signing.py [--seconds 1.5]

Each backend runs in its own subprocess (eth-keys picks its backend at import
time from ``ECC_BACKEND_CLASS``).  Prints one line per figure with both rates
and the coincurve/native ratio.  Finishes well under 30 s on a 2-core box.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
BACKENDS = {
    "coincurve": "eth_keys.backends.coincurve.CoinCurveECCBackend",
    "native": "eth_keys.backends.native.NativeECCBackend",
}


def _rate(fn, seconds: float) -> float:
    fn()  # warm up
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        fn()
        n += 1
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def child(seconds: float) -> None:
    sys.path.insert(0, str(ROOT))
    from eth_keys.backends import get_backend

    from ocnd.signing import notary, rawjson, wire

    vectors = json.loads((ROOT / "tests" / "signing" / "vectors.json").read_text("utf-8"))
    key = vectors["user_private_key"]
    values = rawjson.loads(json.dumps(vectors["request"]))
    signed = notary.sign(values, key)
    header = notary.serialize(signed)
    body = json.dumps(vectors["request"]).encode()
    wire_sig = wire.sign_body(body, key)
    assert notary.verify(signed, values).is_valid

    figures = {
        "backend": type(get_backend()).__name__,
        "notary.sign": _rate(lambda: notary.sign(values, key), seconds),
        "notary.verify (deserialize+verify)": _rate(
            lambda: notary.verify(notary.deserialize(header), values), seconds
        ),
        "wire.recover_body": _rate(lambda: wire.recover_body(body, wire_sig), seconds),
    }
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.5, help="time per figure and backend")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.seconds)
        return
    results = {}
    for name, cls in BACKENDS.items():
        env = dict(os.environ, ECC_BACKEND_CLASS=cls)
        out = subprocess.run(
            [sys.executable, __file__, "--child", "--seconds", str(args.seconds)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        results[name] = json.loads(out.strip().splitlines()[-1])
    fast, slow = results["coincurve"], results["native"]
    print(f"# backends: {fast.pop('backend')} vs {slow.pop('backend')}")
    for figure in fast:
        ratio = fast[figure] / slow[figure]
        print(
            f"{figure:<36} coincurve {fast[figure]:9.0f}/s   native {slow[figure]:7.0f}/s   ratio {ratio:5.1f}x"
        )


if __name__ == "__main__":
    main()
