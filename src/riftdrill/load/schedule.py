"""Open-model send schedule: record `seq` is due at start + seq / rate, whatever happened before.

Pure arithmetic on integers (ns) so a long run never drifts and a stalled sender catches up by
sending everything that became due, each with its own intended send time.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OpenSchedule:
    rate_per_s: float
    start_ns: int
    duration_s: float = 0.0  # 0: unbounded

    @property
    def total(self) -> int | None:
        """Records the schedule holds (None when unbounded)."""
        return round(self.rate_per_s * self.duration_s) if self.duration_s > 0 else None

    @property
    def end_ns(self) -> int | None:
        """Wall-clock end: a sender that fell behind stops here too (duration means duration)."""
        return self.start_ns + int(self.duration_s * 1e9) if self.duration_s > 0 else None

    def intended_ns(self, seq: int) -> int:
        return self.start_ns + int(seq * 1e9 / self.rate_per_s)

    def due_count(self, now_ns: int) -> int:
        """How many records (seq 0..n-1) are due at `now_ns`."""
        if now_ns < self.start_ns:
            return 0
        n = int((now_ns - self.start_ns) * self.rate_per_s / 1e9) + 1
        total = self.total
        return n if total is None else min(n, total)


MAX_SLEEP_S = 0.005  # the longest a producer's task yields: delivery reports are served that often


def send_pause_s(seq: int, due: int, done: bool, next_due_ns: int, now_ns: int) -> float:
    """How long the producer's task yields after a tick: none while sends are due, until the
    next one is (at most MAX_SLEEP_S, so delivery reports are served that often), and
    MAX_SLEEP_S once it has nothing left to send. That last case once slept 0: past the end of
    its schedule the next record's due time is in the past, and the task spun on the CPU the
    brokers it shares a lab host with needed to catch up (docs/findings.md)."""
    if done:
        return MAX_SLEEP_S
    if seq < due:
        return 0.0
    return min(max((next_due_ns - now_ns) / 1e9, 0.0), MAX_SLEEP_S)
