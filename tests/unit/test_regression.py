"""regression.py: the previous comparable run, each kind of regression, the tolerance."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from riftdrill.chaos import regression, slo
from riftdrill.chaos.regression import Tolerance, compare_with_previous
from riftdrill.errors import ValidationError

TOL = Tolerance(relative=0.5, absolute_s=2.0)


def make(run_id: str, started_at: str, **over: Any) -> dict[str, Any]:
    s: dict[str, Any] = {
        "schema_version": 1, "run_id": run_id, "experiment": "broker-kill", "engine": "kafka",
        "topology": "stretched", "target": "local", "started_at": started_at,
        "params": {"hold_s": 20, "rate": 200},
        "recovery": {"worst_partition_unavailability_s": 1.0,
                     "worst_unavailability_s": 1.0, "worst_time_to_first_ack_s": 1.0,
                     "time_to_p99_baseline_s": 10.0, "time_to_zero_lag_s": 10.0},
        "verify": {"passed": True, "counts": {"lost": 0, "duplicates": 0}},
        "ack_p99_ms": 100.0,
        "chaos": {"interrupted_by": None},
    }
    for k, v in over.items():
        s[k] = v
    return s


def put(runs: Path, summary: dict[str, Any]) -> Path:
    d = runs / summary["run_id"]
    d.mkdir(parents=True)
    (d / "summary.json").write_text(json.dumps(summary))
    return d


def with_recovery(s: dict[str, Any], **figs: Any) -> dict[str, Any]:
    s = copy.deepcopy(s)
    s["recovery"].update(figs)
    return s


OLD = make("20260101T000000Z-broker-kill", "2026-01-01T00:00:00+00:00")
NEW = make("20260102T000000Z-broker-kill", "2026-01-02T00:00:00+00:00")


def test_no_regression_within_tolerance(tmp_path: Path) -> None:
    put(tmp_path, OLD)
    # 10 * 1.5 + 2 = 17: 16.9 is within; ack p99 100 * 1.5 + 2000 = 2150 ms
    new = with_recovery(NEW, time_to_zero_lag_s=16.9, worst_unavailability_s=3.5)
    new["ack_p99_ms"] = 2100.0
    put(tmp_path, new)
    rep = compare_with_previous(new, tmp_path, TOL)
    assert rep.previous_run_id == OLD["run_id"]
    assert not rep.regressed and rep.flags == []
    assert set(rep.compared) == {"worst_partition_unavailability_s",
                                 "worst_unavailability_s", "worst_time_to_first_ack_s",
                                 "time_to_p99_baseline_s", "time_to_zero_lag_s", "ack_p99_ms",
                                 "lost", "duplicates"}
    assert rep.to_summary()["regressed"] is False


def test_no_previous_run(tmp_path: Path) -> None:
    put(tmp_path, NEW)
    rep = compare_with_previous(NEW, tmp_path, TOL)
    assert rep.previous_run_id is None and not rep.regressed and rep.compared == []
    assert compare_with_previous(NEW, tmp_path / "missing", TOL).previous_run_id is None


@pytest.mark.parametrize("figure", list(regression.TIME_FIGURES_S))
def test_a_slower_time_is_flagged_with_old_new_limit(tmp_path: Path, figure: str) -> None:
    put(tmp_path, OLD)
    old = OLD["recovery"][figure]
    new = with_recovery(NEW, **{figure: old * 1.5 + 2.0 + 0.5})
    rep = compare_with_previous(new, tmp_path, TOL)
    assert [f.figure for f in rep.flags] == [figure]
    flag = rep.flags[0]
    assert (flag.old, flag.limit) == (old, old * 1.5 + 2.0)
    assert flag.new == pytest.approx(old * 1.5 + 2.5)
    assert OLD["run_id"] in flag.message and "limit" in flag.message


def test_tolerance_is_configurable(tmp_path: Path) -> None:
    put(tmp_path, OLD)
    new = with_recovery(NEW, time_to_zero_lag_s=12.0)
    assert not compare_with_previous(new, tmp_path, TOL).regressed
    strict = Tolerance(relative=0.1, absolute_s=0.5)  # limit 11.5
    assert [f.figure for f in compare_with_previous(new, tmp_path, strict).flags] == [
        "time_to_zero_lag_s"]


def test_never_recovered_is_flagged(tmp_path: Path) -> None:
    put(tmp_path, OLD)
    new = with_recovery(NEW, time_to_p99_baseline_s=None)
    flags = compare_with_previous(new, tmp_path, TOL).flags
    assert [(f.figure, f.old, f.new, f.limit) for f in flags] == [
        ("time_to_p99_baseline_s", 10.0, None, None)]
    assert "never recovered" in flags[0].message


def test_no_recovery_figures_at_all_flags_every_measured_time(tmp_path: Path) -> None:
    put(tmp_path, OLD)
    new = copy.deepcopy(NEW)
    new["recovery"] = None
    flagged = {f.figure for f in compare_with_previous(new, tmp_path, TOL).flags}
    assert flagged == set(regression.TIME_FIGURES_S)


def test_not_measured_before_is_not_a_baseline(tmp_path: Path) -> None:
    put(tmp_path, with_recovery(OLD, time_to_zero_lag_s=None))
    new = with_recovery(NEW, time_to_zero_lag_s=500.0)
    rep = compare_with_previous(new, tmp_path, TOL)
    assert not rep.regressed and "time_to_zero_lag_s" not in rep.compared


def test_lost_from_zero_is_flagged_but_not_from_nonzero(tmp_path: Path) -> None:
    put(tmp_path, OLD)
    new = copy.deepcopy(NEW)
    new["verify"]["counts"]["lost"] = 1
    flags = compare_with_previous(new, tmp_path, TOL).flags
    assert [(f.figure, f.old, f.new, f.limit) for f in flags] == [("lost", 0.0, 1.0, 0.0)]

    other = tmp_path / "b"
    old = copy.deepcopy(OLD)
    old["verify"]["counts"]["lost"] = 3
    put(other, old)
    new["verify"]["counts"]["lost"] = 9  # already failing: the verdict says so, not a regression
    assert not compare_with_previous(new, other, TOL).regressed


def test_duplicates_beyond_relative_tolerance(tmp_path: Path) -> None:
    old = copy.deepcopy(OLD)
    old["verify"]["counts"]["duplicates"] = 10
    put(tmp_path, old)
    new = copy.deepcopy(NEW)
    new["verify"]["counts"]["duplicates"] = 15
    assert not compare_with_previous(new, tmp_path, TOL).regressed
    new["verify"]["counts"]["duplicates"] = 16
    assert [f.figure for f in compare_with_previous(new, tmp_path, TOL).flags] == ["duplicates"]


def test_no_verify_report_now_is_flagged(tmp_path: Path) -> None:
    put(tmp_path, OLD)
    new = copy.deepcopy(NEW)
    new["verify"] = {"passed": False, "counts": {}}
    assert {f.figure for f in compare_with_previous(new, tmp_path, TOL).flags} == {
        "lost", "duplicates"}


def test_ack_p99_only_when_both_runs_have_it(tmp_path: Path) -> None:
    old = copy.deepcopy(OLD)
    del old["ack_p99_ms"]
    put(tmp_path, old)
    new = copy.deepcopy(NEW)
    new["ack_p99_ms"] = 99999.0
    rep = compare_with_previous(new, tmp_path, TOL)
    assert "ack_p99_ms" not in rep.compared and not rep.regressed

    other = tmp_path / "b"
    put(other, OLD)
    assert [f.figure for f in compare_with_previous(new, other, TOL).flags] == ["ack_p99_ms"]


def test_the_newest_earlier_comparable_run_is_chosen(tmp_path: Path) -> None:
    older = make("20251231T000000Z-broker-kill", "2025-12-31T00:00:00+00:00")
    put(tmp_path, older)
    put(tmp_path, OLD)
    put(tmp_path, make("20260103T000000Z-broker-kill", "2026-01-03T00:00:00+00:00"))  # later
    put(tmp_path, make("20260101T120000Z-broker-kill", "2026-01-01T12:00:00+00:00",
                       engine="tansu"))
    put(tmp_path, make("20260101T130000Z-broker-kill", "2026-01-01T13:00:00+00:00",
                       topology="mirrored"))
    put(tmp_path, make("20260101T140000Z-broker-kill", "2026-01-01T14:00:00+00:00",
                       target="aws-gcp"))
    put(tmp_path, make("20260101T150000Z-link-sever", "2026-01-01T15:00:00+00:00",
                       experiment="link-sever"))
    put(tmp_path, make("20260101T160000Z-broker-kill", "2026-01-01T16:00:00+00:00",
                       chaos={"interrupted_by": "SIGINT"}))
    put(tmp_path, make("20260101T180000Z-broker-kill", "2026-01-01T18:00:00+00:00",
                       params={"hold_s": 20, "rate": 200, "security": "sasl-tls"}))
    (tmp_path / "20260101T170000Z-broker-kill").mkdir()  # no summary: still running / crashed
    put(tmp_path, NEW)
    assert compare_with_previous(NEW, tmp_path, TOL).previous_run_id == OLD["run_id"]


def test_a_secured_run_compares_with_the_previous_secured_run_only(tmp_path: Path) -> None:
    secured = {"hold_s": 20, "rate": 200, "security": "sasl-tls"}
    put(tmp_path, make("20251231T000000Z-broker-kill", "2025-12-31T00:00:00+00:00",
                       params=secured))
    put(tmp_path, OLD)  # recorded before `security` was: off
    put(tmp_path, make("20260101T120000Z-broker-kill", "2026-01-01T12:00:00+00:00",
                       params={**secured, "security": "off"}))
    new = make("20260102T000000Z-broker-kill", "2026-01-02T00:00:00+00:00", params=secured)
    assert compare_with_previous(new, tmp_path, TOL).previous_run_id == "20251231T000000Z-broker-kill"
    assert compare_with_previous(NEW, tmp_path, TOL).previous_run_id == "20260101T120000Z-broker-kill"


def test_an_unreadable_previous_run_is_skipped(tmp_path: Path) -> None:
    put(tmp_path, OLD)
    bad = tmp_path / "20260101T120000Z-broker-kill"
    bad.mkdir()
    (bad / "summary.json").write_text("{not json")
    locked = put(tmp_path, make("20260101T130000Z-broker-kill", "2026-01-01T13:00:00+00:00"))
    (locked / "summary.json").chmod(0)
    listed = put(tmp_path, make("20260101T140000Z-broker-kill", "2026-01-01T14:00:00+00:00"))
    (listed / "summary.json").write_text("[1, 2]")
    try:
        rep = compare_with_previous(NEW, tmp_path, TOL)
    finally:
        (locked / "summary.json").chmod(0o644)
    root = os.geteuid() == 0  # root reads a mode-0 file: then it is simply the previous run
    assert rep.previous_run_id == (locked.name if root else OLD["run_id"])
    skipped = {s.split(":")[0] for s in rep.skipped_runs}
    expected = {bad.name, listed.name} | (set() if root else {locked.name})
    assert expected <= skipped


def test_params_changed_are_reported(tmp_path: Path) -> None:
    put(tmp_path, OLD)
    new = copy.deepcopy(NEW)
    new["params"]["hold_s"] = 30
    assert compare_with_previous(new, tmp_path, TOL).params_changed == {"hold_s": [20, 30]}


def test_to_summary_shape(tmp_path: Path) -> None:
    put(tmp_path, OLD)
    new = with_recovery(NEW, time_to_zero_lag_s=60.0)
    block = compare_with_previous(new, tmp_path, TOL).to_summary()
    assert block["previous_run_id"] == OLD["run_id"] and block["regressed"] is True
    assert block["flags"][0]["figure"] == "time_to_zero_lag_s"
    assert block["flags"][0] | {} == {"figure": "time_to_zero_lag_s", "old": 10.0,
                                      "new": 60.0, "limit": 17.0,
                                      "message": block["flags"][0]["message"]}
    assert block["tolerance"] == {"relative": 0.5, "absolute_s": 2.0}
    json.dumps(block)


def test_the_real_fixture_run_compares_with_itself_as_previous(tmp_path: Path) -> None:
    fixture = next((Path(__file__).parents[1] / "fixtures" / "runs").glob("*/summary.json"))
    old = json.loads(fixture.read_text())
    put(tmp_path, old)
    new = copy.deepcopy(old)
    new["run_id"], new["started_at"] = "20991231T000000Z-broker-kill", "2099-12-31T00:00:00+00:00"
    rep = compare_with_previous(new, tmp_path, TOL)
    assert rep.previous_run_id == old["run_id"] and not rep.regressed
    assert "time_to_zero_lag_s" in rep.compared and "ack_p99_ms" not in rep.compared


# ---- tolerance in slo.yaml ----------------------------------------------------------------

def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "slo.yaml"
    p.write_text(text)
    return p


def test_tolerance_defaults_when_the_block_is_absent(tmp_path: Path) -> None:
    t = slo.load(write(tmp_path, "defaults:\n  max_lost: 0\n")).regression
    assert (t.relative, t.absolute_s) == (0.5, 2.0)


def test_tolerance_is_parsed(tmp_path: Path) -> None:
    t = slo.load(write(tmp_path, "regression:\n  relative: 0.25\n  absolute_s: 1\n")).regression
    assert (t.relative, t.absolute_s) == (0.25, 1.0)
    assert t.limit_s(10) == 13.5
    partial = slo.load(write(tmp_path, "regression:\n  relative: 1\n")).regression
    assert (partial.relative, partial.absolute_s) == (1.0, 2.0)


def test_the_repo_slo_file_has_a_tolerance() -> None:
    root = Path(__file__).resolve().parents[2]
    shipped = yaml.safe_load((root / "slo.yaml").read_text())["regression"]
    t = slo.load(root / "slo.yaml").regression
    assert (t.relative, t.absolute_s) == (shipped["relative"], shipped["absolute_s"])


def test_unknown_tolerance_field_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"regression\.absolute: unknown field"):
        slo.load(write(tmp_path, "regression:\n  absolute: 2\n"))


def test_negative_tolerance_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"regression\.relative"):
        slo.load(write(tmp_path, "regression:\n  relative: -1\n"))


# ---- the runner's summary block -----------------------------------------------------------

def test_runner_block_records_flags(tmp_path: Path) -> None:
    from riftdrill.chaos import runner

    put(tmp_path, OLD)
    block = runner.regressions_block(with_recovery(NEW, time_to_zero_lag_s=60.0), tmp_path, TOL)
    assert block["regressed"] is True and block["previous_run_id"] == OLD["run_id"]


def test_runner_block_never_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from riftdrill.chaos import runner

    def boom(*a: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(runner, "compare_with_previous", boom)
    block = runner.regressions_block(NEW, tmp_path, TOL)
    assert block["regressed"] is False and "disk on fire" in block["error"]


def test_the_worst_partition_is_compared_when_both_runs_measured_it(tmp_path: Path) -> None:
    old = with_recovery(OLD, worst_partition_unavailability_s=9.7)
    put(tmp_path, old)
    new = with_recovery(NEW, worst_partition_unavailability_s=20.0)  # > 9.7 * 1.5 + 2
    rep = compare_with_previous(new, tmp_path, TOL)
    assert "worst_partition_unavailability_s" in rep.compared
    assert [f.figure for f in rep.flags] == ["worst_partition_unavailability_s"]
    assert rep.flags[0].limit == 16.55
    # a previous run written before the figure existed is no baseline for it
    older = copy.deepcopy(OLD)
    del older["recovery"]["worst_partition_unavailability_s"]
    put(tmp_path / "older", older)
    rep = compare_with_previous(new, tmp_path / "older", TOL)
    assert "worst_partition_unavailability_s" not in rep.compared and not rep.flags


def test_a_soak_of_another_length_is_reported_as_changed(tmp_path: Path) -> None:
    """An hour's soak compared with a 3-minute one: its time figures are not like for like."""
    old = copy.deepcopy(OLD)
    old["params"].update(soak_s=180, interval_s=10, kinds="broker-kill")
    put(tmp_path, old)
    new = copy.deepcopy(NEW)
    new["params"].update(soak_s=3600, interval_s=10, kinds="broker-kill,link-flap")
    assert compare_with_previous(new, tmp_path, TOL).params_changed == {
        "soak_s": [180, 3600], "kinds": ["broker-kill", "broker-kill,link-flap"]}
