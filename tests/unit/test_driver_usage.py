"""What a drill used is measured behind the driver (drivers/usage.py): the runner diffs the
driver's snapshots, the same code for every target."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from riftdrill.chaos import runner
from riftdrill.chaos.slo import ExperimentSlo, Tolerance
from riftdrill.chaos.verdict import Verdict
from riftdrill.drivers.base import Driver
from riftdrill.drivers.cloud import CloudDriver
from riftdrill.drivers.local import LocalDriver
from riftdrill.inventory import Inventory
from riftdrill.redact import PATTERNS_ONLY
from tests.unit.test_chaos_targets import inv

S3_BEFORE = {"cloud": "aws", "api": "s3", "objects": 1, "stored_bytes": 10,
             "requests": {"put": 1, "get": 0, "other": 0, "bytes_in": 10}}
S3_AFTER = {"cloud": "aws", "api": "s3", "objects": 3, "stored_bytes": 70,
            "requests": {"put": 4, "get": 2, "other": 0, "bytes_in": 70}}


class LabLike:
    """A driver that measures, like the lab's."""

    def __init__(self) -> None:
        self.recording = False

    def link_counters(self, inv: Inventory) -> dict[str, dict[str, int]]:
        return {"aws-to-gcp": {"bytes": 30, "packets": 3}}

    def start_store_recording(self, inv: Inventory) -> None:
        self.recording = True

    def store_snapshot(self, inv: Inventory) -> dict[str, dict[str, Any]]:
        return {"aws-s3": S3_AFTER}


def _finish(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, driver: Any,
            stores_before: dict[str, Any]) -> dict[str, Any]:
    monkeypatch.setattr(runner, "observer_for", lambda inv: driver)
    # verdict, recovery, verify report, violations, fault windows, sends, end to end
    monkeypatch.setattr(runner, "judge", lambda *a: runner.Judgement(
        Verdict(passed=True), None, None, [], [], None, None))
    run = tmp_path / "runs" / "20260101T000000Z-broker-kill"
    run.mkdir(parents=True)
    start = runner.DrillStart(
        name="broker-kill", experiment={"title": "T"}, params={"hold_s": 1}, inv=inv(),
        bounds=ExperimentSlo(), tolerance=Tolerance(), started_at="2026-01-01T00:00:00+00:00",
        counters_before={"aws-to-gcp": {"bytes": 10, "packets": 1}}, stores_before=stores_before,
        redactor=PATTERNS_ONLY)
    result = runner.finish_drill(run, start, runner.ChaosOutcome(returncode=0,
                                                                 interrupted_by=None, seconds=1))
    written = json.loads((run / "summary.json").read_text())
    assert written == json.loads(json.dumps(result.summary, default=str))
    return written


def test_the_runner_diffs_what_the_driver_measured(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    s = _finish(tmp_path, monkeypatch, LabLike(), {"aws-s3": S3_BEFORE})
    assert s["link_bytes"] == {"aws-to-gcp": {"bytes": 20, "packets": 2}}
    assert s["store_usage"]["aws-s3"] | {} == {
        "cloud": "aws", "api": "s3", "objects": 3, "stored_bytes": 70, "put": 3, "get": 2,
        "other": 0, "bytes_in": 60, "requests_measured": True, "method": "moto request recording"}


def test_a_target_that_measures_nothing_writes_no_store_usage(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = _finish(tmp_path, monkeypatch, CloudDriver(), {})
    assert s["link_bytes"] == {}
    assert "store_usage" not in s  # as before drivers measured: the cost report says so


def test_the_cloud_driver_measures_nothing_and_touches_no_cloud() -> None:
    d: Driver = CloudDriver()
    assert d.link_counters(inv()) == {} and d.store_snapshot(inv()) == {}
    d.start_store_recording(inv())


def test_the_lab_driver_never_fails_a_drill_over_a_measurement(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from riftdrill.lab import net

    def no_lab() -> dict[str, dict[str, int]]:
        raise OSError("no rd-wan namespace")

    monkeypatch.setattr(net, "link_counters", no_lab)
    d: Driver = LocalDriver()
    assert d.link_counters(inv()) == {}
    assert d.store_snapshot(inv()) == {}  # this inventory has no stores
