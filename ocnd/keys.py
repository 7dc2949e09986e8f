"""Node key and admin API key: loaded from files, created 0600 when absent."""

from __future__ import annotations

import json
import os
import re
import secrets
from typing import Mapping

from eth_account import Account


class KeyError_(Exception):
    """A key could not be loaded; the message names the file."""


def _write_secret(path: str, text: str) -> None:
    """Create ``path`` with mode 0600 atomically (never world-readable)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _read_secret(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError as e:
        raise KeyError_(f"{path}: cannot read: {e.strerror}") from None


def load_node_key(key_file: str, keystore_file: str = "", password_file: str = "",
                  environ: Mapping[str, str] | None = None) -> str:
    """Return the node private key as 0x-hex.

    With ``keystore_file`` the encrypted JSON keystore is decrypted with the
    password from ``password_file`` or ``$OCND_KEYSTORE_PASSWORD``.  Otherwise
    ``key_file`` holds the hex key; it is generated (0600) if it does not exist.
    """
    environ = os.environ if environ is None else environ
    if keystore_file:
        try:
            with open(keystore_file, encoding="utf-8") as fh:
                keystore = json.load(fh)
        except (OSError, ValueError) as e:
            raise KeyError_(f"{keystore_file}: cannot read keystore: {e}") from None
        if password_file:
            password = _read_secret(password_file)
        elif "OCND_KEYSTORE_PASSWORD" in environ:
            password = environ["OCND_KEYSTORE_PASSWORD"]
        else:
            raise KeyError_(f"{keystore_file}: no password (set keystore_password_file or OCND_KEYSTORE_PASSWORD)")
        try:
            return "0x" + bytes(Account.decrypt(keystore, password)).hex()
        except ValueError as e:
            raise KeyError_(f"{keystore_file}: cannot decrypt keystore: {e}") from None
    if not os.path.exists(key_file):
        _write_secret(key_file, "0x" + secrets.token_hex(32))
    text = _read_secret(key_file)
    if not re.fullmatch(r"(0x)?[0-9a-fA-F]{64}", text):
        raise KeyError_(f"{key_file}: not a 32-byte hex private key")
    return text if text.startswith("0x") else "0x" + text


def load_admin_key(path: str) -> str:
    """Return the admin API key, generating a random one (0600) if absent."""
    if not os.path.exists(path):
        _write_secret(path, secrets.token_urlsafe(32))
    key = _read_secret(path)
    if len(key) < 16:
        raise KeyError_(f"{path}: admin API key is too short (need at least 16 characters)")
    return key


def address_of(private_key: str) -> str:
    """Checksum address of a private key."""
    return Account.from_key(private_key).address
