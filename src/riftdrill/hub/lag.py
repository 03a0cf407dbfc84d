"""The end-to-end change lag: a change's commit in the source (its ledger `done_ns`) to its first
sight in the sink's table (hub/sinktail.py), per change and per second of commit.

A committed change whose row the sink overwrote before the tail looked has no sight: it is
counted as `overwritten` (its lag is unknown, not zero). A change that is the last one of its
id and was never seen is `never_visible`: the sink never showed the row's final state while the
tail watched.

A delete is seen as its row gone, and the tail names it one past the last version it saw
present, which is the delete's own version only when it saw the version the delete removed: so
a delete matches the first deletion the tail saw of that row's incarnation (versions after the
previous delete of the id, up to its own). A row the tail never saw present between its insert
and its delete (both applied between two polls) cannot be seen to go: that delete is counted
`overwritten` too, never `never_visible` (the verifier judges the sink's rows either way).

`<run>/load/hub/change-lag.json` (written by `riftdrill hub load`) is the ChangeLag without its
series, the drain the load waited for (`drain_s`, None when the sink never showed every row's
final state), then the series; `ChangeLagFile` reads it. Its `t_s` count from the row ledger's
`start_ns` (hub/rows.py `read_rows_header`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pydantic import BaseModel
from pydantic import ValidationError as PydanticError

from riftdrill.errors import RiftdrillError, first_error
from riftdrill.hub.rows import RowChange
from riftdrill.hub.sinktail import Sight


@dataclass
class LagPoint:
    t_s: float  # second of commit, from t0
    committed: int
    max_lag_s: float | None
    p99_lag_s: float | None
    last_seen_s: float | None = None  # the latest sight of the second's changes, from t0


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
    first: dict[tuple[int, int], int] = {}  # (id, version) first seen present
    gone: dict[int, list[tuple[int, int]]] = {}  # id -> (version the tail named, seen_ns)
    for s in sights:
        if s.op == "delete":
            gone.setdefault(s.id, []).append((s.version, s.seen_ns))
        else:
            first.setdefault((s.id, s.version), s.seen_ns)
    committed = [c for c in changes if c.outcome == "ok"]
    last_version: dict[int, int] = {}
    for c in committed:
        last_version[c.id] = max(last_version.get(c.id, 0), c.version)
    previous_delete: dict[int, int] = {}  # id -> version of its last delete so far
    out = ChangeLag(committed=len(committed), poll_interval_s=poll_interval_s)
    lags: list[float] = []
    per_second: dict[int, list[float]] = {}
    last_seen: dict[int, int] = {}
    counts: dict[int, int] = {}
    for c in committed:
        second = int((c.done_ns - t0_ns) // 1_000_000_000)
        counts[second] = counts.get(second, 0) + 1
        final = last_version[c.id] == c.version
        if c.op == "delete":
            after = previous_delete.get(c.id, 0)
            previous_delete[c.id] = c.version
            seen_ns = min((ns for v, ns in gone.get(c.id, []) if after < v <= c.version),
                          default=None)
            if seen_ns is None and final and not any(
                    (c.id, v) in first for v in range(after + 1, c.version)):
                out.overwritten += 1  # never seen present: its going cannot be seen
                continue
        else:
            seen_ns = first.get((c.id, c.version))
        if seen_ns is None:
            if final:
                out.never_visible += 1
            else:
                out.overwritten += 1
            continue
        lag_s = max(0.0, (seen_ns - c.done_ns) / 1e9)
        lags.append(lag_s)
        per_second.setdefault(second, []).append(lag_s)
        last_seen[second] = max(last_seen.get(second, seen_ns), seen_ns)
    out.seen = len(lags)
    if lags:
        out.max_s = round(max(lags), 3)
        out.p99_s = round(_pct(lags, 0.99), 3)
        out.median_s = round(_pct(lags, 0.5), 3)
    for second in sorted(counts):
        vals = per_second.get(second, [])
        seen_ns = last_seen.get(second)
        out.series.append(LagPoint(t_s=float(second), committed=counts[second],
                                   max_lag_s=round(max(vals), 3) if vals else None,
                                   p99_lag_s=round(_pct(vals, 0.99), 3) if vals else None,
                                   last_seen_s=None if seen_ns is None
                                   else round((seen_ns - t0_ns) / 1e9, 3)))
    return out


def change_lag_path(run_dir: Path) -> Path:
    return run_dir / "load" / "hub" / "change-lag.json"


class ChangeLagError(RiftdrillError):
    """change-lag.json cannot be read: not JSON, or not its shape."""


class LagPointFile(BaseModel):
    t_s: float  # second of commit, from the row ledger's start_ns
    committed: int
    max_lag_s: float | None
    p99_lag_s: float | None
    last_seen_s: float | None = None  # absent in files written before it was recorded


class ChangeLagTotals(BaseModel):
    """The whole run's change lag: what change-lag.json and summary.json's `hub` share."""

    committed: int
    seen: int
    overwritten: int
    never_visible: int
    max_s: float | None
    p99_s: float | None
    median_s: float | None
    poll_interval_s: float
    drain_s: float | None  # None: the sink never showed every change's final state


class ChangeLagFile(ChangeLagTotals):
    """`<run>/load/hub/change-lag.json` as the row workload writes it (load/hubload.py:
    ChangeLag's fields, `drain_s`, the series); keys a later writer adds are ignored."""

    # The workload's own failure (its thread raised): the ledger may end early; a drill fails.
    workload_error: str | None = None
    series: list[LagPointFile] = []

    @classmethod
    def of(cls, lag: ChangeLag, drain_s: float | None,
           workload_error: str | None = None) -> ChangeLagFile:
        fields = {k: v for k, v in asdict(lag).items() if k != "series"}
        return cls(**fields, drain_s=drain_s, workload_error=workload_error,
                   series=[LagPointFile(**asdict(p)) for p in lag.series])


def read_change_lag(path: Path) -> ChangeLagFile:
    try:
        return ChangeLagFile.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise ChangeLagError(f"{path}: missing (the row workload wrote no change lag)") from None
    except OSError as exc:
        raise ChangeLagError(f"{path}: unreadable: {exc}") from None
    except PydanticError as exc:
        raise ChangeLagError(f"{path}: {first_error(exc)}") from None
