"""Ethereum JSON-RPC over HTTP for the embedded dev chain.

Serves the subset of the standard API that stock tools need (web3.py,
web3j inside ocn-node, the ethers-based ``ocn-registry`` CLI): chain and
block queries, ``eth_call``/``eth_estimateGas`` with geth/ganache-style
revert errors, raw and dev-account transactions, receipts and logs.

Every method runs on the chain's own thread (``EmbeddedChain.call_tester``
or the chain's send methods); nothing here touches py-evm directly.

Deviations from geth worth knowing:

* a transaction that would revert or is invalid is refused up front
  (reverts: code ``3`` with ``execution reverted: <reason>`` and the raw
  ``0x08c379a0...`` data, like geth's eth_call; invalid: ``-32000``)
  instead of being mined with status 0, so it never consumes a nonce and is
  never journaled; nonce and balance rejections use geth's wording
  (``nonce too low``, ``insufficient funds for gas * price + value``) so
  clients such as ethers classify them;
* eth_call / eth_estimateGas without a fee (or with fee 0) run fee-free, so
  a missing or unfunded ``from`` works (web3j sends gasPrice 0);
* ``pending`` is treated as ``latest`` (every transaction is mined at once);
* no filters/subscriptions (``eth_newFilter`` etc.); poll ``eth_getLogs``.
"""

from __future__ import annotations

import ast
import functools
import json
import re
from typing import Any, Callable

from twisted.application.internet import StreamServerEndpointService
from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import server
from twisted.web.resource import Resource

from ocnd.registry.chain import (
    GAS_PRICE,
    ChainError,
    TransactionRejected,
    TransactionReverted,
    revert_from_exception,
)

MAX_BODY_BYTES = 1024 * 1024
CLIENT_VERSION = "ocnd-embedded/0.1.0/py-evm"
ZERO_ADDRESS = "0x" + "00" * 20
DEFAULT_RPC_ENDPOINT = "tcp:8544:interface=127.0.0.1"

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000
#: geth's code for reverts in eth_call / eth_estimateGas (with revert data).
#: web3.py only keeps the reason from the message for code 3; ethers reads
#: ``data`` either way.  (ganache uses -32000 here.)
EXECUTION_REVERTED = 3

log = Logger()


class RpcError(Exception):
    """A JSON-RPC error object."""

    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict:
        error = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def _invalid(message: str) -> RpcError:
    return RpcError(INVALID_PARAMS, message)


# ----------------------------------------------------------------------
# inbound conversion (JSON -> eth-tester)


def _quantity(value, name: str = "value") -> int:
    if isinstance(value, bool):
        raise _invalid(f"invalid {name}: {value!r}")
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str) and value[:2] in ("0x", "0X") and len(value) > 2:
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise _invalid(f"invalid {name}: expected a hex quantity, got {value!r}")


def _data(value, name: str = "data") -> str:
    if not isinstance(value, str) or value[:2] not in ("0x", "0X"):
        raise _invalid(f"invalid {name}: expected 0x-prefixed hex, got {value!r}")
    body = value[2:]
    if len(body) % 2:
        raise _invalid(f"invalid {name}: odd number of hex digits")
    try:
        bytes.fromhex(body)
    except ValueError:
        raise _invalid(f"invalid {name}: not hex") from None
    return "0x" + body.lower()


def _address(value, name: str = "address") -> str:
    text = _data(value, name) if isinstance(value, str) else None
    if text is None or len(text) != 42:
        raise _invalid(f"invalid {name}: expected a 20-byte address, got {value!r}")
    return text


def _hash32(value, name: str = "hash") -> str:
    text = _data(value, name)
    if len(text) != 66:
        raise _invalid(f"invalid {name}: expected 32 bytes, got {value!r}")
    return text


_BLOCK_TAGS = {"latest", "earliest", "safe", "finalized"}


def _block_id(tester, value, default="latest"):
    """JSON block identifier -> eth-tester block number or tag."""
    if value is None:
        return default
    if isinstance(value, dict):
        if "blockHash" in value:
            block = tester.get_block_by_hash(_hash32(value["blockHash"], "blockHash"))
            return block["number"]
        if "blockNumber" in value:
            return _block_id(tester, value["blockNumber"], default)
        raise _invalid("invalid block identifier object")
    if isinstance(value, str):
        if value == "pending":
            return "latest"  # every transaction is mined immediately
        if value in _BLOCK_TAGS:
            return value
    return _quantity(value, "block number")


_TX_QUANTITIES = {
    "gas": "gas",
    "gasPrice": "gas_price",
    "maxFeePerGas": "max_fee_per_gas",
    "maxPriorityFeePerGas": "max_priority_fee_per_gas",
    "value": "value",
    "nonce": "nonce",
    "chainId": "chain_id",
}


def _call_object(value) -> dict:
    """A JSON transaction-call object -> eth-tester call/estimate dict."""
    if not isinstance(value, dict):
        raise _invalid("invalid transaction object")
    tx: dict[str, Any] = {}
    if value.get("from") is not None:
        tx["from"] = _address(value["from"], "from")
    if value.get("to") is not None:
        tx["to"] = _address(value["to"], "to")
    payload = value.get("input", value.get("data"))
    if payload is not None:
        tx["data"] = _data(payload, "input")
    for key, internal in _TX_QUANTITIES.items():
        if value.get(key) is not None and key != "chainId":
            tx[internal] = _quantity(value[key], key)
    # Like geth's eth_call: a zero fee means "no fee", so calls without a
    # funded sender (web3j sends gasPrice 0) still work.
    # The chain runs calls as legacy transactions: one price, 0 = fee-free.
    price = tx.pop("gas_price", None) or tx.pop("max_fee_per_gas", None)
    tx.pop("max_fee_per_gas", None)
    tx.pop("max_priority_fee_per_gas", None)
    tx.pop("nonce", None)
    if price:
        tx["gas_price"] = price
    return tx


def _send_object(value) -> dict:
    """A JSON eth_sendTransaction object -> web3-style tx dict for the chain."""
    if not isinstance(value, dict):
        raise _invalid("invalid transaction object")
    tx: dict[str, Any] = {}
    if value.get("to") is not None:
        tx["to"] = _address(value["to"], "to")
    payload = value.get("input", value.get("data"))
    if payload is not None:
        tx["data"] = _data(payload, "input")
    for key in _TX_QUANTITIES:
        if value.get(key) is not None:
            tx[key] = _quantity(value[key], key)
    if "gasPrice" in tx and ("maxFeePerGas" in tx or "maxPriorityFeePerGas" in tx):
        raise _invalid("both gasPrice and EIP-1559 fee fields given")
    if "maxFeePerGas" in tx and "maxPriorityFeePerGas" not in tx:
        tx["maxPriorityFeePerGas"] = min(GAS_PRICE, tx["maxFeePerGas"])
    if "maxPriorityFeePerGas" in tx and "maxFeePerGas" not in tx:
        tx["maxFeePerGas"] = tx["maxPriorityFeePerGas"] + 2 * GAS_PRICE
    if value.get("accessList"):
        tx["accessList"] = value["accessList"]
    return tx


# ----------------------------------------------------------------------
# outbound conversion (eth-tester -> JSON)


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _jsonify(value):
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return {_camel(k): _jsonify(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonify(v) for v in value]
    return str(value)


def _bloom_hex(bloom: int) -> str:
    return "0x" + bloom.to_bytes(256, "big").hex()


def _logs_bloom(logs) -> str:
    from eth_utils import keccak

    bloom = 0
    for entry in logs:
        items = [bytes.fromhex(entry["address"][2:])]
        items += [bytes.fromhex(topic[2:]) for topic in entry["topics"]]
        for item in items:
            digest = keccak(item)
            for i in (0, 2, 4):
                bloom |= 1 << (((digest[i] << 8) | digest[i + 1]) & 2047)
    return _bloom_hex(bloom)


def _format_log(entry) -> dict:
    out = {k: v for k, v in entry.items() if k != "type"}
    out = _jsonify(out)
    out["removed"] = False
    return out


def _format_transaction(tx) -> dict:
    out = dict(tx)
    out["input"] = out.pop("data", "0x")
    if out.get("type") in ("0x0", 0, None):
        # legacy transactions carry no EIP-1559 / 2930 fields
        for key in ("max_fee_per_gas", "max_priority_fee_per_gas", "access_list",
                    "y_parity"):
            out.pop(key, None)
    return _jsonify(out)


def _format_receipt(receipt) -> dict:
    out = {k: v for k, v in receipt.items() if k not in ("logs", "state_root")}
    out = _jsonify(out)
    out["logs"] = [_format_log(entry) for entry in receipt["logs"]]
    out["logsBloom"] = _logs_bloom(receipt["logs"])
    return out


def _format_block(block) -> dict:
    out = {k: v for k, v in block.items() if k not in ("transactions", "logs_bloom")}
    out = _jsonify(out)
    out["logsBloom"] = _bloom_hex(int(block.get("logs_bloom", 0)))
    txs = block.get("transactions", ())
    out["transactions"] = [
        tx if isinstance(tx, str) else _format_transaction(tx) for tx in txs
    ]
    return out


# ----------------------------------------------------------------------
# revert / error translation

_NONCE_MISMATCH = re.compile(r"Invalid transaction nonce: Expected (\d+), but got (\d+)")
_NO_FUNDS = ("cannot afford txn gas", "does not have enough balance")
_BYTES_REPR = re.compile(r"(?<!\w)b'(?:[^'\\]|\\.)*'|(?<!\w)b\"(?:[^\"\\]|\\.)*\"")


def _hex_bytes_repr(match: re.Match) -> str:
    try:
        return "0x" + ast.literal_eval(match.group(0)).hex()
    except (ValueError, SyntaxError):
        return match.group(0)


def _geth_wording(text: str) -> str:
    """py-evm's nonce / balance rejections in geth's words, which clients
    classify by message (ethers: NONCE_EXPIRED / INSUFFICIENT_FUNDS; our own
    registry client: nonce retry / InsufficientFunds).  Python ``b'...'``
    reprs (py-evm's sender address) become hex."""
    text = _BYTES_REPR.sub(_hex_bytes_repr, text)
    nonce = _NONCE_MISMATCH.search(text)
    if nonce:
        expected, got = int(nonce.group(1)), int(nonce.group(2))
        kind = "nonce too low" if got < expected else "nonce too high"
        return f"{kind}: tx: {got} state: {expected}"
    if any(hint in text for hint in _NO_FUNDS):
        return f"insufficient funds for gas * price + value ({text})"
    return text


def _error_for(exc: BaseException) -> RpcError:
    if isinstance(exc, RpcError):
        return exc
    if isinstance(exc, TransactionReverted):
        return RpcError(EXECUTION_REVERTED, str(exc), "0x" + exc.data.hex())
    if isinstance(exc, (TransactionRejected, ChainError)):
        return RpcError(SERVER_ERROR, _geth_wording(str(exc)))
    from eth_tester.exceptions import TransactionFailed, ValidationError
    from eth_utils import ValidationError as EthValidationError

    if isinstance(exc, TransactionFailed):
        reverted = revert_from_exception(exc)
        if reverted is not None:
            return _error_for(reverted)
        return RpcError(SERVER_ERROR, str(exc))
    if isinstance(exc, (ValidationError, EthValidationError)):
        return RpcError(SERVER_ERROR, _geth_wording(str(exc)))
    log.failure("unexpected JSON-RPC failure", Failure(exc, type(exc), exc.__traceback__))
    return RpcError(SERVER_ERROR, f"{type(exc).__name__}: {exc}")


# ----------------------------------------------------------------------
# method implementations (run on the chain thread)


def _params(params, minimum: int, maximum: int) -> list:
    if params is None:
        params = []
    if not isinstance(params, list):
        raise _invalid("params must be an array")
    if not minimum <= len(params) <= maximum:
        if minimum == maximum:
            raise _invalid(f"expected {minimum} params, got {len(params)}")
        raise _invalid(f"expected {minimum}-{maximum} params, got {len(params)}")
    return params + [None] * (maximum - len(params))


def _block_number(tester, params):
    _params(params, 0, 0)
    return hex(tester.get_block_by_number("latest")["number"])


def _get_block(tester, block_id, full):
    from eth_tester.exceptions import BlockNotFound

    try:
        if isinstance(block_id, str) and block_id.startswith("0x") and len(block_id) == 66:
            block = tester.get_block_by_hash(block_id, full_transactions=full)
        else:
            block = tester.get_block_by_number(block_id, full_transactions=full)
    except BlockNotFound:
        return None
    return _format_block(block)


def _get_block_by_number(tester, params):
    block, full = _params(params, 1, 2)
    return _get_block(tester, _block_id(tester, block), bool(full))


def _get_block_by_hash(tester, params):
    block_hash, full = _params(params, 1, 2)
    return _get_block(tester, _hash32(block_hash, "block hash"), bool(full))


def _get_balance(tester, params):
    account, block = _params(params, 1, 2)
    return hex(tester.get_balance(_address(account), _block_id(tester, block)))


def _get_code(tester, params):
    account, block = _params(params, 1, 2)
    return tester.get_code(_address(account), _block_id(tester, block))


def _get_transaction_count(tester, params):
    account, block = _params(params, 1, 2)
    return hex(tester.get_nonce(_address(account), _block_id(tester, block)))


def _get_storage_at(tester, params):
    account, slot, block = _params(params, 2, 3)
    slot_hex = hex(_quantity(slot, "storage slot"))
    value = tester.get_storage_at(_address(account), slot_hex, _block_id(tester, block))
    if isinstance(value, (bytes, bytearray)):
        value = "0x" + bytes(value).hex()
    return "0x" + value[2:].rjust(64, "0")


def _call(chain, tester, params):
    tx, block = _params(params, 1, 3)[:2]
    return "0x" + chain.execute_call(_call_object(tx), _block_id(tester, block)).hex()


def _estimate_gas(chain, tester, params):
    tx, block = _params(params, 1, 3)[:2]
    return hex(chain.execute_estimate(_call_object(tx), _block_id(tester, block)))


def _get_transaction_by_hash(tester, params):
    from eth_tester.exceptions import TransactionNotFound

    (tx_hash,) = _params(params, 1, 1)
    try:
        return _format_transaction(tester.get_transaction_by_hash(_hash32(tx_hash)))
    except TransactionNotFound:
        return None


def _get_transaction_receipt(tester, params):
    from eth_tester.exceptions import TransactionNotFound

    (tx_hash,) = _params(params, 1, 1)
    try:
        receipt = tester.get_transaction_receipt(_hash32(tx_hash))
    except TransactionNotFound:
        return None
    if receipt is None or receipt.get("block_number") is None:
        return None
    return _format_receipt(receipt)


def _topics(value):
    if value is None:
        return None
    if not isinstance(value, list):
        raise _invalid("topics must be an array")
    out = []
    for item in value:
        if item is None:
            out.append(None)
        elif isinstance(item, list):
            out.append(tuple(_hash32(t, "topic") for t in item) if item else None)
        else:
            out.append(_hash32(item, "topic"))
    while out and out[-1] is None:
        out.pop()
    return tuple(out) if out else None


def _get_logs(tester, params):
    (query,) = _params(params, 1, 1)
    if not isinstance(query, dict):
        raise _invalid("filter must be an object")
    if query.get("blockHash") is not None:
        if query.get("fromBlock") is not None or query.get("toBlock") is not None:
            raise _invalid("blockHash excludes fromBlock/toBlock")
        number = tester.get_block_by_hash(_hash32(query["blockHash"], "blockHash"))["number"]
        from_block = to_block = number
    else:
        from_block = _block_id(tester, query.get("fromBlock"))
        to_block = _block_id(tester, query.get("toBlock"))
    head = tester.get_block_by_number("latest")["number"]
    numbers = []
    for block in (from_block, to_block):
        if block == "earliest":
            block = 0
        elif isinstance(block, str):
            block = head
        numbers.append(block)
    if numbers[0] > head:
        return []
    if numbers[1] > head:
        numbers[1] = head
    if numbers[0] > numbers[1]:
        return []
    address = query.get("address")
    if isinstance(address, list):
        address = tuple(_address(a) for a in address) or None
    elif address is not None:
        address = _address(address)
    logs = tester.get_logs(
        from_block=numbers[0], to_block=numbers[1], address=address,
        topics=_topics(query.get("topics")),
    )
    return [_format_log(entry) for entry in logs]


def _fee_history(tester, params):
    count, newest, percentiles = _params(params, 2, 3)
    count = _quantity(count, "blockCount") if not isinstance(count, int) else count
    count = max(1, min(int(count), 1024))
    newest = _block_id(tester, newest)
    head = tester.get_block_by_number("latest")["number"]
    if newest in ("earliest",):
        newest = 0
    elif isinstance(newest, str):
        newest = head
    newest = min(newest, head)
    oldest = max(0, newest - count + 1)
    base_fees, ratios = [], []
    for number in range(oldest, newest + 1):
        block = tester.get_block_by_number(number)
        base_fees.append(block.get("base_fee_per_gas") or 0)
        ratios.append(block["gas_used"] / block["gas_limit"] if block["gas_limit"] else 0.0)
    # next block's base fee: not exposed by eth-tester; repeat the last one
    base_fees.append(base_fees[-1])
    result = {
        "oldestBlock": hex(oldest),
        "baseFeePerGas": [hex(v) for v in base_fees],
        "gasUsedRatio": ratios,
    }
    if percentiles:
        result["reward"] = [[hex(GAS_PRICE)] * len(percentiles) for _ in ratios]
    return result


def _static(value) -> Callable:
    def method(tester, params):
        return value

    return method


class JsonRpcResource(Resource):
    """Ethereum JSON-RPC 2.0 over HTTP POST, backed by an EmbeddedChain."""

    isLeaf = True

    def __init__(self, chain, max_body: int = MAX_BODY_BYTES):
        super().__init__()
        self.chain = chain
        self.max_body = max_body
        self._tester_methods: dict[str, Callable] = {
            "eth_blockNumber": _block_number,
            "eth_getBlockByNumber": _get_block_by_number,
            "eth_getBlockByHash": _get_block_by_hash,
            "eth_getBalance": _get_balance,
            "eth_getCode": _get_code,
            "eth_getTransactionCount": _get_transaction_count,
            "eth_getStorageAt": _get_storage_at,
            "eth_call": functools.partial(_call, chain),
            "eth_estimateGas": functools.partial(_estimate_gas, chain),
            "eth_getTransactionByHash": _get_transaction_by_hash,
            "eth_getTransactionReceipt": _get_transaction_receipt,
            "eth_getLogs": _get_logs,
            "eth_feeHistory": _fee_history,
        }
        self._local_methods: dict[str, Callable] = {
            "eth_chainId": lambda p: hex(self.chain.chain_id),
            "net_version": lambda p: str(self.chain.chain_id),
            "net_listening": lambda p: True,
            "net_peerCount": lambda p: "0x0",
            "web3_clientVersion": lambda p: CLIENT_VERSION,
            "eth_syncing": lambda p: False,
            "eth_mining": lambda p: False,
            "eth_gasPrice": lambda p: hex(GAS_PRICE),
            "eth_maxPriorityFeePerGas": lambda p: hex(GAS_PRICE),
            "eth_accounts": lambda p: [a for a, _ in self.chain.dev_accounts],
        }
        self._async_methods: dict[str, Callable] = {
            "eth_sendRawTransaction": self._send_raw_transaction,
            "eth_sendTransaction": self._send_transaction,
        }

    # -- HTTP ------------------------------------------------------------

    def render_GET(self, request):
        request.setResponseCode(405)
        request.setHeader(b"allow", b"POST")
        return self._encode(self._error_response(None, RpcError(
            INVALID_REQUEST, "JSON-RPC requests must be HTTP POST")))

    def render_POST(self, request):
        request.setHeader(b"content-type", b"application/json")
        if getattr(request, "body_too_large", False) or self._body_size(request) > self.max_body:
            request.setResponseCode(413)
            return self._encode(self._error_response(None, RpcError(
                INVALID_REQUEST, f"request body larger than {self.max_body} bytes")))
        request.content.seek(0)
        body = request.content.read()
        try:
            message = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return self._encode(self._error_response(None, RpcError(PARSE_ERROR, "parse error")))

        d = self.handle(message)
        finished = [False]
        request.notifyFinish().addErrback(lambda _: finished.__setitem__(0, True))

        def respond(response):
            if finished[0]:
                return
            if response is None:
                request.setResponseCode(204)
            else:
                request.write(self._encode(response))
            request.finish()

        d.addCallback(respond)
        d.addErrback(lambda f: log.failure("JSON-RPC response failed", f))
        return server.NOT_DONE_YET

    @staticmethod
    def _body_size(request) -> int:
        content = request.content
        position = content.tell()
        content.seek(0, 2)
        size = content.tell()
        content.seek(position)
        return size

    @staticmethod
    def _encode(response) -> bytes:
        return json.dumps(response, separators=(",", ":")).encode("utf-8")

    # -- JSON-RPC --------------------------------------------------------

    def handle(self, message) -> defer.Deferred:
        """Process a decoded JSON-RPC message (single or batch).  Fires with
        the response object/list, or ``None`` when nothing is to be sent."""
        if isinstance(message, list):
            if not message:
                return defer.succeed(self._error_response(None, RpcError(
                    INVALID_REQUEST, "empty batch")))
            ds = [self._handle_one(item) for item in message]
            d = defer.gatherResults(ds, consumeErrors=True)
            d.addCallback(lambda results: [r for r in results if r is not None] or None)
            return d
        return self._handle_one(message)

    def _handle_one(self, request) -> defer.Deferred:
        if not isinstance(request, dict):
            return defer.succeed(self._error_response(None, RpcError(
                INVALID_REQUEST, "invalid request")))
        request_id = request.get("id")
        is_notification = "id" not in request
        method = request.get("method")
        if (
            not isinstance(method, str)
            or request.get("jsonrpc", "2.0") != "2.0"
            or not isinstance(request_id, (str, int, type(None)))
            or isinstance(request_id, bool)
        ):
            return defer.succeed(self._error_response(None if is_notification else request_id,
                                                      RpcError(INVALID_REQUEST, "invalid request")))
        params = request.get("params", [])
        d = defer.maybeDeferred(self._dispatch, method, params)

        def ok(result):
            if is_notification:
                return None
            return {"jsonrpc": "2.0", "id": request_id, "result": result}

        def failed(f):
            if is_notification:
                return None
            try:
                error = _error_for(f.value)
            except Exception as e:  # never leave the HTTP request hanging
                error = RpcError(INTERNAL_ERROR, f"internal error: {e}")
            return self._error_response(request_id, error)

        d.addCallbacks(ok, failed)
        return d

    @staticmethod
    def _error_response(request_id, error: RpcError) -> dict:
        return {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}

    def _dispatch(self, method: str, params):
        if params is not None and not isinstance(params, (list, dict)):
            raise _invalid("params must be an array")
        if isinstance(params, dict):
            raise _invalid("named params are not supported")
        if method in self._local_methods:
            return self._local_methods[method](params)
        if method in self._tester_methods:
            return self.chain.call_tester(self._tester_methods[method], params)
        if method in self._async_methods:
            return self._async_methods[method](params)
        raise RpcError(METHOD_NOT_FOUND, f"the method {method} does not exist/is not available")

    def _send_raw_transaction(self, params):
        (raw,) = _params(params, 1, 1)
        payload = bytes.fromhex(_data(raw, "raw transaction")[2:])
        if not payload:
            raise _invalid("empty raw transaction")
        d = self.chain.send_raw_transaction(payload)
        d.addCallback(lambda tx_hash: "0x" + bytes(tx_hash).hex())
        return d

    def _send_transaction(self, params):
        (value,) = _params(params, 1, 1)
        if not isinstance(value, dict) or value.get("from") is None:
            raise _invalid("transaction needs a from address")
        sender = _address(value["from"], "from")
        key = self.chain.dev_key(sender)
        if key is None:
            raise RpcError(SERVER_ERROR, f"unknown account {sender}")
        d = self.chain.send_transaction(_send_object(value), key)
        d.addCallback(lambda receipt: "0x" + bytes(receipt["transactionHash"]).hex())
        return d


class _BoundedRequest(server.Request):
    """A Request that stops buffering the body past ``max_body`` bytes."""

    max_body = MAX_BODY_BYTES
    body_too_large = False
    _body_seen = 0

    def gotLength(self, length):
        if length is not None and length > self.max_body:
            self.body_too_large = True
            length = 0  # keep the in-memory buffer small; the body is dropped
        super().gotLength(length)

    def handleContentChunk(self, data):
        self._body_seen += len(data)
        if self.body_too_large or self._body_seen > self.max_body:
            self.body_too_large = True
            return
        super().handleContentChunk(data)


def rpc_site(chain, max_body: int = MAX_BODY_BYTES) -> server.Site:
    """A ``Site`` serving :class:`JsonRpcResource` at every path."""
    request_class = type("BoundedRequest", (_BoundedRequest,), {"max_body": max_body})
    site = server.Site(JsonRpcResource(chain, max_body=max_body), requestFactory=request_class)
    site.displayTracebacks = False
    return site


def rpc_service(reactor, chain, endpoint_string: str = DEFAULT_RPC_ENDPOINT,
                max_body: int = MAX_BODY_BYTES):
    """An ``IService`` listening on ``endpoint_string`` with the JSON-RPC site."""
    endpoint = serverFromString(reactor, endpoint_string)
    return StreamServerEndpointService(endpoint, rpc_site(chain, max_body))
