"""summary.json's `hub` (chaos/hubfigures.py): the change lag around a drill's faults, read from
what the row workload leaves (change-lag.json and the row ledger's header), the verifier's hub
counts, the `max_change_lag_s` bound, and the runner carrying it all into the verdict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from riftdrill.chaos import hubfigures, runner, windows
from riftdrill.chaos.hubfigures import HubFigures, hub_figures, hub_from_run
from riftdrill.chaos.slo import ExperimentSlo, check
from riftdrill.errors import RiftdrillError
from riftdrill.hub.lag import ChangeLagFile, LagPointFile, compute_change_lag, read_change_lag
from riftdrill.hub.rows import RowChange, RowsHeader, RowsWriter, fence_id, row_crc, rows_path
from riftdrill.hub.sinktail import Sight
from riftdrill.verify.anomalies import HUB_KINDS
from riftdrill.verify.hub import HubReport

NS = 1_000_000_000
START_NS = 1_764_633_600 * NS  # the row ledger's start: the series' zero


def lag_file(points: list[tuple[float, float | None]], **kw: Any) -> ChangeLagFile:
    """A change lag with one point per (second of commit from START_NS, its highest lag), its
    latest sight that lag after the second began."""
    base: dict[str, Any] = {"committed": 10 * len(points), "seen": 10 * len(points),
                            "overwritten": 0, "never_visible": 0, "max_s": 9.0, "p99_s": 1.0,
                            "median_s": 0.3, "poll_interval_s": 0.2, "drain_s": 0.4}
    series = [LagPointFile(t_s=t, committed=10, max_lag_s=m, p99_lag_s=m,
                           last_seen_s=None if m is None else t + m) for t, m in points]
    return ChangeLagFile(**{**base, **kw, "series": series})


def window(start_s: float, end_s: float | None) -> windows.FaultWindow:
    return windows.FaultWindow(kind="stop_worker", target="connect-aws",
                               start_ns=START_NS + int(start_s * NS),
                               end_ns=None if end_s is None else START_NS + int(end_s * NS))


# baseline seconds 0..9 (highest 0.5 s), the fault from 10.5 s to 20 s, back to 0.6 s from 24 s
SERIES = ([(float(t), 0.5 if t == 3 else 0.4) for t in range(10)]
          + [(10.0, 0.8), *((float(t), 12.0 - (t - 11)) for t in range(11, 20))]
          + [(20.0, 4.0), (21.0, 2.5), (22.0, 1.0), (23.0, 0.9), (24.0, 0.6), (25.0, 0.5),
             (26.0, 0.7)])


def test_lag_from_the_fault_start_baseline_and_recovery() -> None:
    h = hub_figures(lag_file(SERIES), START_NS, [window(10.5, 20.0)])
    assert h.series[0].t_s == -10.5 and h.series[10].t_s == -0.5  # re-based on the fault start
    assert h.baseline_max_s == 0.5  # seconds that ended before the fault: 0..9
    assert h.since_fault_max_s == 12.0  # the second the fault began in onward
    # bound 0.5 + 0.2 poll; the last second over it is 23 (0.9 s): recovered at its end, 24 s,
    # 4 s after the heal (26's 0.7 s is not over 0.7)
    assert (h.lag_recovered_s, h.lag_recovered_reason) == (4.0, None)
    assert (h.committed, h.max_s, h.drain_s, h.poll_interval_s) == (270, 9.0, 0.4, 0.2)


def test_a_lag_that_never_left_the_baseline_recovered_at_once() -> None:
    flat = [(float(t), 0.4) for t in range(30)]
    h = hub_figures(lag_file(flat), START_NS, [window(10.0, 20.0)])
    assert (h.lag_recovered_s, h.since_fault_max_s) == (0.0, 0.4)


@pytest.mark.parametrize(("series", "wins", "kw", "reason"), [
    (SERIES, [window(10.5, None)], {}, "a fault was never healed within the run"),
    (SERIES, [window(10.5, 20.0)], {"never_visible": 3},
     "3 committed change(s) never seen in the sink"),
    (SERIES[10:], [window(10.5, 20.0)], {}, "no baseline: no change seen in the sink before"),
    (SERIES[:20], [window(10.5, 20.0)], {}, "no change committed after the heal was seen"),
    (SERIES[:24], [window(10.5, 20.0)], {}, "still over the baseline (0.7 s) in the last second"),
    (SERIES, [], {}, "no fault window"),
])
def test_a_recovery_that_cannot_be_said_is_none_with_why(
        series: list[tuple[float, float | None]], wins: list[windows.FaultWindow],
        kw: dict[str, Any], reason: str) -> None:
    h = hub_figures(lag_file(series, **kw), START_NS, wins)
    assert h.lag_recovered_s is None
    assert h.lag_recovered_reason is not None and h.lag_recovered_reason.startswith(reason)


def test_seconds_without_a_sight_count_for_nothing_and_several_windows_span() -> None:
    series = [(0.0, 0.4), (1.0, None), (5.0, 3.0), (9.0, None), (12.0, 0.4)]
    h = hub_figures(lag_file(series), START_NS, [window(4.0, 6.0), window(8.0, 10.0)])
    assert (h.baseline_max_s, h.since_fault_max_s) == (0.4, 3.0)
    assert h.lag_recovered_s == 0.0  # from the last heal (10 s): second 12 is under 0.6
    assert [p.max_lag_s for p in h.series] == [0.4, None, 3.0, None, 0.4]


def test_verify_counts_and_whether_the_tables_are_equal() -> None:
    clean = HubReport(counts=dict.fromkeys(HUB_KINDS, 0), rows_source=40, rows_target=40,
                      fence_in_target=True)
    h = hub_figures(lag_file(SERIES), START_NS, [window(10.5, 20.0)], clean)
    assert h.verify is not None and h.verify.rows_equal is True
    assert set(h.verify.anomalies) == set(HUB_KINDS) and (h.verify.rows_source,
                                                          h.verify.rows_target) == (40, 40)
    stale = clean.model_copy(update={"counts": {**clean.counts, "row_stale": 2,
                                                "change_duplicate": 5}})
    v = hubfigures.verify_figures(stale)
    assert v.rows_equal is False and v.anomalies["row_stale"] == 2
    # a duplicated change in the CDC topic says nothing about the tables
    dup = clean.model_copy(update={"counts": {**clean.counts, "change_duplicate": 5}})
    assert hubfigures.verify_figures(dup).rows_equal is True
    unjudged = clean.model_copy(update={"fence_in_target": False})
    assert hubfigures.verify_figures(unjudged).rows_equal is None


# ---- from the files the row workload writes ------------------------------------------------

def write_workload(run: Path, changes: list[RowChange], sights: list[Sight]) -> ChangeLagFile:
    """The row ledger, and change-lag.json as the row workload writes it (load/hubload.py
    HubLoad.finish: its outcome's change lag, drain_s, the series)."""
    from riftdrill.load.hubload import write_change_lag

    header = RowsHeader(source_cloud="aws", start_ns=START_NS, fence_id=fence_id(START_NS))
    with RowsWriter(rows_path(run), header) as w:
        for c in changes:
            w.append(c)
    lag = compute_change_lag(changes, sights, START_NS, 0.2)
    path = write_change_lag(run, lag, 0.4 if lag.never_visible == 0 else None)
    assert path == hubfigures.change_lag_path(run)  # the writer's path is the reader's
    return read_change_lag(path)


def change(row_id: int, version: int, done_s: float) -> RowChange:
    t = START_NS + int(done_s * NS)
    return RowChange(op="insert" if version == 1 else "update", id=row_id, version=version,
                     payload_crc=row_crc(row_id, version), intended_ns=t - 1000,
                     start_ns=t - 500, done_ns=t, outcome="ok")


def test_the_file_the_workload_writes_reads_back(tmp_path: Path) -> None:
    changes = [change(1, 1, 0.5), change(2, 1, 1.5), change(1, 2, 3.2)]
    sights = [Sight(1, 1, "upsert", START_NS + int(0.7 * NS)),
              Sight(2, 1, "upsert", START_NS + int(1.8 * NS)),
              Sight(1, 2, "upsert", START_NS + int(6.2 * NS))]
    lag = write_workload(tmp_path, changes, sights)
    assert (lag.committed, lag.seen, lag.max_s, lag.drain_s) == (3, 3, 3.0, 0.4)
    h = hub_from_run(tmp_path, [window(2.0, 4.0)])
    assert h is not None
    assert [(p.t_s, p.max_lag_s) for p in h.series] == [(-2.0, 0.2), (-1.0, 0.3), (1.0, 3.0)]
    assert (h.baseline_max_s, h.since_fault_max_s) == (0.3, 3.0)


def test_the_file_carries_every_change_lag_field() -> None:
    """ChangeLagFile reads what the row workload writes from hub.lag.ChangeLag: a field added
    there and not here would be dropped silently."""
    from dataclasses import fields

    from riftdrill.hub.lag import ChangeLag, LagPoint

    assert {f.name for f in fields(ChangeLag)} | {"drain_s", "workload_error"} == set(
        ChangeLagFile.model_fields)
    assert {f.name for f in fields(LagPoint)} == set(LagPointFile.model_fields)


def test_summary_carries_the_block_and_reads_it_back() -> None:
    from riftdrill.chaos.summary import RunSummary

    h = hub_figures(lag_file(SERIES), START_NS, [window(10.5, 20.0)])
    summary = RunSummary.model_validate({"run_id": "r", "experiment": "e", "engine": "kafka",
                                         "started_at": "2026-01-01T00:00:00+00:00",
                                         "ended_at": "2026-01-01T00:01:00+00:00", "hub": h})
    written = json.loads(summary.to_json())
    assert set(written["hub"]) == set(HubFigures.model_fields)
    assert RunSummary.model_validate(written).hub == h


def test_a_run_without_the_row_workload_has_no_block(tmp_path: Path) -> None:
    assert hub_from_run(tmp_path, [window(1.0, 2.0)]) is None
    assert runner.hub_block(tmp_path, [window(1.0, 2.0)], None) == (None, [])


def test_a_row_workload_without_its_change_lag_fails_the_run(tmp_path: Path) -> None:
    write_workload(tmp_path, [change(1, 1, 0.5)], [])
    (tmp_path / "load" / "hub" / "change-lag.json").unlink()
    block, problems = runner.hub_block(tmp_path, [window(1.0, 2.0)], None)
    assert block is None
    assert problems == [f"hub change lag: {tmp_path}/load/hub/change-lag.json: missing (the row "
                        "workload wrote no change lag)"]
    (tmp_path / "load" / "hub" / "change-lag.json").write_text('{"committed": "many"}')
    _, problems = runner.hub_block(tmp_path, [window(1.0, 2.0)], None)
    assert problems and "change-lag.json: committed:" in problems[0]
    rows_path(tmp_path).write_text("not a ledger\n")
    (tmp_path / "load" / "hub" / "change-lag.json").unlink()
    with pytest.raises(RiftdrillError, match=r"change-lag\.json: missing"):
        hub_from_run(tmp_path, [])


# ---- the bound -----------------------------------------------------------------------------

def figures(**kw: Any) -> HubFigures:
    return HubFigures.model_validate({"committed": 10, "seen": 10, "overwritten": 0,
                                      "never_visible": 0, "max_s": 3.5, "p99_s": 1.0,
                                      "median_s": 0.3, "poll_interval_s": 0.2, "drain_s": 0.4,
                                      **kw})


def lag_violations(bounds: ExperimentSlo, hold_s: float, hub: HubFigures | None) -> list[Any]:
    return [v for v in check(bounds, None, None, hold_s, hub=hub) if v.bound != "max_lost"]


def test_the_change_lag_bound_holds_or_is_broken_by_how_much() -> None:
    assert lag_violations(ExperimentSlo(max_change_lag_s=4), 10.0, figures()) == []
    [v] = lag_violations(ExperimentSlo(max_change_lag_s="hold_s + 2"), 1.0, figures())
    assert (v.bound, v.limit, v.measured, v.over_by) == ("max_change_lag_s", 3.0, 3.5, 0.5)
    assert v.message == "SLO max_change_lag_s <= 3: measured 3.5, over by 0.5"
    assert lag_violations(ExperimentSlo(), 1.0, None) == []  # unbounded: not checked


def test_a_hub_bound_on_a_drill_of_every_topology_applies_only_where_a_hub_is_deployed() -> None:
    bounds = ExperimentSlo(max_change_lag_s=30)  # e.g. link-sever, which also runs stretched
    assert all(v.bound != "max_change_lag_s"
               for v in check(bounds, None, None, 30, hub=None, hub_deployed=False))
    [v] = [v for v in check(bounds, None, None, 30, hub=None, hub_deployed=True)
           if v.bound == "max_change_lag_s"]
    assert "no hub figures in this run" in v.message


@pytest.mark.parametrize(("hub", "why"), [
    (None, "no hub figures in this run"),
    (figures(never_visible=2), "2 committed change(s) never seen in the sink"),
    (figures(seen=0, max_s=None), "no committed change was seen in the sink"),
])
def test_a_change_lag_bound_never_measured_fails(hub: HubFigures | None, why: str) -> None:
    [v] = lag_violations(ExperimentSlo(max_change_lag_s=60), 10.0, hub)
    assert v.bound == "max_change_lag_s" and v.measured is None
    assert v.message == f"SLO max_change_lag_s <= 60: never recovered ({why})"


def test_a_bad_change_lag_bound_is_named(tmp_path: Path) -> None:
    from riftdrill.chaos import slo
    from riftdrill.errors import ValidationError

    p = tmp_path / "slo.yaml"
    p.write_text("defaults: {max_change_lag_s: 'hold + 3'}\n")
    with pytest.raises(ValidationError, match=r"defaults\.max_change_lag_s: .*hold_s"):
        slo.load(p)
    p.write_text("defaults: {max_change_lag_s: -1}\n")
    with pytest.raises(ValidationError, match=r"defaults\.max_change_lag_s: .*>= 0"):
        slo.load(p)


# ---- through the runner --------------------------------------------------------------------

def test_judge_carries_the_hub_block_into_the_bounds_and_the_summary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.unit.test_chaos_runner import _judge_with_clean_verify, _run_with_ledger

    run = _run_with_ledger(tmp_path, acks=10, timed_out=0)  # its fault: 1 s -> 2 s, epoch 0
    header = RowsHeader(source_cloud="aws", start_ns=0, fence_id=-1)
    with RowsWriter(rows_path(run), header):
        pass
    lag = lag_file([(0.0, 0.3), (1.0, 5.0), (3.0, 0.3)], max_s=5.0)
    (run / "load" / "hub" / "change-lag.json").write_text(lag.model_dump_json())
    j = _judge_with_clean_verify(monkeypatch, run, ExperimentSlo(max_change_lag_s=4))
    assert j.hub is not None and (j.hub.max_s, j.hub.lag_recovered_s) == (5.0, 0.0)
    assert [v.bound for v in j.violations] == ["max_change_lag_s"]
    assert not j.verdict.passed


def test_a_failed_row_workload_fails_the_run_naming_its_error(tmp_path: Path) -> None:
    from riftdrill.errors import RiftdrillError
    from riftdrill.load.hubload import write_change_lag

    changes = [change(1, 1, 0.5)]
    header = RowsHeader(source_cloud="aws", start_ns=START_NS, fence_id=fence_id(START_NS))
    with RowsWriter(rows_path(tmp_path), header) as w:
        w.append(changes[0])
    lag = compute_change_lag(changes, [], START_NS, 0.2)
    write_change_lag(tmp_path, lag, None, "OperationalError: the source went away")
    with pytest.raises(RiftdrillError, match=r"the row workload failed \(OperationalError"):
        hubfigures.hub_from_run(tmp_path, [])


def test_a_change_committed_before_the_fault_and_seen_after_it_is_not_the_baseline() -> None:
    """A killed source task's unsent tail: committed in the last seconds before the fault, it
    reaches the sink only after the task moved; its lag is the fault's."""
    h = hub_figures(lag_file([(0.0, 0.4), (1.0, 0.5), (2.0, 30.0), (3.0, 28.0), (40.0, 0.5)]),
                    START_NS, [window(2.5, 10.0)])
    assert (h.baseline_max_s, h.since_fault_max_s) == (0.5, 30.0)
    # A file written before last sights were recorded: the second's end plus its lag.
    old = lag_file([(0.0, 0.4), (1.0, 0.5), (2.0, 30.0)])
    for p in old.series:
        p.last_seen_s = None
    assert hub_figures(old, START_NS, [window(2.5, 10.0)]).baseline_max_s == 0.5
