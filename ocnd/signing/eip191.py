"""EIP-191 personal signatures (``personal_sign``), the primitive under both OCN signatures.

The notary signs the *text* of its hash, the node wire signature the request
body bytes; both are ``keccak256("\\x19Ethereum Signed Message:\\n" + len +
message)`` signed with secp256k1, written r || s || v with v = 27/28.

Keys given as hex strings or bytes are signed with coincurve directly
(deterministic RFC 6979 nonces and low-s, so the bytes equal eth_account's,
which the tests check) at about five times eth_account's speed; other key
objects (an eth_account ``LocalAccount``) go through eth_account.  Recovered
addresses are cached per public key: a node hears from few signers.
"""

from __future__ import annotations

import functools
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_hash.auto import keccak
from eth_utils import to_checksum_address


class RecoveryError(ValueError):
    """A signature that is malformed or does not recover to a public key."""


def digest(message: bytes) -> bytes:
    return keccak(b"\x19Ethereum Signed Message:\n" + str(len(message)).encode() + message)


@functools.lru_cache(maxsize=16)
def _coincurve_key(key: str | bytes):
    import coincurve

    raw = bytes.fromhex(key.removeprefix("0x")) if isinstance(key, str) else key
    return coincurve.PrivateKey(raw)


@functools.lru_cache(maxsize=16)
def _account_from_key(key: str | bytes) -> Any:
    return Account.from_key(key)


def account(key: Any) -> Any:
    """eth_account LocalAccount for a key (hex/bytes keys cached)."""
    if hasattr(key, "sign_message") and hasattr(key, "address"):
        return key
    if isinstance(key, (str, bytes)):
        return _account_from_key(key)
    return Account.from_key(key)


def address_of_key(key: Any) -> str:
    """EIP-55 address of a private key."""
    return to_checksum_address(account(key).address)


def sign(message: bytes, key: Any) -> bytes:
    """65 bytes r || s || v (v = 27/28)."""
    if isinstance(key, (str, bytes)):
        sig = _coincurve_key(key).sign_recoverable(digest(message), hasher=None)
        return sig[:64] + bytes([sig[64] + 27])
    return bytes(account(key).sign_message(encode_defunct(primitive=message)).signature)


@functools.lru_cache(maxsize=1024)
def _address_of_public(public_key: bytes) -> str:
    return to_checksum_address(keccak(public_key[1:])[-20:])


def recover(message: bytes, signature: bytes) -> str:
    """EIP-55 address that signed ``message``; v may be 27/28 or 0/1."""
    import coincurve

    if len(signature) != 65 or signature[64] not in (0, 1, 27, 28):
        raise RecoveryError("signature must be 65 bytes with v in 0, 1, 27 or 28")
    v = signature[64] - 27 if signature[64] >= 27 else signature[64]
    try:
        public = coincurve.PublicKey.from_signature_and_message(signature[:64] + bytes([v]), digest(message),
                                                                hasher=None)
    except Exception as e:  # r/s out of range, point not on curve, ...
        raise RecoveryError(f"signature does not recover: {e}") from None
    return _address_of_public(public.format(compressed=False))
