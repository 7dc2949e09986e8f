"""``twistd ocn-mock-msp``: a mock eMSP on an OCN node.

Owns two tokens (OCPI examples), stores every location, tariff, session and
CDR pushed to it, and can start sessions by itself: with ``--cpo CC/PID`` and
``--start-interval N`` it starts a session on a free EVSE of that CPO every N
seconds and stops it after ``--session-duration`` seconds.
"""

from __future__ import annotations

from twisted.python import usage

from .tapbase import MockOptions, MockPartyService


class Options(MockOptions):
    role = "EMSP"
    tap = "ocn-mock-msp"
    default_party = ("CH", "MSP")
    default_port = 3001
    longdesc = __doc__.split("\n", 2)[2].strip() + (
        "  Settings: the bridge's INI format (--config), OCN_BRIDGE_* environment variables and the "
        "options below (options win).")
    optParameters = [
        ["cpo", None, None, "CPO (CC/PID) to start sessions at."],
        ["start-interval", None, "0", "Seconds between automatic session starts (0 = off)."],
        ["session-duration", None, "60", "Seconds an automatic session lasts."],
        ["max-active", None, "1", "Most automatic sessions running at a time."],
        ["token-uid", None, None, "uid of the token used to start sessions (default the RFID card)."],
    ]

    def postOptions(self) -> None:
        for name in ("start-interval", "session-duration"):
            try:
                self[name] = float(self[name])
            except ValueError:
                raise usage.UsageError(f"--{name} must be a number") from None
            if self[name] < 0:
                raise usage.UsageError(f"--{name} must not be negative")
        try:
            self["max-active"] = int(self["max-active"])
        except ValueError:
            raise usage.UsageError("--max-active must be an integer") from None
        if self["cpo"] is not None:
            cc, sep, pid = self["cpo"].partition("/")
            if not sep or len(cc) != 2 or not pid:
                raise usage.UsageError(f"--cpo expects CC/PID, got {self['cpo']!r}")
        if self["start-interval"] and not self["cpo"]:
            raise usage.UsageError("--start-interval needs --cpo CC/PID")
        super().postOptions()


def makeService(options: Options, reactor=None):
    from .mock import MockMsp

    cfg = options.config
    mock = MockMsp(cfg.country_code, cfg.party_id, clock=reactor, cpo=options["cpo"],
                   start_interval=options["start-interval"], session_duration=options["session-duration"],
                   max_active=options["max-active"], token_uid=options["token-uid"], seed=options.seed)
    return MockPartyService(cfg, mock, admin_key=options.admin_key, control=options["control"], reactor=reactor)
