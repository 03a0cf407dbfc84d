"""slo.yaml per engine, and `riftdrill slo calibrate` against runs written here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from riftdrill.chaos import calibrate
from riftdrill.chaos import slo as slo_mod
from riftdrill.errors import ValidationError
from tests.conftest import riftdrill

SLO = """
defaults:
  max_failed_send_ratio: 0.001
experiments:
  broker-kill:
    max_unavailability_s: 20
    max_worst_partition_unavailability_s: 20
  object-store-outage:
    max_worst_partition_unavailability_s: 10
engines:
  tansu:
    defaults:
      max_failed_send_ratio: 0.01
    experiments:
      object-store-outage:
        max_worst_partition_unavailability_s: hold_s + 60
"""


def _slo(tmp_path: Path, text: str = SLO) -> slo_mod.SloFile:
    path = tmp_path / "slo.yaml"
    path.write_text(text)
    return slo_mod.load(path, {"broker-kill", "object-store-outage"})


def test_an_engine_section_overrides_only_what_it_sets(tmp_path: Path) -> None:
    slo = _slo(tmp_path)
    kafka = slo_mod.bounds_for(slo, "object-store-outage", "kafka")
    tansu = slo_mod.bounds_for(slo, "object-store-outage", "tansu")
    assert kafka.max_worst_partition_unavailability_s == 10
    assert kafka.max_failed_send_ratio == 0.001
    assert tansu.max_worst_partition_unavailability_s == "hold_s + 60"
    assert tansu.max_failed_send_ratio == 0.01  # the engine's defaults over the top-level ones
    # an experiment the engine section does not name keeps the top-level experiment's bounds
    assert slo_mod.bounds_for(slo, "broker-kill", "tansu").max_unavailability_s == 20
    assert slo_mod.bounds_for(slo, "broker-kill").max_failed_send_ratio == 0.001


@pytest.mark.parametrize(("text", "problem"), [
    ("engines:\n  redpanda: {}\n", "unknown engine section(s) redpanda"),
    ("engines:\n  tansu:\n    experiments:\n      nope: {}\n", "unknown experiment(s) nope"),
    ("engines:\n  tansu:\n    max_lost: 0\n", "unknown field"),
])
def test_bad_engine_sections_name_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        _slo(tmp_path, text)


def test_the_committed_slo_yaml_has_a_section_per_lab_engine() -> None:
    slo = slo_mod.load(Path(__file__).resolve().parents[2] / "slo.yaml")
    assert {"kafka", "tansu"} <= set(slo.engines)


@pytest.mark.parametrize(("figure", "measured", "holds", "expected"), [
    ("max_worst_partition_unavailability_s", [9.7, 8.6], [20, 30], "15"),
    ("max_worst_partition_unavailability_s", [0.05], [60], "10"),
    # a fault that kept the partition waiting: relative to the hold
    ("max_worst_partition_unavailability_s", [27.3, 62.7], [20, 60], "hold_s + 15"),
    ("max_failed_send_ratio", [0.0, 0.0], [20, 30], "0.001"),
    ("max_failed_send_ratio", [0.291, 0.305], [60, 60], "0.46"),
    ("max_failed_send_ratio", [0.9], [60], "1"),
])
def test_suggestions(figure: str, measured: list[float], holds: list[float], expected: str) -> None:
    assert calibrate.suggest(figure, measured, holds) == expected


def _run(runs: Path, run_id: str, engine: str, experiment: str, hold_s: float,
         worst_partition_s: float | None, failed: int = 0) -> None:
    d = runs / run_id
    d.mkdir(parents=True)
    recovery: dict[str, object] = {"fault_start_ns": 1, "fault_end_ns": 2, "run_end_ns": 3,
                                   "worst_unavailability_s": 0.5,
                                   "worst_time_to_first_ack_s": 0.2}
    if worst_partition_s is not None:
        recovery.update(worst_partition_unavailability_s=worst_partition_s,
                        worst_partition="t[1]@aws", partitions_affected=2)
    (d / "summary.json").write_text(json.dumps({
        "run_id": run_id, "experiment": experiment, "engine": engine,
        "started_at": "2026-12-02T00:00:00+00:00", "ended_at": "2026-12-02T00:01:00+00:00",
        "params": {"hold_s": hold_s}, "recovery": recovery,
        "sends": {"attempted": 1000, "acked": 1000 - failed, "failed": failed,
                  "failed_ratio": failed / 1000},
        "verdict": {"passed": True}}))


def test_calibrate_measures_each_run_against_its_engines_bounds(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    _run(runs, "a-broker-kill", "kafka", "broker-kill", 20, 9.7)
    _run(runs, "b-broker-kill", "kafka", "broker-kill", 30, 24.0)  # beyond 20
    _run(runs, "c-broker-kill", "kafka", "broker-kill", 30, None)  # written before the figure
    _run(runs, "d-object-store-outage", "tansu", "object-store-outage", 60, 130.0, failed=5)
    found = calibrate.calibrate(calibrate.read_runs(runs), _slo(tmp_path))
    by = {(c.engine, c.experiment, c.figure): c for c in found}
    bk = by[("kafka", "broker-kill", "max_worst_partition_unavailability_s")]
    assert (bk.runs, bk.measured, bk.bound, bk.beyond) == (
        ["a-broker-kill", "b-broker-kill"], [9.7, 24.0], "20", ["b-broker-kill"])
    assert bk.suggested == "40"  # no run lasted its hold: 1.5 x 24 s, rounded up to 5 s
    store = by[("tansu", "object-store-outage", "max_worst_partition_unavailability_s")]
    assert (store.bound, store.beyond) == ("hold_s + 60", ["d-object-store-outage"])
    ratio = by[("tansu", "object-store-outage", "max_failed_send_ratio")]
    assert (ratio.bound, ratio.beyond, ratio.measured) == ("0.01", [], [0.005])
    only = calibrate.calibrate(calibrate.read_runs(runs), _slo(tmp_path), engine="tansu")
    assert {c.engine for c in only} == {"tansu"}


def test_cli_json_and_bad_input(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    _run(runs, "a-broker-kill", "kafka", "broker-kill", 20, 9.7)
    slo = tmp_path / "slo.yaml"
    slo.write_text(SLO)
    proc = riftdrill("slo", "calibrate", "--runs", str(runs), "--slo", str(slo), "--json")
    rows = json.loads(proc.stdout)
    assert {r["figure"] for r in rows} >= {"max_worst_partition_unavailability_s"}
    bad = riftdrill("slo", "calibrate", "--engine", "redpanda", check=False)
    assert bad.returncode == 2 and "--engine 'redpanda' is not an engine" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    missing = riftdrill("slo", "calibrate", "--runs", str(tmp_path / "nope"), check=False)
    assert missing.returncode == 2 and "is not a directory" in missing.stderr


def test_the_hub_change_lag_is_calibrated_and_a_bad_bound_is_one_line(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    _run(runs, "a-broker-kill", "kafka", "broker-kill", 20, 9.7)
    summary = json.loads((runs / "a-broker-kill" / "summary.json").read_text())
    summary["hub"] = {"committed": 10, "seen": 10, "overwritten": 0, "never_visible": 0,
                      "max_s": 7.5, "p99_s": 1.0, "median_s": 0.3, "poll_interval_s": 0.2,
                      "drain_s": 0.4}
    (runs / "a-broker-kill" / "summary.json").write_text(json.dumps(summary))
    text = SLO.replace("max_unavailability_s: 20\n", "max_unavailability_s: 20\n"
                       "    max_change_lag_s: 5\n", 1)
    found = calibrate.calibrate(calibrate.read_runs(runs), _slo(tmp_path, text))
    [lag] = [c for c in found if c.figure == "max_change_lag_s"]
    assert (lag.measured, lag.bound, lag.beyond, lag.suggested) == (
        [7.5], "5", ["a-broker-kill"], "15")
    slo = tmp_path / "bad.yaml"
    slo.write_text(SLO.replace("max_unavailability_s: 20\n", "max_unavailability_s: 20\n"
                               "    max_change_lag_s: soon\n", 1))
    bad = riftdrill("slo", "calibrate", "--runs", str(runs), "--slo", str(slo), check=False)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "experiments.broker-kill.max_change_lag_s" in bad.stderr
