"""Keep reactor timers on elapsed time when the wall clock is stepped.

Twisted schedules ``callLater`` (and so every timeout, deadline,
``LoopingCall``, the systemd watchdog ping and the registry poller) on
``reactor.seconds()``, which is the wall clock.  When the system clock is
stepped (NTP correcting a bad clock, an operator's ``date -s``, a VM resumed
from a snapshot), a step backwards freezes every timer for the size of the
step, and a step forwards fires them all at once: in-flight requests time
out, idle connections are cut, the watchdog goes quiet and systemd restarts
the node.

:class:`ClockJumpGuard` compares the wall clock with the monotonic clock at
the start of every reactor iteration.  When their difference moves by more
than ``threshold`` seconds, the wall clock was stepped by that amount, and
every pending timer is moved by the same amount: each keeps the delay it had
left, while ``reactor.seconds()`` (timestamps, stored expiry times) follows
the new wall time at once.  Slow drift (NTP slewing) is tracked, not treated
as a jump.  Moving all timers by one amount keeps the reactor's timer heap
ordered.
"""

from __future__ import annotations

import time
from typing import Callable

from twisted.logger import Logger


class ClockJumpGuard:
    log = Logger()

    def __init__(self, reactor, *, threshold: float = 1.0, wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.reactor = reactor
        self.threshold = threshold
        self.wall = wall
        self.monotonic = monotonic
        self.offset = wall() - monotonic()
        self.jumps = 0
        self.last_jump = 0.0
        self._original = None

    def check(self) -> float:
        """Detect a step of the wall clock and move the timers; returns the step (0.0 when none)."""
        offset = self.wall() - self.monotonic()
        step = offset - self.offset
        self.offset = offset
        if abs(step) < self.threshold:
            return 0.0
        moved = shift_timers(self.reactor, step)
        self.jumps += 1
        self.last_jump = step
        self.log.warn("wall clock stepped by {step:+.3f} s: {n} timers keep their remaining delays",
                      step=step, n=moved)
        return step

    def install(self) -> "ClockJumpGuard":
        """Run :meth:`check` before the reactor handles due timers (once per iteration)."""
        original = self.reactor.runUntilCurrent

        def run_until_current() -> None:
            self.check()
            original()

        self._original = original
        self.reactor.runUntilCurrent = run_until_current
        self.reactor._ocnd_clock_guard = self
        return self

    def uninstall(self) -> None:
        if self._original is not None:
            self.reactor.runUntilCurrent = self._original
            self._original = None
        if getattr(self.reactor, "_ocnd_clock_guard", None) is self:
            del self.reactor._ocnd_clock_guard


def install(reactor, threshold: float = 1.0) -> ClockJumpGuard | None:
    """Install one guard per reactor (idempotent); None for clocks without a run loop."""
    guard = getattr(reactor, "_ocnd_clock_guard", None)
    if guard is not None:
        return guard
    if not callable(getattr(reactor, "runUntilCurrent", None)):
        return None
    return ClockJumpGuard(reactor, threshold=threshold).install()


def shift_timers(reactor, step: float) -> int:
    """Move every scheduled call of ``reactor`` by ``step`` seconds; returns how many."""
    pending = getattr(reactor, "_pendingTimedCalls", None)
    if pending is not None:  # ReactorBase: the heap and the calls not yet merged into it, cancelled ones too
        calls = list(pending) + list(getattr(reactor, "_newTimedCalls", ()))
        for call in calls:
            call.time += step
        return sum(1 for call in calls if not call.cancelled)
    calls = getattr(reactor, "calls", None)  # twisted.internet.task.Clock
    if calls is not None:
        for call in calls:
            call.time += step
        calls.sort(key=lambda c: c.getTime())
        return len(calls)
    return 0
