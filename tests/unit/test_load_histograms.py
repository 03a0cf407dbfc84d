"""HDR histograms: merged per-second histograms equal one whole-run histogram; units are ms."""

import json
from pathlib import Path

import pytest

from riftdrill.load import aggregate, histograms
from riftdrill.load.metrics import ProcessMetrics, SecondBucket


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


def test_generator_figures_are_per_process_second_and_the_timeline_sums_them(
        tmp_path: Path) -> None:
    # Two processes' lines for the same seconds: the timeline sums their main threads' CPU and
    # wait per second; the generator block judges each process's own seconds (a starved one
    # waited STARVED_MS or more); old lines carry no figures.
    workers = tmp_path / "load" / "workers"
    for name, waits in (("aws-0-1", [0.5, 6.0, 0.0]), ("gcp-0-2", [1.5, 2.0, None])):
        lines = []
        for i, w in enumerate(waits):
            b = SecondBucket(1_800_000_000 + i)
            if w is not None:
                b.main_cpu_ms, b.main_wait_ms = 100.0, w
            lines.append(json.dumps(b.to_json(lag=None)))
        (workers / name).mkdir(parents=True)
        (workers / name / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    summary = aggregate.finalize(tmp_path / "load")
    g = summary["generator"]
    # per process-second: aws waited 0.5, 6.0, 0.0 ms, gcp 1.5 and 2.0 (its third line is old);
    # summed per second the second one would be 8.0 ms, but no one process waited that long
    assert g == {"process_seconds": 5, "main_cpu_s": 0.5, "main_wait_s": 0.01,
                 "wait_p99_ms_per_s": 6.0, "wait_max_ms_per_s": 6.0, "starved_seconds": 1,
                 "starved_ms": 5.0}
    timeline = json.loads((tmp_path / "load" / "timeline.json").read_text())
    assert [s["main_wait_ms"] for s in timeline] == [2.0, 8.0, 0.0]
    old = tmp_path / "old" / "load" / "workers" / "aws-0-1"
    old.mkdir(parents=True)
    (old / "metrics.jsonl").write_text(json.dumps(SecondBucket(1).to_json(lag=None)) + "\n")
    assert aggregate.finalize(tmp_path / "old" / "load")["generator"] is None


def test_schedstat_reads_this_thread_and_says_none_where_the_kernel_keeps_nothing(
        tmp_path: Path) -> None:
    import os

    from riftdrill.load import schedstat

    here = schedstat.read(os.getpid())
    if Path(f"/proc/{os.getpid()}/task/{os.getpid()}/schedstat").exists():
        assert here is not None and here.cpu_ns > 0 and here.wait_ns >= 0
    fake = tmp_path / "7" / "task" / "7"
    fake.mkdir(parents=True)
    (fake / "schedstat").write_text("3000000 1500000 4\n")
    t = schedstat.read(7, proc=tmp_path)
    assert t == schedstat.ThreadTimes(3_000_000, 1_500_000)
    assert schedstat.delta_ms(schedstat.ThreadTimes(0, 0), t) == (3.0, 1.5)
    assert schedstat.read(8, proc=tmp_path) is None


def test_record_us_counts_exactly_as_hdrh_record_value_does() -> None:
    # The inlined index arithmetic against hdrh's own, on bucket edges, clamps and a spread.
    import random

    ours, theirs = histograms.new_histogram(), histograms.new_histogram()
    rng = random.Random(3)
    edges = [0, -5, 0.4, 1, 2, 3, 1023, 1024, 2047, 2048, 4095, 4096, 65_535, 65_536,
             3_599_999_999, 3_600_000_000, 5e9]
    values = edges * 3 + [rng.lognormvariate(8, 3) for _ in range(20_000)]
    for v in values:
        histograms.record_us(ours, v)
        theirs.record_value(min(max(int(v), histograms.LOWEST_US), histograms.HIGHEST_US))
    assert histograms.encode(ours) == histograms.encode(theirs)
    assert (ours.total_count, ours.min_value, ours.max_value) == (
        theirs.total_count, theirs.min_value, theirs.max_value)
