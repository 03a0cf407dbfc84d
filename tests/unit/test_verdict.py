"""The drill verdict on crafted journals (shaped like chaostoolkit-lib 1.44 writes them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from riftdrill.chaos.verdict import decide, load_journal
from riftdrill.errors import RiftdrillError
from riftdrill.verify.contract import Contract, Profile
from riftdrill.verify.report import Anomaly, PartitionResult, VerifyReport


def activity(name: str, kind: str = "action", ok: bool = True) -> dict[str, Any]:
    run: dict[str, Any] = {"activity": {"type": kind, "name": name}, "output": None,
                           "status": "succeeded" if ok else "failed", "duration": 0.1}
    if not ok:
        run["exception"] = ["Traceback ...\n", "ActivityFailed: broker aws-1 not found\n"]
    if kind == "probe":
        run["tolerance_met"] = ok
    return run


def state(met: bool, probe: str = "cluster-healthy") -> dict[str, Any]:
    return {"steady_state_met": met, "probes": [activity(probe, "probe", ok=met)]}


def journal(**over: Any) -> dict[str, Any]:
    j: dict[str, Any] = {
        "status": "completed", "deviated": False,
        "experiment": {"title": "kill a broker", "steady-state-hypothesis": {"title": "h"}},
        "steady_states": {"before": state(True), "after": state(True), "during": []},
        "run": [activity("kill-broker"), activity("measure", "probe")],
        "rollbacks": [activity("restart-broker")],
    }
    j.update(over)
    return j


def test_clean_pass() -> None:
    v = decide(journal())
    assert v.passed and v.reasons == [] and v.checked == ["journal"]


def test_failed_fault_action_fails_although_chaos_says_completed() -> None:
    v = decide(journal(run=[activity("kill-broker", ok=False)]))
    assert not v.passed
    assert "fault action 'kill-broker' failed, so the fault never happened" in v.reasons[0]
    assert "broker aws-1 not found" in v.reasons[0]
    assert any("tested nothing" in r for r in v.reasons)


def test_failed_before_hypothesis_is_an_invalid_drill() -> None:
    v = decide(journal(steady_states={"before": state(False, "isr-full"), "after": None},
                       run=[], rollbacks=[]))
    assert not v.passed
    assert v.reasons == ["invalid drill: steady state was not met before the fault (probes: "
                         "isr-full); the cluster was unhealthy to begin with"]


def test_deviated_fails() -> None:
    v = decide(journal(deviated=True, steady_states={"before": state(True),
                                                    "after": state(False, "acks-flow")}))
    assert not v.passed
    assert v.reasons == ["steady state deviated after the fault (probes: acks-flow)"]


def test_rollback_failure_fails_and_says_heal() -> None:
    v = decide(journal(rollbacks=[activity("restart-broker", ok=False)]))
    assert not v.passed
    assert "riftdrill heal" in v.reasons[0] and "restart-broker" in v.reasons[0]


def test_interrupted_and_probe_failures_fail() -> None:
    v = decide(journal(status="interrupted",
                       run=[activity("kill-broker"), activity("measure", "probe", ok=False)]))
    assert v.reasons[0] == "the chaos run was interrupted"
    assert v.reasons[1].startswith("method probe 'measure' failed")


def test_no_action_at_all_fails() -> None:
    assert not decide(journal(run=[activity("measure", "probe")])).passed


def report(profile: Profile = "idempotent", **totals: int) -> VerifyReport:
    anomalies = {k: Anomaly(count=n, offsets=[(0, n - 1)]) for k, n in totals.items()}
    part = PartitionResult(cluster="main", topic="t", partition=0, low_watermark=0,
                           high_watermark=10, read=10, acked=10, anomalies=anomalies)
    return VerifyReport(run_dir="results/runs/r1", partitions=[part]).finish(
        Contract(profile=profile))


def test_verify_counts_combine() -> None:
    v = decide(journal(), verify=report(lost=3, duplicates=2))
    assert not v.passed
    assert v.reasons == ["verify: 3 lost, 2 duplicates (see results/runs/r1/verify.json)"]
    legacy = decide(journal(), verify=report("legacy", lost=3, duplicates=2))
    assert legacy.reasons == ["verify: 3 lost (see results/runs/r1/verify.json)"]
    assert decide(journal(), verify=report("legacy", duplicates=2)).passed
    assert not decide(journal(), verify=report(duplicates=2)).passed


def test_load_journal(tmp_path: Path) -> None:
    p = tmp_path / "journal.json"
    p.write_text(json.dumps(journal()))
    assert load_journal(p)["status"] == "completed"
    p.write_text("{not json")
    with pytest.raises(RiftdrillError, match="unreadable"):
        load_journal(p)
