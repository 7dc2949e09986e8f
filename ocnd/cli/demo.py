"""``ocn demo``: start a local two-node network with a mock CPO and eMSP and run a charging day.

The work is done by :mod:`ocnd.tools.demo`; this module is the command line.
"""

from __future__ import annotations

import argparse

from ocnd.cli import CliError

DESCRIPTION = """\
Start a whole Open Charging Network on 127.0.0.1 as subprocesses -- node A
(embedded registry chain served over JSON-RPC), node B (registry over JSON-RPC
on A's chain), a mock CPO on node A and a mock eMSP on node B -- onboard
everyone (registry listings, registration tokens, credentials handshakes) and
run a charging day: locations pulled, tariffs pushed, START_SESSION with its
async result, session updates, STOP_SESSION, the CDR delivered and read back
through the node-proxied Location.  Each step is printed as it happens.

Afterwards the network keeps running (the eMSP starts sessions by itself,
chargers change status) until Ctrl-C; with --once everything is torn down and
the exit code tells whether every step passed (0) or not (1).

Ports: node A = BASE, node B = BASE+1, chain JSON-RPC = BASE+2, CPO = BASE+3,
eMSP = BASE+4, control APIs = BASE+5 (CPO) and BASE+6 (eMSP).
"""


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--once", action="store_true",
                        help="run the charging day, tear everything down and exit (0 = every step passed)")
    parser.add_argument("--base-port", type=int, default=8080, metavar="PORT",
                        help="first of the 7 consecutive loopback ports used (default 8080)")
    parser.add_argument("--data-dir", default=None, metavar="DIR",
                        help="keep node data, party keys and logs here (default: a temporary directory, "
                             "removed at the end unless a step fails)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--no-signatures", action="store_true",
                        help="run without OCN-Signatures (default: nodes and parties sign everything)")
    parser.add_argument("--time-scale", type=float, default=120.0, metavar="X",
                        help="simulated seconds per real second while charging (default 120)")
    parser.add_argument("--step-timeout", type=float, default=30.0, metavar="SECONDS",
                        help="longest wait of a single step (default 30)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ocnd.tools.demo import Demo

    if not 1024 <= args.base_port <= 65535 - 6:
        raise CliError("--base-port must be between 1024 and 65529", 2)
    if args.time_scale <= 0 or args.step_timeout <= 0:
        raise CliError("--time-scale and --step-timeout must be positive", 2)
    demo = Demo(base_port=args.base_port, data_dir=args.data_dir, signatures=not args.no_signatures,
                keep=args.keep, time_scale=args.time_scale, step_timeout=args.step_timeout)
    return demo.run(once=args.once)
