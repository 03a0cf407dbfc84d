"""riftdrill's producer and Kafka's ProducerPerformance, measured the same way.

Both tools send on a uniform schedule (record i is due at start + i/rate: riftdrill's open
model, ProducerPerformance's throttler), from one thread, and neither sets a record timestamp,
so every record's CreateTime is when the tool's send call took it. Reading the run's records
back from the topic and sorting those times gives each tool's *publish delay* (send time minus
due time) by one method, whatever the tool reports itself: OMB's criterion, "the highest rate
whose p99 publish delay stays under 5 ms", can then be applied to both.

Where the schedule starts is not in the topic. The first record's time is not it:
ProducerPerformance starts its throttler's clock, then its first send blocks for the topic's
metadata (tens to hundreds of ms) and it sends a burst to catch up, so a schedule anchored at
its first record put every later record ahead of time, and any stall shorter than that start-up
counted as no delay at all (its start-up is left out like either tool's: records due in the
first second after its first send are not judged). The anchor is instead the latest start the
records allow: each tool is never ahead of its schedule by more than its pacing lets it
(EARLY_MS: riftdrill sends no record before it is due; ProducerPerformance's throttler sleeps
in 2 ms chunks, so it runs up to 2 ms ahead), and CreateTime is floored to the millisecond. Of
the starts consistent with that, the latest gives each record its smallest delay: lenient for
both tools alike.

Saturation is measured the same way for both as well: acked records per second over the
steady-state windows (the first window, warm-up, and the last, partial, left out).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

Tool = Literal["riftdrill", "kafka_perf"]
TOOLS: tuple[Tool, Tool] = ("riftdrill", "kafka_perf")

PUBLISH_DELAY_GOAL_MS = 5.0
# How far ahead of its schedule each tool's pacing may send a record: riftdrill's open model
# never sends before the due time; ProducerPerformance's ThroughputThrottler lets its sleep
# deficit reach MIN_SLEEP_NS (2 ms) before it sleeps.
EARLY_MS: dict[Tool, float] = {"riftdrill": 0.0, "kafka_perf": 2.0}
CREATE_TIME_RESOLUTION_MS = 1.0  # CreateTime is whole milliseconds, floored
WARMUP_S = 1.0  # records due in the first second are not judged, for either tool
DELIVERED_MIN = 0.999  # of the records due, read back from the topic
# Acks must keep pace too: a producer buffers, so its send calls can stay on time while the
# cluster acks half the rate (ProducerPerformance at 5000/s here: no publish delay, 2455 acks/s,
# p99 ack latency 20.6 s). Each tool's acks per second over its steady windows, as saturation.
ACK_PACE_MIN = 0.99


@dataclass
class Trial:
    """One run of one tool at one target rate."""

    tool: Tool
    target_rate_per_s: float
    duration_s: float
    due: int  # records the schedule asked for
    read_back: int  # records of the run found in the topic afterwards
    publish_delay_p99_ms: float | None  # from the records' CreateTime (this module's method)
    publish_delay_max_ms: float | None
    acked_per_s: float | None = None  # steady windows' mean (steady_rate)
    own_publish_delay_p99_ms: float | None = None  # riftdrill's own, from its ledger's clock
    own_publish_delay_max_ms: float | None = None
    own_ack_latency_p99_ms: float | None = None  # as each tool defines it (not like for like)
    # CPU seconds of the tool's process over the trial, its start-up included (the children's
    # rusage around the run): how much machine each tool needs for the same records
    tool_cpu_s: float | None = None
    # riftdrill's: how long its load process's main thread waited for a CPU over the run, and
    # in how many seconds 5 ms or more (load/schedstat.py); a late send then was the host's
    generator_wait_s: float | None = None
    generator_starved_seconds: int | None = None
    ok: bool = False

    @property
    def tool_cpu_us_per_record(self) -> float | None:
        if self.tool_cpu_s is None or not self.due:
            return None
        return round(self.tool_cpu_s * 1e6 / self.due, 1)

    def judge(self, goal_ms: float = PUBLISH_DELAY_GOAL_MS) -> Trial:
        self.ok = (self.publish_delay_p99_ms is not None and self.publish_delay_p99_ms < goal_ms
                   and self.read_back >= DELIVERED_MIN * self.due
                   and self.acked_per_s is not None
                   and self.acked_per_s >= ACK_PACE_MIN * self.target_rate_per_s)
        return self


def publish_delays_ms(create_ts_ms: Sequence[int], rate_per_s: float,
                      warmup_s: float = WARMUP_S, early_ms: float = 0.0) -> list[float]:
    """Each record's send time (CreateTime, ms) minus its due time, in send order, those due
    in the first `warmup_s` after the tool's first send left out. The schedule (record i due
    at start + i/rate) starts at the latest time the records allow when the tool sends at most
    `early_ms` ahead of it (module doc); a record sent ahead (a throttler's burst) counts as 0,
    never as negative."""
    if not create_ts_ms or rate_per_s <= 0:
        return []
    times = sorted(create_ts_ms)
    step_ms = 1000.0 / rate_per_s
    start = (min(t - i * step_ms for i, t in enumerate(times)) + early_ms
             + CREATE_TIME_RESOLUTION_MS)  # fmt: skip
    # a tool's start-up is not judged: records due in the first `warmup_s` after its first
    # send (ProducerPerformance's clock runs while its first send waits for metadata)
    judged_from = times[0] + warmup_s * 1000.0
    return [max(0.0, t - due) for i, t in enumerate(times)
            if (due := start + i * step_ms) >= judged_from]


def quantile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank quantile (what HdrHistogram reports), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def steady_rate(window_rates: Sequence[float]) -> float | None:
    """Mean of the steady-state windows: the first (warm-up) and last (partial) left out."""
    inner = list(window_rates[1:-1]) if len(window_rates) >= 3 else []
    return round(statistics.fmean(inner), 1) if inner else None


@dataclass
class Search:
    """A bisection of one tool's highest passing rate, from 0 up to `ceiling`."""

    tool: Tool
    ceiling_per_s: float
    best_per_s: float = 0.0
    # it passed at its ceiling (its saturation rate that round): best is a lower bound
    at_ceiling: bool = False
    trials: list[Trial] = field(default_factory=list)


def cpu_per_record(searches: Sequence[Search]) -> dict[str, dict[str, float | int | None]]:
    """Per tool, over its trials that measured it: the median CPU microseconds per record (the
    tool's process, start-up included) and how many trials."""
    out: dict[str, dict[str, float | int | None]] = {}
    for tool in TOOLS:
        values = [v for s in searches if s.tool == tool for t in s.trials
                  if (v := t.tool_cpu_us_per_record) is not None]
        out[tool] = {"median_us": round(statistics.median(values), 1) if values else None,
                     "trials": len(values)}
    return out


def search_max_rate(tool: Tool, run: Callable[[float], Trial], ceiling_per_s: float,
                    steps: int, round_to: float = 100.0) -> Search:
    """Bisect the highest rate at which `run` passes: the ceiling first (a tool that passes at
    its saturation rate is done), then halves. The result is a bracket: `best_per_s` passed,
    and the lowest failing trial above it bounds it."""
    out = Search(tool, ceiling_per_s)
    lo, hi = 0.0, ceiling_per_s
    for i in range(steps):
        rate = hi if i == 0 else max(round_to, round((lo + hi) / 2 / round_to) * round_to)
        trial = run(rate).judge()
        out.trials.append(trial)
        if trial.ok:
            lo = max(lo, rate)
            if i == 0:
                out.at_ceiling = True
                break
        else:
            hi = rate
        if hi - lo <= round_to:
            break
    out.best_per_s = lo
    return out


@dataclass
class Ratio:
    """ours / theirs per round, with their median and spread."""

    per_round: list[float]
    median: float | None
    min: float | None
    max: float | None


def ratios(ours: Sequence[float], theirs: Sequence[float]) -> Ratio:
    """Round by round (each round ran both tools back to back), so a machine that got busier
    between rounds moves both sides of a ratio."""
    per = [round(a / b, 3) for a, b in zip(ours, theirs, strict=True) if b]
    if not per:
        return Ratio([], None, None, None)
    return Ratio(per, round(statistics.median(per), 3), min(per), max(per))
