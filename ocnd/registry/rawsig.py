"""Signatures for the Registry/Permissions ``*Raw`` meta-transactions.

A raw call lets one account (the "spender") pay for a transaction on behalf
of another (the data owner).  The contract recovers the owner from

    keccak256("\\x19Ethereum Signed Message:\\n32" ++ keccak256(packed))

where ``packed`` is the Solidity ``abi.encodePacked`` of the call's fields
(no nonce, chain id or contract address).  These are pure functions: no
network access, no state.

Two encoding details matter for byte-for-byte compatibility:

* enum arrays (roles, modules) are packed with **32 bytes per element**, as
  Solidity pads array elements in packed mode; ``uint8[]`` in eth_abi's
  packed encoder would give one byte each and a wrong hash;
* country code and party id are 2 and 3 raw ASCII bytes; we upper-case them
  the way the upstream CLI does (the contract itself is case-sensitive).

Each ``sign_*`` function returns ``(v, r, s)`` with ``v`` in {27, 28} and
``r``/``s`` as 32-byte ``bytes``, ready to pass to the contract function.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from eth_abi.packed import encode_packed
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak, to_checksum_address

Signature = tuple[int, bytes, bytes]


def packed_hash(types: Sequence[str], values: Sequence[Any]) -> bytes:
    """keccak256 of Solidity packed encoding (``abi.encodePacked``)."""
    return keccak(encode_packed(list(types), list(values)))


def sign_hash(key: Any, param_hash: bytes) -> Signature:
    """personal_sign (EIP-191 version 0x45) over the 32 bytes of ``param_hash``."""
    if len(param_hash) != 32:
        raise ValueError("param_hash must be 32 bytes")
    signed = Account.sign_message(encode_defunct(primitive=param_hash), private_key=key)
    return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")


def recover(types: Sequence[str], values: Sequence[Any], v: int, r: bytes, s: bytes) -> str:
    """Address (checksummed) that signed the packed fields, as the contract sees it."""
    return recover_hash(packed_hash(types, values), v, r, s)


def recover_hash(param_hash: bytes, v: int, r: bytes, s: bytes) -> str:
    return Account.recover_message(encode_defunct(primitive=param_hash), vrs=(v, r, s))


def _sign(key: Any, types: Sequence[str], values: Sequence[Any]) -> Signature:
    return sign_hash(key, packed_hash(types, values))


def ocpi_id(value: str | bytes, size: int) -> bytes:
    """Country code (size 2) or party id (size 3) as raw upper-case ASCII bytes."""
    raw = value.encode("ascii") if isinstance(value, str) else bytes(value)
    raw = raw.upper()
    if len(raw) != size:
        raise ValueError(f"expected {size} ASCII characters, got {value!r}")
    return raw


def _enums(values: Iterable[int]) -> list[int]:
    out = [int(x) for x in values]
    for x in out:
        if not 0 <= x <= 255:
            raise ValueError(f"enum value out of uint8 range: {x}")
    return out


def _addr(value: str) -> str:
    return to_checksum_address(value)


# ----------------------------------------------------------------------------
# Field lists, one per raw function (exposed for recover() and for tests)
# ----------------------------------------------------------------------------


def set_node_fields(operator: str, domain: str):
    return ["address", "string"], [_addr(operator), domain]


def address_fields(address: str):
    """deleteNodeRaw, deletePartyRaw, deleteServiceRaw, create/revokeAgreementRaw."""
    return ["address"], [_addr(address)]


def set_party_fields(party: str, country_code, party_id, roles: Iterable[int], operator: str):
    return (
        ["address", "bytes2", "bytes3", "uint256[]", "address"],
        [_addr(party), ocpi_id(country_code, 2), ocpi_id(party_id, 3), _enums(roles), _addr(operator)],
    )


def set_party_modules_fields(party: str, sender: Iterable[int], receiver: Iterable[int]):
    return ["address", "uint256[]", "uint256[]"], [_addr(party), _enums(sender), _enums(receiver)]


def set_service_fields(name: str, url: str, permissions: Iterable[int]):
    return ["string", "string", "uint256[]"], [name, url, [int(p) for p in permissions]]


# ----------------------------------------------------------------------------
# Registry
# ----------------------------------------------------------------------------


def sign_set_node_raw(key: Any, operator: str, domain: str) -> Signature:
    """For ``setNodeRaw(operator, domain, v, r, s)``; key must be the operator's."""
    return _sign(key, *set_node_fields(operator, domain))


def sign_delete_node_raw(key: Any, operator: str) -> Signature:
    """For ``deleteNodeRaw(operator, v, r, s)``."""
    return _sign(key, *address_fields(operator))


def sign_set_party_raw(key: Any, party: str, country_code, party_id, roles, operator: str) -> Signature:
    """For ``setPartyRaw(party, cc, pid, roles, operator, v, r, s)``; key is the party's."""
    return _sign(key, *set_party_fields(party, country_code, party_id, roles, operator))


def sign_set_party_modules_raw(key: Any, party: str, sender, receiver) -> Signature:
    """For ``setPartyModulesRaw(party, sender, receiver, v, r, s)``."""
    return _sign(key, *set_party_modules_fields(party, sender, receiver))


def sign_delete_party_raw(key: Any, party: str) -> Signature:
    """For ``deletePartyRaw(party, v, r, s)``."""
    return _sign(key, *address_fields(party))


# ----------------------------------------------------------------------------
# Permissions
# ----------------------------------------------------------------------------


def sign_set_service_raw(key: Any, name: str, url: str, permissions) -> Signature:
    """For ``setServiceRaw(name, url, permissions, v, r, s)``; the provider is the signer."""
    return _sign(key, *set_service_fields(name, url, permissions))


def sign_delete_service_raw(key: Any, provider: str) -> Signature:
    """For ``deleteServiceRaw(provider, v, r, s)``; key is the provider's."""
    return _sign(key, *address_fields(provider))


def sign_create_agreement_raw(key: Any, provider: str) -> Signature:
    """For ``createAgreementRaw(provider, v, r, s)``; key is the *user's*."""
    return _sign(key, *address_fields(provider))


def sign_revoke_agreement_raw(key: Any, provider: str) -> Signature:
    """For ``revokeAgreementRaw(provider, v, r, s)``; key is the *user's*."""
    return _sign(key, *address_fields(provider))
