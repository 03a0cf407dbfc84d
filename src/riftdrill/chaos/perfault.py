"""Recovery per fault window, for a run with many faults (the soak's nemesis).

A run's headline figures (chaos/recovery.py) measure from the first fault to the run's end; over
a soak of a fault every 15 s they say only the worst of the hour. Here each window gets its own:
its span runs from its start to the next window's start (the run's end for the last one), and
at least to its own end. Over that span, per cloud, the longest time without an ack and the
time to the first ack of a record sent after the fault began; and the time from its heal until
the ack p99 stayed within FACTOR x the run's baseline p99 for the rest of the span (1 s windows
sliding by 100 ms, as recovery.py's time_to_p99_baseline_s), None when the next fault came
first. A window that the next one began inside is `overlapped`: its figures mix both faults.
By kind: how many, the worst unavailability's median and maximum, how many came back to the
baseline p99 before the next fault.

The unit is the soak's own: each fault its nemesis injected (`nemesis_faults`, from the run's
nemesis.json: its kind as the nemesis names it, `leader-kill` or `link-flap` included, from its
injection to its heal; a flap's many sever windows are one fault), else each fault window.
Inputs are the ack series of recovery.py sorted by ack time; each figure reads only the acks of
its span (bisect), so a soak's 250 windows over a million acks cost one pass.
"""

from __future__ import annotations

import bisect
import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from riftdrill.chaos.recovery import (
    BUCKET_NS,
    FACTOR,
    NS,
    WINDOW_S,
    AckSeries,
    settled_after_s,
    unavailability_s,
)


@dataclass(frozen=True)
class Window:
    kind: str
    target: str
    start_ns: int
    end_ns: int | None  # None: healed only by the runner's final heal


class FaultImpact(BaseModel):
    kind: str
    target: str
    start_s: float  # seconds from the first window's start
    held_s: float | None  # start to heal
    span_s: float  # start to the next window's start (or the run's end)
    overlapped: bool  # the next window began before this one was healed
    unavailability_s: dict[str, float]  # per cloud, the longest time without an ack in the span
    time_to_first_ack_s: dict[str, float | None]  # per cloud; None: no such ack in the span
    p99_back_s: float | None  # heal -> p99 within FACTOR x baseline for the rest of the span


class KindImpact(BaseModel):
    kind: str
    faults: int
    worst_unavailability_median_s: float
    worst_unavailability_max_s: float
    p99_back: int  # faults whose p99 came back before the next fault
    p99_back_max_s: float | None


def nemesis_faults(record: Path) -> list[Window] | None:
    """The faults a run's nemesis injected, on the wall clock (None: no record, or one written
    before it kept its start's wall clock)."""
    try:
        data: Any = json.loads(record.read_text())
        t0 = float(data["started_epoch_s"])
        planned = {int(f["index"]): f for f in data["faults"]}
        out = []
        for o in data["outcomes"]:
            if o.get("injected_at_s") is None:
                continue
            f = planned[int(o["index"])]
            healed = o.get("healed_at_s")
            out.append(Window(str(f["kind"]), str(f["target"]),
                              int((t0 + float(o["injected_at_s"])) * NS),
                              None if healed is None else int((t0 + float(healed)) * NS)))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return out


def _s(ns: int) -> float:
    return round(ns / NS, 3)


def _slice(series: AckSeries, lo_ns: int, hi_ns: int) -> tuple[list[int], list[int]]:
    """The acks (and their send times) with ack time in [lo, hi]."""
    lo = bisect.bisect_left(series.ack_ts_ns, lo_ns)
    hi = bisect.bisect_right(series.ack_ts_ns, hi_ns)
    return series.ack_ts_ns[lo:hi], series.send_ts_ns[lo:hi]


def first_ack_s(acks: Sequence[int], sends: Sequence[int], start_ns: int) -> float | None:
    """From start to the first ack (acks sorted) of a record sent at or after start."""
    for ack_ns, send_ns in zip(acks, sends, strict=True):
        if send_ns >= start_ns:
            return _s(max(0, ack_ns - start_ns))
    return None


def p99_back_s(series: Sequence[AckSeries], from_ns: int, until_ns: int, threshold_ns: float,
               window_s: float = WINDOW_S) -> float | None:
    """From `from_ns` to the start of the first window after which every window up to
    `until_ns` has acks and p99 <= threshold; None when the last window is not so (or the span
    is shorter than one window)."""
    n_buckets = max(0, (until_ns - from_ns) // BUCKET_NS)
    count = [0] * n_buckets
    over = [0] * n_buckets
    for s in series:
        acks, sends = _slice(s, from_ns, until_ns - 1)
        for ack_ns, send_ns in zip(acks, sends, strict=True):
            b = (ack_ns - from_ns) // BUCKET_NS
            if b < n_buckets:
                count[b] += 1
                over[b] += ack_ns - send_ns > threshold_ns
    return settled_after_s(count, over, max(1, round(window_s * NS / BUCKET_NS)))


def fault_impacts(acks_by_cloud: Mapping[str, AckSeries], windows: Sequence[Window],
                  baseline_p99_ms: float | None, run_end_ns: int, *,
                  factor: float = FACTOR) -> list[FaultImpact]:
    """Each window's figures over its span (series sorted by ack time)."""
    ordered = sorted(windows, key=lambda w: w.start_ns)
    if not ordered:
        return []
    first = ordered[0].start_ns
    threshold = None if baseline_p99_ms is None else factor * baseline_p99_ms * 1e6
    out = []
    for i, w in enumerate(ordered):
        nxt = ordered[i + 1].start_ns if i + 1 < len(ordered) else run_end_ns
        healed = w.end_ns if w.end_ns is not None else run_end_ns
        span_end = max(nxt, healed, w.start_ns + 1)
        unavailable: dict[str, float] = {}
        first_ack: dict[str, float | None] = {}
        for cloud, series in sorted(acks_by_cloud.items()):
            unavailable[cloud] = unavailability_s(series.ack_ts_ns, w.start_ns, span_end)
            first_ack[cloud] = first_ack_s(*_slice(series, w.start_ns, span_end), w.start_ns)
        back = None
        if threshold is not None and span_end > healed:
            back = p99_back_s(list(acks_by_cloud.values()), healed, span_end, threshold)
        out.append(FaultImpact(
            kind=w.kind, target=w.target, start_s=_s(w.start_ns - first),
            held_s=None if w.end_ns is None else _s(w.end_ns - w.start_ns),
            span_s=_s(span_end - w.start_ns), overlapped=nxt < healed,
            unavailability_s=unavailable, time_to_first_ack_s=first_ack, p99_back_s=back))
    return out


def by_kind(impacts: Sequence[FaultImpact]) -> list[KindImpact]:
    """Per fault kind, over its windows: the worst cloud's unavailability (median, max) and how
    many came back to the baseline p99 before the next fault."""
    kinds: dict[str, list[FaultImpact]] = {}
    for f in impacts:
        kinds.setdefault(f.kind, []).append(f)
    out = []
    for kind, fs in sorted(kinds.items()):
        worst = [max(f.unavailability_s.values(), default=f.span_s) for f in fs]
        back = [f.p99_back_s for f in fs if f.p99_back_s is not None]
        out.append(KindImpact(
            kind=kind, faults=len(fs), worst_unavailability_median_s=round(statistics.median(worst), 3),
            worst_unavailability_max_s=max(worst), p99_back=len(back),
            p99_back_max_s=max(back) if back else None))
    return out


class PerFault(BaseModel):
    """summary.json's `per_fault` (only runs with more than one fault window)."""

    factor: float
    baseline_p99_ms: float | None
    faults: list[FaultImpact]
    kinds: list[KindImpact]


def per_fault(acks_by_cloud: Mapping[str, AckSeries], windows: Sequence[Window],
              baseline_p99_ms: float | None, run_end_ns: int, *,
              factor: float = FACTOR) -> PerFault:
    impacts = fault_impacts(acks_by_cloud, windows, baseline_p99_ms, run_end_ns, factor=factor)
    return PerFault(factor=factor, baseline_p99_ms=baseline_p99_ms, faults=impacts,
                    kinds=by_kind(impacts))
