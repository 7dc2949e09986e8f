"""Typed access to the OCN Registry and Permissions contracts.

Two layers:

* :class:`SyncRegistry` does the actual work with a plain, blocking
  :class:`web3.Web3`.  The ``ocn registry`` CLI uses it directly.
* :class:`RegistryClient` wraps it for the daemon: every call runs on a
  backend thread and comes back as a Deferred, never blocking the reactor.

Backends decide *where* the blocking work runs:

* :class:`EmbeddedBackend` — the in-process chain (``EmbeddedChain``); all
  work runs on the chain's own thread, raw transactions go through
  ``chain.send_raw_transaction`` so they are journaled.
* :class:`JsonRpcBackend` — a remote node over HTTP JSON-RPC.  Reads use a
  small dedicated thread pool; every write runs on one writer thread that
  keeps a local nonce counter (re-read from the chain after nonce errors).

Country codes and party ids are upper-cased before they reach the contract
(the contract compares raw bytes).  Errors are turned into the small
:class:`RegistryError` hierarchy whose messages fit on one line.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterable, Sequence

import attrs
from eth_account import Account
from eth_utils import to_checksum_address
from twisted.internet import defer, threads
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from ocnd.registry import rawsig
from ocnd.registry.model import (
    ZERO_ADDRESS,
    Module,
    NodeListing,
    PartyListing,
    Role,
    Service,
    norm_party,
)

log = Logger()

# -- errors -------------------------------------------------------------------


class RegistryError(Exception):
    """Base class: something went wrong talking to the registry."""


class RegistryUnavailable(RegistryError):
    """The JSON-RPC endpoint could not be reached or did not answer in time."""


class TransactionReverted(RegistryError):
    def __init__(self, reason: str) -> None:
        self.reason = reason or "no reason given"
        super().__init__(f"reverted: {self.reason}")


class InsufficientFunds(RegistryError):
    def __init__(self, detail: str = "") -> None:
        super().__init__("insufficient funds for gas" + (f" ({detail})" if detail else ""))


class WrongChain(RegistryError):
    def __init__(self, expected: int, got: int) -> None:
        self.expected = expected
        self.got = got
        super().__init__(f"wrong chain id: expected {expected}, endpoint reports {got}")


_NONCE_HINTS = ("nonce too low", "nonce too high", "already known", "replacement transaction",
                "invalid nonce", "nonce is too low", "known transaction")


def _one_line(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= 300 else text[:297] + "..."


def translate_error(exc: BaseException) -> BaseException:
    """Map web3 / requests / eth-tester exceptions onto RegistryError."""
    if isinstance(exc, RegistryError):
        return exc
    import requests
    from web3 import exceptions as w3e

    if isinstance(exc, w3e.ContractLogicError):
        msg = str(exc.message if getattr(exc, "message", None) else exc)
        return TransactionReverted(_strip_revert(msg))
    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                        w3e.ProviderConnectionError, ConnectionError, TimeoutError)):
        return RegistryUnavailable(f"registry RPC unreachable: {_one_line(_root_cause(exc))}")
    if isinstance(exc, w3e.TimeExhausted):
        return RegistryUnavailable(f"registry RPC timed out: {_one_line(exc)}")
    if isinstance(exc, requests.exceptions.RequestException):
        return RegistryUnavailable(f"registry RPC failed: {_one_line(exc)}")
    # ocnd.registry.chain errors (matched by name: no import cycle, no hard dependency)
    kind = type(exc).__name__
    if kind == "ChainNotRunning":
        return RegistryUnavailable(f"embedded chain unavailable: {_one_line(exc)}")
    if kind == "TransactionReverted" and hasattr(exc, "reason"):
        return TransactionReverted(exc.reason or "no reason given")
    text = str(exc)
    low = text.lower()
    if kind == "TransactionRejected" and not (
            "insufficient" in low or "enough balance" in low or "balance" in low):
        return RegistryError(f"transaction rejected: {_one_line(text)}")
    if "insufficient funds" in low or "enough balance" in low or "insufficient balance" in low:
        return InsufficientFunds()
    if "execution reverted" in low or type(exc).__name__ == "TransactionFailed":
        return TransactionReverted(_strip_revert(text))
    return exc


def _root_cause(exc: BaseException) -> str:
    seen = exc
    while seen.__cause__ is not None or seen.__context__ is not None:
        seen = seen.__cause__ or seen.__context__
    text = str(seen)
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    return text or type(seen).__name__


def _strip_revert(msg: str) -> str:
    msg = _one_line(msg)
    for prefix in ("execution reverted: ", "execution reverted:", "execution reverted"):
        if msg.lower().startswith(prefix):
            return msg[len(prefix):].strip() or "no reason given"
    return msg


def _is_nonce_error(exc: BaseException) -> bool:
    low = str(exc).lower()
    return any(h in low for h in _NONCE_HINTS)


# -- encoding helpers ---------------------------------------------------------


def _ocpi_bytes(country_code: str, party_id: str) -> tuple[bytes, bytes]:
    cc, pid = norm_party(country_code, party_id)
    if len(cc) != 2 or len(pid) != 3 or not (cc + pid).isascii():
        raise ValueError(f"invalid OCPI id {country_code!r}/{party_id!r}: need 2+3 ASCII characters")
    return cc.encode("ascii"), pid.encode("ascii")


def _ascii(raw: bytes) -> str:
    return bytes(raw).rstrip(b"\x00").decode("ascii", "replace").upper()


def _roles(values: Iterable[int]) -> tuple[Role, ...]:
    return tuple(Role(v) for v in values if 0 <= v < len(Role))


def _modules(values: Iterable[int]) -> tuple[Module, ...]:
    return tuple(Module(v) for v in values if 0 <= v < len(Module))


def _dedup(addresses: Iterable[str]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for a in addresses:
        a = to_checksum_address(a)
        if a not in seen:
            seen.add(a)
            out.append(a)
    return out


def address_of(private_key: str) -> str:
    return Account.from_key(private_key).address


# -- results ------------------------------------------------------------------


@attrs.frozen
class TxResult:
    tx_hash: str
    block_number: int
    gas_used: int
    sender: str


@attrs.frozen
class RegistryEvent:
    """A decoded contract event (OperatorUpdate, PartyUpdate, ServiceUpdate,
    ServiceAgreement)."""

    name: str
    block_number: int
    log_index: int
    tx_hash: str
    args: dict


_EVENT_NAMES = {
    "Registry": ("OperatorUpdate", "PartyUpdate"),
    "Permissions": ("ServiceUpdate", "ServiceAgreement"),
}


def _load_abi(name: str) -> list:
    from ocnd.registry import artifacts

    return artifacts.abi(name)


# -- the synchronous core -------------------------------------------------------


class SyncRegistry:
    """Blocking registry access through one ``Web3`` instance."""

    def __init__(self, w3: Any, registry_address: str, permissions_address: str | None = None) -> None:
        self.w3 = w3
        self.registry = w3.eth.contract(address=to_checksum_address(registry_address),
                                        abi=_load_abi("Registry"))
        self.permissions = None
        if permissions_address:
            self.permissions = w3.eth.contract(address=to_checksum_address(permissions_address),
                                               abi=_load_abi("Permissions"))
        self._topics: dict[bytes, tuple[Any, str]] | None = None

    def _perm(self):
        if self.permissions is None:
            raise RegistryError("no Permissions contract address configured")
        return self.permissions

    # Registry views ---------------------------------------------------------

    def block_number(self) -> int:
        return int(self.w3.eth.block_number)

    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    def get_operator_by_ocpi(self, country_code: str, party_id: str) -> NodeListing | None:
        cc, pid = _ocpi_bytes(country_code, party_id)
        operator, domain = self.registry.functions.getOperatorByOcpi(cc, pid).call()
        if int(operator, 16) == 0 or not domain:
            return None
        return NodeListing(to_checksum_address(operator), domain)

    def get_party_details_by_ocpi(self, country_code: str, party_id: str) -> PartyListing | None:
        cc, pid = _ocpi_bytes(country_code, party_id)
        party, roles, sender, receiver, operator, domain = (
            self.registry.functions.getPartyDetailsByOcpi(cc, pid).call())
        if int(operator, 16) == 0:
            return None
        return PartyListing(
            address=to_checksum_address(party), country_code=cc.decode(), party_id=pid.decode(),
            roles=_roles(roles), modules_sender=_modules(sender), modules_receiver=_modules(receiver),
            operator=to_checksum_address(operator), url=domain)

    def get_party_details_by_address(self, address: str) -> PartyListing | None:
        address = to_checksum_address(address)
        cc, pid, sender, receiver, roles, operator, domain = (
            self.registry.functions.getPartyDetailsByAddress(address).call())
        if int(operator, 16) == 0:
            return None
        return PartyListing(
            address=address, country_code=_ascii(cc), party_id=_ascii(pid), roles=_roles(roles),
            modules_sender=_modules(sender), modules_receiver=_modules(receiver),
            operator=to_checksum_address(operator), url=domain)

    def get_parties(self) -> list[str]:
        return _dedup(self.registry.functions.getParties().call())

    def get_node_operators(self) -> list[str]:
        return _dedup(self.registry.functions.getNodeOperators().call())

    def get_node(self, operator: str) -> NodeListing | None:
        operator = to_checksum_address(operator)
        url = self.registry.functions.getNode(operator).call()
        if isinstance(url, (list, tuple)):  # tolerate richer getNode shapes
            url = url[0]
        return NodeListing(operator, url) if url else None

    def get_nodes(self) -> list[NodeListing]:
        out = []
        for op in self.get_node_operators():
            node = self.get_node(op)
            if node is not None:
                out.append(node)
        return out

    def list_parties(self) -> list[PartyListing]:
        out = []
        for addr in self.get_parties():
            p = self.get_party_details_by_address(addr)
            if p is not None:
                out.append(p)
        return out

    # Permissions views --------------------------------------------------------

    def get_service(self, provider: str) -> Service | None:
        provider = to_checksum_address(provider)
        cc, pid, name, url, perms = self._perm().functions.getService(provider).call()
        if not perms:
            return None
        return Service(provider=provider, country_code=_ascii(cc), party_id=_ascii(pid),
                       name=name, url=url, permissions=tuple(int(p) for p in perms))

    def get_providers(self) -> list[str]:
        return _dedup(self._perm().functions.getProviders().call())

    def list_services(self) -> list[Service]:
        out = []
        for p in self.get_providers():
            s = self.get_service(p)
            if s is not None:
                out.append(s)
        return out

    def has_user_agreement_by_ocpi(self, country_code: str, party_id: str, provider: str) -> bool:
        cc, pid = _ocpi_bytes(country_code, party_id)
        return bool(self._perm().functions.hasUserAgreementByOcpi(
            cc, pid, to_checksum_address(provider)).call())

    def has_user_agreement_by_address(self, user: str, provider: str) -> bool:
        return bool(self._perm().functions.hasUserAgreementByAddress(
            to_checksum_address(user), to_checksum_address(provider)).call())

    def get_user_agreements_by_ocpi(self, country_code: str, party_id: str) -> list[Service]:
        """Active agreements only: revoked entries and deleted services are dropped."""
        cc, pid = _ocpi_bytes(country_code, party_id)
        providers = _dedup(self._perm().functions.getUserAgreementsByOcpi(cc, pid).call())
        out = []
        for p in providers:
            if not self.has_user_agreement_by_ocpi(country_code, party_id, p):
                continue
            s = self.get_service(p)
            if s is not None:
                out.append(s)
        return out

    def get_user_agreements_by_address(self, user: str) -> list[Service]:
        user = to_checksum_address(user)
        providers = _dedup(self._perm().functions.getUserAgreementsByAddress(user).call())
        out = []
        for p in providers:
            if not self.has_user_agreement_by_address(user, p):
                continue
            s = self.get_service(p)
            if s is not None:
                out.append(s)
        return out

    # events -------------------------------------------------------------------

    def _topic_map(self) -> dict[bytes, tuple[Any, str]]:
        if self._topics is None:
            from eth_utils import event_abi_to_log_topic

            topics = {}
            for contract, cname in ((self.registry, "Registry"), (self.permissions, "Permissions")):
                if contract is None:
                    continue
                for entry in contract.abi:
                    if entry.get("type") == "event" and entry["name"] in _EVENT_NAMES[cname]:
                        topics[bytes(event_abi_to_log_topic(entry))] = (contract, entry["name"])
            self._topics = topics
        return self._topics

    def get_events(self, from_block: int, to_block: int | str = "latest") -> list[RegistryEvent]:
        addresses = [self.registry.address]
        if self.permissions is not None:
            addresses.append(self.permissions.address)
        logs = self.w3.eth.get_logs({"address": addresses, "fromBlock": int(from_block),
                                     "toBlock": to_block})
        topics = self._topic_map()
        out = []
        for entry in logs:
            if not entry["topics"]:
                continue
            hit = topics.get(bytes(entry["topics"][0]))
            if hit is None:
                continue
            contract, name = hit
            decoded = contract.events[name]().process_log(entry)
            args = {}
            for k, v in dict(decoded["args"]).items():
                if isinstance(v, (bytes, bytearray)):
                    v = _ascii(v)
                elif isinstance(v, (list, tuple)):
                    v = [int(x) for x in v]
                args[k] = v
            out.append(RegistryEvent(name=name, block_number=int(entry["blockNumber"]),
                                     log_index=int(entry["logIndex"]),
                                     tx_hash="0x" + bytes(entry["transactionHash"]).hex(),
                                     args=args))
        out.sort(key=lambda e: (e.block_number, e.log_index))
        return out

    # building write calls -------------------------------------------------------
    # Each returns a web3 ContractFunction; signing/sending is the backend's job.

    def call_set_node(self, url: str):
        return self.registry.functions.setNode(url)

    def call_delete_node(self):
        return self.registry.functions.deleteNode()

    def call_set_node_raw(self, signer_key: str, url: str):
        op = address_of(signer_key)
        v, r, s = rawsig.sign_set_node_raw(signer_key, op, url)
        return self.registry.functions.setNodeRaw(op, url, v, r, s)

    def call_delete_node_raw(self, signer_key: str):
        op = address_of(signer_key)
        v, r, s = rawsig.sign_delete_node_raw(signer_key, op)
        return self.registry.functions.deleteNodeRaw(op, v, r, s)

    def call_set_party(self, country_code: str, party_id: str, roles: Sequence[int], operator: str):
        cc, pid = _ocpi_bytes(country_code, party_id)
        return self.registry.functions.setParty(cc, pid, _role_ints(roles), to_checksum_address(operator))

    def call_set_party_raw(self, signer_key: str, country_code: str, party_id: str,
                           roles: Sequence[int], operator: str):
        cc, pid = _ocpi_bytes(country_code, party_id)
        party = address_of(signer_key)
        operator = to_checksum_address(operator)
        role_ints = _role_ints(roles)
        v, r, s = rawsig.sign_set_party_raw(signer_key, party, cc, pid, role_ints, operator)
        return self.registry.functions.setPartyRaw(party, cc, pid, role_ints, operator, v, r, s)

    def call_set_party_modules(self, sender: Sequence[int], receiver: Sequence[int]):
        return self.registry.functions.setPartyModules(_mod_ints(sender), _mod_ints(receiver))

    def call_set_party_modules_raw(self, signer_key: str, sender: Sequence[int], receiver: Sequence[int]):
        party = address_of(signer_key)
        s_ints, r_ints = _mod_ints(sender), _mod_ints(receiver)
        v, r, s = rawsig.sign_set_party_modules_raw(signer_key, party, s_ints, r_ints)
        return self.registry.functions.setPartyModulesRaw(party, s_ints, r_ints, v, r, s)

    def call_delete_party(self):
        return self.registry.functions.deleteParty()

    def call_delete_party_raw(self, signer_key: str):
        party = address_of(signer_key)
        v, r, s = rawsig.sign_delete_party_raw(signer_key, party)
        return self.registry.functions.deletePartyRaw(party, v, r, s)

    def call_set_service(self, name: str, url: str, permissions: Sequence[int]):
        return self._perm().functions.setService(name, url, [int(p) for p in permissions])

    def call_set_service_raw(self, signer_key: str, name: str, url: str, permissions: Sequence[int]):
        perms = [int(p) for p in permissions]
        v, r, s = rawsig.sign_set_service_raw(signer_key, name, url, perms)
        return self._perm().functions.setServiceRaw(name, url, perms, v, r, s)

    def call_delete_service(self):
        return self._perm().functions.deleteService()

    def call_delete_service_raw(self, signer_key: str):
        provider = address_of(signer_key)
        v, r, s = rawsig.sign_delete_service_raw(signer_key, provider)
        return self._perm().functions.deleteServiceRaw(provider, v, r, s)

    def call_create_agreement(self, provider: str):
        return self._perm().functions.createAgreement(to_checksum_address(provider))

    def call_create_agreement_raw(self, signer_key: str, provider: str):
        provider = to_checksum_address(provider)
        v, r, s = rawsig.sign_create_agreement_raw(signer_key, provider)
        return self._perm().functions.createAgreementRaw(provider, v, r, s)

    def call_revoke_agreement(self, provider: str):
        return self._perm().functions.revokeAgreement(to_checksum_address(provider))

    def call_revoke_agreement_raw(self, signer_key: str, provider: str):
        provider = to_checksum_address(provider)
        v, r, s = rawsig.sign_revoke_agreement_raw(signer_key, provider)
        return self._perm().functions.revokeAgreementRaw(provider, v, r, s)

    # signing ------------------------------------------------------------------------

    def sign_call(self, call: Any, key: str, nonce: int, chain_id: int | None = None,
                  gas_price: int | None = None) -> tuple[bytes, str]:
        """Estimate, build and sign a legacy transaction; returns (raw, tx hash).

        A revert during estimation raises :class:`TransactionReverted` with the
        contract's reason, so nothing is sent for a call that cannot succeed.
        """
        acct = Account.from_key(key)
        try:
            gas = call.estimate_gas({"from": acct.address})
            tx = call.build_transaction({
                "from": acct.address,
                "nonce": nonce,
                "gas": int(gas * 1.25) + 20_000,
                "gasPrice": self.w3.eth.gas_price if gas_price is None else gas_price,
                "chainId": self.chain_id() if chain_id is None else chain_id,
            })
        except Exception as e:  # noqa: BLE001 - translated below
            raise translate_error(e) from None
        signed = acct.sign_transaction(tx)
        return bytes(signed.raw_transaction), "0x" + bytes(signed.hash).hex()

    def wait_receipt(self, tx_hash: str, timeout: float = 120.0, poll: float = 0.1) -> TxResult:
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout,
                                                               poll_latency=poll)
        except Exception as e:  # noqa: BLE001
            raise translate_error(e) from None
        return self._check_receipt(receipt, tx_hash)

    def _check_receipt(self, receipt: Any, tx_hash: str) -> TxResult:
        if int(receipt["status"]) != 1:
            raise TransactionReverted(self._replay_reason(tx_hash, receipt))
        return TxResult(tx_hash=tx_hash, block_number=int(receipt["blockNumber"]),
                        gas_used=int(receipt["gasUsed"]), sender=to_checksum_address(receipt["from"]))

    def _replay_reason(self, tx_hash: str, receipt: Any) -> str:
        """Re-run a failed transaction as eth_call to recover its revert reason."""
        try:
            tx = self.w3.eth.get_transaction(tx_hash)
            self.w3.eth.call({"from": tx["from"], "to": tx["to"], "data": tx["input"],
                              "gas": tx["gas"]}, receipt["blockNumber"] - 1)
        except Exception as e:  # noqa: BLE001
            err = translate_error(e)
            if isinstance(err, TransactionReverted):
                return err.reason
        return "transaction failed (out of gas or invalid opcode)"

    def transact(self, call: Any, key: str, nonce: int | None = None, timeout: float = 120.0,
                 on_sent: Callable[[str], None] | None = None, chain_id: int | None = None) -> TxResult:
        """Sign, send and wait: the simple blocking path used by the CLI."""
        if nonce is None:
            nonce = self.w3.eth.get_transaction_count(address_of(key), "pending")
        raw, tx_hash = self.sign_call(call, key, nonce, chain_id=chain_id)
        try:
            self.w3.eth.send_raw_transaction(raw)
        except Exception as e:  # noqa: BLE001
            raise translate_error(e) from None
        if on_sent is not None:
            on_sent(tx_hash)
        return self.wait_receipt(tx_hash, timeout=timeout)


def _role_ints(roles: Sequence[int]) -> list[int]:
    out: list[int] = []
    for r in roles:
        v = int(Role[r.upper()] if isinstance(r, str) else r)
        if v not in out:
            out.append(v)
    return out


def _mod_ints(mods: Sequence[int]) -> list[int]:
    out: list[int] = []
    for m in mods:
        v = int(Module[m.lower()] if isinstance(m, str) else m)
        if v not in out:
            out.append(v)
    return out


# -- backends -----------------------------------------------------------------------


class EmbeddedBackend:
    """Runs everything on the embedded chain's own thread."""

    def __init__(self, chain: Any) -> None:
        self.chain = chain
        self._sync: dict[int, SyncRegistry] = {}

    def read(self, fn: Callable[..., Any], *args: Any) -> defer.Deferred:
        return _translating(self.chain.run(fn, *args))

    @defer.inlineCallbacks
    def transact(self, sync_for: Callable[[Any], SyncRegistry], build: Callable[[SyncRegistry], Any],
                 key: str):
        def prepare(w3):
            reg = sync_for(w3)
            nonce = w3.eth.get_transaction_count(address_of(key), "pending")
            return reg.sign_call(build(reg), key, nonce, chain_id=self.chain.chain_id)

        try:
            raw, tx_hash = yield self.chain.run(prepare)
            yield self.chain.send_raw_transaction(raw)
            result = yield self.chain.run(lambda w3: sync_for(w3).wait_receipt(tx_hash, timeout=30))
        except Exception as e:  # noqa: BLE001
            raise translate_error(e) from None
        return result

    def stop(self) -> defer.Deferred:
        return defer.succeed(None)


class JsonRpcBackend:
    """HTTP JSON-RPC: reads on a small pool, writes serialised on one thread."""

    def __init__(self, reactor: Any, url: str, timeout: float = 10.0, expected_chain_id: int | None = None,
                 read_threads: int = 4, receipt_timeout: float = 120.0) -> None:
        from web3 import HTTPProvider, Web3

        self._reactor = reactor
        self.url = url
        self.timeout = timeout
        self.expected_chain_id = expected_chain_id
        self.receipt_timeout = receipt_timeout
        self.w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": timeout},
                                    exception_retry_configuration=None))
        self._readers = ThreadPool(minthreads=0, maxthreads=read_threads, name="ocnd-registry-read")
        self._writer = ThreadPool(minthreads=1, maxthreads=1, name="ocnd-registry-write")
        self._nonces: dict[str, int] = {}
        self._chain_id: int | None = None
        self._started = False
        self._lock = threading.Lock()

    def start(self) -> None:
        if not self._started:
            self._readers.start()
            self._writer.start()
            self._started = True
            self._shutdown_trigger = self._reactor.addSystemEventTrigger(
                "during", "shutdown", self.stop)

    def stop(self) -> defer.Deferred:
        if self._started:
            self._started = False
            try:
                self._reactor.removeSystemEventTrigger(self._shutdown_trigger)
            except (ValueError, KeyError, TypeError):
                pass
            # ThreadPool.stop() joins its threads: do it off the reactor thread.
            readers, writer = self._readers, self._writer
            return threads.deferToThread(lambda: (readers.stop(), writer.stop()))
        return defer.succeed(None)

    def read(self, fn: Callable[..., Any], *args: Any) -> defer.Deferred:
        self.start()
        return _translating(threads.deferToThreadPool(self._reactor, self._readers, fn, self.w3, *args))

    def _check_chain(self, w3: Any) -> int:
        if self._chain_id is None:
            got = int(w3.eth.chain_id)
            if self.expected_chain_id is not None and got != self.expected_chain_id:
                raise WrongChain(self.expected_chain_id, got)
            self._chain_id = got
        return self._chain_id

    def transact(self, sync_for: Callable[[Any], SyncRegistry], build: Callable[[SyncRegistry], Any],
                 key: str) -> defer.Deferred:
        self.start()
        return _translating(threads.deferToThreadPool(
            self._reactor, self._writer, self._transact_blocking, sync_for, build, key))

    def _transact_blocking(self, sync_for, build, key):
        w3 = self.w3
        chain_id = self._check_chain(w3)
        reg = sync_for(w3)
        sender = address_of(key)
        for attempt in range(3):
            if sender not in self._nonces:
                self._nonces[sender] = int(w3.eth.get_transaction_count(sender, "pending"))
            nonce = self._nonces[sender]
            raw, tx_hash = reg.sign_call(build(reg), key, nonce, chain_id=chain_id)
            try:
                w3.eth.send_raw_transaction(raw)
            except Exception as e:  # noqa: BLE001
                if _is_nonce_error(e) and attempt < 2:
                    log.warn("nonce {nonce} rejected for {sender}; re-reading from chain",
                             nonce=nonce, sender=sender)
                    self._nonces.pop(sender, None)
                    continue
                err = translate_error(e)
                if isinstance(err, RegistryUnavailable):
                    self._nonces.pop(sender, None)
                raise err from None
            self._nonces[sender] = nonce + 1
            return reg.wait_receipt(tx_hash, timeout=self.receipt_timeout)
        raise RegistryError("could not find a usable nonce")  # pragma: no cover


def _translating(d: defer.Deferred) -> defer.Deferred:
    def _eb(failure):
        err = translate_error(failure.value)
        if err is not failure.value:
            raise err
        return failure

    return d.addErrback(_eb)


# -- the asynchronous client -----------------------------------------------------------


class RegistryClient:
    """Deferred-returning registry access for the daemon."""

    def __init__(self, backend: Any, registry_address: str, permissions_address: str | None = None) -> None:
        self.backend = backend
        self.registry_address = to_checksum_address(registry_address)
        self.permissions_address = (to_checksum_address(permissions_address)
                                    if permissions_address else None)
        self._cache: dict[int, SyncRegistry] = {}

    def sync_for(self, w3: Any) -> SyncRegistry:
        reg = self._cache.get(id(w3))
        if reg is None or reg.w3 is not w3:
            reg = SyncRegistry(w3, self.registry_address, self.permissions_address)
            self._cache[id(w3)] = reg
        return reg

    def _read(self, method: str, *args: Any) -> defer.Deferred:
        return self.backend.read(lambda w3: getattr(self.sync_for(w3), method)(*args))

    def _write(self, key: str, method: str, *args: Any) -> defer.Deferred:
        return self.backend.transact(self.sync_for,
                                     lambda reg: getattr(reg, method)(*args), key)

    # reads
    def block_number(self) -> defer.Deferred:
        return self._read("block_number")

    def get_operator_by_ocpi(self, country_code: str, party_id: str) -> defer.Deferred:
        return self._read("get_operator_by_ocpi", country_code, party_id)

    def get_party_details_by_ocpi(self, country_code: str, party_id: str) -> defer.Deferred:
        return self._read("get_party_details_by_ocpi", country_code, party_id)

    def get_party_details_by_address(self, address: str) -> defer.Deferred:
        return self._read("get_party_details_by_address", address)

    def get_parties(self) -> defer.Deferred:
        return self._read("get_parties")

    def list_parties(self) -> defer.Deferred:
        return self._read("list_parties")

    def get_node_operators(self) -> defer.Deferred:
        return self._read("get_node_operators")

    def get_node(self, operator: str) -> defer.Deferred:
        return self._read("get_node", operator)

    def get_nodes(self) -> defer.Deferred:
        return self._read("get_nodes")

    def get_service(self, provider: str) -> defer.Deferred:
        return self._read("get_service", provider)

    def list_services(self) -> defer.Deferred:
        return self._read("list_services")

    def get_user_agreements_by_ocpi(self, country_code: str, party_id: str) -> defer.Deferred:
        return self._read("get_user_agreements_by_ocpi", country_code, party_id)

    def get_user_agreements_by_address(self, user: str) -> defer.Deferred:
        return self._read("get_user_agreements_by_address", user)

    def has_user_agreement_by_ocpi(self, country_code: str, party_id: str, provider: str) -> defer.Deferred:
        return self._read("has_user_agreement_by_ocpi", country_code, party_id, provider)

    def has_user_agreement_by_address(self, user: str, provider: str) -> defer.Deferred:
        return self._read("has_user_agreement_by_address", user, provider)

    def get_events(self, from_block: int, to_block: int | str = "latest") -> defer.Deferred:
        return self._read("get_events", from_block, to_block)

    # writes (key = private key of the data owner; spender_key pays for raw calls)
    def set_node(self, key: str, url: str) -> defer.Deferred:
        return self._write(key, "call_set_node", url)

    def delete_node(self, key: str) -> defer.Deferred:
        return self._write(key, "call_delete_node")

    def set_node_raw(self, signer_key: str, spender_key: str, url: str) -> defer.Deferred:
        return self._write(spender_key, "call_set_node_raw", signer_key, url)

    def delete_node_raw(self, signer_key: str, spender_key: str) -> defer.Deferred:
        return self._write(spender_key, "call_delete_node_raw", signer_key)

    def set_party(self, key: str, country_code: str, party_id: str, roles: Sequence[int],
                  operator: str) -> defer.Deferred:
        return self._write(key, "call_set_party", country_code, party_id, roles, operator)

    def set_party_raw(self, signer_key: str, spender_key: str, country_code: str, party_id: str,
                      roles: Sequence[int], operator: str) -> defer.Deferred:
        return self._write(spender_key, "call_set_party_raw", signer_key, country_code, party_id,
                           roles, operator)

    def set_party_modules(self, key: str, sender: Sequence[int], receiver: Sequence[int]) -> defer.Deferred:
        return self._write(key, "call_set_party_modules", sender, receiver)

    def set_party_modules_raw(self, signer_key: str, spender_key: str, sender: Sequence[int],
                              receiver: Sequence[int]) -> defer.Deferred:
        return self._write(spender_key, "call_set_party_modules_raw", signer_key, sender, receiver)

    def delete_party(self, key: str) -> defer.Deferred:
        return self._write(key, "call_delete_party")

    def delete_party_raw(self, signer_key: str, spender_key: str) -> defer.Deferred:
        return self._write(spender_key, "call_delete_party_raw", signer_key)

    def set_service(self, key: str, name: str, url: str, permissions: Sequence[int]) -> defer.Deferred:
        return self._write(key, "call_set_service", name, url, permissions)

    def set_service_raw(self, signer_key: str, spender_key: str, name: str, url: str,
                        permissions: Sequence[int]) -> defer.Deferred:
        return self._write(spender_key, "call_set_service_raw", signer_key, name, url, permissions)

    def delete_service(self, key: str) -> defer.Deferred:
        return self._write(key, "call_delete_service")

    def delete_service_raw(self, signer_key: str, spender_key: str) -> defer.Deferred:
        return self._write(spender_key, "call_delete_service_raw", signer_key)

    def create_agreement(self, key: str, provider: str) -> defer.Deferred:
        return self._write(key, "call_create_agreement", provider)

    def create_agreement_raw(self, signer_key: str, spender_key: str, provider: str) -> defer.Deferred:
        return self._write(spender_key, "call_create_agreement_raw", signer_key, provider)

    def revoke_agreement(self, key: str, provider: str) -> defer.Deferred:
        return self._write(key, "call_revoke_agreement", provider)

    def revoke_agreement_raw(self, signer_key: str, spender_key: str, provider: str) -> defer.Deferred:
        return self._write(spender_key, "call_revoke_agreement_raw", signer_key, provider)


__all__ = [
    "RegistryError", "RegistryUnavailable", "TransactionReverted", "InsufficientFunds", "WrongChain",
    "SyncRegistry", "RegistryClient", "EmbeddedBackend", "JsonRpcBackend", "TxResult",
    "RegistryEvent", "ZERO_ADDRESS", "translate_error",
]
