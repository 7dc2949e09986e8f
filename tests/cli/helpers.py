"""Constants and small helpers for the CLI tests (import as ``cli.helpers``)."""

from __future__ import annotations

CPO_KEY = "0x" + "c0" * 32
MSP_KEY = "0x" + "e1" * 32
CPO_MODULES = (("locations", "SENDER"), ("locations", "RECEIVER"), ("tariffs", "SENDER"))
MSP_MODULES = (("locations", "RECEIVER"), ("tariffs", "RECEIVER"), ("locations", "SENDER"))


def key_file(tmp_path, key: str, name: str = "party.key") -> str:
    path = tmp_path / name
    path.write_text(key + "\n")
    return str(path)
