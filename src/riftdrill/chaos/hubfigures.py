"""summary.json's `hub`: the integration hub's change lag around a drill's faults, and what the
hub's row-by-row verification found.

The change lag (commit in the source -> first seen in the sink's table, per change: hub/lag.py)
comes from `<run>/load/hub/change-lag.json`, which the row workload writes at its end; its
seconds of commit count from the row ledger's start (the header's `start_ns`). Here they count
from the fault start, as every figure of a drill, and the series is per second of commit:
the changes committed in [t, t + 1 s).

- whole run: committed / seen / overwritten / never_visible, max_s / p99_s / median_s,
  poll_interval_s (a sight is late by up to this much) and drain_s, as the workload measured;
- baseline_max_s: the highest lag of the seconds of commit whose every change was seen before
  the fault start (None: no such second);
- since_fault_max_s: the highest lag of the other seconds: a change seen after the fault
  start (committed before it and delivered late, during it, or after the heal);
- lag_recovered_s: from the fault end (the last window's heal) to the end of the last second of
  commit, among those that began at or after the heal, whose highest lag was over the
  baseline (baseline_max_s + poll_interval_s: two sights of an unchanged pipeline differ by up
  to a poll); 0 when none was. None, with `lag_recovered_reason`, when it cannot be said: no
  fault or no heal, no baseline, a committed change never seen in the sink, nothing committed
  after the heal, or the last second seen still over the baseline;
- verify: from the verifier's hub report (verify/hub.py), every hub anomaly kind's count and
  whether the sink's table equals the source's row by row (None when not judged: the fence row
  never reached the sink).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, Field

from riftdrill.chaos.windows import FaultWindow, span
from riftdrill.errors import RiftdrillError
from riftdrill.hub.lag import ChangeLagFile, ChangeLagTotals, change_lag_path, read_change_lag
from riftdrill.hub.rows import read_rows_header, rows_path
from riftdrill.verify.anomalies import HubKind
from riftdrill.verify.hub import HubReport

NS = 1_000_000_000
# The sink's table against the source's (verify/hub.py): none of these, the two tables are equal.
ROW_KINDS: tuple[HubKind, ...] = ("row_missing", "row_extra", "row_corrupt", "row_stale",
                                  "row_ahead")


class HubLagPoint(BaseModel):
    t_s: float  # the second of commit [t, t + 1 s), from the fault start
    committed: int
    max_lag_s: float | None  # None: no change committed then was seen (overwritten, or never)
    p99_lag_s: float | None


class HubVerifyFigures(BaseModel):
    rows_source: int
    rows_target: int
    # the sink's table equals the source's row by row; None: not judged (fence not in the sink)
    rows_equal: bool | None
    anomalies: dict[str, int]  # every hub kind, 0 included


class HubFigures(ChangeLagTotals):
    """summary.json `hub`: only runs with the hub's row workload."""

    baseline_max_s: float | None = None
    since_fault_max_s: float | None = None
    lag_recovered_s: float | None = None
    lag_recovered_reason: str | None = None
    verify: HubVerifyFigures | None = None
    series: list[HubLagPoint] = Field(default_factory=list)


def verify_figures(report: HubReport) -> HubVerifyFigures:
    judged = report.fence_in_target
    return HubVerifyFigures(
        rows_source=report.rows_source, rows_target=report.rows_target,
        rows_equal=(not any(report.counts.get(k, 0) for k in ROW_KINDS)) if judged else None,
        anomalies={str(k): n for k, n in report.counts.items()})


def hub_figures(lag: ChangeLagFile, ledger_start_ns: int, wins: Sequence[FaultWindow],
                verify: HubReport | None = None) -> HubFigures:
    """The block from the change lag, the row ledger's start (the series' zero) and the
    drill's fault windows; pure."""
    out = HubFigures(**lag.model_dump(include=set(ChangeLagTotals.model_fields)),
                     verify=verify_figures(verify) if verify is not None else None)
    sp = span(list(wins))
    if sp is None:
        out.lag_recovered_reason = "no fault window"
        return out
    fault_start_ns, fault_end_ns = sp
    # each second of commit as [start, end) in seconds from the fault start
    shift_s = (ledger_start_ns - fault_start_ns) / NS
    points = [HubLagPoint(t_s=round(p.t_s + shift_s, 3), committed=p.committed,
                          max_lag_s=p.max_lag_s, p99_lag_s=p.p99_lag_s) for p in lag.series]
    out.series = points
    seen = [p for p in points if p.max_lag_s is not None]
    # The baseline: seconds whose every change was seen before the fault. A change committed
    # just before it and delivered only after (a killed source task's unsent tail) is the
    # fault's lag, not the baseline's. A file without last sights: the second's end + its lag.
    last_seen = {round(p.t_s + shift_s, 3): (p.t_s + 1 + (p.max_lag_s or 0.0)
                                             if p.last_seen_s is None else p.last_seen_s)
                 + shift_s for p in lag.series}
    before = [p.max_lag_s for p in seen if p.max_lag_s is not None and last_seen[p.t_s] <= 0]
    since = [p.max_lag_s for p in seen if p.max_lag_s is not None and last_seen[p.t_s] > 0]
    out.baseline_max_s = max(before) if before else None
    out.since_fault_max_s = max(since) if since else None
    out.lag_recovered_s, out.lag_recovered_reason = _recovered(
        seen, out.baseline_max_s, lag.poll_interval_s, lag.never_visible,
        None if fault_end_ns is None else (fault_end_ns - fault_start_ns) / NS)
    return out


def _recovered(seen: list[HubLagPoint], baseline_max_s: float | None, poll_interval_s: float,
               never_visible: int, fault_end_s: float | None) -> tuple[float | None, str | None]:
    if fault_end_s is None:
        return None, "a fault was never healed within the run"
    if never_visible:
        return None, f"{never_visible} committed change(s) never seen in the sink"
    if baseline_max_s is None:
        return None, "no baseline: no change seen in the sink before the fault"
    bound_s = baseline_max_s + poll_interval_s
    after = [p for p in seen if p.t_s >= fault_end_s]
    if not after:
        return None, "no change committed after the heal was seen"
    over = [p for p in after if p.max_lag_s is not None and p.max_lag_s > bound_s]
    if not over:
        return 0.0, None
    if over[-1].t_s == after[-1].t_s:
        return None, (f"still over the baseline ({bound_s:g} s) in the last second of commit "
                      "seen")
    return round(max(0.0, over[-1].t_s + 1 - fault_end_s), 3), None


def has_hub_workload(run_dir: Path) -> bool:
    return rows_path(run_dir).exists() or change_lag_path(run_dir).exists()


def hub_from_run(run_dir: Path, wins: Sequence[FaultWindow],
                 verify: HubReport | None = None) -> HubFigures | None:
    """The block of a run (None: the run had no row workload). Reads change-lag.json once and
    the row ledger's header; raises a RiftdrillError when either cannot be read."""
    if not has_hub_workload(run_dir):
        return None
    lag = read_change_lag(change_lag_path(run_dir))
    if lag.workload_error:
        raise RiftdrillError(f"the row workload failed ({lag.workload_error}); its ledger may "
                             "end early")
    header = read_rows_header(rows_path(run_dir))
    return hub_figures(lag, header.start_ns, wins, verify)
