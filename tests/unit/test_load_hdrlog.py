"""HdrHistogram interval logs: hdrh's own HistogramLogReader (and Java's HistogramLogProcessor,
when Kafka's jars are there) read load/hdr/*.hlog back, and the intervals add up to the run's
whole histograms (count, max, percentiles)."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hdrh.log import HistogramLogReader

from riftdrill import paths
from riftdrill.load import hdrlog, histograms
from riftdrill.load.spec import LoadSpec
from tests.unit.load_runs import T0, write_run


def read_back(path: Path) -> tuple[list[float], object]:
    """(interval start times, sum of every interval) through hdrh's reader."""
    reader = HistogramLogReader(str(path), histograms.new_histogram())
    total = histograms.new_histogram()
    starts = []
    while (h := reader.get_next_interval_histogram()) is not None:
        starts.append(h.get_start_time_stamp() / 1000)
        total.add(h)
    assert reader.get_start_time_sec() == T0
    reader.close()
    return starts, total


@pytest.mark.parametrize("interval_s", [1, 10])
def test_logs_read_back_to_the_runs_histograms(tmp_path: Path, interval_s: int) -> None:
    load_dir = tmp_path / "load"
    summary = write_run(load_dir, LoadSpec(rate_per_s=30, duration_s=25), seconds=25)
    paths = hdrlog.write_logs(load_dir, interval_s)
    assert [p.name for p in paths] == ["ack_latency.hlog", "e2e_latency.hlog",
                                       "publish_delay.hlog"]
    whole = json.loads((load_dir / "histograms.json").read_text())["whole_run"]
    for name in hdrlog.HDR_LOG_NAMES:
        text = hdrlog.log_path(load_dir, name).read_text()
        assert text.startswith("#[Histogram log format version 1.2]\n#[StartTime: ")
        assert hdrlog.LEGEND in text.splitlines()
        starts, total = read_back(hdrlog.log_path(load_dir, name))
        assert starts == [T0 + i * interval_s for i in range(len(starts))]
        assert len(starts) == -(-25 // interval_s)
        run = histograms.decode(whole[f"{name}_us"])
        assert total.get_total_count() == run.get_total_count() == summary["acked"]  # type: ignore[attr-defined]
        assert total.get_max_value() == run.get_max_value()  # type: ignore[attr-defined]
        assert histograms.summary_ms(total) == histograms.summary_ms(run)  # type: ignore[arg-type]


def test_interval_max_is_in_ms(tmp_path: Path) -> None:
    load_dir = tmp_path / "load"
    write_run(load_dir, LoadSpec(rate_per_s=30, duration_s=3), seconds=3)
    hdrlog.write_logs(load_dir)
    intervals = [ln for ln in hdrlog.log_path(load_dir, "ack_latency").read_text().splitlines()
                 if not ln.startswith(("#", '"'))]  # fmt: skip
    # second 2: ack latencies (2+1) ms + up to 12 us
    assert float(intervals[2].split(",")[2]) == pytest.approx(3.012, abs=0.01)


def _hdr_jar() -> Path | None:
    """HdrHistogram's Java jar, which Kafka ships (make setup resolves it into the cache)."""
    jars = sorted(paths.cache_dir().glob("kafka-*/libs/HdrHistogram-*.jar"))
    return jars[-1] if jars and shutil.which("java") else None


@pytest.mark.skipif(_hdr_jar() is None, reason="no java or HdrHistogram jar (make setup)")
def test_javas_histogram_log_processor_reads_the_log(tmp_path: Path) -> None:
    load_dir = tmp_path / "load"
    summary = write_run(load_dir, LoadSpec(rate_per_s=30, duration_s=10), seconds=10)
    hdrlog.write_logs(load_dir)
    out = tmp_path / "ack"
    subprocess.run(["java", "-cp", str(_hdr_jar()), "org.HdrHistogram.HistogramLogProcessor",
                    "-i", str(hdrlog.log_path(load_dir, "ack_latency")), "-csv", "-o", str(out),
                    "-outputValueUnitRatio", "1000"], check=True, timeout=120,
                   capture_output=True)  # fmt: skip
    rows = list(csv.DictReader(line for line in out.read_text().splitlines()
                               if not line.startswith("#")))  # fmt: skip
    assert len(rows) == 10
    assert int(rows[-1]["Total_Count"]) == summary["acked"]
    whole = json.loads((load_dir / "histograms.json").read_text())["whole_run"]
    run = histograms.decode(whole["ack_latency_us"])
    assert float(rows[-1]["Total_Max"]) == pytest.approx(run.get_max_value() / 1000, abs=0.01)
