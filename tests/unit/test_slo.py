"""slo.yaml: parsing, validation naming the bad field or experiment, and the gate."""

from __future__ import annotations

from pathlib import Path

import pytest

from riftdrill.chaos import slo
from riftdrill.chaos.recovery import RecoveryFigures
from riftdrill.errors import ValidationError
from riftdrill.load.outcomes import SendOutcomes
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


# ---- failed sends ----------------------------------------------------------------------------

def sends(acked: int, **errors: int) -> SendOutcomes:
    return SendOutcomes.from_counts(acked, errors)


CLEAN = VerifyReport(run_dir="x", totals={"lost": 0})


def test_failed_send_ratio_over_the_bound_is_a_violation() -> None:
    b = slo.ExperimentSlo(max_failed_send_ratio=0.25)
    [v] = slo.check(b, None, CLEAN, 0, sends=sends(70, _MSG_TIMED_OUT=29, NOT_ENOUGH_REPLICAS=1))
    assert (v.bound, v.limit, v.measured, v.over_by) == ("max_failed_send_ratio", 0.25, 0.3, 0.05)
    assert v.message == ("SLO max_failed_send_ratio <= 0.25: 30.00% of sends failed (30 of 100: "
                         "NOT_ENOUGH_REPLICAS 1, _MSG_TIMED_OUT 29), over by 5.00%")


def test_failed_send_ratio_within_or_at_the_bound_holds() -> None:
    b = slo.ExperimentSlo(max_failed_send_ratio=0.3)
    assert slo.check(b, None, CLEAN, 0, sends=sends(70, _MSG_TIMED_OUT=30)) == []
    assert slo.check(slo.ExperimentSlo(max_failed_send_ratio=0.0), None, CLEAN, 0,
                     sends=sends(100)) == []


def test_missing_send_figure_violates_a_set_bound() -> None:
    b = slo.ExperimentSlo(max_failed_send_ratio=0.5)
    [v] = slo.check(b, None, CLEAN, 0, sends=None)
    assert (v.bound, v.limit, v.measured, v.over_by) == ("max_failed_send_ratio", 0.5, None, None)
    assert "no producer ledger could be read" in v.message
    [v] = slo.check(b, None, CLEAN, 0, sends=sends(0))  # nothing answered: no evidence either
    assert v.measured is None and "no send got an answer" in v.message
    # without a bound the figure is not needed
    assert slo.check(slo.ExperimentSlo(), None, CLEAN, 0, sends=None) == []


def test_failed_send_ratio_must_be_between_0_and_1(tmp_path: Path) -> None:
    for bad in ("1.5", "-0.1"):
        p = write(tmp_path, f"experiments:\n  link-sever: {{max_failed_send_ratio: {bad}}}\n")
        with pytest.raises(ValidationError, match=r"experiments\.link-sever\.max_failed_send_ratio"):
            slo.load(p, {"link-sever"})


def test_max_unseen_is_gone(tmp_path: Path) -> None:
    p = write(tmp_path, "defaults: {max_unseen: 0}\n")
    with pytest.raises(ValidationError, match=r"defaults\.max_unseen: unknown field"):
        slo.load(p)


def test_the_repo_bounds_failed_sends_for_every_experiment() -> None:
    """A drill without its own bound gets the default, which tolerates almost no failure."""
    names = {p.stem for p in (ROOT / "experiments").glob("*.json")}
    parsed = slo.load(ROOT / "slo.yaml", names)
    default = parsed.defaults.max_failed_send_ratio
    assert default is not None and default <= 0.001
    for name in names:
        bound = slo.bounds_for(parsed, name).max_failed_send_ratio
        assert bound is not None and 0 <= bound < 0.5, name
    assert slo.bounds_for(parsed, "broker-kill").max_failed_send_ratio == 0.005
    assert slo.bounds_for(parsed, "link-sever").max_failed_send_ratio == 0.35


def test_the_captured_broker_kill_run_meets_its_failed_send_bound() -> None:
    """Calibration data that is committed with its ledgers: a correct Kafka broker-kill."""
    from riftdrill.load.outcomes import send_outcomes

    run = ROOT / "tests" / "fixtures" / "runs" / "20261124T225246Z-broker-kill"
    figure = send_outcomes(run)
    assert (figure.attempted, figure.failed) == (2594, 0)
    bound = slo.bounds_for(slo.load(ROOT / "slo.yaml"), "broker-kill").max_failed_send_ratio
    bounds = slo.ExperimentSlo(max_failed_send_ratio=bound)
    assert slo.check(bounds, None, CLEAN, 8, sends=figure) == []
    # ...and the bound would catch Tansu's broker-kill figure (164 of 17002 sends timed out)
    [v] = slo.check(bounds, None, CLEAN, 30, sends=sends(16838, _MSG_TIMED_OUT=164))
    assert v.bound == "max_failed_send_ratio"


AUTHZ = ["TOPIC_AUTHORIZATION_FAILED", "CLUSTER_AUTHORIZATION_FAILED",
         "TRANSACTIONAL_ID_AUTHORIZATION_FAILED"]


def test_sends_failing_only_with_allowed_codes_hold() -> None:
    b = slo.ExperimentSlo(allowed_send_errors=AUTHZ, min_failed_sends=1)
    assert slo.check(b, None, CLEAN, 0, sends=sends(70, TOPIC_AUTHORIZATION_FAILED=30)) == []


def test_a_send_failing_with_a_code_outside_the_allow_list_is_a_violation() -> None:
    b = slo.ExperimentSlo(allowed_send_errors=AUTHZ)
    [v] = slo.check(b, None, CLEAN, 0, sends=sends(
        70, TOPIC_AUTHORIZATION_FAILED=27, _MSG_TIMED_OUT=2, _PURGE_QUEUE=1))
    assert (v.bound, v.limit, v.measured) == ("allowed_send_errors", 0, 3)
    assert v.message.startswith("SLO allowed_send_errors: 3 send(s) failed with a code this "
                                "drill does not allow (_MSG_TIMED_OUT 2, _PURGE_QUEUE 1)")
    # an empty list allows no failure at all; no list allows any code
    [v] = slo.check(slo.ExperimentSlo(allowed_send_errors=[]), None, CLEAN, 0,
                    sends=sends(9, TOPIC_AUTHORIZATION_FAILED=1))
    assert "allowed: none" in v.message
    assert slo.check(slo.ExperimentSlo(), None, CLEAN, 0, sends=sends(9, _MSG_TIMED_OUT=1)) == []


def test_a_fault_no_send_saw_breaks_min_failed_sends() -> None:
    b = slo.ExperimentSlo(allowed_send_errors=AUTHZ, min_failed_sends=1)
    [v] = slo.check(b, None, CLEAN, 0, sends=sends(100))
    assert (v.bound, v.limit, v.measured) == ("min_failed_sends", 1, 0)
    assert "the producers never saw the fault" in v.message
    # without send outcomes neither bound can be shown to hold
    assert [v.bound for v in slo.check(b, None, CLEAN, 0, sends=None)] == [
        "allowed_send_errors", "min_failed_sends"]


def test_lost_records_fail_whatever_the_send_errors_allow() -> None:
    b = slo.ExperimentSlo(allowed_send_errors=AUTHZ, min_failed_sends=1)
    lost = VerifyReport(run_dir="x", totals={"lost": 2})
    [v] = slo.check(b, None, lost, 0, sends=sends(70, TOPIC_AUTHORIZATION_FAILED=30))
    assert v.bound == "max_lost"


def test_an_allow_list_entry_must_be_a_librdkafka_error_name(tmp_path: Path) -> None:
    p = write(tmp_path, "experiments:\n  x:\n    allowed_send_errors: [topic authorization]\n")
    with pytest.raises(ValidationError, match="not a librdkafka error name"):
        slo.load(p)


def test_the_acl_drill_allows_only_authorization_errors_and_needs_one() -> None:
    names = {p.stem for p in (ROOT / "experiments").glob("*.json")}
    b = slo.bounds_for(slo.load(ROOT / "slo.yaml", names), "acl-revoke")
    assert b.allowed_send_errors == AUTHZ and b.min_failed_sends == 1 and b.max_lost == 0
    # every other drill allows any code, as before
    assert slo.bounds_for(slo.load(ROOT / "slo.yaml", names), "broker-kill"
                          ).allowed_send_errors is None
