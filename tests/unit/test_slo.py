"""slo.yaml: parsing, validation naming the bad field or experiment, and the gate."""

from __future__ import annotations

from pathlib import Path

import pytest

from riftdrill.chaos import slo
from riftdrill.chaos.recovery import RecoveryFigures
from riftdrill.errors import ValidationError
from riftdrill.verify.report import VerifyReport

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "slo.yaml"
    p.write_text(text)
    return p


def fig(**kw: object) -> RecoveryFigures:
    return RecoveryFigures(fault_start_ns=0, fault_end_ns=1, run_end_ns=2, **kw)  # type: ignore[arg-type]


def test_the_repo_slo_file_is_valid_for_every_experiment() -> None:
    names = {p.stem for p in (ROOT / "experiments").glob("*.json")}
    parsed = slo.load(ROOT / "slo.yaml", names)
    assert set(parsed.experiments) <= names
    assert slo.bounds_for(parsed, "broker-kill").max_lost == 0


def test_unknown_field_is_named(tmp_path: Path) -> None:
    p = write(tmp_path, "experiments:\n  broker-kill:\n    max_unavailabilty_s: 3\n")
    with pytest.raises(ValidationError,
                       match=r"experiments\.broker-kill\.max_unavailabilty_s: unknown field"):
        slo.load(p, {"broker-kill"})


def test_unknown_experiment_is_named(tmp_path: Path) -> None:
    p = write(tmp_path, "experiments:\n  brokr-kill: {max_unavailability_s: 3}\n")
    with pytest.raises(ValidationError, match=r"unknown experiment.*brokr-kill"):
        slo.load(p, {"broker-kill"})


def test_lost_bound_other_than_zero_is_refused(tmp_path: Path) -> None:
    p = write(tmp_path, "defaults: {max_lost: 5}\n")
    with pytest.raises(ValidationError, match="max_lost"):
        slo.load(p)


def test_relative_bound_syntax(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="hold_s"):
        slo.load(write(tmp_path, "defaults: {max_unavailability_s: 'hold + 3'}\n"))
    text = "experiments:\n  x: {max_unavailability_s: hold_s + 15}\n"
    b = slo.bounds_for(slo.load(write(tmp_path, text)), "x")
    assert slo.resolve_bound(b.max_unavailability_s, 20) == 35


def test_experiment_overrides_defaults(tmp_path: Path) -> None:
    p = write(tmp_path, "defaults: {max_unavailability_s: 10, max_duplicates: 0}\n"
                        "experiments:\n  a: {max_unavailability_s: 99}\n")
    parsed = slo.load(p)
    assert slo.bounds_for(parsed, "a").max_unavailability_s == 99
    assert slo.bounds_for(parsed, "a").max_duplicates == 0
    assert slo.bounds_for(parsed, "b").max_unavailability_s == 10


def test_violation_says_which_bound_and_by_how_much() -> None:
    b = slo.ExperimentSlo(max_unavailability_s="hold_s + 5", max_time_to_p99_baseline_s=10)
    [v] = slo.check(b, fig(worst_unavailability_s=30.5, time_to_p99_baseline_s=4.0),
                    VerifyReport(run_dir="x"), 20)
    assert (v.bound, v.limit, v.measured, v.over_by) == ("max_unavailability_s", 25, 30.5, 5.5)
    assert "over by 5.5" in v.message


def test_never_recovered_violates_a_bound() -> None:
    b = slo.ExperimentSlo(max_time_to_p99_baseline_s=10)
    [v] = slo.check(b, fig(reasons={"time_to_p99_baseline_s": "never came back"}),
                    VerifyReport(run_dir="x"), 0)
    assert v.measured is None and "never came back" in v.message


def test_lost_records_violate_max_lost() -> None:
    report = VerifyReport(run_dir="x", totals={"lost": 3})
    [v] = slo.check(slo.ExperimentSlo(), None, report, 0)
    assert (v.bound, v.measured, v.over_by) == ("max_lost", 3, 3)
    assert slo.check(slo.ExperimentSlo(), None, VerifyReport(run_dir="x", totals={"lost": 0}), 0) == []


def test_missing_recovery_figures_fail_timing_bounds() -> None:
    [v] = slo.check(slo.ExperimentSlo(max_unavailability_s=5, max_lost=0), None,
                    VerifyReport(run_dir="x"), 0)
    assert "no recovery figures" in v.message


def test_no_verify_report_cannot_show_zero_lost() -> None:
    [v] = slo.check(slo.ExperimentSlo(), None, None, 0)
    assert v.bound == "max_lost" and "no verify report" in v.message
