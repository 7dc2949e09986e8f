"""Throughput of OCN signing: ocnd's coincurve path vs eth_account with pure-Python eth-keys.

    python bench/signing.py [--seconds 1.5]

ocnd signs and recovers EIP-191 signatures with coincurve directly
(``ocnd.signing.eip191``).  The baselines run the same notary/wire code with
those two primitives replaced by eth_account calls, once with eth-keys'
pure-Python backend and once with its coincurve backend (what ocnd did before),
each in its own subprocess (eth-keys picks its backend at import time from
``ECC_BACKEND_CLASS``).  Prints one line per figure with the rates and the
ratios.  Finishes well under 30 s on a 2-core box.
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
MODES = {  # name -> eth-keys backend (None: ocnd's own coincurve path)
    "ocnd": None,
    "eth_account+coincurve": "eth_keys.backends.coincurve.CoinCurveECCBackend",
    "eth_account+pure-python": "eth_keys.backends.native.NativeECCBackend",
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


def _use_eth_account(eip191) -> None:
    """Replace ocnd's two primitives by eth_account calls (the baselines)."""
    from eth_account import Account
    from eth_account.messages import encode_defunct

    def sign(message: bytes, key) -> bytes:
        return bytes(eip191.account(key).sign_message(encode_defunct(primitive=message)).signature)

    def recover(message: bytes, signature: bytes) -> str:
        return Account.recover_message(encode_defunct(primitive=message), signature=signature)

    eip191.sign, eip191.recover = sign, recover


def child(seconds: float, mode: str) -> None:
    sys.path.insert(0, str(ROOT))
    from eth_keys.backends import get_backend

    from ocnd.signing import eip191, notary, rawjson, wire

    if MODES[mode] is not None:
        _use_eth_account(eip191)

    vectors = json.loads((ROOT / "tests" / "signing" / "vectors.json").read_text("utf-8"))
    key = vectors["user_private_key"]
    values = rawjson.loads(json.dumps(vectors["request"]))
    signed = notary.sign(values, key)
    header = notary.serialize(signed)
    body = json.dumps(vectors["request"]).encode()
    wire_sig = wire.sign_body(body, key)
    assert notary.verify(signed, values).is_valid

    figures = {
        "backend": "coincurve (direct)" if MODES[mode] is None else type(get_backend()).__name__,
        "notary.sign": _rate(lambda: notary.sign(values, key), seconds),
        "notary.verify (deserialize+verify)": _rate(
            lambda: notary.verify(notary.deserialize(header), values), seconds
        ),
        "wire.sign_body": _rate(lambda: wire.sign_body(body, key), seconds),
        "wire.recover_body": _rate(lambda: wire.recover_body(body, wire_sig), seconds),
    }
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.5, help="time per figure and backend")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.seconds, args.child)
        return
    results = {}
    for name, cls in MODES.items():
        env = dict(os.environ)
        if cls is not None:
            env["ECC_BACKEND_CLASS"] = cls
        out = subprocess.run(
            [sys.executable, __file__, "--child", name, "--seconds", str(args.seconds)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        results[name] = json.loads(out.strip().splitlines()[-1])
    ours, mid, slow = (results[m] for m in MODES)
    print(f"# ocnd: {ours.pop('backend')}; baselines: eth_account with {mid.pop('backend')} / {slow.pop('backend')}")
    for figure in ours:
        print(
            f"{figure:<36} ocnd {ours[figure]:8.0f}/s   eth_account+coincurve {mid[figure]:7.0f}/s"
            f"   eth_account+pure-python {slow[figure]:6.0f}/s"
            f"   ratio {ours[figure] / slow[figure]:6.1f}x vs pure-python, {ours[figure] / mid[figure]:4.1f}x vs "
            f"eth_account+coincurve"
        )


if __name__ == "__main__":
    main()
