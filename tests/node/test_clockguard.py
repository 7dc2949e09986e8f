"""ClockJumpGuard: timers keep their remaining delays when the wall clock is stepped."""

from __future__ import annotations

import heapq

import pytest
from twisted.internet import reactor as global_reactor, task

from ocnd import clockguard


class Mono:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def setup(start: float = 1_000_000.0):
    clock = task.Clock()
    clock.advance(start)
    mono = Mono()
    guard = clockguard.ClockJumpGuard(clock, wall=clock.seconds, monotonic=mono)
    return clock, mono, guard


def elapse(clock, mono, seconds: float, step: float = 0.0, guard=None) -> None:
    """Real time passes (monotonic and wall), the wall clock is stepped, then the loop runs timers."""
    mono.now += seconds
    clock.rightNow += seconds + step
    if guard is not None:
        guard.check()
    clock.advance(0)


@pytest.mark.parametrize("step, delay", [
    (-3600, 10),  # a step back must not freeze the timer for an hour
    (+7200, 30),  # a step forward must not fire it at once
])
def test_wall_clock_step_leaves_timers_on_time(step, delay):
    clock, mono, guard = setup()
    fired = []
    clock.callLater(delay, fired.append, "timeout")
    elapse(clock, mono, 1, step=step, guard=guard)
    assert guard.jumps == 1 and round(guard.last_jump) == step
    assert fired == []
    elapse(clock, mono, delay - 2, guard=guard)
    assert fired == []
    elapse(clock, mono, 1.5, guard=guard)
    assert fired == ["timeout"]


def test_without_the_guard_the_same_steps_break_timers():
    """The failure the guard prevents (so the tests above can fail)."""
    clock, mono, _ = setup()
    fired = []
    clock.callLater(30, fired.append, "early")
    elapse(clock, mono, 1, step=+7200)
    assert fired == ["early"]
    clock.callLater(10, fired.append, "late")
    elapse(clock, mono, 1, step=-3600)
    elapse(clock, mono, 60)
    assert fired == ["early"]


def test_slow_drift_is_tracked_not_a_jump():
    clock, mono, guard = setup()
    for _ in range(100):
        elapse(clock, mono, 1, step=0.5, guard=guard)  # 50 s of drift in 0.5 s steps
    assert guard.jumps == 0


def test_looping_call_keeps_its_rhythm_across_steps():
    clock, mono, guard = setup()
    ticks = []
    loop = task.LoopingCall(lambda: ticks.append(mono.now))
    loop.clock = clock
    loop.start(5, now=False)
    for _ in range(10):
        elapse(clock, mono, 1, guard=guard)
    elapse(clock, mono, 0.5, step=-3600, guard=guard)
    for _ in range(20):
        elapse(clock, mono, 1, guard=guard)
    elapse(clock, mono, 0.5, step=+3600, guard=guard)
    for _ in range(20):
        elapse(clock, mono, 1, guard=guard)
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert len(ticks) >= 9 and max(gaps) <= 5.5, ticks
    loop.stop()


def test_shift_timers_on_a_real_reactor_keeps_the_heap_ordered():
    calls = [global_reactor.callLater(1000 + i * 7 % 13, lambda: None) for i in range(20)]
    calls[3].cancel()
    before = {id(c): c.getTime() for c in calls if c.active()}
    global_reactor.runUntilCurrent()  # merge new calls into the heap
    try:
        moved = clockguard.shift_timers(global_reactor, 42.0)
        assert moved >= len(before)
        for c in calls:
            if c.active():
                assert c.getTime() == before[id(c)] + 42.0
        heap = global_reactor._pendingTimedCalls
        assert all(heap[i].time <= heap[c].time for i in range(len(heap)) for c in (2 * i + 1, 2 * i + 2)
                   if c < len(heap))
        heapq.heapify(list(heap))
    finally:
        clockguard.shift_timers(global_reactor, -42.0)
        for c in calls:
            if c.active():
                c.cancel()


def test_install_is_idempotent_and_uninstall_restores():
    class Loop:
        def __init__(self):
            self.ran = 0

        def runUntilCurrent(self):
            self.ran += 1

    loop = Loop()
    original = loop.runUntilCurrent
    guard = clockguard.install(loop)
    assert clockguard.install(loop) is guard
    loop.runUntilCurrent()
    assert loop.ran == 1
    guard.uninstall()
    assert loop.runUntilCurrent == original and not hasattr(loop, "_ocnd_clock_guard")
    assert clockguard.install(task.Clock()) is None  # no run loop: nothing to guard
