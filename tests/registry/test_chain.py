"""EmbeddedChain: deterministic deployment, chain id, threading, journal."""

from __future__ import annotations

import sqlite3

import pytest
import pytest_twisted
from twisted.internet import defer

from ocnd.registry import artifacts
from ocnd.registry.chain import (
    LOCAL_DEPLOYER,
    LOCAL_PERMISSIONS_ADDRESS,
    LOCAL_REGISTRY_ADDRESS,
    ChainError,
    ChainNotRunning,
    EmbeddedChain,
    TransactionRejected,
    TransactionReverted,
    derive_dev_accounts,
)

CANDY_KEY_0 = "0xc87509a1c067bbde78beb793e6fa76530b6382a4c0241e5e4a9ec0a0f44dc0d3"


def _registry(w3, chain):
    return w3.eth.contract(address=chain.registry_address, abi=artifacts.abi("Registry"))


def _set_node_tx(w3, chain, sender, domain, **extra):
    tx = {"from": sender, "gas": 400_000, "gasPrice": 10**9}
    tx.update(extra)
    return _registry(w3, chain).functions.setNode(domain).build_transaction(tx)


def _get_node(w3, chain, operator):
    return _registry(w3, chain).functions.getNode(operator).call()


@pytest.fixture
def reactor():
    from twisted.internet import reactor

    return reactor


@pytest_twisted.async_yield_fixture
async def chain(reactor):
    c = EmbeddedChain(reactor, None)
    await c.start()
    yield c
    await c.stop()


def test_dev_accounts_are_the_candy_mnemonic():
    accounts = derive_dev_accounts(3)
    assert accounts[0] == (LOCAL_DEPLOYER, CANDY_KEY_0)
    assert accounts[1][0] == "0xf17f52151EbEF6C7334FAD080c5704D77216b732"
    assert len({a for a, _ in accounts}) == 3


@pytest_twisted.ensureDeferred
async def test_deterministic_deployment_and_chain_id(chain):
    assert chain.registry_address == LOCAL_REGISTRY_ADDRESS
    assert chain.permissions_address == LOCAL_PERMISSIONS_ADDRESS
    assert chain.chain_id == 9
    assert chain.dev_accounts[0] == (LOCAL_DEPLOYER, CANDY_KEY_0)

    def inspect(w3):
        perms = w3.eth.contract(address=chain.permissions_address,
                                abi=artifacts.abi("Permissions"))
        code = bytes(w3.eth.get_code(chain.permissions_address))
        return {
            "chain_id": w3.eth.chain_id,
            "net_version": w3.net.version,
            "registry_code": len(w3.eth.get_code(chain.registry_address)),
            "permissions_code": len(w3.eth.get_code(chain.permissions_address)),
            "owner": _registry(w3, chain).functions.owner().call(),
            # the registry address is an immutable baked into the runtime code
            "perm_registry": bytes.fromhex(chain.registry_address[2:]) in code,
            # getService calls into the Registry; a wrong address would revert
            "service": perms.functions.getService(chain.dev_accounts[1][0]).call(),
            "providers": perms.functions.getProviders().call(),
            "deployer_nonce": w3.eth.get_transaction_count(LOCAL_DEPLOYER),
            "balance": w3.eth.get_balance(chain.dev_accounts[5][0]),
        }

    info = await chain.run(inspect)
    assert info["chain_id"] == 9
    assert info["net_version"] == "9"
    assert info["registry_code"] > 1000
    assert info["permissions_code"] > 1000
    assert info["owner"] == LOCAL_DEPLOYER
    assert info["perm_registry"] is True
    assert info["service"][2:] == ["", "", []]
    assert info["providers"] == []
    assert info["deployer_nonce"] == 4
    assert info["balance"] >= 10**6 * 10**18


@pytest_twisted.ensureDeferred
async def test_chain_id_is_configurable(reactor):
    c = EmbeddedChain(reactor, None, chain_id=1337, num_accounts=2)
    await c.start()
    try:
        ids = await c.run(lambda w3: (w3.eth.chain_id, w3.net.version))
        assert ids == (1337, "1337")
        assert c.registry_address == LOCAL_REGISTRY_ADDRESS
        # the CHAINID the EVM sees is the one transactions are signed for
        receipt = await c.fund(c.dev_accounts[1][0], 1)
        assert receipt["status"] == 1
    finally:
        await c.stop()


@pytest_twisted.ensureDeferred
async def test_concurrent_views_and_writes(chain):
    from eth_account import Account

    senders = [Account.create() for _ in range(10)]
    await defer.gatherResults([chain.fund(a.address) for a in senders])

    def build(w3, acct, i):
        return _set_node_tx(w3, chain, acct.address, f"https://node{i}.example",
                            nonce=0, chainId=9)

    txs = await defer.gatherResults(
        [chain.run(build, a, i) for i, a in enumerate(senders)])
    raws = [bytes(a.sign_transaction(tx).raw_transaction) for a, tx in zip(senders, txs)]

    work = [chain.send_raw_transaction(raw) for raw in raws]
    work += [chain.run(_get_node, chain, senders[i % 10].address) for i in range(100)]
    results = await defer.gatherResults(work, consumeErrors=True)
    assert len(results) == 110

    nodes = await defer.gatherResults(
        [chain.run(_get_node, chain, a.address) for a in senders])
    assert nodes == [f"https://node{i}.example" for i in range(10)]


@pytest_twisted.ensureDeferred
async def test_send_transaction_fills_fields_and_reverts_cleanly(chain):
    address, key = chain.dev_accounts[1]
    tx = await chain.run(lambda w3: _registry(w3, chain).functions.setNode(
        "https://a.example").build_transaction({"from": address, "gas": 400_000}))
    receipt = await chain.send_transaction(
        {"to": tx["to"], "data": tx["data"]}, key)
    assert receipt["status"] == 1

    other, other_key = chain.dev_accounts[2]
    with pytest.raises(TransactionReverted) as info:
        await chain.send_transaction({"to": tx["to"], "data": tx["data"]}, other_key)
    assert info.value.reason == "Domain name already registered."
    assert info.value.data[:4] == bytes.fromhex("08c379a0")
    assert "execution reverted: Domain name already registered." in str(info.value)
    # nothing was mined for the refused transaction
    nonce = await chain.run(lambda w3: w3.eth.get_transaction_count(other))
    assert nonce == 0


@pytest_twisted.ensureDeferred
async def test_invalid_raw_transactions_are_rejected(chain):
    from eth_account import Account

    address, key = chain.dev_accounts[3]
    # garbage
    with pytest.raises(TransactionRejected):
        await chain.send_raw_transaction(b"\x01\x02\x03")
    # wrong chain id
    signed = Account.sign_transaction(
        {"to": address, "value": 1, "gas": 21000, "gasPrice": 10**9,
         "nonce": 0, "chainId": 1}, key)
    with pytest.raises(TransactionRejected, match="chain id"):
        await chain.send_raw_transaction(bytes(signed.raw_transaction))
    # nonce gap
    signed = Account.sign_transaction(
        {"to": address, "value": 1, "gas": 21000, "gasPrice": 10**9,
         "nonce": 5, "chainId": 9}, key)
    with pytest.raises(TransactionRejected, match="nonce"):
        await chain.send_raw_transaction(bytes(signed.raw_transaction))
    # unfunded sender
    pauper = Account.create()
    signed = pauper.sign_transaction(
        {"to": address, "value": 1, "gas": 21000, "gasPrice": 10**9,
         "nonce": 0, "chainId": 9})
    with pytest.raises(TransactionRejected, match="balance"):
        await chain.send_raw_transaction(bytes(signed.raw_transaction))


@pytest_twisted.ensureDeferred
async def test_journal_survives_restart(reactor, tmp_path):
    from eth_account import Account

    journal = str(tmp_path / "chain.sqlite")
    operator = Account.create()

    first = EmbeddedChain(reactor, journal)
    await first.start()
    try:
        await first.fund(operator.address)
        tx = await first.run(_set_node_tx, first, operator.address,
                             "https://persisted.example", nonce=0, chainId=9)
        await first.send_raw_transaction(
            bytes(operator.sign_transaction(tx).raw_transaction))
        # a dev-account write through send_transaction is journaled too
        dev, dev_key = first.dev_accounts[4]
        tx = await first.run(_set_node_tx, first, dev, "https://dev.example")
        await first.send_transaction({"to": tx["to"], "data": tx["data"]}, dev_key)
        # a reverted transaction is refused and not journaled
        other, other_key = first.dev_accounts[5]
        with pytest.raises(TransactionReverted):
            await first.send_transaction({"to": tx["to"], "data": tx["data"]}, other_key)
        head = await first.run(lambda w3: w3.eth.block_number)
    finally:
        await first.stop()

    rows = sqlite3.connect(journal).execute("SELECT seq FROM journal").fetchall()
    assert len(rows) == 3  # fund, raw setNode, dev setNode

    with pytest.raises(ChainNotRunning):
        await first.run(lambda w3: w3.eth.block_number)

    second = EmbeddedChain(reactor, journal)
    await second.start()
    try:
        assert second.replayed == 3
        assert second.replay_failures == []
        node = await second.run(_get_node, second, operator.address)
        assert node == "https://persisted.example"
        node = await second.run(_get_node, second, dev)
        assert node == "https://dev.example"
        assert await second.run(lambda w3: w3.eth.block_number) == head
        # the restarted chain keeps accepting and journaling
        await second.fund(operator.address, 5)
    finally:
        await second.stop()
    rows = sqlite3.connect(journal).execute("SELECT seq FROM journal").fetchall()
    assert len(rows) == 4


@pytest_twisted.ensureDeferred
async def test_bad_journal_entry_is_skipped_loudly(reactor, tmp_path):
    from eth_account import Account

    journal = str(tmp_path / "chain.sqlite")
    c = EmbeddedChain(reactor, journal, num_accounts=2)
    await c.start()
    acct = Account.create()
    await c.fund(acct.address, 10**18)
    await c.stop()

    db = sqlite3.connect(journal)
    bogus = Account.create().sign_transaction(
        {"to": acct.address, "value": 1, "gas": 21000, "gasPrice": 10**9,
         "nonce": 0, "chainId": 9})
    db.execute("INSERT INTO journal (tx_hash, raw, added_at) VALUES (?, ?, 0)",
               ("0xbogus", bytes(bogus.raw_transaction)))
    db.commit()
    db.close()

    c = EmbeddedChain(reactor, journal, num_accounts=2)
    await c.start()
    try:
        assert c.replayed == 1
        assert [f[1] for f in c.replay_failures] == ["0xbogus"]
        balance = await c.run(lambda w3: w3.eth.get_balance(acct.address))
        assert balance == 10**18
    finally:
        await c.stop()

    other_id = EmbeddedChain(reactor, journal, chain_id=10, num_accounts=2)
    with pytest.raises(ChainError, match="chain id"):
        await other_id.start()
