"""The end-to-end change lag: a change's commit in the source (its ledger `done_ns`) to its first
sight in the sink's table (hub/sinktail.py), per change and per second of commit.

A committed change whose row the sink overwrote before the tail looked has no sight: it is
counted as `overwritten` (its lag is unknown, not zero). A change that is the last one of its
id and was never seen is `never_visible`: the sink never showed the row's final state while the
tail watched.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from riftdrill.hub.rows import RowChange
from riftdrill.hub.sinktail import Sight


@dataclass
class LagPoint:
    t_s: float  # second of commit, from t0
    committed: int
    max_lag_s: float | None
    p99_lag_s: float | None


@dataclass
class ChangeLag:
    committed: int = 0
    seen: int = 0
    overwritten: int = 0
    never_visible: int = 0
    max_s: float | None = None
    p99_s: float | None = None
    median_s: float | None = None
    poll_interval_s: float = 0.0  # sights are late by up to this much
    series: list[LagPoint] = field(default_factory=list)


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def compute_change_lag(changes: Iterable[RowChange], sights: Iterable[Sight], t0_ns: int,
                       poll_interval_s: float) -> ChangeLag:
    first: dict[tuple[int, int, bool], int] = {}
    for s in sights:
        first.setdefault((s.id, s.version, s.op == "delete"), s.seen_ns)
    committed = [c for c in changes if c.outcome == "ok"]
    last_version: dict[int, int] = {}
    for c in committed:
        last_version[c.id] = max(last_version.get(c.id, 0), c.version)
    out = ChangeLag(committed=len(committed), poll_interval_s=poll_interval_s)
    lags: list[float] = []
    per_second: dict[int, list[float]] = {}
    counts: dict[int, int] = {}
    for c in committed:
        second = int((c.done_ns - t0_ns) // 1_000_000_000)
        counts[second] = counts.get(second, 0) + 1
        seen_ns = first.get((c.id, c.version, c.op == "delete"))
        if seen_ns is None:
            if last_version[c.id] == c.version:
                out.never_visible += 1
            else:
                out.overwritten += 1
            continue
        lag_s = max(0.0, (seen_ns - c.done_ns) / 1e9)
        lags.append(lag_s)
        per_second.setdefault(second, []).append(lag_s)
    out.seen = len(lags)
    if lags:
        out.max_s = round(max(lags), 3)
        out.p99_s = round(_pct(lags, 0.99), 3)
        out.median_s = round(_pct(lags, 0.5), 3)
    for second in sorted(counts):
        vals = per_second.get(second, [])
        out.series.append(LagPoint(t_s=float(second), committed=counts[second],
                                   max_lag_s=round(max(vals), 3) if vals else None,
                                   p99_lag_s=round(_pct(vals, 0.99), 3) if vals else None))
    return out
