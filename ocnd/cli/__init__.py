"""The ``ocn`` command line tool.

One command tree; each area lives in its own module that exposes
``add_parser(subparsers)``.  A command function receives the parsed
arguments and returns the process exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# (module, help) for each top-level command; modules are imported lazily so
# ``ocn --help`` stays fast and a broken area does not break the others.
AREAS = [
    ("registry", "ocnd.cli.registry", "read and write the OCN Registry contract"),
    ("admin", "ocnd.cli.admin", "administer a running ocnd node (registration tokens, parties)"),
    ("credentials", "ocnd.cli.credentials", "act as a party towards a node's OCPI credentials module"),
    ("send", "ocnd.cli.send", "send one routed OCPI request through a node, as a party"),
    ("doctor", "ocnd.cli.doctor", "check a node (or a party's versions endpoint) from outside"),
    ("demo", "ocnd.cli.demo", "run a local two-node network with a mock CPO and eMSP and a charging day"),
    ("bridge", "ocnd.cli.bridge", "configure and run an OCN Bridge for a CPO/eMSP backoffice"),
]


class CliError(Exception):
    """A user-facing error: printed as one line, exit code given."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ocn",
        description="Command line tool for the Open Charging Network (ocnd).",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable JSON output")
    sub = parser.add_subparsers(dest="area", metavar="COMMAND")
    sub.required = True
    for name, modname, help_text in AREAS:
        mod = importlib.import_module(modname)
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod.add_parser(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.parse_args((argv or sys.argv[1:]) + ["--help"])
        return 2
    try:
        return int(func(args) or 0)
    except CliError as e:
        print(f"ocn: error: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        print("ocn: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
