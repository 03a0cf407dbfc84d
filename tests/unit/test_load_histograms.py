"""HDR histograms: merged per-second histograms equal one whole-run histogram; units are ms."""

import json
from pathlib import Path

import pytest

from riftdrill.load import aggregate, histograms
from riftdrill.load.metrics import ProcessMetrics


def test_merge_of_encoded_parts_equals_the_whole() -> None:
    whole = histograms.new_histogram()
    parts = []
    for part in range(4):
        h = histograms.new_histogram()
        for v in range(part * 1000 + 1, part * 1000 + 1001):
            histograms.record_us(h, v)
            histograms.record_us(whole, v)
        parts.append(histograms.encode(h))
    merged = histograms.merge(parts)
    assert merged.get_total_count() == whole.get_total_count() == 4000
    assert histograms.summary_ms(merged) == histograms.summary_ms(whole)
    assert histograms.summary_ms(merged)["p50"] == 2.0  # us recorded, ms reported


def test_out_of_range_samples_are_clamped_not_dropped() -> None:
    h = histograms.new_histogram()
    histograms.record_us(h, -5)
    histograms.record_us(h, 10**13)
    assert h.get_total_count() == 2


def test_empty_summary_has_counts_and_no_percentiles() -> None:
    s = histograms.summary_ms(histograms.new_histogram())
    assert s["count"] == 0 and s["p99"] is None and s["max"] is None


def test_finalize_merges_processes_by_second(tmp_path: Path) -> None:
    load_dir = tmp_path / "load"
    for w in ("aws-0-1", "gcp-1-2"):
        m = ProcessMetrics(load_dir / "workers" / w / "metrics.jsonl")
        for _ in range(10):
            m.sent(100)
            m.acked(5000)
        m.failed()
        m.consumed(7000)
        m.close()
    summary = aggregate.finalize(load_dir, {"target_count": 20})
    assert (summary["sent"], summary["acked"], summary["failed"], summary["consumed"]) == (20, 20, 2, 2)
    assert summary["processes"] == 2 and summary["target_count"] == 20
    assert summary["ack_latency_ms"]["p99"] == pytest.approx(5.0, rel=1e-3)
    timeline = json.loads((load_dir / "timeline.json").read_text())
    assert sum(r["acked"] for r in timeline) == 20
    hists = json.loads((load_dir / "histograms.json").read_text())
    assert histograms.decode(hists["whole_run"]["ack_latency_us"]).get_total_count() == 20
