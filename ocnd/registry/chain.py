"""Embedded development chain: an in-process EVM with the OCN Registry deployed.

The chain is eth-tester's ``PyEVMBackend`` (py-evm) behind a web3
``EthereumTesterProvider``.  py-evm is not thread-safe, so every access goes
through one dedicated worker thread (a ``ThreadPool`` with exactly one
thread); callers on the reactor get Deferreds back.  Because there is only
one thread, writes are serialised for free and a "fill nonce, sign, apply"
sequence can never interleave with another writer.

Deterministic layout (drop-in for the upstream ``local`` network and
ocn-node's docker profile):

* dev accounts are derived from the truffle/ganache mnemonic
  ``candy maple ... sweet treat`` on ``m/44'/60'/0'/0/<i>``; account 0 is
  ``0x627306090abaB3A6e1400e9345bC60c78a8BEf57``;
* account 0 burns nonces 0 and 1 with self-transfers, deploys the Registry
  at nonce 2 and ``Permissions(registry)`` at nonce 3, which yields
  ``0x345cA3e0...3e10`` and ``0xf25186B5...abfBF``.

Persistence: every accepted raw transaction is appended to a SQLite journal
(WAL, ``synchronous=FULL``) before the caller's Deferred fires.  At start,
after the deterministic deployment, the journal is replayed in order, so
registrations survive restarts.  ``journal_path=None`` keeps everything in
memory.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any, Callable

from twisted.internet import defer, threads
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

DEV_MNEMONIC = (
    "candy maple cake sugar pudding cream honey rich smooth crumble sweet treat"
)
DEV_HD_PATH = "m/44'/60'/0'/0"
DEFAULT_CHAIN_ID = 9
DEFAULT_DEV_ACCOUNTS = 10
DEV_ACCOUNT_BALANCE = 1_000_000 * 10**18  # wei per dev account
BLOCK_GAS_LIMIT = 30_000_000
GAS_PRICE = 10**9  # 1 gwei; the genesis base fee, and base fee only falls here
FUND_AMOUNT = 100 * 10**18

#: Deterministic addresses of the upstream "local" network.
LOCAL_DEPLOYER = "0x627306090abaB3A6e1400e9345bC60c78a8BEf57"
LOCAL_REGISTRY_ADDRESS = "0x345cA3e014Aaf5dcA488057592ee47305D9B3e10"
LOCAL_PERMISSIONS_ADDRESS = "0xf25186B5081Ff5cE73482AD761DB0eB0d25abfBF"

ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)

_JOURNAL_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS journal (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    tx_hash  TEXT NOT NULL,
    raw      BLOB NOT NULL,
    added_at REAL NOT NULL
);
"""


class ChainError(Exception):
    """The embedded chain could not do what was asked."""


class ChainNotRunning(ChainError):
    """``start()`` has not completed, or ``stop()`` was called."""


class TransactionRejected(ChainError):
    """The transaction is invalid (decoding, signature, nonce, funds, gas,
    chain id) and was neither applied nor journaled."""


class TransactionReverted(ChainError):
    """The transaction would revert; it was neither applied nor journaled.

    ``data`` is the raw revert data (``0x08c379a0...`` for ``Error(string)``),
    ``reason`` the decoded reason string when there is one.
    """

    def __init__(self, reason: str | None, data: bytes = b""):
        self.reason = reason
        self.data = data
        if reason is not None:
            message = f"execution reverted: {reason}"
        else:
            message = "execution reverted"
        super().__init__(message)


def decode_revert_reason(data: bytes) -> str | None:
    """Return the ``Error(string)`` reason encoded in revert ``data``, if any."""
    if len(data) < 4 or data[:4] != ERROR_SELECTOR:
        return None
    from eth_abi import decode

    try:
        (reason,) = decode(["string"], data[4:])
    except Exception:
        return None
    return reason


def encode_revert_reason(reason: str) -> bytes:
    """Encode ``reason`` as ``Error(string)`` revert data."""
    from eth_abi import encode

    return ERROR_SELECTOR + encode(["string"], [reason])


def derive_dev_accounts(count: int = DEFAULT_DEV_ACCOUNTS) -> list[tuple[str, str]]:
    """(checksum address, 0x-hex private key) for the first ``count`` accounts
    of the candy mnemonic on the standard Ethereum HD path."""
    from eth_account import Account
    from eth_account.hdaccount import key_from_seed, seed_from_mnemonic

    seed = seed_from_mnemonic(DEV_MNEMONIC, "")
    accounts = []
    for index in range(count):
        key = key_from_seed(seed, f"{DEV_HD_PATH}/{index}")
        accounts.append((Account.from_key(key).address, "0x" + key.hex()))
    return accounts


class EmbeddedChain:
    """An in-process EVM with the OCN Registry and Permissions deployed.

    :param reactor: the reactor Deferreds fire on.
    :param journal_path: SQLite file for the transaction journal, or ``None``
        for a purely in-memory chain.
    :param chain_id: served as both ``eth_chainId`` and ``net_version``.
    :param artifacts: object with ``abi(name)`` and ``bytecode(name)``;
        defaults to :mod:`ocnd.registry.artifacts`.
    :param num_accounts: how many funded dev accounts to create.
    """

    log = Logger()

    def __init__(
        self,
        reactor,
        journal_path: str | None,
        chain_id: int = DEFAULT_CHAIN_ID,
        *,
        artifacts=None,
        num_accounts: int = DEFAULT_DEV_ACCOUNTS,
    ):
        if num_accounts < 1:
            raise ValueError("need at least one dev account")
        self._reactor = reactor
        self.journal_path = journal_path
        self.chain_id = int(chain_id)
        self._artifacts = artifacts
        self._num_accounts = num_accounts
        self.dev_accounts: list[tuple[str, str]] = []
        self.registry_address: str | None = None
        self.permissions_address: str | None = None
        self.replayed = 0
        self.replay_failures: list[tuple[int, str, str]] = []
        self.start_seconds: float | None = None
        self._pool: ThreadPool | None = None
        self._shutdown_trigger = None
        self._running = False
        # Only ever touched on the chain thread:
        self._tester = None
        self._w3 = None
        self._db: sqlite3.Connection | None = None

    # ------------------------------------------------------------------
    # lifecycle (reactor thread)

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> defer.Deferred:
        """Build the chain, deploy the contracts and replay the journal."""
        if self._pool is not None:
            return defer.fail(ChainError("chain already started"))
        self._pool = ThreadPool(minthreads=1, maxthreads=1, name="ocnd-chain")
        self._pool.start()
        # "before", not "during": only before-phase triggers may return a
        # Deferred the reactor waits for, and closing the journal has to run
        # on the chain thread before the pool is stopped.
        self._shutdown_trigger = self._reactor.addSystemEventTrigger(
            "before", "shutdown", self._stop_on_shutdown
        )
        d = threads.deferToThreadPool(self._reactor, self._pool, self._build)

        def started(_):
            self._running = True
            self.log.info(
                "embedded chain {chain_id} ready in {seconds:.2f}s: Registry {registry},"
                " Permissions {permissions}, {replayed} journaled txs replayed"
                " ({failed} failed)",
                chain_id=self.chain_id,
                seconds=self.start_seconds,
                registry=self.registry_address,
                permissions=self.permissions_address,
                replayed=self.replayed,
                failed=len(self.replay_failures),
            )
            return self

        def failed(f):
            self.log.failure("embedded chain failed to start", f)
            self._teardown_pool()
            return f

        d.addCallbacks(started, failed)
        return d

    def stop(self) -> defer.Deferred:
        """Close the journal and stop the chain thread."""
        if self._pool is None:
            return defer.succeed(None)
        self._running = False
        d = threads.deferToThreadPool(self._reactor, self._pool, self._close)

        def done(result):
            self._teardown_pool()
            return result

        d.addBoth(done)
        return d

    def _stop_on_shutdown(self):
        self._shutdown_trigger = None
        return self.stop()

    def _teardown_pool(self):
        pool, self._pool = self._pool, None
        self._running = False
        if self._shutdown_trigger is not None:
            try:
                self._reactor.removeSystemEventTrigger(self._shutdown_trigger)
            except (ValueError, KeyError):
                pass
            self._shutdown_trigger = None
        if pool is not None:
            pool.stop()

    # ------------------------------------------------------------------
    # public API (reactor thread)

    def run(self, fn: Callable[..., Any], *args, **kwargs) -> defer.Deferred:
        """Run ``fn(w3, *args, **kwargs)`` on the chain thread."""
        return self._call(self._on, "_w3", fn, args, kwargs)

    def call_tester(self, fn: Callable[..., Any], *args, **kwargs) -> defer.Deferred:
        """Run ``fn(eth_tester, *args, **kwargs)`` on the chain thread."""
        return self._call(self._on, "_tester", fn, args, kwargs)

    def _on(self, attr: str, fn, args, kwargs):
        target = getattr(self, attr)
        if target is None:  # queued before stop() and run after _close()
            raise ChainNotRunning("embedded chain stopped")
        return fn(target, *args, **kwargs)

    def send_raw_transaction(self, raw: bytes) -> defer.Deferred:
        """Validate, journal and apply a signed transaction.

        Fires with the transaction hash (``HexBytes``) once the transaction is
        mined and durably journaled.  Fails with :class:`TransactionRejected`
        or :class:`TransactionReverted` (nothing applied or journaled).
        """
        return self._call(self._send_raw, bytes(raw))

    def send_transaction(self, tx: dict, private_key) -> defer.Deferred:
        """Fill nonce/gas/gasPrice/chainId, sign with ``private_key`` and send
        through the raw path.  Fires with the web3 receipt."""
        return self._call(self._sign_and_send, dict(tx), private_key)

    def fund(self, address: str, value: int = FUND_AMOUNT, from_index: int = 0):
        """Journaled transfer of ``value`` wei from a dev account to ``address``."""
        _, key = self.dev_accounts[from_index]
        return self.send_transaction({"to": address, "value": int(value)}, key)

    def dev_key(self, address: str) -> str | None:
        """The private key of a dev account, or ``None``."""
        for addr, key in self.dev_accounts:
            if addr.lower() == address.lower():
                return key
        return None

    # ------------------------------------------------------------------
    # chain-thread internals

    def _call(self, fn, *args) -> defer.Deferred:
        if self._pool is None:
            return defer.fail(ChainNotRunning("embedded chain is not running"))
        return threads.deferToThreadPool(self._reactor, self._pool, fn, *args)

    def _load_artifacts(self):
        if self._artifacts is None:
            from ocnd.registry import artifacts

            self._artifacts = artifacts
        return self._artifacts

    def _build(self):
        started = time.monotonic()
        from eth_tester import EthereumTester, PyEVMBackend
        from eth_tester.backends.pyevm.main import get_default_genesis_params
        from web3 import Web3
        from web3.providers.eth_tester import EthereumTesterProvider

        arts = self._load_artifacts()
        self.dev_accounts = derive_dev_accounts(self._num_accounts)
        if self.dev_accounts[0][0] != LOCAL_DEPLOYER:
            raise ChainError("dev account 0 does not match the upstream deployer")

        backend = self._make_backend(PyEVMBackend, get_default_genesis_params)
        self._tester = EthereumTester(backend=backend)
        provider = EthereumTesterProvider(
            self._tester, api_endpoints=self._api_endpoints()
        )
        self._w3 = Web3(provider)
        if self._w3.eth.chain_id != self.chain_id:
            raise ChainError("chain id override did not take effect")

        self._deploy(arts)
        if self.journal_path is not None:
            self._open_journal()
            self._replay()
        self.start_seconds = time.monotonic() - started

    def _make_backend(self, backend_class, default_params):
        """A PyEVMBackend whose chain reports ``self.chain_id``.

        eth-tester 0.14 hard-codes ``chain_id`` as a class attribute of the
        py-evm chain class it creates inside ``setup_tester_chain``; the
        backend offers no parameter for it.  py-evm reads ``self.chain_id``
        whenever it builds a VM (``ChainContext``), which is what the
        ``CHAINID`` opcode and eth-tester's transaction signing use.  So we
        derive a subclass of that chain class with our id and rebuild the
        chain from the same genesis on a fresh database.
        """
        from eth.db.atomic import AtomicDB
        from eth_keys import keys

        params = default_params({"gas_limit": BLOCK_GAS_LIMIT})
        private_keys = tuple(
            keys.PrivateKey(bytes.fromhex(key[2:])) for _, key in self.dev_accounts
        )
        state = {
            pk.public_key.to_canonical_address(): {
                "balance": DEV_ACCOUNT_BALANCE,
                "nonce": 0,
                "code": b"",
                "storage": {},
            }
            for pk in private_keys
        }
        backend = backend_class(genesis_parameters=params, genesis_state=state)
        # eth-tester's own unlocked accounts (eth_accounts, eth_sendTransaction
        # through the in-process provider) are our dev accounts.
        backend.account_keys = private_keys
        base_class = type(backend.chain)
        chain_class = type(
            "OcndDevChain", (base_class,), {"chain_id": self.chain_id}
        )
        backend.chain = chain_class.from_genesis(AtomicDB(), params, state)
        return backend

    def _api_endpoints(self):
        from web3.providers.eth_tester.defaults import API_ENDPOINTS

        chain_id = self.chain_id
        endpoints = {ns: dict(methods) for ns, methods in API_ENDPOINTS.items()}
        endpoints["eth"]["chainId"] = lambda *a, **kw: chain_id
        endpoints["eth"]["gasPrice"] = lambda *a, **kw: GAS_PRICE
        endpoints["net"]["version"] = lambda *a, **kw: str(chain_id)
        endpoints["net"]["listening"] = lambda *a, **kw: True
        return endpoints

    def _deploy(self, arts):
        """Burn nonces 0-1, deploy Registry (nonce 2) and Permissions (nonce 3)."""
        deployer, key = self.dev_accounts[0]
        w3 = self._w3
        for _ in range(2):
            self._sign_and_send({"to": deployer, "value": 0}, key, journal=False)
        registry = w3.eth.contract(
            abi=arts.abi("Registry"), bytecode=arts.bytecode("Registry")
        )
        receipt = self._sign_and_send(
            {"data": registry.constructor().data_in_transaction, "nonce": 2},
            key,
            journal=False,
        )
        self.registry_address = receipt["contractAddress"]
        permissions = w3.eth.contract(
            abi=arts.abi("Permissions"), bytecode=arts.bytecode("Permissions")
        )
        receipt = self._sign_and_send(
            {
                "data": permissions.constructor(
                    self.registry_address
                ).data_in_transaction,
                "nonce": 3,
            },
            key,
            journal=False,
        )
        self.permissions_address = receipt["contractAddress"]
        if (self.registry_address, self.permissions_address) != (
            LOCAL_REGISTRY_ADDRESS,
            LOCAL_PERMISSIONS_ADDRESS,
        ):
            raise ChainError(
                "deterministic deployment produced unexpected addresses "
                f"{self.registry_address} / {self.permissions_address}"
            )

    def _sign_and_send(self, tx: dict, private_key, journal: bool = True):
        from eth_account import Account

        w3 = self._w3
        acct = Account.from_key(private_key)
        tx = {k: v for k, v in tx.items() if v is not None}
        tx.pop("from", None)
        if tx.get("to"):
            from eth_utils import to_checksum_address

            tx["to"] = to_checksum_address(tx["to"])
        tx.setdefault("chainId", self.chain_id)
        tx.setdefault("value", 0)
        if "nonce" not in tx:
            tx["nonce"] = w3.eth.get_transaction_count(acct.address, "pending")
        if "gasPrice" not in tx and "maxFeePerGas" not in tx:
            tx["gasPrice"] = GAS_PRICE
        if "gas" not in tx:
            tx["gas"] = self.execute_estimate({
                "from": acct.address,
                "to": tx.get("to"),
                "data": tx.get("data"),
                "value": tx.get("value"),
                "gas_price": tx.get("gasPrice") or tx.get("maxFeePerGas"),
            })
        signed = acct.sign_transaction(tx)
        tx_hash = self._send_raw(bytes(signed.raw_transaction), journal=journal)
        return w3.eth.get_transaction_receipt(tx_hash)

    def _as_chain_error(self, exc: Exception) -> ChainError:
        if isinstance(exc, ChainError):
            return exc
        reverted = revert_from_exception(exc)
        if reverted is not None:
            return reverted
        return TransactionRejected(str(exc))

    def _check(self, raw: bytes):
        """Decode and dry-run ``raw`` on the pending state; return the py-evm
        transaction.  Raises TransactionRejected / TransactionReverted."""
        chain = self._tester.backend.chain
        vm = chain.get_vm()
        try:
            tx = vm.get_transaction_builder().decode(raw)
            tx.validate()
        except Exception as e:
            raise TransactionRejected(f"invalid transaction: {e}") from e
        tx_chain_id = tx.chain_id
        if tx_chain_id is not None and tx_chain_id != self.chain_id:
            raise TransactionRejected(
                f"invalid chain id {tx_chain_id} (this chain is {self.chain_id})"
            )
        header = vm.get_header()
        if tx.gas > header.gas_limit - header.gas_used:
            raise TransactionRejected(
                f"gas {tx.gas} exceeds block gas limit {header.gas_limit}"
            )
        state = vm.state
        snapshot = state.snapshot()
        try:
            computation = state.apply_transaction(tx)
        except Exception as e:
            raise TransactionRejected(f"invalid transaction: {e}") from e
        finally:
            state.revert(snapshot)
        if computation.is_error:
            data = bytes(computation.output or b"")
            reason = decode_revert_reason(data)
            if reason is None and not data:
                reason = _error_text(computation.error)
            raise TransactionReverted(reason, data)
        return tx

    def _send_raw(self, raw: bytes, journal: bool = True):
        from hexbytes import HexBytes

        if self._tester is None:
            raise ChainNotRunning("embedded chain is not running")
        tx = self._check(raw)
        tx_hash = HexBytes(tx.hash)
        db = self._db if journal else None
        if db is not None:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    "INSERT INTO journal (tx_hash, raw, added_at) VALUES (?, ?, ?)",
                    (tx_hash.to_0x_hex(), sqlite3.Binary(raw), time.time()),
                )
                self._apply(raw)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        else:
            self._apply(raw)
        receipt = self._tester.get_transaction_receipt(tx_hash.to_0x_hex())
        if receipt.get("status") == 0:
            # The dry run said it would succeed; py-evm is deterministic, so
            # this should be unreachable.  The tx is mined (its nonce is used),
            # so it stays journaled to keep replay consistent.
            self.log.warn("tx {tx_hash} was mined but reverted", tx_hash=tx_hash)
        return tx_hash

    def _apply(self, raw: bytes):
        try:
            self._tester.send_raw_transaction("0x" + raw.hex())
        except Exception as e:
            raise TransactionRejected(f"transaction not applied: {e}") from e

    # -- calls (chain thread only) ---------------------------------------

    def header_for(self, block_id="latest"):
        """The py-evm header of a mined block: a number or a tag
        (``latest``/``pending``/``safe``/``finalized``/``earliest``)."""
        chain = self._tester.backend.chain
        head = chain.get_canonical_head()
        if block_id in ("latest", "pending", "safe", "finalized", None):
            return head
        if block_id == "earliest":
            block_id = 0
        if not isinstance(block_id, int) or block_id < 0 or block_id > head.block_number:
            raise ChainError(f"block {block_id} not found")
        return chain.get_canonical_block_header_by_number(block_id)

    def _spoofed(self, tx: dict, header):
        from eth.vm.spoof import SpoofTransaction
        from eth_utils import to_canonical_address

        chain = self._tester.backend.chain
        sender = to_canonical_address(tx.get("from") or "0x" + "00" * 20)
        to = to_canonical_address(tx["to"]) if tx.get("to") else b""
        data = tx.get("data") or b""
        if isinstance(data, str):
            data = bytes.fromhex(data.removeprefix("0x"))
        vm = chain.get_vm(at_header=header)
        with vm.in_costless_state() as state:
            nonce = state.get_nonce(sender)
        unsigned = chain.create_unsigned_transaction(
            nonce=nonce,
            gas_price=int(tx.get("gas_price") or 0),
            gas=int(tx.get("gas") or header.gas_limit),
            to=to,
            value=int(tx.get("value") or 0),
            data=data,
        )
        return vm, SpoofTransaction(unsigned, from_=sender)

    def execute_call(self, tx: dict, block_id="latest") -> bytes:
        """``eth_call`` semantics on the chain thread.

        ``tx`` has ``from``/``to`` (hex), ``data`` (hex or bytes), ``value``,
        ``gas``, ``gas_price`` (ints, optional).  Like geth, a missing or
        zero gas price runs the call fee-free (base fee 0), so senders
        without balance (or no sender at all) can read.  Raises
        :class:`TransactionReverted` with the raw revert data.
        """
        header = self.header_for(block_id)
        vm, spoofed = self._spoofed(tx, header)
        with vm.in_costless_state() as state:
            try:
                computation = state.apply_transaction(spoofed)
            except Exception as e:
                raise TransactionRejected(str(e)) from e
        if computation.is_error:
            data = bytes(computation.output or b"")
            reason = decode_revert_reason(data)
            if reason is None and not data:
                reason = _error_text(computation.error)
            raise TransactionReverted(reason, data)
        return bytes(computation.output)

    def execute_estimate(self, tx: dict, block_id="latest") -> int:
        """``eth_estimateGas`` semantics on the chain thread (py-evm's binary
        search, fee-free like :meth:`execute_call`)."""
        header = self.header_for(block_id)
        _, spoofed = self._spoofed(tx, header)
        try:
            return int(self._tester.backend.chain.estimate_gas(spoofed, header))
        except Exception as e:
            raise self._as_chain_error(e) from e

    def call(self, tx: dict, block_id="latest") -> defer.Deferred:
        """Deferred :meth:`execute_call`."""
        return self._call(self.execute_call, dict(tx), block_id)

    def estimate_gas(self, tx: dict, block_id="latest") -> defer.Deferred:
        """Deferred :meth:`execute_estimate`."""
        return self._call(self.execute_estimate, dict(tx), block_id)

    # -- journal --------------------------------------------------------

    def _open_journal(self):
        db = sqlite3.connect(
            self.journal_path, isolation_level=None, check_same_thread=False
        )
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(_JOURNAL_SCHEMA)
        row = db.execute(
            "SELECT value FROM journal_meta WHERE key = 'chain_id'"
        ).fetchone()
        if row is None:
            db.execute(
                "INSERT INTO journal_meta (key, value) VALUES ('chain_id', ?)",
                (str(self.chain_id),),
            )
        elif int(row[0]) != self.chain_id:
            db.close()
            raise ChainError(
                f"journal {self.journal_path} belongs to chain id {row[0]},"
                f" not {self.chain_id}"
            )
        self._db = db

    def _replay(self):
        rows = self._db.execute(
            "SELECT seq, tx_hash, raw FROM journal ORDER BY seq"
        ).fetchall()
        for seq, tx_hash, raw in rows:
            try:
                self._apply(bytes(raw))
            except Exception as e:
                self.replay_failures.append((seq, tx_hash, str(e)))
                self.log.error(
                    "journal replay: entry {seq} ({tx_hash}) failed and is skipped: {error}",
                    seq=seq,
                    tx_hash=tx_hash,
                    error=e,
                )
            else:
                self.replayed += 1

    def _close(self):
        db, self._db = self._db, None
        if db is not None:
            db.close()
        self._tester = None
        self._w3 = None


def revert_from_exception(exc: BaseException) -> TransactionReverted | None:
    """Recover revert data from an eth-tester / py-evm / web3 exception chain.

    eth-tester's ``call`` raises ``TransactionFailed`` with the decoded reason
    (or ``str()`` of the raw revert bytes), ``estimate_gas`` wraps py-evm's
    ``Revert`` whose first argument is the raw data, and web3's tester
    provider re-raises as ``TransactionFailed("execution reverted: ...")``
    chained to those.  Returns ``None`` if nothing in the chain is a revert.
    """
    import ast

    from eth.exceptions import Revert
    from eth_tester.exceptions import TransactionFailed

    seen = exc
    fallback: TransactionReverted | None = None
    while seen is not None:
        if isinstance(seen, Revert):
            data = seen.args[0] if seen.args else b""
            if isinstance(data, (bytes, bytearray)):
                data = bytes(data)
                return TransactionReverted(decode_revert_reason(data), data)
        if isinstance(seen, TransactionFailed) and seen.args:
            arg = seen.args[0]
            if isinstance(arg, Revert):
                seen = arg
                continue
            if isinstance(arg, str) and arg[:2] in ("b'", 'b"'):
                try:
                    arg = ast.literal_eval(arg)
                except (ValueError, SyntaxError):
                    pass
            if isinstance(arg, (bytes, bytearray)):
                data = bytes(arg)
                return TransactionReverted(decode_revert_reason(data), data)
            if fallback is None and isinstance(arg, str):
                reason = arg
                for prefix in ("execution reverted: ", "execution reverted"):
                    if reason.startswith(prefix):
                        reason = reason[len(prefix):]
                        break
                reason = reason or None
                fallback = TransactionReverted(
                    reason, encode_revert_reason(reason) if reason else b""
                )
        data = getattr(seen, "data", None)
        if type(seen).__name__ == "ContractLogicError" and isinstance(data, str):
            try:
                raw = bytes.fromhex(data.removeprefix("0x"))
            except ValueError:
                raw = b""
            return TransactionReverted(decode_revert_reason(raw), raw)
        seen = seen.__cause__ or seen.__context__
    return fallback


def _error_text(error) -> str | None:
    if error is None:
        return None
    text = str(error)
    if not text or text in ("b''", "()"):
        return None
    return text
