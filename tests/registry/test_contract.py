"""Contract tests for contracts/Registry.sol and contracts/Permissions.sol.

Both artifacts are deployed fresh for every test on an in-process py-evm
chain (eth-tester).  Direct calls are sent from eth-tester's unlocked
accounts; raw (meta-transaction) calls are signed in Python with
ocnd.registry.rawsig by keys that hold no ether and sent by a spender.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from eth_account import Account
from eth_tester.exceptions import TransactionFailed
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.exceptions import ContractLogicError
from web3.providers.eth_tester import EthereumTesterProvider

from ocnd.registry import artifacts, rawsig

REVERTED = (ContractLogicError, TransactionFailed)
ZERO = "0x0000000000000000000000000000000000000000"
REPO = Path(__file__).resolve().parents[2]

# Selectors and topics as published for the OCN Registry / Permissions.
REGISTRY_SELECTORS = {
    "setNode(string)": "85cb8602",
    "setNodeRaw(address,string,uint8,bytes32,bytes32)": "99bd6901",
    "deleteNode()": "acaef0e0",
    "deleteNodeRaw(address,uint8,bytes32,bytes32)": "6c265bbc",
    "setParty(bytes2,bytes3,uint8[],address)": "a7bcc11d",
    "setPartyRaw(address,bytes2,bytes3,uint8[],address,uint8,bytes32,bytes32)": "492dbcc5",
    "setPartyModules(uint8[],uint8[])": "b2dbadcb",
    "setPartyModulesRaw(address,uint8[],uint8[],uint8,bytes32,bytes32)": "b29d6515",
    "deleteParty()": "bdb81078",
    "deletePartyRaw(address,uint8,bytes32,bytes32)": "66e706fb",
    "adminDeleteOperator(address)": "2d8fe452",
    "adminDeleteParty(bytes2,bytes3)": "d63a84d4",
    "transferOwnership(address)": "f2fde38b",
    "renounceOwnership()": "715018a6",
    "getNode(address)": "9d209048",
    "getNodeOperators()": "66acaa33",
    "getOperatorByAddress(address)": "88cf72a0",
    "getOperatorByOcpi(bytes2,bytes3)": "7a091aa5",
    "getPartyDetailsByAddress(address)": "df516128",
    "getPartyDetailsByOcpi(bytes2,bytes3)": "a5b5ffbb",
    "getParties()": "a8311aa8",
    "owner()": "8da5cb5b",
    "isOwner()": "8f32d59b",
}
PERMISSIONS_SELECTORS = {
    "setService(string,string,uint256[])": "a45469d1",
    "setServiceRaw(string,string,uint256[],uint8,bytes32,bytes32)": "29cc2b23",
    "deleteService()": "5fce7138",
    "deleteServiceRaw(address,uint8,bytes32,bytes32)": "5a9da7f1",
    "createAgreement(address)": "884eb949",
    "createAgreementRaw(address,uint8,bytes32,bytes32)": "340f1e7c",
    "revokeAgreement(address)": "cdebf96e",
    "revokeAgreementRaw(address,uint8,bytes32,bytes32)": "5c0f93bb",
    "getService(address)": "15a52302",
    "getProviders()": "edc922a9",
    "providers(uint256)": "50f3fc81",
    "getUserAgreementsByAddress(address)": "38f7e0e1",
    "getUserAgreementsByOcpi(bytes2,bytes3)": "674a730d",
    "hasUserAgreementByAddress(address,address)": "b5d9f61f",
    "hasUserAgreementByOcpi(bytes2,bytes3,address)": "23db5e8c",
}
REGISTRY_TOPICS = {
    "OperatorUpdate": "b1f254c0ae74a753185ba13a1b17818bc803e32d05ef56851955c0ebf230f0d6",
    "PartyUpdate": "f692507bb861072d3245d22242eb55cb7fdbe2e0d92290177ed7c490eb076cd7",
    "OwnershipTransferred": "8be0079c531659141344cd1fd0a4f28419497f9722a3daafe3b4186f6b6457e0",
    "DebugPacked": "abcfed1edc0174918360c2415fb89066280599df9fe976bedaae0f7c7f84e5da",
    "DebugHash": "d6bb8e17062dc41668755c8f977e71bcbad0e687e1328bc6247a4c90f658bc24",
}
PERMISSIONS_TOPICS = {
    "ServiceUpdate": "533987f16b883a1fe0783ff9c6c6cedcf97aee0eaf60cc491c7a3e48c9f1b5d7",
    "ServiceAgreement": "91aba333be281959a9130cefbc0e18d32a4f1c6bc3a922c7fdb084c1179f413a",
}

# Revert reasons
E_OWNER = "Ownable: caller is not the owner"
E_EMPTY_DOMAIN = "Cannot set empty domain name. Use deleteNode method instead."
E_DOMAIN_TAKEN = "Domain name already registered."
E_NO_NODE = "Cannot delete node that does not exist."
E_EMPTY_CC = "Cannot set empty country_code. Use deleteParty method instead."
E_EMPTY_PID = "Cannot set empty party_id. Use deleteParty method instead."
E_NO_ROLES = "No roles provided."
E_EMPTY_OP = "Cannot set empty operator. Use deleteParty method instead."
E_KEY_TAKEN = "Party with country_code/party_id already registered under different address."
E_OP_UNKNOWN = "Provided operator not registered."
E_PARTY_SIGNER = "Signer and provided party address different."
E_OP_SIGNER = "Signer and provided operator address different."
E_PROVIDER_SIGNER = "Signer and provided provider address different."
E_NO_SIGNER = "Invalid signature: no signer recovered."
E_MODULES_NO_PARTY = "Party not registered. Use setParty method first."
E_NO_PARTY = "Cannot delete party that does not exist. No operator found for given party."
E_BAD_ROLE = "Invalid role provided."
E_BAD_MODULE = "Invalid module provided."
E_SVC_NO_PARTY = "Trying to register a service without party listing in Registry."
E_NO_PERMS = "No permissions given."
E_NO_SVC = "Cannot delete service that does not exist."
E_USER_NO_PARTY = "Service user has no party listing in Registry."
E_PROVIDER_NO_SVC = "Provider has no registered Service."
E_AGREEMENT_EXISTS = "Agreement already made between user and provider."
E_NO_AGREEMENT = "No Agreement made between user and provider."


# ----------------------------------------------------------------------------
# Fixtures and helpers
# ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def w3():
    return Web3(EthereumTesterProvider())


class Chain:
    def __init__(self, w3):
        self.w3 = w3
        self.accounts = w3.eth.accounts
        self.owner = self.accounts[0]
        self.registry = self._deploy("Registry")
        self.permissions = self._deploy("Permissions", self.registry.address)

    def _deploy(self, name, *args):
        factory = self.w3.eth.contract(abi=artifacts.abi(name), bytecode=artifacts.bytecode(name))
        tx = factory.constructor(*args).transact({"from": self.owner})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx)
        assert receipt.status == 1
        contract = self.w3.eth.contract(address=receipt.contractAddress, abi=artifacts.abi(name))
        contract.deploy_receipt = receipt
        return contract

    def send(self, fn, sender):
        tx = fn.transact({"from": sender})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx)
        assert receipt.status == 1
        return receipt

    def reverts(self, fn, sender, reason):
        """Both the eth_call and the transaction fail with exactly ``reason``.

        Over HTTP web3 raises ContractLogicError; the in-process
        EthereumTesterProvider (web3 8 / eth-tester 0.14) raises eth-tester's
        TransactionFailed after decoding the Error(string) payload itself.
        """
        for attempt in (fn.call, fn.transact):
            with pytest.raises(REVERTED) as err:
                attempt({"from": sender})
            message = getattr(err.value, "message", None) or str(err.value)
            assert message == f"execution reverted: {reason}"

    # common setup steps
    def node(self, operator, domain="https://node.example.com"):
        return self.send(self.registry.functions.setNode(domain), operator)

    def party(self, party, operator, cc=b"CH", pid=b"CPO", roles=(0,)):
        return self.send(self.registry.functions.setParty(cc, pid, list(roles), operator), party)


@pytest.fixture
def chain(w3):
    return Chain(w3)


@pytest.fixture
def keys():
    """Deterministic unfunded keys for raw-signature tests."""
    return [Account.from_key(keccak(text=f"ocnd-test-key-{i}")) for i in range(4)]


def selectors(abi):
    out = {}
    for entry in abi:
        if entry["type"] == "function":
            sig = f"{entry['name']}({','.join(i['type'] for i in entry['inputs'])})"
            out[sig] = keccak(text=sig)[:4].hex()
    return out


def topics(abi):
    out = {}
    for entry in abi:
        if entry["type"] == "event":
            sig = f"{entry['name']}({','.join(i['type'] for i in entry['inputs'])})"
            out[entry["name"]] = keccak(text=sig).hex()
    return out


def one_event(contract, name, receipt):
    events = getattr(contract.events, name)().process_receipt(receipt)
    assert len(events) == 1
    log = [lg for lg in receipt.logs if lg.address == contract.address]
    assert len(log) == 1
    topic0 = log[0].topics[0]
    assert bytes(topic0).hex() == topics(contract.abi)[name]
    return events[0].args


def tamper(sig):
    v, r, s = sig
    return v, r, (int.from_bytes(s, "big") ^ 1).to_bytes(32, "big")


# ----------------------------------------------------------------------------
# ABI and artifacts
# ----------------------------------------------------------------------------


def test_selectors_match_reference():
    assert selectors(artifacts.abi("Registry")) == REGISTRY_SELECTORS
    assert selectors(artifacts.abi("Permissions")) == PERMISSIONS_SELECTORS


def test_event_topics_and_indexed_flags_match_reference():
    assert topics(artifacts.abi("Registry")) == REGISTRY_TOPICS
    assert topics(artifacts.abi("Permissions")) == PERMISSIONS_TOPICS
    indexed = {
        e["name"]: [i["indexed"] for i in e["inputs"]]
        for e in artifacts.abi("Registry") + artifacts.abi("Permissions")
        if e["type"] == "event"
    }
    assert indexed["OperatorUpdate"] == [True, False]
    assert indexed["PartyUpdate"] == [False, False, True, False, False, False, True]
    assert indexed["OwnershipTransferred"] == [True, True]
    assert indexed["ServiceUpdate"] == [False] * 4
    assert indexed["ServiceAgreement"] == [False, False]


def test_return_shapes():
    def outputs(name, fn):
        (entry,) = [e for e in artifacts.abi(name) if e.get("name") == fn and e["type"] == "function"]
        return [o["type"] for o in entry["outputs"]], entry["stateMutability"]

    assert outputs("Registry", "getPartyDetailsByAddress") == (
        ["bytes2", "bytes3", "uint8[]", "uint8[]", "uint8[]", "address", "string"],
        "view",
    )
    assert outputs("Registry", "getPartyDetailsByOcpi") == (
        ["address", "uint8[]", "uint8[]", "uint8[]", "address", "string"],
        "view",
    )
    assert outputs("Registry", "getOperatorByOcpi") == (["address", "string"], "view")
    assert outputs("Permissions", "getService") == (
        ["bytes2", "bytes3", "string", "string", "uint256[]"],
        "view",
    )
    (ctor,) = [e for e in artifacts.abi("Permissions") if e["type"] == "constructor"]
    assert [i["type"] for i in ctor["inputs"]] == ["address"]


def test_artifact_format_and_size():
    for name in artifacts.NAMES:
        art = artifacts.load(name)
        assert set(art) == {"contractName", "abi", "bytecode", "deployedBytecode", "compiler"}
        assert art["contractName"] == name
        assert art["bytecode"].startswith("0x") and art["deployedBytecode"].startswith("0x")
        settings = art["compiler"]["settings"]
        assert settings["evmVersion"] == "paris"
        assert settings["optimizer"] == {"enabled": True, "runs": 200}
        assert art["compiler"]["version"].startswith("0.8.")
        assert (len(art["deployedBytecode"]) - 2) // 2 < 24576
        text = (REPO / "ocnd" / "registry" / "artifacts" / f"{name}.json").read_text()
        assert text.endswith("}\n")


def test_check_script_exists_and_artifacts_deploy(chain, w3):
    script = REPO / "contracts" / "check-artifacts.sh"
    assert script.is_file() and os.access(script, os.X_OK)
    code = bytes(w3.eth.get_code(chain.registry.address))
    assert code == bytes.fromhex(artifacts.deployed_bytecode("Registry")[2:])
    # Permissions' runtime code has the (immutable) registry address filled in
    code = bytes(w3.eth.get_code(chain.permissions.address))
    assert len(code) == len(bytes.fromhex(artifacts.deployed_bytecode("Permissions")[2:]))
    assert bytes.fromhex(chain.registry.address[2:]) in code
    assert chain.registry.functions.owner().call() == chain.owner


@pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None, reason="node/npm not installed")
def test_artifacts_rebuild_identically():
    result = subprocess.run(
        ["sh", str(REPO / "contracts" / "check-artifacts.sh")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# ----------------------------------------------------------------------------
# rawsig (pure)
# ----------------------------------------------------------------------------


def test_rawsig_enum_arrays_are_32_bytes_per_element(keys):
    me = keys[0].address
    types, values = rawsig.set_party_fields(me, "ch", "cpo", [0, 6], me)
    assert values[1:3] == [b"CH", b"CPO"]
    expected = keccak(
        bytes.fromhex(me[2:]) + b"CH" + b"CPO" + (0).to_bytes(32, "big") + (6).to_bytes(32, "big")
        + bytes.fromhex(me[2:])
    )
    assert rawsig.packed_hash(types, values) == expected
    v, r, s = rawsig.sign_set_party_raw(keys[0].key, me, "ch", "cpo", [0, 6], me)
    assert v in (27, 28) and len(r) == 32 and len(s) == 32
    assert rawsig.recover(types, values, v, r, s) == me
    with pytest.raises(ValueError):
        rawsig.ocpi_id("CHE", 2)


# ----------------------------------------------------------------------------
# Ownership
# ----------------------------------------------------------------------------


def test_ownership(chain):
    reg = chain.registry
    a = chain.accounts
    args = one_event(reg, "OwnershipTransferred", reg.deploy_receipt)
    assert (args.previousOwner, args.newOwner) == (ZERO, chain.owner)
    assert reg.functions.isOwner().call({"from": chain.owner}) is True
    assert reg.functions.isOwner().call({"from": a[1]}) is False

    chain.reverts(reg.functions.transferOwnership(a[1]), a[1], E_OWNER)
    chain.reverts(reg.functions.renounceOwnership(), a[1], E_OWNER)
    chain.reverts(reg.functions.transferOwnership(ZERO), chain.owner, "Ownable: new owner is the zero address")

    rcpt = chain.send(reg.functions.transferOwnership(a[1]), chain.owner)
    args = one_event(reg, "OwnershipTransferred", rcpt)
    assert (args.previousOwner, args.newOwner) == (chain.owner, a[1])
    assert reg.functions.owner().call() == a[1]
    chain.reverts(reg.functions.adminDeleteOperator(a[2]), chain.owner, E_OWNER)

    rcpt = chain.send(reg.functions.renounceOwnership(), a[1])
    args = one_event(reg, "OwnershipTransferred", rcpt)
    assert (args.previousOwner, args.newOwner) == (a[1], ZERO)
    assert reg.functions.owner().call() == ZERO


# ----------------------------------------------------------------------------
# Nodes
# ----------------------------------------------------------------------------


def test_set_node_and_events(chain):
    reg = chain.registry
    op, op2 = chain.accounts[1:3]
    chain.reverts(reg.functions.setNode(""), op, E_EMPTY_DOMAIN)
    rcpt = chain.node(op, "https://a.example")
    args = one_event(reg, "OperatorUpdate", rcpt)
    assert (args.operator, args.domain) == (op, "https://a.example")
    assert reg.functions.getNode(op).call() == "https://a.example"
    assert reg.functions.getNodeOperators().call() == [op]

    chain.reverts(reg.functions.setNode("https://a.example"), op2, E_DOMAIN_TAKEN)
    # same operator, same domain: still "already registered" (as upstream)
    chain.reverts(reg.functions.setNode("https://a.example"), op, E_DOMAIN_TAKEN)

    # update releases the previous domain and does not duplicate the operator
    chain.node(op, "https://b.example")
    assert reg.functions.getNode(op).call() == "https://b.example"
    assert reg.functions.getNodeOperators().call() == [op]
    chain.node(op2, "https://a.example")
    assert reg.functions.getNodeOperators().call() == [op, op2]


def test_delete_node(chain):
    reg = chain.registry
    op1, op2, op3 = chain.accounts[1:4]
    chain.reverts(reg.functions.deleteNode(), op1, E_NO_NODE)
    for i, op in enumerate((op1, op2, op3)):
        chain.node(op, f"https://n{i}.example")

    rcpt = chain.send(reg.functions.deleteNode(), op1)
    args = one_event(reg, "OperatorUpdate", rcpt)
    assert (args.operator, args.domain) == (op1, "")
    assert reg.functions.getNode(op1).call() == ""
    assert sorted(reg.functions.getNodeOperators().call()) == sorted([op2, op3])
    chain.reverts(reg.functions.deleteNode(), op1, E_NO_NODE)

    # domain is free again; re-registering does not duplicate
    chain.node(op2, "https://n0.example")
    chain.node(op1, "https://n1.example")
    ops = reg.functions.getNodeOperators().call()
    assert sorted(ops) == sorted([op1, op2, op3]) and len(ops) == 3


def test_admin_delete_operator(chain):
    reg = chain.registry
    op = chain.accounts[1]
    chain.node(op)
    chain.reverts(reg.functions.adminDeleteOperator(op), op, E_OWNER)
    chain.reverts(reg.functions.adminDeleteOperator(chain.accounts[2]), chain.owner, E_NO_NODE)
    rcpt = chain.send(reg.functions.adminDeleteOperator(op), chain.owner)
    assert one_event(reg, "OperatorUpdate", rcpt).domain == ""
    assert reg.functions.getNodeOperators().call() == []
    chain.node(chain.accounts[2])  # domain released


# ----------------------------------------------------------------------------
# Parties
# ----------------------------------------------------------------------------


def test_set_party_checks_in_order(chain):
    reg = chain.registry
    op, party, other = chain.accounts[1:4]
    f = reg.functions.setParty
    chain.reverts(f(b"\0\0", b"\0\0\0", [], ZERO), party, E_EMPTY_CC)
    chain.reverts(f(b"CH", b"\0\0\0", [], ZERO), party, E_EMPTY_PID)
    chain.reverts(f(b"CH", b"CPO", [], ZERO), party, E_NO_ROLES)
    chain.reverts(f(b"CH", b"CPO", [0, 7], ZERO), party, E_BAD_ROLE)
    chain.reverts(f(b"CH", b"CPO", [255], op), party, E_BAD_ROLE)
    chain.reverts(f(b"CH", b"CPO", [0], ZERO), party, E_EMPTY_OP)
    chain.reverts(f(b"CH", b"CPO", [0], op), party, E_OP_UNKNOWN)
    chain.node(op)
    chain.party(party, op)
    chain.reverts(f(b"CH", b"CPO", [0], op), other, E_KEY_TAKEN)


def test_set_party_and_views(chain):
    reg = chain.registry
    op, party = chain.accounts[1:3]
    chain.node(op, "https://node.example")
    rcpt = chain.party(party, op, b"CH", b"CPO", (0, 1, 6))
    args = one_event(reg, "PartyUpdate", rcpt)
    assert (args.countryCode, args.partyId, args.partyAddress, args.operatorAddress) == (b"CH", b"CPO", party, op)
    assert (args.roles, args.modulesSender, args.modulesReceiver) == ([0, 1, 6], [], [])

    assert reg.functions.getOperatorByAddress(party).call() == [op, "https://node.example"]
    assert reg.functions.getOperatorByOcpi(b"CH", b"CPO").call() == [op, "https://node.example"]
    assert reg.functions.getPartyDetailsByAddress(party).call() == [
        b"CH", b"CPO", [], [], [0, 1, 6], op, "https://node.example"
    ]
    assert reg.functions.getPartyDetailsByOcpi(b"CH", b"CPO").call() == [
        party, [0, 1, 6], [], [], op, "https://node.example"
    ]
    assert reg.functions.getParties().call() == [party]

    # keys are case-sensitive raw bytes
    assert reg.functions.getOperatorByOcpi(b"ch", b"cpo").call() == [ZERO, ""]

    # operator resolved live: after the node is deleted the domain is empty
    chain.send(reg.functions.deleteNode(), op)
    assert reg.functions.getOperatorByAddress(party).call() == [op, ""]
    assert reg.functions.getPartyDetailsByOcpi(b"CH", b"CPO").call()[4:] == [op, ""]


def test_party_modules(chain):
    reg = chain.registry
    op, party = chain.accounts[1:3]
    chain.reverts(reg.functions.setPartyModules([0], [1]), party, E_MODULES_NO_PARTY)
    chain.node(op)
    chain.party(party, op, roles=(1,))
    chain.reverts(reg.functions.setPartyModules([7], []), party, E_BAD_MODULE)
    chain.reverts(reg.functions.setPartyModules([], [0, 9]), party, E_BAD_MODULE)

    rcpt = chain.send(reg.functions.setPartyModules([3, 4], [2]), party)
    args = one_event(reg, "PartyUpdate", rcpt)
    assert (args.countryCode, args.partyId, args.partyAddress, args.operatorAddress) == (b"CH", b"CPO", party, op)
    assert (args.roles, args.modulesSender, args.modulesReceiver) == ([1], [3, 4], [2])
    details = reg.functions.getPartyDetailsByAddress(party).call()
    assert details[2:5] == [[3, 4], [2], [1]]

    # empty arrays clear
    chain.send(reg.functions.setPartyModules([], []), party)
    assert reg.functions.getPartyDetailsByAddress(party).call()[2:4] == [[], []]

    # setParty resets modules
    chain.send(reg.functions.setPartyModules([0], [6]), party)
    chain.party(party, op, roles=(0,))
    assert reg.functions.getPartyDetailsByOcpi(b"CH", b"CPO").call()[1:4] == [[0], [], []]


def test_party_moving_to_new_key_releases_old(chain):
    reg = chain.registry
    op, party, other = chain.accounts[1:4]
    chain.node(op)
    chain.party(party, op, b"CH", b"CPO")
    chain.party(party, op, b"DE", b"ABC")
    assert reg.functions.getPartyDetailsByOcpi(b"CH", b"CPO").call() == [ZERO, [], [], [], ZERO, ""]
    assert reg.functions.getOperatorByOcpi(b"CH", b"CPO").call() == [ZERO, ""]
    assert reg.functions.getPartyDetailsByOcpi(b"DE", b"ABC").call()[0] == party
    assert reg.functions.getParties().call() == [party]
    # old key can be taken by someone else
    chain.party(other, op, b"CH", b"CPO")
    assert reg.functions.getPartyDetailsByOcpi(b"CH", b"CPO").call()[0] == other
    assert reg.functions.getParties().call() == [party, other]


def test_delete_party(chain):
    reg = chain.registry
    op, p1, p2, p3 = chain.accounts[1:5]
    chain.reverts(reg.functions.deleteParty(), p1, E_NO_PARTY)
    chain.node(op)
    chain.party(p1, op, b"CH", b"AAA")
    chain.party(p2, op, b"CH", b"BBB")
    chain.party(p3, op, b"CH", b"CCC")
    chain.send(reg.functions.setPartyModules([1], [2]), p1)

    rcpt = chain.send(reg.functions.deleteParty(), p1)
    args = one_event(reg, "PartyUpdate", rcpt)
    assert (args.countryCode, args.partyId, args.partyAddress, args.operatorAddress) == (b"CH", b"AAA", p1, ZERO)
    assert (args.roles, args.modulesSender, args.modulesReceiver) == ([], [], [])
    assert reg.functions.getPartyDetailsByAddress(p1).call() == [b"\0\0", b"\0\0\0", [], [], [], ZERO, ""]
    assert reg.functions.getPartyDetailsByOcpi(b"CH", b"AAA").call() == [ZERO, [], [], [], ZERO, ""]
    assert sorted(reg.functions.getParties().call()) == sorted([p2, p3])
    chain.reverts(reg.functions.deleteParty(), p1, E_NO_PARTY)

    # re-registering yields no duplicate
    chain.party(p1, op, b"CH", b"AAA")
    parties = reg.functions.getParties().call()
    assert sorted(parties) == sorted([p1, p2, p3]) and len(parties) == 3


def test_admin_delete_party(chain):
    reg = chain.registry
    op, party = chain.accounts[1:3]
    chain.node(op)
    chain.party(party, op)
    chain.reverts(reg.functions.adminDeleteParty(b"CH", b"CPO"), party, E_OWNER)
    chain.reverts(reg.functions.adminDeleteParty(b"XX", b"YYY"), chain.owner, E_NO_PARTY)
    rcpt = chain.send(reg.functions.adminDeleteParty(b"CH", b"CPO"), chain.owner)
    assert one_event(reg, "PartyUpdate", rcpt).partyAddress == party
    assert reg.functions.getParties().call() == []
    assert reg.functions.getOperatorByAddress(party).call() == [ZERO, ""]


def test_unknown_keys_give_zero_values(chain):
    reg, perm = chain.registry, chain.permissions
    nobody = chain.accounts[5]
    assert reg.functions.getNode(nobody).call() == ""
    assert reg.functions.getNodeOperators().call() == []
    assert reg.functions.getParties().call() == []
    assert reg.functions.getOperatorByAddress(nobody).call() == [ZERO, ""]
    assert reg.functions.getOperatorByOcpi(b"XX", b"YYY").call() == [ZERO, ""]
    assert reg.functions.getPartyDetailsByAddress(nobody).call() == [b"\0\0", b"\0\0\0", [], [], [], ZERO, ""]
    assert reg.functions.getPartyDetailsByOcpi(b"XX", b"YYY").call() == [ZERO, [], [], [], ZERO, ""]
    assert perm.functions.getService(nobody).call() == [b"\0\0", b"\0\0\0", "", "", []]
    assert perm.functions.getProviders().call() == []
    assert perm.functions.getUserAgreementsByAddress(nobody).call() == []
    assert perm.functions.getUserAgreementsByOcpi(b"XX", b"YYY").call() == []
    assert perm.functions.hasUserAgreementByAddress(nobody, nobody).call() is False
    assert perm.functions.hasUserAgreementByOcpi(b"XX", b"YYY", nobody).call() is False
    with pytest.raises(REVERTED):
        perm.functions.providers(0).call()  # out-of-range array index (Panic), as upstream


# ----------------------------------------------------------------------------
# Registry raw functions
# ----------------------------------------------------------------------------


def test_node_raw(chain, keys):
    reg = chain.registry
    spender = chain.accounts[9]
    op = keys[0]
    sig = rawsig.sign_set_node_raw(op.key, op.address, "https://raw.example")

    chain.reverts(reg.functions.setNodeRaw(op.address, "https://other.example", *sig), spender, E_OP_SIGNER)
    chain.reverts(reg.functions.setNodeRaw(keys[1].address, "https://raw.example", *sig), spender, E_OP_SIGNER)
    chain.reverts(reg.functions.setNodeRaw(op.address, "https://raw.example", *tamper(sig)), spender, E_OP_SIGNER)
    # v outside {27, 28}: ecrecover yields the zero address, rejected even if the argument is zero too
    bad_v = (0, sig[1], sig[2])
    chain.reverts(reg.functions.setNodeRaw(ZERO, "https://raw.example", *bad_v), spender, E_NO_SIGNER)
    chain.reverts(reg.functions.setNodeRaw(op.address, "https://raw.example", *bad_v), spender, E_NO_SIGNER)

    rcpt = chain.send(reg.functions.setNodeRaw(op.address, "https://raw.example", *sig), spender)
    args = one_event(reg, "OperatorUpdate", rcpt)
    assert (args.operator, args.domain) == (op.address, "https://raw.example")
    assert reg.functions.getNode(op.address).call() == "https://raw.example"
    assert reg.functions.getNode(spender).call() == ""

    dsig = rawsig.sign_delete_node_raw(op.key, op.address)
    chain.reverts(reg.functions.deleteNodeRaw(keys[1].address, *dsig), spender, E_OP_SIGNER)
    chain.reverts(reg.functions.deleteNodeRaw(ZERO, 0, dsig[1], dsig[2]), spender, E_NO_SIGNER)
    rcpt = chain.send(reg.functions.deleteNodeRaw(op.address, *dsig), spender)
    assert one_event(reg, "OperatorUpdate", rcpt).domain == ""
    assert reg.functions.getNodeOperators().call() == []
    chain.reverts(reg.functions.deleteNodeRaw(op.address, *dsig), spender, E_NO_NODE)


def test_party_raw(chain, keys):
    reg = chain.registry
    spender = chain.accounts[9]
    op = chain.accounts[1]
    party = keys[0]
    chain.node(op)

    sig = rawsig.sign_set_party_raw(party.key, party.address, "ch", "cpo", [0, 6], op)
    f = reg.functions.setPartyRaw
    chain.reverts(f(party.address, b"CH", b"CPO", [0, 5], op, *sig), spender, E_PARTY_SIGNER)
    chain.reverts(f(party.address, b"CH", b"CPX", [0, 6], op, *sig), spender, E_PARTY_SIGNER)
    chain.reverts(f(party.address, b"CH", b"CPO", [0, 6], op, *tamper(sig)), spender, E_PARTY_SIGNER)
    chain.reverts(f(ZERO, b"CH", b"CPO", [0, 6], op, 0, sig[1], sig[2]), spender, E_NO_SIGNER)
    # uint8-packed hashing (the classic pitfall) gives a different signer
    wrong = rawsig.sign_hash(
        party.key,
        rawsig.packed_hash(
            ["address", "bytes2", "bytes3", "uint8[]", "address"], [party.address, b"CH", b"CPO", [0, 6], op]
        ),
    )
    chain.reverts(f(party.address, b"CH", b"CPO", [0, 6], op, *wrong), spender, E_PARTY_SIGNER)
    # invalid enum values are rejected with a reason even when properly signed
    bad = rawsig.sign_set_party_raw(party.key, party.address, "CH", "CPO", [7], op)
    chain.reverts(f(party.address, b"CH", b"CPO", [7], op, *bad), spender, E_BAD_ROLE)

    rcpt = chain.send(f(party.address, b"CH", b"CPO", [0, 6], op, *sig), spender)
    args = one_event(reg, "PartyUpdate", rcpt)
    assert (args.partyAddress, args.roles, args.operatorAddress) == (party.address, [0, 6], op)
    assert reg.functions.getPartyDetailsByOcpi(b"CH", b"CPO").call()[:2] == [party.address, [0, 6]]

    msig = rawsig.sign_set_party_modules_raw(party.key, party.address, [3, 4], [2])
    g = reg.functions.setPartyModulesRaw
    chain.reverts(g(party.address, [3, 4], [2, 1], *msig), spender, E_PARTY_SIGNER)
    # packed arrays carry no length: the split between sender and receiver is
    # not signed (an upstream property we keep, since it is part of the signed bytes)
    chain.send(g(party.address, [3], [4, 2], *msig), spender)
    assert reg.functions.getPartyDetailsByAddress(party.address).call()[2:4] == [[3], [4, 2]]
    rcpt = chain.send(g(party.address, [3, 4], [2], *msig), spender)
    args = one_event(reg, "PartyUpdate", rcpt)
    assert (args.modulesSender, args.modulesReceiver, args.roles) == ([3, 4], [2], [0, 6])
    bad = rawsig.sign_set_party_modules_raw(party.key, party.address, [], [8])
    chain.reverts(g(party.address, [], [8], *bad), spender, E_BAD_MODULE)

    dsig = rawsig.sign_delete_party_raw(party.key, party.address)
    chain.reverts(reg.functions.deletePartyRaw(keys[1].address, *dsig), spender, E_PARTY_SIGNER)
    chain.send(reg.functions.deletePartyRaw(party.address, *dsig), spender)
    assert reg.functions.getParties().call() == []
    chain.reverts(reg.functions.deletePartyRaw(party.address, *dsig), spender, E_NO_PARTY)


def test_signed_bytes_are_upstream_compatible(keys):
    """Delete-style payloads are the bare address, shared between functions (no domain separation)."""
    me = keys[0]
    assert rawsig.sign_delete_node_raw(me.key, me.address) == rawsig.sign_delete_party_raw(me.key, me.address)
    assert rawsig.sign_delete_party_raw(me.key, me.address) == rawsig.sign_delete_service_raw(me.key, me.address)
    # setNodeRaw: 20-byte address followed by the UTF-8 domain, no length prefix
    types, values = rawsig.set_node_fields(me.address, "https://x")
    assert rawsig.packed_hash(types, values) == keccak(bytes.fromhex(me.address[2:]) + b"https://x")


# ----------------------------------------------------------------------------
# Permissions
# ----------------------------------------------------------------------------


def setup_parties(chain, *parties):
    op = chain.accounts[1]
    chain.node(op)
    for i, p in enumerate(parties):
        chain.party(p, op, b"CH", f"P{i:02d}".encode())
    return op


def test_service_lifecycle(chain):
    perm = chain.permissions
    provider, other = chain.accounts[2:4]
    chain.reverts(perm.functions.setService("S", "https://s", [0]), provider, E_SVC_NO_PARTY)
    setup_parties(chain, provider, other)
    chain.reverts(perm.functions.setService("S", "https://s", []), provider, E_NO_PERMS)
    chain.reverts(perm.functions.deleteService(), provider, E_NO_SVC)

    rcpt = chain.send(perm.functions.setService("S", "https://s", [0, 16]), provider)
    args = one_event(perm, "ServiceUpdate", rcpt)
    assert (args.name, args.url, args.permissions, args.provider) == ("S", "https://s", [0, 16], provider)
    assert perm.functions.getService(provider).call() == [b"CH", b"P00", "S", "https://s", [0, 16]]
    assert perm.functions.getProviders().call() == [provider]
    assert perm.functions.providers(0).call() == provider

    # overwrite: no duplicate
    chain.send(perm.functions.setService("T", "", [3]), provider)
    assert perm.functions.getService(provider).call()[2:] == ["T", "", [3]]
    chain.send(perm.functions.setService("O", "https://o", [1]), other)
    assert perm.functions.getProviders().call() == [provider, other]

    rcpt = chain.send(perm.functions.deleteService(), provider)
    args = one_event(perm, "ServiceUpdate", rcpt)
    assert (args.name, args.url, args.permissions, args.provider) == ("", "", [3], provider)
    assert perm.functions.getService(provider).call() == [b"CH", b"P00", "", "", []]
    assert perm.functions.getProviders().call() == [other]
    chain.reverts(perm.functions.deleteService(), provider, E_NO_SVC)

    chain.send(perm.functions.setService("S", "https://s", [0]), provider)
    assert perm.functions.getProviders().call() == [other, provider]


def test_agreements(chain):
    perm = chain.permissions
    user, provider, stranger = chain.accounts[2:5]
    chain.reverts(perm.functions.createAgreement(provider), user, E_USER_NO_PARTY)
    setup_parties(chain, user, provider)
    chain.reverts(perm.functions.createAgreement(provider), user, E_PROVIDER_NO_SVC)
    chain.reverts(perm.functions.revokeAgreement(provider), user, E_PROVIDER_NO_SVC)
    chain.reverts(perm.functions.revokeAgreement(provider), stranger, E_USER_NO_PARTY)
    chain.send(perm.functions.setService("S", "https://s", [0]), provider)
    chain.reverts(perm.functions.revokeAgreement(provider), user, E_NO_AGREEMENT)

    rcpt = chain.send(perm.functions.createAgreement(provider), user)
    args = one_event(perm, "ServiceAgreement", rcpt)
    assert (args.user, args.provider) == (user, provider)
    chain.reverts(perm.functions.createAgreement(provider), user, E_AGREEMENT_EXISTS)
    assert perm.functions.getUserAgreementsByAddress(user).call() == [provider]
    assert perm.functions.getUserAgreementsByOcpi(b"CH", b"P00").call() == [provider]
    assert perm.functions.hasUserAgreementByAddress(user, provider).call() is True
    assert perm.functions.hasUserAgreementByOcpi(b"CH", b"P00", provider).call() is True

    rcpt = chain.send(perm.functions.revokeAgreement(provider), user)
    args = one_event(perm, "ServiceAgreement", rcpt)
    assert (args.user, args.provider) == (user, provider)
    assert perm.functions.getUserAgreementsByAddress(user).call() == []
    assert perm.functions.hasUserAgreementByAddress(user, provider).call() is False
    assert perm.functions.hasUserAgreementByOcpi(b"CH", b"P00", provider).call() is False

    # re-agreeing does not duplicate
    chain.send(perm.functions.createAgreement(provider), user)
    chain.send(perm.functions.revokeAgreement(provider), user)
    chain.send(perm.functions.createAgreement(provider), user)
    assert perm.functions.getUserAgreementsByAddress(user).call() == [provider]

    # the agreement survives the provider deleting its service, and can still be revoked
    chain.send(perm.functions.deleteService(), provider)
    assert perm.functions.hasUserAgreementByAddress(user, provider).call() is True
    chain.reverts(perm.functions.createAgreement(provider), user, E_PROVIDER_NO_SVC)
    chain.send(perm.functions.revokeAgreement(provider), user)
    assert perm.functions.getUserAgreementsByAddress(user).call() == []


def test_agreement_list_swap_and_pop(chain):
    perm = chain.permissions
    user, p1, p2, p3 = chain.accounts[2:6]
    setup_parties(chain, user, p1, p2, p3)
    for p in (p1, p2, p3):
        chain.send(perm.functions.setService("S", "u", [0]), p)
        chain.send(perm.functions.createAgreement(p), user)
    chain.send(perm.functions.revokeAgreement(p1), user)
    assert sorted(perm.functions.getUserAgreementsByAddress(user).call()) == sorted([p2, p3])
    chain.send(perm.functions.revokeAgreement(p3), user)
    assert perm.functions.getUserAgreementsByOcpi(b"CH", b"P00").call() == [p2]
    chain.send(perm.functions.deleteService(), p1)
    assert sorted(perm.functions.getProviders().call()) == sorted([p2, p3])


def test_permissions_raw(chain, keys):
    perm = chain.permissions
    spender = chain.accounts[9]
    op = chain.accounts[1]
    provider, user = keys[0], keys[1]
    chain.node(op)
    for i, k in enumerate((provider, user)):
        sig = rawsig.sign_set_party_raw(k.key, k.address, "CH", f"R{i:02d}", [4], op)
        chain.send(chain.registry.functions.setPartyRaw(k.address, b"CH", f"R{i:02d}".encode(), [4], op, *sig), spender)

    sig = rawsig.sign_set_service_raw(provider.key, "Svc", "https://svc", [0, 7])
    f = perm.functions.setServiceRaw
    chain.reverts(f("Svc", "https://svc", [0, 7], 0, sig[1], sig[2]), spender, E_NO_SIGNER)
    # tampered payload recovers some unrelated address, which has no party
    chain.reverts(f("Svc", "https://svc2", [0, 7], *sig), spender, E_SVC_NO_PARTY)
    rcpt = chain.send(f("Svc", "https://svc", [0, 7], *sig), spender)
    assert one_event(perm, "ServiceUpdate", rcpt).provider == provider.address
    assert perm.functions.getService(provider.address).call() == [b"CH", b"R00", "Svc", "https://svc", [0, 7]]
    # empty strings contribute nothing to the packed payload
    sig_empty = rawsig.sign_set_service_raw(provider.key, "", "", [1])
    chain.send(f("", "", [1], *sig_empty), spender)
    assert perm.functions.getService(provider.address).call()[2:] == ["", "", [1]]

    csig = rawsig.sign_create_agreement_raw(user.key, provider.address)
    chain.reverts(perm.functions.createAgreementRaw(provider.address, 0, csig[1], csig[2]), spender, E_NO_SIGNER)
    chain.reverts(perm.functions.createAgreementRaw(provider.address, *tamper(csig)), spender, E_USER_NO_PARTY)
    rcpt = chain.send(perm.functions.createAgreementRaw(provider.address, *csig), spender)
    args = one_event(perm, "ServiceAgreement", rcpt)
    assert (args.user, args.provider) == (user.address, provider.address)
    assert perm.functions.getUserAgreementsByOcpi(b"CH", b"R01").call() == [provider.address]

    rsig = rawsig.sign_revoke_agreement_raw(user.key, provider.address)
    chain.reverts(perm.functions.revokeAgreementRaw(provider.address, 0, rsig[1], rsig[2]), spender, E_NO_SIGNER)
    chain.send(perm.functions.revokeAgreementRaw(provider.address, *rsig), spender)
    assert perm.functions.hasUserAgreementByAddress(user.address, provider.address).call() is False

    dsig = rawsig.sign_delete_service_raw(provider.key, provider.address)
    chain.reverts(perm.functions.deleteServiceRaw(user.address, *dsig), spender, E_PROVIDER_SIGNER)
    chain.reverts(perm.functions.deleteServiceRaw(ZERO, 0, dsig[1], dsig[2]), spender, E_NO_SIGNER)
    chain.send(perm.functions.deleteServiceRaw(provider.address, *dsig), spender)
    assert perm.functions.getProviders().call() == []
    chain.reverts(perm.functions.deleteServiceRaw(provider.address, *dsig), spender, E_NO_SVC)


def test_gas_budget(chain):
    """Loose upper bounds so that a regression in storage layout shows up."""
    reg = chain.registry
    op, party = chain.accounts[1:3]
    assert reg.deploy_receipt.gasUsed < 3_500_000
    assert chain.permissions.deploy_receipt.gasUsed < 2_500_000
    assert chain.node(op).gasUsed < 150_000
    assert chain.party(party, op).gasUsed < 250_000
