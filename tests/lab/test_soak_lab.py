"""The soak drill's short profile on the real lab (~4.5 min): a nemesis schedule of ~15 faults
of 5 kinds over 180 s of load on kafka (each broker restart takes 30-40 s of it; CI injected 11
in 160 s), every acknowledged record accounted for, every fault window in the summary and the
report, the exact schedule in the run, nothing left injected."""

from __future__ import annotations

import json

import pytest

from riftdrill.inventory import Inventory
from tests.conftest import ROOT, riftdrill, status
from tests.lab.test_drills_lab import assert_duplicates_are_real_and_fail

pytestmark = pytest.mark.lab

SHORT_SOAK = ["--var", "soak_s=180", "--var", "interval_s=10", "--var", "fault_hold_s=4",
              "--var", "load_max_s=420", "--var", "baseline_s=8", "--var", "recovery_s=15",
              "--var", "rate=200"]


def test_a_short_soak_injects_mixed_faults_and_loses_nothing(lab: Inventory) -> None:
    proc = riftdrill("drill", "soak", *SHORT_SOAK, "--json", check=False, timeout=900)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    [summary] = json.loads(proc.stdout)
    run = ROOT / "results" / "runs" / summary["run_id"]
    record = json.loads((run / "nemesis.json").read_text())
    done = [o for o in record["outcomes"] if o["injected_at_s"] is not None]
    assert len(done) >= 10 and all(o["healed_at_s"] is not None and o["error"] is None
                                   for o in done), record["outcomes"]
    kinds = {record["faults"][o["index"]]["kind"] for o in done}
    assert len(kinds) >= 4, kinds
    # every fault is a window of the run, and the report lists each one
    assert len(summary["fault_windows"]) >= len(done), summary["fault_windows"]
    assert all(w.get("end_s") for w in summary["fault_windows"]), summary["fault_windows"]
    report = (run / "report.md").read_text()
    targets = {record["faults"][o["index"]]["target"] for o in done}
    assert all(t in report for t in targets)
    v = summary["verify"]
    assert v["counts"]["lost"] == 0 and v["acks"] > 10_000, v["counts"]
    # librdkafka's idempotent producer writes records twice after sends time out
    # (docs/findings.md): then the verdict must fail on exactly those duplicates, which the
    # run's own consumers polled twice, and on the timed-out sends behind them.
    if v["counts"]["duplicates"]:
        assert_duplicates_are_real_and_fail(proc.returncode, summary,
                                            ("SLO max_failed_send_ratio",))
    else:
        assert proc.returncode == 0 and summary["verdict"]["passed"], summary["verdict"]["reasons"]
    data = status()
    assert data["faults"] == []
    assert all(b["state"] == "running" for b in data["brokers"])  # type: ignore[index,union-attr]
    assert all(lk["state"] == "up" for lk in data["links"])  # type: ignore[index,union-attr]
