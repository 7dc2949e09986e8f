"""ocnd's coincurve EIP-191 path gives eth_account's bytes and addresses."""

from __future__ import annotations

import os

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from ocnd.signing import eip191


@pytest.mark.parametrize("n", range(8))
def test_sign_and_recover_match_eth_account(n):
    key = "0x" + os.urandom(32).hex()
    message = os.urandom(n * 37)
    expected = Account.from_key(key).sign_message(encode_defunct(primitive=message))
    ours = eip191.sign(message, key)
    assert ours == bytes(expected.signature)
    address = Account.from_key(key).address
    assert eip191.recover(message, ours) == address == eip191.address_of_key(key)
    assert eip191.sign(message, bytes.fromhex(key[2:])) == ours
    assert eip191.sign(message, Account.from_key(key)) == ours  # a LocalAccount goes through eth_account
    low_v = ours[:64] + bytes([ours[64] - 27])
    assert eip191.recover(message, low_v) == address


def test_bad_signatures_raise_recovery_error():
    with pytest.raises(eip191.RecoveryError):
        eip191.recover(b"x", b"\x00" * 64)
    with pytest.raises(eip191.RecoveryError):
        eip191.recover(b"x", b"\x01" * 64 + b"\x05")
    with pytest.raises(eip191.RecoveryError):
        eip191.recover(b"x", b"\x00" * 64 + b"\x1b")  # r = s = 0
