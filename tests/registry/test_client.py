"""RegistryClient against the embedded chain (EmbeddedBackend)."""

from __future__ import annotations

import pytest
import pytest_twisted
from eth_account import Account

from ocnd.registry.chain import EmbeddedChain
from ocnd.registry.client import (
    EmbeddedBackend,
    JsonRpcBackend,
    RegistryClient,
    RegistryUnavailable,
    SyncRegistry,
    TransactionReverted,
    translate_error,
)
from ocnd.registry.model import Module, NodeListing, Role


@pytest_twisted.async_yield_fixture
async def chain():
    from twisted.internet import reactor

    c = EmbeddedChain(reactor, None)
    await c.start()
    yield c
    await c.stop()


def keys(chain, n):
    return [key for _, key in chain.dev_accounts[1:1 + n]]


def addr(key):
    return Account.from_key(key).address


@pytest_twisted.ensureDeferred
async def test_lookups_and_writes(chain):
    client = RegistryClient(EmbeddedBackend(chain), chain.registry_address, chain.permissions_address)
    op, party, user = keys(chain, 3)
    res = await client.set_node(op, "https://node.example")
    assert res.block_number > 0 and res.sender == addr(op)
    await client.set_party(party, "de", "abc", [Role.CPO, Role.EMSP], addr(op))
    await client.set_party_modules(party, [Module.locations], [Module.commands])

    assert await client.get_operator_by_ocpi("De", "aBc") == NodeListing(addr(op), "https://node.example")
    assert await client.get_operator_by_ocpi("DE", "XXX") is None
    p = await client.get_party_details_by_ocpi("de", "abc")
    assert (p.address, p.country_code, p.party_id) == (addr(party), "DE", "ABC")
    assert p.roles == (Role.CPO, Role.EMSP)
    assert p.modules_sender == (Module.locations,) and p.modules_receiver == (Module.commands,)
    q = await client.get_party_details_by_address(addr(party))
    assert q == p
    assert await client.get_party_details_by_address(addr(user)) is None
    assert await client.get_nodes() == [NodeListing(addr(op), "https://node.example")]
    assert addr(party) in await client.get_parties()
    assert await client.get_node(addr(party)) is None

    # raw variant: party key signs, another account pays
    raw_party = Account.create().key.hex()
    await client.set_party_raw(raw_party, op, "ch", "xyz", [Role.HUB], addr(op))
    r = await client.get_party_details_by_ocpi("CH", "XYZ")
    assert r.address == addr(raw_party) and r.roles == (Role.HUB,)

    # permissions
    await client.set_service(party, "Svc", "https://svc", [0, 3])
    svc = await client.get_service(addr(party))
    assert (svc.name, svc.country_code, svc.permissions) == ("Svc", "DE", (0, 3))
    await client.create_agreement_raw(raw_party, user, addr(party))
    assert await client.has_user_agreement_by_ocpi("ch", "xyz", addr(party))
    assert [s.provider for s in await client.get_user_agreements_by_ocpi("ch", "xyz")] == [addr(party)]
    await client.revoke_agreement_raw(raw_party, user, addr(party))
    assert await client.get_user_agreements_by_ocpi("ch", "xyz") == []

    # delete + events
    head_before = await client.block_number()
    await client.delete_party(party)
    assert await client.get_party_details_by_ocpi("DE", "ABC") is None
    events = await client.get_events(0, "latest")
    names = [e.name for e in events]
    assert names.count("OperatorUpdate") == 1
    assert {"PartyUpdate", "ServiceUpdate", "ServiceAgreement"} <= set(names)
    last = [e for e in events if e.block_number > head_before]
    assert last[-1].name == "PartyUpdate" and last[-1].args["operatorAddress"].endswith("0" * 40)


@pytest_twisted.ensureDeferred
async def test_revert_reason_is_one_line(chain):
    client = RegistryClient(EmbeddedBackend(chain), chain.registry_address, chain.permissions_address)
    op, other = keys(chain, 2)
    await client.set_node(op, "https://dup.example")
    with pytest.raises(TransactionReverted) as info:
        await client.set_node(other, "https://dup.example")
    assert str(info.value) == "reverted: Domain name already registered."
    with pytest.raises(TransactionReverted, match="Provided operator not registered"):
        await client.set_party(other, "NL", "AAA", [0], addr(other))


@pytest_twisted.ensureDeferred
async def test_jsonrpc_backend_unreachable():
    from twisted.internet import reactor

    backend = JsonRpcBackend(reactor, "http://127.0.0.1:9", timeout=2)
    client = RegistryClient(backend, "0x345cA3e014Aaf5dcA488057592ee47305D9B3e10",
                            "0xf25186B5081Ff5cE73482AD761DB0eB0d25abfBF")
    try:
        with pytest.raises(RegistryUnavailable, match="unreachable"):
            await client.get_operator_by_ocpi("DE", "ABC")
    finally:
        await backend.stop()


def test_translate_insufficient_funds():
    from ocnd.registry.client import InsufficientFunds

    err = translate_error(ValueError("insufficient funds for gas * price + value"))
    assert isinstance(err, InsufficientFunds)
    assert "\n" not in str(err)


def test_sync_registry_rejects_bad_ocpi_ids():
    from web3 import Web3
    from web3.providers.eth_tester import EthereumTesterProvider

    reg = SyncRegistry(Web3(EthereumTesterProvider()), "0x345cA3e014Aaf5dcA488057592ee47305D9B3e10")
    with pytest.raises(ValueError, match="2\\+3"):
        reg.get_operator_by_ocpi("DEU", "AB")
