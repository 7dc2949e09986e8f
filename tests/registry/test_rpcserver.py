"""JSON-RPC server over real loopback HTTP, driven by stock web3.py."""

from __future__ import annotations

import json

import pytest
import pytest_twisted
from twisted.internet import threads

from ocnd.registry import artifacts
from ocnd.registry.chain import (
    LOCAL_DEPLOYER,
    LOCAL_PERMISSIONS_ADDRESS,
    LOCAL_REGISTRY_ADDRESS,
    EmbeddedChain,
)
from ocnd.registry.rpcserver import rpc_service


@pytest_twisted.async_yield_fixture(scope="module")
async def server():
    from twisted.internet import reactor

    chain = EmbeddedChain(reactor, None)
    await chain.start()
    service = rpc_service(reactor, chain, "tcp:0:interface=127.0.0.1", max_body=64 * 1024)
    service.startService()
    port = await service._waitingForPort
    url = f"http://127.0.0.1:{port.getHost().port}/"
    yield chain, url
    await service.stopService()
    await chain.stop()


def _post(url, body: bytes, content_type="application/json"):
    """Blocking raw POST (run in a thread)."""
    import requests

    resp = requests.post(url, data=body, headers={"Content-Type": content_type}, timeout=10)
    return resp.status_code, (resp.json() if resp.content else None)


def _rpc(url, method, params=None, id=1):
    return _post(url, json.dumps(
        {"jsonrpc": "2.0", "id": id, "method": method, "params": params or []}).encode())


def _web3(url):
    from web3 import HTTPProvider, Web3

    return Web3(HTTPProvider(url, request_kwargs={"timeout": 10}))


def _full_flow(url):
    """What a registry client does: build, sign, send raw, wait, read, logs."""
    from eth_account import Account

    w3 = _web3(url)
    out = {"connected": w3.is_connected(), "chain_id": w3.eth.chain_id,
           "net_version": w3.net.version, "accounts": w3.eth.accounts,
           "client": w3.client_version, "syncing": w3.eth.syncing}
    funder = w3.eth.accounts[0]
    operator = Account.create()
    start_block = w3.eth.block_number

    # fund via eth_sendTransaction from a dev account (signed server-side)
    tx_hash = w3.eth.send_transaction({"from": funder, "to": operator.address,
                                       "value": w3.to_wei(1, "ether")})
    out["fund_status"] = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)["status"]
    out["balance"] = w3.eth.get_balance(operator.address)

    registry = w3.eth.contract(address=LOCAL_REGISTRY_ADDRESS, abi=artifacts.abi("Registry"))
    # EIP-1559 transaction, fees filled by web3 from the node
    tx = registry.functions.setNode("https://rpc-node.example").build_transaction(
        {"from": operator.address, "nonce": w3.eth.get_transaction_count(operator.address)})
    out["tx_type"] = "maxFeePerGas" in tx
    signed = operator.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)
    out["set_status"] = receipt["status"]
    out["set_logs"] = len(receipt["logs"])
    events = registry.events.OperatorUpdate().process_receipt(receipt)
    out["event_domain"] = events[0]["args"]["domain"]
    out["node"] = registry.functions.getNode(operator.address).call()
    out["operators"] = registry.functions.getNodeOperators().call()

    # legacy (gasPrice) transaction
    operator2 = Account.create()
    w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction(
        {"from": funder, "to": operator2.address, "value": w3.to_wei(1, "ether")}))
    tx = registry.functions.setNode("https://legacy.example").build_transaction(
        {"from": operator2.address, "gasPrice": w3.eth.gas_price,
         "nonce": w3.eth.get_transaction_count(operator2.address, "pending")})
    tx_hash = w3.eth.send_raw_transaction(operator2.sign_transaction(tx).raw_transaction)
    out["legacy_status"] = w3.eth.wait_for_transaction_receipt(tx_hash)["status"]
    fetched = w3.eth.get_transaction(tx_hash)
    out["legacy_fetched"] = (fetched["hash"] == tx_hash, fetched["gasPrice"], fetched["from"])

    # logs: via get_logs and via the contract's event helper
    logs = registry.events.OperatorUpdate().get_logs(from_block=start_block)
    out["event_logs"] = [(e["args"]["operator"], e["args"]["domain"]) for e in logs]
    raw_logs = w3.eth.get_logs({"fromBlock": start_block, "toBlock": "latest",
                                "address": LOCAL_REGISTRY_ADDRESS,
                                "topics": [None, "0x" + "00" * 12 + operator.address[2:].lower()]})
    out["topic_filtered"] = len(raw_logs)
    block = w3.eth.get_block(receipt["blockNumber"], full_transactions=True)
    out["block_tx"] = block["transactions"][0]["hash"] == receipt["transactionHash"]
    out["block_by_hash"] = w3.eth.get_block(block["hash"])["number"] == block["number"]
    out["code"] = len(w3.eth.get_code(LOCAL_PERMISSIONS_ADDRESS)) > 0
    out["fee_history"] = w3.eth.fee_history(2, "latest", [50])["oldestBlock"] >= 0

    # revert reasons surface as ContractLogicError on call and on estimate
    from web3.exceptions import ContractLogicError

    try:
        registry.functions.setNode("https://rpc-node.example").call({"from": funder})
    except ContractLogicError as e:
        out["call_revert"] = e.message
    try:
        registry.functions.setNode("https://rpc-node.example").estimate_gas({"from": funder})
    except ContractLogicError as e:
        out["estimate_revert"] = e.message
    return out


@pytest_twisted.ensureDeferred
async def test_web3_full_flow(server):
    chain, url = server
    out = await threads.deferToThread(_full_flow, url)
    assert out["connected"] is True
    assert out["chain_id"] == 9 and out["net_version"] == "9"
    assert out["accounts"][0] == LOCAL_DEPLOYER
    assert out["client"].startswith("ocnd-embedded")
    assert out["syncing"] is False
    assert out["fund_status"] == 1 and out["balance"] == 10**18
    assert out["tx_type"] is True
    assert out["set_status"] == 1 and out["set_logs"] == 1
    assert out["event_domain"] == "https://rpc-node.example"
    assert out["node"] == "https://rpc-node.example"
    assert len(out["operators"]) >= 1
    assert out["legacy_status"] == 1
    assert out["legacy_fetched"][0] is True and out["legacy_fetched"][1] == 10**9
    domains = [d for _, d in out["event_logs"]]
    assert domains == ["https://rpc-node.example", "https://legacy.example"]
    assert out["topic_filtered"] == 1
    assert out["block_tx"] and out["block_by_hash"] and out["code"] and out["fee_history"]
    assert out["call_revert"] == "execution reverted: Domain name already registered."
    assert out["estimate_revert"] == "execution reverted: Domain name already registered."


@pytest_twisted.ensureDeferred
async def test_error_shapes(server):
    chain, url = server
    registry = chain.registry_address

    status, body = await threads.deferToThread(_post, url, b"{not json")
    assert body == {"jsonrpc": "2.0", "id": None,
                    "error": {"code": -32700, "message": "parse error"}}

    status, body = await threads.deferToThread(_rpc, url, "eth_nope")
    assert body["error"]["code"] == -32601 and body["id"] == 1

    status, body = await threads.deferToThread(_post, url, b'{"jsonrpc":"2.0","id":7}')
    assert body["error"]["code"] == -32600

    status, body = await threads.deferToThread(_rpc, url, "eth_getBalance", ["0x1234"])
    assert body["error"]["code"] == -32602

    # eth_call revert: geth/ganache shape with Error(string) data
    def reverting_call():
        from web3 import Web3

        w3 = Web3()
        reg = w3.eth.contract(address=registry, abi=artifacts.abi("Registry"))
        data = reg.encode_abi("transferOwnership", [chain.dev_accounts[1][0]])
        return _rpc(url, "eth_call", [{"from": chain.dev_accounts[1][0], "to": registry,
                                       "data": data}, "latest"])

    status, body = await threads.deferToThread(reverting_call)
    error = body["error"]
    assert error["code"] == 3  # geth's code for reverts
    assert error["message"].startswith("execution reverted: ")
    assert error["data"].startswith("0x08c379a0")

    # eth_call without from and with gasPrice 0 (web3j) works
    def zero_fee_call():
        from web3 import Web3

        w3 = Web3()
        reg = w3.eth.contract(address=registry, abi=artifacts.abi("Registry"))
        data = reg.encode_abi("owner", [])
        return _rpc(url, "eth_call", [{"to": registry, "data": data, "gasPrice": "0x0"},
                                      "latest"])

    status, body = await threads.deferToThread(zero_fee_call)
    assert body["result"] == "0x" + "00" * 12 + LOCAL_DEPLOYER[2:].lower()

    # invalid raw transaction
    status, body = await threads.deferToThread(_rpc, url, "eth_sendRawTransaction", ["0x0102"])
    assert body["error"]["code"] == -32000

    # unknown account for eth_sendTransaction
    status, body = await threads.deferToThread(
        _rpc, url, "eth_sendTransaction", [{"from": "0x" + "11" * 20, "to": registry}])
    assert body["error"]["code"] == -32000 and "unknown account" in body["error"]["message"]

    # unknown hashes give null
    status, body = await threads.deferToThread(
        _rpc, url, "eth_getTransactionReceipt", ["0x" + "ab" * 32])
    assert body["result"] is None
    status, body = await threads.deferToThread(_rpc, url, "eth_getBlockByNumber", ["0xffffff", False])
    assert body["result"] is None


@pytest_twisted.ensureDeferred
async def test_batch_and_notifications(server):
    chain, url = server
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": "two", "method": "net_version"},
        {"jsonrpc": "2.0", "id": 3, "method": "eth_nope", "params": []},
        {"jsonrpc": "2.0", "method": "eth_blockNumber", "params": []},  # notification
        {"jsonrpc": "2.0", "id": 4, "method": "eth_getCode",
         "params": [LOCAL_REGISTRY_ADDRESS, "latest"]},
        5,
    ]
    status, body = await threads.deferToThread(_post, url, json.dumps(batch).encode())
    assert status == 200
    assert [r.get("id") for r in body] == [1, "two", 3, 4, None]
    assert body[0]["result"] == "0x9"
    assert body[1]["result"] == "9"
    assert body[2]["error"]["code"] == -32601
    assert len(body[3]["result"]) > 1000
    assert body[4]["error"]["code"] == -32600

    status, body = await threads.deferToThread(_post, url, b"[]")
    assert body["error"]["code"] == -32600

    status, body = await threads.deferToThread(
        _post, url, b'{"jsonrpc":"2.0","method":"eth_chainId"}')
    assert status == 204 and body is None


@pytest_twisted.ensureDeferred
async def test_oversize_body(server):
    chain, url = server
    big = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_call",
                      "params": [{"data": "0x" + "00" * 40_000}]}).encode()
    status, body = await threads.deferToThread(_post, url, big)
    assert status == 413
    assert body["error"]["code"] == -32600
    # the server is still fine afterwards
    status, body = await threads.deferToThread(_rpc, url, "eth_chainId")
    assert body["result"] == "0x9"


@pytest_twisted.ensureDeferred
async def test_get_is_refused(server):
    import requests

    chain, url = server
    resp = await threads.deferToThread(requests.get, url, timeout=10)
    assert resp.status_code == 405
    assert resp.json()["error"]["code"] == -32600
