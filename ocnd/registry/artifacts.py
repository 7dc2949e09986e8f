"""Load the compiled Registry and Permissions contracts.

The JSON files in ``ocnd/registry/artifacts/`` are produced by
``contracts/build.js`` and committed; ``contracts/check-artifacts.sh`` checks
that they match the Solidity sources.
"""

from __future__ import annotations

import functools
import json
from importlib import resources

NAMES = ("Registry", "Permissions")


@functools.cache
def _load(name: str) -> str:
    if name not in NAMES:
        raise KeyError(f"unknown contract artifact {name!r}; expected one of {NAMES}")
    ref = resources.files("ocnd.registry").joinpath("artifacts", f"{name}.json")
    return ref.read_text(encoding="utf-8")


def load(name: str) -> dict:
    """Return the artifact dict (contractName, abi, bytecode, deployedBytecode, compiler).

    A fresh copy each call, so callers may mutate it.
    """
    return json.loads(_load(name))


def abi(name: str) -> list:
    """The contract ABI as a list of entries."""
    return load(name)["abi"]


def bytecode(name: str) -> str:
    """Creation bytecode (0x-hex, without constructor arguments)."""
    return load(name)["bytecode"]


def deployed_bytecode(name: str) -> str:
    """Runtime bytecode (0x-hex)."""
    return load(name)["deployedBytecode"]
