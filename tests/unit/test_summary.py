"""summary.json's one model (riftdrill.chaos.summary): every published run still loads, and
what the drill runner writes is what the readers read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from riftdrill.chaos.summary import RunSummary
from riftdrill.redact import PATTERNS_ONLY

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = sorted([*ROOT.glob("results/runs/*/summary.json"),
                    *ROOT.glob("tests/fixtures/runs/*/summary.json")])


def test_there_are_committed_runs() -> None:
    assert len(COMMITTED) >= 10


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.parent.name)
def test_every_committed_summary_loads_and_round_trips(path: Path) -> None:
    """Published data is never rewritten: the model reads every shape a runner wrote, and
    writing it back gives the same JSON (no field lost, none added)."""
    raw = json.loads(path.read_text())
    summary = RunSummary.model_validate(raw)
    assert summary.run_id == path.parent.name
    assert summary.duration_s > 0
    assert json.loads(json.dumps(summary.to_json_dict(), default=str)) == raw


def test_an_old_summary_without_later_fields_loads_and_stays_without_them() -> None:
    raw = json.loads(COMMITTED[0].read_text())
    for later in ("sends", "ack_p99_ms", "store_usage", "regressions"):
        raw.pop(later, None)
    raw["written_by_a_future_runner"] = {"x": 1}
    summary = RunSummary.model_validate(raw)
    assert summary.sends is None and summary.ack_p99_ms is None and summary.store_usage == {}
    assert summary.model_extra == {"written_by_a_future_runner": {"x": 1}}
    assert summary.to_json_dict() == raw


def test_the_runner_writes_what_the_report_reads(tmp_path: Path) -> None:
    from riftdrill.chaos import runner, windows
    from riftdrill.chaos.recovery import RecoveryFigures
    from riftdrill.chaos.verdict import Verdict
    from riftdrill.report.runs import load_run
    from tests.unit.test_chaos_targets import inv

    run = tmp_path / "20260101T000000Z-broker-kill"
    (run / "load").mkdir(parents=True)
    (run / "load" / "timeline.json").write_text("[]")
    w = windows.FaultWindow(kind="sever_link", target="aws-gcp", start_ns=2 * 10**9,
                            end_ns=3 * 10**9, direction="a-to-b", healed_by="runner")
    written = runner.build_summary(
        run, "broker-kill", {"title": "T"}, inv(), {"hold_s": 5}, "2026-01-01T00:00:00+00:00",
        [w], RecoveryFigures(fault_start_ns=1, fault_end_ns=2, run_end_ns=3), None,
        Verdict(passed=True), [], {"aws-to-gcp": {"bytes": 5, "packets": 1}},
        runner.ChaosOutcome(returncode=0, interrupted_by=None, seconds=1.0))
    runner.write_summary(run, written, PATTERNS_ONLY)
    read = load_run(run).summary
    assert read.to_json_dict() == json.loads(written.to_json())
    assert (read.fault_windows[0].direction, read.fault_windows[0].healed_by) == ("a-to-b",
                                                                                  "runner")
    assert "store_usage" not in json.loads((run / "summary.json").read_text())  # not measured
    # the brokers, so the cost report prices broker-hours (issue 19: it never had them)
    on_disk = json.loads((run / "summary.json").read_text())["brokers"]
    assert on_disk == [{"name": b.name, "cloud": b.cloud, "roles": list(b.roles)}
                       for b in inv().brokers] != []


def test_the_tolerant_readers_name_fields_of_the_model() -> None:
    """chaos/regression.py reads previous runs as plain JSON on purpose (a partial or odd old
    summary still gives the figures it has); the names it reads are the model's."""
    from riftdrill.chaos import regression
    from riftdrill.chaos.recovery import RecoveryFigures

    fields = set(RunSummary.model_fields)
    assert set(regression.MATCH_KEYS) <= fields
    assert {"started_at", "run_id", "params", "recovery", "verify", "ack_p99_ms",
            "chaos"} <= fields
    assert set(regression.TIME_FIGURES_S) <= set(RecoveryFigures.model_fields)
