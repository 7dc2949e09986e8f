"""The embedded chain's JSON-RPC server driven by a real ethers.js v6 client
(what JavaScript registry tooling uses), cross-checked from Python.

``tests/registry/ethers/registry_client.mjs`` registers a node, lists a party,
sends a raw (meta-transaction) setPartyRaw signed by another key, reads it all
back with eth_call and provokes reverts and rejected sends; this test then
reads the same state through ocnd's own registry client (web3.py) and checks
that both sides agree.

Needs ``node`` and ``npm ci`` in tests/registry/ethers; skipped otherwise,
unless OCND_REQUIRE_JS_CLIENTS=1 (CI), which turns the skip into a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import threads

from ocnd.registry import artifacts, rawsig
from ocnd.registry.chain import EmbeddedChain
from ocnd.registry.rpcserver import rpc_service

ETHERS_DIR = Path(__file__).parent / "ethers"
SCRIPT = ETHERS_DIR / "registry_client.mjs"
DOMAIN = "https://ethers-node.example"
SCRIPT_TIMEOUT = 60


@pytest.fixture
def node_binary():
    """Path of ``node`` with ethers installed, else skip (or fail under OCND_REQUIRE_JS_CLIENTS=1)."""
    node = shutil.which("node")
    if node is None:
        reason = "node is not installed"
    elif not (ETHERS_DIR / "node_modules" / "ethers").is_dir():
        reason = "ethers is not installed: run `npm ci` in tests/registry/ethers"
    else:
        return node
    if os.environ.get("OCND_REQUIRE_JS_CLIENTS") == "1":
        pytest.fail(f"OCND_REQUIRE_JS_CLIENTS=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest_twisted.async_yield_fixture
async def rpc_chain():
    """A fresh embedded chain with its JSON-RPC server on 127.0.0.1 (as in test_rpcserver)."""
    from twisted.internet import reactor

    chain = EmbeddedChain(reactor, None)
    await chain.start()
    service = rpc_service(reactor, chain, "tcp:0:interface=127.0.0.1")
    service.startService()
    port = await service._waitingForPort
    yield chain, f"http://127.0.0.1:{port.getHost().port}/"
    await service.stopService()
    await chain.stop()


def _run_client(node: str, url: str, registry: str, abi_path: Path,
                key: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OCND_PRIVATE_KEY=key, OCND_NODE_DOMAIN=DOMAIN)
    return subprocess.run(
        [node, str(SCRIPT), url, registry, str(abi_path)],
        cwd=ETHERS_DIR, env=env, capture_output=True, text=True, timeout=SCRIPT_TIMEOUT)


def _python_view(url: str, registry: str, operator: str, party: str, raw_party: str) -> dict:
    """The same state read by ocnd's own registry client over the same JSON-RPC."""
    from web3 import HTTPProvider, Web3

    from ocnd.registry.client import SyncRegistry

    reg = SyncRegistry(Web3(HTTPProvider(url, request_kwargs={"timeout": 10})), registry)
    return {
        "chain_id": reg.chain_id(),
        "block_number": reg.block_number(),
        "node": reg.get_node(operator),
        "operators": reg.get_node_operators(),
        "parties": reg.get_parties(),
        "de_eth": reg.get_party_details_by_ocpi("DE", "ETH"),
        "nl_raw": reg.get_party_details_by_ocpi("NL", "RAW"),
        "raw_by_address": reg.get_party_details_by_address(raw_party),
        "party_by_address": reg.get_party_details_by_address(party),
    }


@pytest_twisted.ensureDeferred
async def test_ethers_v6_registry_client(node_binary, rpc_chain, tmp_path):
    chain, url = rpc_chain
    operator, key = chain.dev_accounts[1]
    registry = chain.registry_address
    abi_path = tmp_path / "Registry.abi.json"
    abi_path.write_text(json.dumps(artifacts.abi("Registry")))

    started = time.monotonic()
    proc = await threads.deferToThread(_run_client, node_binary, url, registry, abi_path, key)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, f"ethers client failed:\n{proc.stderr[-4000:]}"
    out = json.loads(proc.stdout)
    assert elapsed < 30, f"ethers client took {elapsed:.1f}s"

    # what ethers saw
    assert out["chainId"] == chain.chain_id == 9
    assert out["operator"] == operator
    assert out["blockNumberEnd"] > out["blockNumberStart"]
    assert out["setNode"]["status"] == 1 and out["setNode"]["type"] == 2
    assert out["setNode"]["events"] == [
        {"name": "OperatorUpdate", "operator": operator, "domain": DOMAIN}]
    assert out["fundStatus"] == 1
    party, raw_party = out["party"]["address"], out["rawParty"]["address"]
    assert out["setParty"]["status"] == 1 and out["setParty"]["from"] == party
    # the raw call was signed by raw_party but sent (and paid for) by the operator
    assert out["setPartyRaw"]["status"] == 1 and out["setPartyRaw"]["from"] == operator
    assert out["rawPartyBalance"] == "0"

    read = out["read"]
    assert read["node"] == DOMAIN
    assert read["nodeOperators"] == [operator]
    assert read["parties"] == [party, raw_party]
    assert read["operatorByOcpi"] == {"operator": operator, "domain": DOMAIN}
    assert read["partyDetails"] == {"countryCode": "DE", "partyId": "ETH", "roles": [0],
                                    "operator": operator, "domain": DOMAIN}
    assert read["rawPartyDetails"] == {"party": raw_party, "roles": [0, 1],
                                       "operator": operator, "domain": DOMAIN}
    assert out["partyEvents"] == [
        {"party": party, "countryCode": "DE", "partyId": "ETH", "roles": [0]},
        {"party": raw_party, "countryCode": "NL", "partyId": "RAW", "roles": [0, 1]},
    ]

    # ethers decodes the contract's revert string from eth_call and eth_estimateGas
    for key_name, action in (("revertCall", "call"), ("revertEstimate", "estimateGas")):
        revert = out[key_name]
        assert revert["code"] == "CALL_EXCEPTION", revert
        assert revert["action"] == action
        assert revert["reason"] == "Domain name already registered."
        assert revert["data"].startswith("0x08c379a0")

    # rejected sends are classified by ethers from geth-style messages
    assert out["staleNonce"]["code"] == "NONCE_EXPIRED", out["staleNonce"]
    assert out["noFundsSend"]["code"] == "INSUFFICIENT_FUNDS", out["noFundsSend"]
    assert out["noFundsEstimate"]["code"] == "INSUFFICIENT_FUNDS", out["noFundsEstimate"]

    # ethers' EIP-191 signature verifies with ocnd's own raw-signature code
    sig = out["setPartyRaw"]
    types, values = rawsig.set_party_fields(raw_party, "NL", "RAW", [0, 1], operator)
    assert rawsig.recover(types, values, sig["v"], bytes.fromhex(sig["r"][2:]),
                          bytes.fromhex(sig["s"][2:])) == raw_party

    # the Python side reads the same state
    view = await threads.deferToThread(_python_view, url, registry, operator, party, raw_party)
    assert view["chain_id"] == out["chainId"]
    assert view["block_number"] == out["blockNumberEnd"]
    assert (view["node"].operator, view["node"].url) == (operator, DOMAIN)
    assert view["operators"] == read["nodeOperators"]
    assert view["parties"] == read["parties"]
    for listing, address, cc, pid, roles in (
        (view["de_eth"], party, "DE", "ETH", [0]),
        (view["party_by_address"], party, "DE", "ETH", [0]),
        (view["nl_raw"], raw_party, "NL", "RAW", [0, 1]),
        (view["raw_by_address"], raw_party, "NL", "RAW", [0, 1]),
    ):
        assert listing is not None
        assert (listing.address, listing.country_code, listing.party_id) == (address, cc, pid)
        assert [int(r) for r in listing.roles] == roles
        assert (listing.operator, listing.url) == (operator, DOMAIN)
