"""``twistd ocn-mock-cpo``: a mock CPO on an OCN node.

Serves the OCPI example locations and tariffs, accepts START/STOP_SESSION,
simulates charging (kWh grows, session PATCHes every ``--tick`` seconds, a CDR
when the session stops) and changes the status of idle chargers every
``--status-interval`` seconds, pushing the changes to the ``--push-to`` eMSPs.
"""

from __future__ import annotations

from twisted.python import usage

from .tapbase import MockOptions, MockPartyService


class Options(MockOptions):
    role = "CPO"
    tap = "ocn-mock-cpo"
    default_party = ("CH", "CPO")
    default_port = 3000
    longdesc = __doc__.split("\n", 2)[2].strip() + (
        "  Settings: the bridge's INI format (--config), OCN_BRIDGE_* environment variables and the "
        "options below (options win).")
    optParameters = [
        ["tick", None, "15", "Seconds between session updates (kWh, cost) pushed to the eMSP."],
        ["time-scale", None, "1", "Simulated seconds per real second (energy grows this much faster)."],
        ["status-interval", None, "30", "Seconds between charger status changes (0 = off)."],
    ]

    optFlags = [
        ["push-on-start", None, "Push all locations and tariffs to the --push-to eMSPs once connected."],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["push-to"] = []

    def opt_push_to(self, party: str) -> None:
        """eMSP (CC/PID) receiving locations, tariffs and EVSE status pushes; repeatable."""
        cc, sep, pid = party.partition("/")
        if not sep or len(cc) != 2 or not pid:
            raise usage.UsageError(f"--push-to expects CC/PID, got {party!r}")
        self["push-to"].append(f"{cc.upper()}/{pid.upper()}")

    def postOptions(self) -> None:
        for name in ("tick", "time-scale", "status-interval"):
            try:
                self[name] = float(self[name])
            except ValueError:
                raise usage.UsageError(f"--{name} must be a number") from None
            if self[name] < 0 or (name != "status-interval" and self[name] == 0):
                raise usage.UsageError(f"--{name} must be positive")
        super().postOptions()


def makeService(options: Options, reactor=None):
    from .mock import MockCpo

    cfg = options.config
    mock = MockCpo(cfg.country_code, cfg.party_id, clock=reactor, tick=options["tick"],
                   time_scale=options["time-scale"], status_interval=options["status-interval"],
                   push_to=options["push-to"], seed=options.seed)
    mock.push_on_start = bool(options["push-on-start"])
    return MockPartyService(cfg, mock, admin_key=options.admin_key, control=options["control"], reactor=reactor)
