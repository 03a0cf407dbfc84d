"""The report's figures, prepared from a run (report/series.py) and laid out (report/render.py):
x from the fault start, one series per cloud (never summed across clouds), fault windows shaded,
the headline box and the timeline first, a glossary, and old runs still rendering."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest

from riftdrill.chaos.summary import RunSummary
from riftdrill.load import histograms
from riftdrill.load.ledger import LedgerWriter
from riftdrill.load.metrics import SecondBucket
from riftdrill.report import plots
from riftdrill.report.render import render_all
from riftdrill.report.runs import load_run
from riftdrill.report.series import (
    ALL_CLOUDS,
    PartitionHeat,
    PartitionRow,
    cloud_totals,
    run_series,
    worker_cloud,
)
from tests.fixtures.report.build import build_run

ROOT = Path(__file__).resolve().parents[2]
T = 1_800_000_000  # the first second of the synthetic run
FAULT_S = (T + 10.0, T + 20.0)


def _line(t: int, acked: int, failed: int, ack_ms: float, lag: int | None = None) -> str:
    b = SecondBucket(t)
    for _ in range(acked):
        b.acked += 1
        histograms.record_us(b.hists["ack_latency"], ack_ms * 1000)
        histograms.record_us(b.hists["e2e_latency"], ack_ms * 2000)
    b.sent = acked + failed
    b.failed = failed
    return json.dumps(b.to_json(lag))


def _summary(**extra: Any) -> RunSummary:
    return RunSummary.model_validate({
        "run_id": "20270115T080000Z-link-sever", "experiment": "link-sever", "engine": "kafka",
        "started_at": "2027-01-15T08:00:00+00:00", "ended_at": "2027-01-15T08:00:30+00:00",
        "fault_windows": [{"kind": "sever_link", "target": "aws-gcp", "start_s": FAULT_S[0],
                           "end_s": FAULT_S[1]}],
        "recovery": {"fault_start_ns": int(FAULT_S[0] * 1e9), "fault_end_ns": int(FAULT_S[1] * 1e9),
                     "run_end_ns": int((T + 30) * 1e9), "worst_time_to_first_ack_s": 12.0,
                     "unavailability_s": {"aws": 0.5, "gcp": 12.0}},
        **extra})


def _write_synthetic(run_dir: Path) -> None:
    """30 s; aws has two load processes (summed per second), gcp one that is cut off from 10 s
    to 22 s (no acks, failed sends)."""
    workers = run_dir / "load" / "workers"
    lines: dict[str, list[str]] = {"aws-0-100": [], "aws-2-102": [], "gcp-1-101": []}
    for i in range(30):
        lines["aws-0-100"].append(_line(T + i, 50, 0, 4.0, lag=1))
        lines["aws-2-102"].append(_line(T + i, 25, 0, 4.0, lag=2))
        cut = 10 <= i < 22
        lines["gcp-1-101"].append(_line(T + i, 0 if cut else 100, 7 if cut else 0, 9.0, lag=3))
    for name, ls in lines.items():
        (workers / name).mkdir(parents=True)
        (workers / name / "metrics.jsonl").write_text("\n".join(ls) + "\n")


def test_series_are_per_cloud_from_the_fault_start_with_the_window_shaded(tmp_path: Path) -> None:
    _write_synthetic(tmp_path)
    s = run_series(tmp_path, _summary(), timeline=[])
    assert s.from_fault and s.t0_s == FAULT_S[0] and s.x_label == "seconds from fault start"
    assert [c.cloud for c in s.clouds] == ["aws", "gcp"]  # never one summed series
    aws, gcp = s.clouds
    # a second [t, t+1) sits at its middle; x counts from the fault start, negative before
    assert aws.x_s[0] == pytest.approx(-9.5) and aws.x_s[-1] == pytest.approx(19.5)
    assert set(aws.acked) == {75.0}  # both aws processes, summed within aws only
    assert gcp.acked[10:22] == [0.0] * 12 and gcp.acked[9] == 100.0 == gcp.acked[22]
    assert gcp.failed[10:22] == [7.0] * 12 and sum(aws.failed) == 0
    assert math.isnan(gcp.ack_p99_ms[15]) and gcp.ack_p99_ms[0] == pytest.approx(9.0, rel=0.01)
    assert aws.ack_p99_ms[0] == pytest.approx(4.0, rel=0.01)
    assert aws.lag[0] == 3.0 and gcp.lag[0] == 3.0  # lag summed over a cloud's processes
    assert [(w.start_s, w.end_s, w.label) for w in s.windows] == [(0.0, 10.0, "sever_link aws-gcp")]
    assert s.markers == [("first ack", 12.0)]
    assert s.meta() == {"x": "seconds from fault start", "series": "aws,gcp",
                        "fault-windows": "0.000:10.000"}
    # without end_to_end in the summary, end to end comes from the load, per cloud
    assert s.end_to_end is not None and s.end_to_end.source == "load"
    assert sorted(s.end_to_end.x_s) == ["aws", "gcp"]
    totals = cloud_totals({"aws": [json.loads(x) for x in
                                   (tmp_path / "load/workers/aws-0-100/metrics.jsonl")
                                   .read_text().splitlines()]})
    assert totals["aws"]["acked"] == 1500 and totals["aws"]["failed"] == 0


def test_an_open_window_runs_to_the_end_and_no_fault_counts_from_the_run_start(
        tmp_path: Path) -> None:
    _write_synthetic(tmp_path)
    open_ = _summary()
    open_.fault_windows[0].end_s = None
    s = run_series(tmp_path, open_, timeline=[])
    assert s.windows[0].end_s == pytest.approx(20.0) and not s.windows[0].healed
    none = _summary(fault_windows=[], recovery=None)
    s = run_series(tmp_path, none, timeline=[{"t": T}])
    assert not s.from_fault and s.x_label == "seconds since run start" and s.windows == []
    assert s.clouds[0].x_s[0] == 0.5


def test_a_run_without_per_process_metrics_is_one_all_clouds_series(tmp_path: Path) -> None:
    timeline = [{"t": T + i, "sent": 10, "acked": 10, "failed": 0, "ack_latency_p99_ms": 3.0,
                 "consumer_lag": 5} for i in range(5)]
    s = run_series(tmp_path, _summary(), timeline)
    assert [c.cloud for c in s.clouds] == [ALL_CLOUDS]
    assert s.clouds[0].x_s[0] == -9.5 and s.clouds[0].ack_p99_ms == [3.0] * 5
    assert worker_cloud("aws-0-16053") == "aws" and worker_cloud("my-cloud-3-1") == "my-cloud"
    assert worker_cloud("aws.log") is None


def test_end_to_end_from_the_summary_is_rebased_on_the_fault_start(tmp_path: Path) -> None:
    _write_synthetic(tmp_path)
    e2e = {"per_cloud": {"gcp": {"series": [
        {"t_s": -1.0, "e2e_p99_ms": 12.0, "lag_records": 0, "consumed": 100},
        {"t_s": 5.0, "e2e_p99_ms": None, "lag_records": 600, "consumed": 0}],
        "max_lag_records": 600}}, "time_to_zero_lag_s": 14.0, "zero_lag_reason": None}
    summary = _summary(end_to_end=e2e)
    # the recovery figures' fault start is 2 s after the window's start: x is re-based
    assert summary.recovery is not None
    summary.recovery.fault_start_ns = int((FAULT_S[0] + 2) * 1e9)
    s = run_series(tmp_path, summary, timeline=[])
    assert s.end_to_end is not None and s.end_to_end.source == "end_to_end"
    assert s.end_to_end.x_s == {"gcp": [1.0, 7.0]}
    assert s.end_to_end.lag["gcp"] == [0.0, 600.0]
    assert math.isnan(s.end_to_end.e2e_p99_ms["gcp"][1])
    assert ("lag zero", 16.0) in s.markers  # from end_to_end, not the committed-offset figure


def test_partition_heat_from_the_ledgers_else_bars_from_the_summary(tmp_path: Path) -> None:
    ledgers = tmp_path / "load" / "ledgers"
    ledgers.mkdir(parents=True)
    with LedgerWriter(ledgers / "aws-p0.rdl", 0, "aws", ["t1"]) as w:
        for sec in (0, 1, 3):  # partition 1 has no ack in second 2
            for p in (0, 1):
                if not (p == 1 and sec == 1):
                    w.append_ack("t1", p, sec, None, 0, 0, int((T + sec) * 1e9),
                                 int((T + sec + 0.2) * 1e9))
    parts = [{"cluster": "main", "topic": "t1", "partition": 1, "cloud": "aws",
              "unavailability_s": 2.5, "time_to_first_ack_s": 3.0, "sends": 4, "acked": 3}]
    summary = _summary(fault_windows=[{"kind": "k", "start_s": T + 1.0, "end_s": T + 2.0}])
    assert summary.recovery is not None
    summary.recovery = summary.recovery.model_copy(update={"partitions": parts})
    s = run_series(tmp_path, summary, timeline=[])
    heat = s.partitions
    assert heat is not None and heat.source == "ledgers"
    assert heat.x_s == [-1.0, 0.0, 1.0, 2.0]
    assert [(r.label, r.acks, r.unavailability_s, r.written_from, r.written_until)
            for r in heat.rows] == [("aws t1[0]", [1, 1, 0, 1], None, 0, 3),
                                    ("aws t1[1]", [1, 0, 0, 1], 2.5, 0, 3)]
    shutil.rmtree(ledgers)
    bars = run_series(tmp_path, summary, timeline=[]).partitions
    assert bars is not None and bars.source == "summary" and bars.x_s == []
    assert [(r.label, r.unavailability_s) for r in bars.rows] == [("aws t1[1]", 2.5)]
    assert run_series(tmp_path, _summary(), timeline=[]).partitions is None


def test_heat_values_leave_unwritten_seconds_blank() -> None:
    heat = PartitionHeat([0.0, 1.0, 2.0, 3.0, 4.0], [PartitionRow("gcp", "t", 0, [0, 4, 0, 2, 0])],
                         "ledgers")
    row = plots.heat_values(heat)[0]
    assert math.isnan(row[0]) and math.isnan(row[4])  # before the first ack, after the last
    assert row[1:4] == [1.0, 0.0, 0.5]  # relative to its median second with acks (4 of 2, 4)
    # its producer still wrote (failed sends) in the last second: unavailable, not blank
    heat.rows[0].written_until = 4
    assert plots.heat_values(heat)[0][4] == 0.0
    # it was written before its first ack: unavailable from its first intended send
    heat.rows[0].written_from = 0
    assert plots.heat_values(heat)[0][0] == 0.0


def test_cluster_timeline_series(tmp_path: Path) -> None:
    lines = [{"ts_s": FAULT_S[0] + i, "partitions": [
        {"topic": "t", "partition": 0, "leader": 1, "isr": [1, 2] if i else [1], "replicas": [1, 2]}],
        "under_replicated": 0 if i else 1, "offline": 0, "controller": 1, "brokers_up": [1, 2],
        "quorum": None, "error": None} for i in range(3)]
    (tmp_path / "cluster.jsonl").write_text("\n".join(json.dumps(x) for x in lines)
                                            + "\n{torn")
    s = run_series(tmp_path, _summary(), timeline=[])
    assert s.cluster is not None
    assert s.cluster.x_s == {"": [0.0, 1.0, 2.0]}
    assert s.cluster.under_replicated[""] == [1.0, 0.0, 0.0]
    assert s.cluster.min_isr[""] == [1.0, 2.0, 2.0] and s.cluster.brokers_up[""] == [2.0] * 3


def test_a_report_opens_with_the_headline_and_the_timeline_and_ends_with_a_glossary(
        tmp_path: Path) -> None:
    res = tmp_path / "results"
    run_dir = build_run(res / "runs", "20260528T202710Z-sever-link-kafka")
    (run_dir / "cluster.jsonl").write_text(json.dumps(
        {"ts_s": 1_780_000_070.0, "partitions": [], "under_replicated": 2, "offline": 0,
         "controller": 1, "brokers_up": [1, 2, 3], "quorum": None, "error": None}) + "\n")
    # the later writers' fields: per-partition figures (R1), end to end (R2)
    raw = json.loads((run_dir / "summary.json").read_text())
    raw["recovery"].update({
        "partitions": [{"cluster": "main", "topic": "riftdrill", "partition": 2, "cloud": "gcp",
                        "unavailability_s": 17.25, "time_to_first_ack_s": 17.5, "sends": 600,
                        "acked": 560}],
        "worst_partition_unavailability_s": 17.25, "worst_partition": "riftdrill[2]@gcp",
        "partitions_affected": 1,
        "per_cloud": {"gcp": {"worst_partition_unavailability_s": 17.25,
                              "partitions_affected": 1, "time_to_first_ack_s": 17.5}}})
    raw["end_to_end"] = {"per_cloud": {"gcp": {"series": [
        {"t_s": 1.0, "e2e_p99_ms": None, "lag_records": 640, "consumed": 0}],
        "max_lag_records": 640}}, "time_to_zero_lag_s": 21.5}
    (run_dir / "summary.json").write_text(json.dumps(raw))
    render_all(res, None)
    md = (run_dir / "report.md").read_text()
    headline = md[md.index("## Headline"):md.index("## Timeline")]
    gcp = next(line for line in headline.splitlines() if line.startswith("| gcp |"))
    assert "| 17.25 s |" in gcp and gcp.endswith("| 640 |")
    assert "worst partition riftdrill[2]@gcp (17.25 s), 1 partitions affected" in headline
    assert "time to zero lag 21.5 s" in headline
    assert "| gcp | riftdrill[2] | 17.25 s | 17.5 s | 600 | 560 |" in md
    sections = [line for line in md.splitlines() if line.startswith("## ")]
    assert sections[:3] == ["## Headline", "## Timeline", "## Verdict"]
    assert "## Glossary" in sections
    assert "| cloud | unavailable (cloud-wide) | worst partition unavailable |" in md
    assert "| aws |" in md and "| gcp |" in md and f"| {ALL_CLOUDS} |" in md
    html = (run_dir / "report.html").read_text()
    assert '<section class="headline" id="headline">' in html
    assert html.index('id="headline"') < html.index('id="plot-timeline"') < html.index(
        "<h2>Verdict</h2>")
    assert 'data-series="aws,gcp"' in html and 'data-x="seconds from fault start"' in html
    assert 'data-fault-windows="0.000:15.000"' in html
    run = load_run(run_dir)
    s = run_series(run.run_dir, run.summary, run.timeline)
    assert s.cluster is not None and s.partitions is not None and s.partitions.source == "ledgers"


def test_a_sample_of_the_committed_runs_still_renders(tmp_path: Path) -> None:
    """The oldest and the newest published run (shapes before and after per-process metrics)."""
    runs = sorted(p for p in (ROOT / "results" / "runs").iterdir() if p.is_dir())
    sample = [runs[0], runs[-1]]
    assert not (runs[0] / "load" / "workers").is_dir()  # the old shape: one merged timeline
    res = tmp_path / "results"
    for r in sample:
        shutil.copytree(r, res / "runs" / r.name, ignore=shutil.ignore_patterns("*.rdl", "*.rdc"))
    out = render_all(res, None)
    assert out.skipped == []
    for r in sample:
        d = res / "runs" / r.name
        assert (d / "plots" / "timeline.png").stat().st_size > 5000
        html = (d / "report.html").read_text()
        assert 'id="plot-timeline"' in html and 'data-x="seconds from fault start"' in html
        assert "<h2>Glossary</h2>" in html
