"""OMB result out: load/omb-result.json has TestResult.java's fields, in OMB's units, carries
everything OMB's bin/create_charts.py reads, and its counts and latencies are the run's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from riftdrill.load import histograms, ombresult
from riftdrill.load.spec import LoadSpec
from tests.unit.load_runs import write_run

# openmessaging/benchmark benchmark-framework/.../TestResult.java, its public fields in order.
TEST_RESULT_JAVA = """workload driver messageSize topics partitions producersPerTopic
consumersPerTopic publishRate publishErrorRate consumeRate backlog publishLatencyAvg
publishLatency50pct publishLatency75pct publishLatency95pct publishLatency99pct
publishLatency999pct publishLatency9999pct publishLatencyMax publishDelayLatencyAvg
publishDelayLatency50pct publishDelayLatency75pct publishDelayLatency95pct
publishDelayLatency99pct publishDelayLatency999pct publishDelayLatency9999pct
publishDelayLatencyMax aggregatedPublishLatencyAvg aggregatedPublishLatency50pct
aggregatedPublishLatency75pct aggregatedPublishLatency95pct aggregatedPublishLatency99pct
aggregatedPublishLatency999pct aggregatedPublishLatency9999pct aggregatedPublishLatencyMax
aggregatedPublishDelayLatencyAvg aggregatedPublishDelayLatency50pct
aggregatedPublishDelayLatency75pct aggregatedPublishDelayLatency95pct
aggregatedPublishDelayLatency99pct aggregatedPublishDelayLatency999pct
aggregatedPublishDelayLatency9999pct aggregatedPublishDelayLatencyMax
aggregatedPublishLatencyQuantiles aggregatedPublishDelayLatencyQuantiles endToEndLatencyAvg
endToEndLatency50pct endToEndLatency75pct endToEndLatency95pct endToEndLatency99pct
endToEndLatency999pct endToEndLatency9999pct endToEndLatencyMax
aggregatedEndToEndLatencyQuantiles aggregatedEndToEndLatencyAvg aggregatedEndToEndLatency50pct
aggregatedEndToEndLatency75pct aggregatedEndToEndLatency95pct aggregatedEndToEndLatency99pct
aggregatedEndToEndLatency999pct aggregatedEndToEndLatency9999pct
aggregatedEndToEndLatencyMax"""
TEST_RESULT_FIELDS = TEST_RESULT_JAVA.split()

# What bin/create_charts.py reads of each result: str keys, time series (create_chart: a
# non-empty list of numbers, it takes their max) and quantile maps (float(key) -> number).
CHART_STRINGS = ("workload", "driver")
CHART_SERIES = ("publishLatency99pct", "publishDelayLatency99pct", "publishRate",
                "publishErrorRate", "endToEndLatency95pct", "consumeRate", "endToEndLatencyAvg")
CHART_QUANTILES = ("aggregatedPublishLatencyQuantiles", "aggregatedPublishDelayLatencyQuantiles",
                   "aggregatedEndToEndLatencyQuantiles")


def assert_chartable(data: dict[str, object]) -> None:
    """Every key create_charts.py reads is there and typed as it uses it."""
    for key in CHART_STRINGS:
        assert isinstance(data[key], str), key
    for key in CHART_SERIES:
        series = data[key]
        assert isinstance(series, list) and series, key
        assert all(isinstance(v, int | float) and not isinstance(v, bool) for v in series), key
    for key in CHART_QUANTILES:
        q = data[key]
        assert isinstance(q, dict) and q, key
        assert all(0 <= float(p) <= 100 and isinstance(v, int | float) for p, v in q.items()), key


@pytest.fixture()
def run(tmp_path: Path) -> Path:
    spec = LoadSpec(rate_per_s=30, duration_s=25, warmup_s=5, size_bytes=100, partitions=6,
                    producers_per_cloud=1, consumers_per_cloud=1, workload_name="unit")
    write_run(tmp_path / "load", spec, seconds=25)
    return tmp_path / "load"


def test_fields_are_test_results_and_charts_can_read_them(run: Path) -> None:
    path = ombresult.write_result(run, "riftdrill-kafka-stretched", clouds=2)
    data = json.loads(path.read_text())
    assert list(data) == TEST_RESULT_FIELDS
    assert_chartable(data)
    assert (data["workload"], data["driver"], data["messageSize"], data["topics"],
            data["partitions"], data["producersPerTopic"], data["consumersPerTopic"]) == (
        "unit", "riftdrill-kafka-stretched", 100, 1, 6, 2, 2)  # fmt: skip
    assert ombresult.OmbResult.read(path).model_dump() == data  # one model, writer and readers


def test_intervals_are_ten_seconds_after_the_warm_up_and_count_the_run(run: Path) -> None:
    res = ombresult.OmbResult.read(ombresult.write_result(run, "d", clouds=2))
    timeline = json.loads((run / "timeline.json").read_text())
    measured = [r for r in timeline if r["elapsed_s"] >= 5]  # warm-up left out
    assert len(res.publishRate) == 2  # seconds 5..14 and 15..24
    assert sum(r * 10 for r in res.publishRate) == pytest.approx(sum(r["sent"] for r in measured))
    assert sum(r * 10 for r in res.consumeRate) == pytest.approx(
        sum(r["consumed"] for r in measured))
    assert sum(r * 10 for r in res.publishErrorRate) == pytest.approx(
        sum(r["failed"] for r in measured))
    assert res.backlog == [0, 0]  # every sent record was consumed in its second
    assert all(len(getattr(res, f"{s}{p}")) == 2 for s in ("publishLatency", "endToEndLatency",
               "publishDelayLatency") for p in ("Avg", *ombresult.PCTS, "Max"))  # fmt: skip


def test_units_are_omb_ms_for_latency_and_us_for_publish_delay(run: Path) -> None:
    res = ombresult.OmbResult.read(ombresult.write_result(run, "d", clouds=2))
    hists = json.loads((run / "histograms.json").read_text())["per_second"]
    t0 = hists[0]["t"]
    ack = histograms.merge(h["ack_latency_us"] for h in hists if h["t"] >= t0 + 5)
    delay = histograms.merge(h["publish_delay_us"] for h in hists if h["t"] >= t0 + 5)
    e2e = histograms.merge(h["e2e_latency_us"] for h in hists if h["t"] >= t0 + 5)
    assert res.aggregatedPublishLatency99pct == ack.get_value_at_percentile(99) / 1000
    assert res.aggregatedPublishLatencyMax == ack.get_max_value() / 1000
    assert res.aggregatedEndToEndLatency50pct == e2e.get_value_at_percentile(50) / 1000
    assert res.aggregatedPublishDelayLatency99pct == delay.get_value_at_percentile(99)
    assert isinstance(res.aggregatedPublishDelayLatencyMax, int)
    # The write_run latencies: ack (s+1) ms, so the measured seconds' ack p50 is 6..25 ms.
    assert 6 <= res.aggregatedPublishLatency50pct <= 25
    q = res.aggregatedPublishLatencyQuantiles
    assert max(q.values()) == pytest.approx(res.aggregatedPublishLatencyMax, rel=1e-3)
    assert max(float(p) for p in q) == 100.0


def test_a_run_without_seconds_still_writes_a_result(tmp_path: Path) -> None:
    spec = LoadSpec(rate_per_s=10, duration_s=5)
    write_run(tmp_path / "load", spec, seconds=0)
    res = ombresult.OmbResult.read(ombresult.write_result(tmp_path / "load", "d", clouds=2))
    assert res.publishRate == [] and res.aggregatedPublishLatencyQuantiles == {}
    assert res.workload == "riftdrill load 10 msg/s"
