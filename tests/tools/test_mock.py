"""MockCpo / MockMsp on a fake clock, without a network."""

from __future__ import annotations

from twisted.internet import task

from ocnd.tools.mock import MockCpo, MockMsp


class FakeBridge:
    def __init__(self):
        self.calls = []

    async def patch_location(self, to, location_id, patch, evse_uid=None, connector_id=None):
        self.calls.append(("patch_location", to, location_id, evse_uid, patch["status"]))

    async def push_session(self, to, session):
        self.calls.append(("push_session", to, session["id"], session["status"]))

    async def patch_session(self, to, session_id, patch):
        self.calls.append(("patch_session", to, session_id, patch["kwh"]))

    async def push_cdr(self, to, cdr):
        self.calls.append(("push_cdr", to, cdr["id"]))
        return "http://node/ocpi/receiver/2.2/cdrs/x"


def test_charger_simulator_changes_idle_evses_and_pushes():
    clock = task.Clock()
    cpo = MockCpo("CH", "CPO", clock=clock, status_interval=10, push_to=["CH/MSP"], seed=1)
    bridge = FakeBridge()
    cpo.attach(bridge)
    cpo.start()
    for _ in range(30):
        clock.advance(10)
    changes = cpo.journal.of_kind("evse status")
    assert changes, "no status change in 300 s"
    statuses = {e["data"]["status"] for e in changes}
    assert "AVAILABLE" in statuses and statuses - {"AVAILABLE"}
    # never more than one EVSE busy (3 EVSEs -> at most 1 non-roaming use)
    assert len(cpo.busy) <= 1
    pushed = [c for c in bridge.calls if c[0] == "patch_location"]
    assert len(pushed) == len(changes) and all(c[1] == "CH/MSP" for c in pushed)
    cpo.stop()


def test_roaming_session_grows_and_ends_in_a_cdr():
    clock = task.Clock()
    cpo = MockCpo("CH", "CPO", clock=clock, tick=5, time_scale=60, status_interval=0)
    bridge = FakeBridge()
    cpo.attach(bridge)
    resp = cpo.commands.start_session({"location_id": "LOC1", "evse_uid": "3256", "token": {"uid": "T"}},
                                      ("CH", "MSP"))
    assert resp.result == "ACCEPTED"
    for _ in range(4):
        clock.advance(5)
    kwhs = [c[3] for c in bridge.calls if c[0] == "patch_session"]
    assert len(kwhs) == 4 and kwhs == sorted(kwhs) and kwhs[0] > 0
    sid = next(c[2] for c in bridge.calls if c[0] == "push_session")
    assert cpo.commands.stop_session({"session_id": sid}, ("CH", "MSP")).result == "ACCEPTED"
    assert ("push_cdr", ("CH", "MSP"), f"CDR-{sid}") in bridge.calls
    texts = [e["text"] for e in cpo.journal.events]
    assert any(t.startswith("START_SESSION from CH/MSP") and t.endswith("ACCEPTED") for t in texts)
    assert any(t.startswith(f"CDR CDR-{sid}:") for t in texts)
    assert cpo.status()["cdrs"] == [f"CDR-{sid}"]
    cpo.stop()


def test_msp_journal_and_free_evses():
    clock = task.Clock()
    msp = MockMsp("CH", "MSP", clock=clock, cpo="ch/cpo")
    msp.locations.on_update("CH", "CPO", "L1", {"id": "L1", "evses": [
        {"uid": "E1", "status": "AVAILABLE"}, {"uid": "E2", "status": "CHARGING"}]}, False)
    assert msp.free_evses("CH/CPO") == [("L1", "E1")]
    msp.sessions.on_update("CH", "CPO", "S1", {"id": "S1", "status": "ACTIVE", "kwh": 0, "location_id": "L1",
                                                "evse_uid": "E1"}, False)
    msp.sessions.on_update("CH", "CPO", "S1", {"kwh": 1.5}, True)
    assert msp.free_evses("CH/CPO") == []
    texts = [e["text"] for e in msp.journal.events]
    assert texts[-1] == "CH/CPO session S1 update: 1.5 kWh"
    assert msp.status()["sessions"]["S1"]["kwh"] == 1.5
