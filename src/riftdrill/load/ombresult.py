"""OpenMessaging Benchmark results out: `load/omb-result.json`, shaped as OMB's TestResult.java.

Built from the run's own per-second histograms and counters (aggregate.py's histograms.json and
timeline.json), in OMB's units: publish and end-to-end latency in milliseconds (double),
publish delay in microseconds (long); rates in msg/s per 10-second interval, as OMB's
WorkloadGenerator collects them. OMB's `bin/create_charts.py` plots the file as it is.

Two differences from OMB, documented in docs/load.md: riftdrill's publish latency runs from the
record's intended send time (coordinated-omission corrected; it includes the publish delay),
and the seconds of the warm-up (LoadSpec.warmup_s) are left out as OMB resets its stats then.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram
from pydantic import BaseModel

from riftdrill.load import histograms

RESULT_FILE = "omb-result.json"
INTERVAL_S = 10  # OMB's WorkloadGenerator samples its stats every 10 s
QUANTILE_TICKS = 100  # OMB: histogram.percentiles(100)
DRIVER_PREFIX = "riftdrill"


class OmbResult(BaseModel):
    """OMB's TestResult, field for field (names and JSON types)."""

    workload: str
    driver: str
    messageSize: int
    topics: int
    partitions: int
    producersPerTopic: int
    consumersPerTopic: int

    publishRate: list[float] = []
    publishErrorRate: list[float] = []
    consumeRate: list[float] = []
    backlog: list[int] = []

    publishLatencyAvg: list[float] = []
    publishLatency50pct: list[float] = []
    publishLatency75pct: list[float] = []
    publishLatency95pct: list[float] = []
    publishLatency99pct: list[float] = []
    publishLatency999pct: list[float] = []
    publishLatency9999pct: list[float] = []
    publishLatencyMax: list[float] = []

    publishDelayLatencyAvg: list[float] = []
    publishDelayLatency50pct: list[int] = []
    publishDelayLatency75pct: list[int] = []
    publishDelayLatency95pct: list[int] = []
    publishDelayLatency99pct: list[int] = []
    publishDelayLatency999pct: list[int] = []
    publishDelayLatency9999pct: list[int] = []
    publishDelayLatencyMax: list[int] = []

    aggregatedPublishLatencyAvg: float = 0.0
    aggregatedPublishLatency50pct: float = 0.0
    aggregatedPublishLatency75pct: float = 0.0
    aggregatedPublishLatency95pct: float = 0.0
    aggregatedPublishLatency99pct: float = 0.0
    aggregatedPublishLatency999pct: float = 0.0
    aggregatedPublishLatency9999pct: float = 0.0
    aggregatedPublishLatencyMax: float = 0.0

    aggregatedPublishDelayLatencyAvg: float = 0.0
    aggregatedPublishDelayLatency50pct: int = 0
    aggregatedPublishDelayLatency75pct: int = 0
    aggregatedPublishDelayLatency95pct: int = 0
    aggregatedPublishDelayLatency99pct: int = 0
    aggregatedPublishDelayLatency999pct: int = 0
    aggregatedPublishDelayLatency9999pct: int = 0
    aggregatedPublishDelayLatencyMax: int = 0

    # JSON object keys are strings ("99.9"), as Jackson writes OMB's Map<Double, ...>.
    aggregatedPublishLatencyQuantiles: dict[str, float] = {}
    aggregatedPublishDelayLatencyQuantiles: dict[str, int] = {}

    endToEndLatencyAvg: list[float] = []
    endToEndLatency50pct: list[float] = []
    endToEndLatency75pct: list[float] = []
    endToEndLatency95pct: list[float] = []
    endToEndLatency99pct: list[float] = []
    endToEndLatency999pct: list[float] = []
    endToEndLatency9999pct: list[float] = []
    endToEndLatencyMax: list[float] = []

    aggregatedEndToEndLatencyQuantiles: dict[str, float] = {}

    aggregatedEndToEndLatencyAvg: float = 0.0
    aggregatedEndToEndLatency50pct: float = 0.0
    aggregatedEndToEndLatency75pct: float = 0.0
    aggregatedEndToEndLatency95pct: float = 0.0
    aggregatedEndToEndLatency99pct: float = 0.0
    aggregatedEndToEndLatency999pct: float = 0.0
    aggregatedEndToEndLatency9999pct: float = 0.0
    aggregatedEndToEndLatencyMax: float = 0.0

    @classmethod
    def read(cls, path: Path) -> OmbResult:
        return cls.model_validate_json(path.read_text())


# OMB's percentile columns: suffix -> percentile
PCTS = {"50pct": 50.0, "75pct": 75.0, "95pct": 95.0, "99pct": 99.0, "999pct": 99.9,
        "9999pct": 99.99}  # fmt: skip


def _stats_us(h: HdrHistogram) -> dict[str, float]:
    """Avg, percentiles and Max of a histogram in its own unit (us); 0 when empty, as Java's."""
    empty = h.get_total_count() == 0
    out = {"Avg": 0.0 if empty else float(h.get_mean_value()),
           "Max": 0.0 if empty else float(h.get_max_value())}  # fmt: skip
    for suffix, p in PCTS.items():
        out[suffix] = 0.0 if empty else float(h.get_value_at_percentile(p))
    return out


def _quantiles(h: HdrHistogram) -> dict[float, int]:
    """percentile -> value (us), OMB's `percentiles(100)` iteration."""
    if h.get_total_count() == 0:
        return {}
    return {v.percentile: int(v.value_iterated_to)
            for v in h.get_percentile_iterator(QUANTILE_TICKS)}  # fmt: skip


def _ms(us: float) -> float:
    return us / 1000.0


def build_result(
    per_second: list[dict[str, Any]], timeline: list[dict[str, Any]], spec: dict[str, Any],
    driver: str, clouds: int,
) -> OmbResult:
    """The OMB result of a run from aggregate.py's per-second histograms (histograms.json
    `per_second`) and counters (timeline.json), after the spec's warm-up."""
    name = spec.get("workload_name") or f"riftdrill load {spec['rate_per_s']:g} msg/s"
    consumers = bool(spec.get("consumers", True))
    res = OmbResult(
        workload=name, driver=driver, messageSize=int(spec["size_bytes"]), topics=1,
        partitions=int(spec["partitions"]),
        producersPerTopic=int(spec["producers_per_cloud"]) * clouds,
        consumersPerTopic=int(spec["consumers_per_cloud"]) * clouds if consumers else 0,
    )  # fmt: skip
    if not timeline:
        return res
    t0 = int(timeline[0]["t"])
    start = t0 + round(float(spec.get("warmup_s", 0.0)))
    hists = {int(h["t"]): h for h in per_second}
    subs = 1 if consumers else 0
    sent_total = consumed_total = 0
    whole = {n: histograms.new_histogram() for n in ("ack", "e2e", "delay")}
    rows = [r for r in timeline if int(r["t"]) >= start]
    intervals = (int(rows[-1]["t"]) - start) // INTERVAL_S + 1 if rows else 0
    for i in range(intervals):
        lo, hi = start + i * INTERVAL_S, start + (i + 1) * INTERVAL_S
        part = [r for r in rows if lo <= int(r["t"]) < hi]
        seconds = float(min(hi, int(rows[-1]["t"]) + 1) - lo)
        sent = sum(int(r["sent"]) for r in part)
        consumed = sum(int(r["consumed"]) for r in part)
        sent_total += sent
        consumed_total += consumed
        res.publishRate.append(sent / seconds)
        res.publishErrorRate.append(sum(int(r["failed"]) for r in part) / seconds)
        res.consumeRate.append(consumed / seconds)
        res.backlog.append(max(0, subs * sent_total - consumed_total))
        got = {n: histograms.new_histogram() for n in whole}
        for r in part:
            h = hists.get(int(r["t"]))
            if h is None:
                continue
            for n, key in (("ack", "ack_latency_us"), ("e2e", "e2e_latency_us"),
                           ("delay", "publish_delay_us")):  # fmt: skip
                if h.get(key):
                    got[n].decode_and_add(h[key])
        for n in whole:
            whole[n].add(got[n])
        ack, e2e, delay = _stats_us(got["ack"]), _stats_us(got["e2e"]), _stats_us(got["delay"])
        for suffix in ("Avg", *PCTS, "Max"):
            getattr(res, f"publishLatency{suffix}").append(_ms(ack[suffix]))
            getattr(res, f"endToEndLatency{suffix}").append(_ms(e2e[suffix]))
            if suffix == "Avg":
                res.publishDelayLatencyAvg.append(delay[suffix])
            else:
                getattr(res, f"publishDelayLatency{suffix}").append(int(delay[suffix]))
    ack, e2e, delay = (_stats_us(whole["ack"]), _stats_us(whole["e2e"]),
                       _stats_us(whole["delay"]))  # fmt: skip
    for suffix in ("Avg", *PCTS, "Max"):
        setattr(res, f"aggregatedPublishLatency{suffix}", _ms(ack[suffix]))
        setattr(res, f"aggregatedEndToEndLatency{suffix}", _ms(e2e[suffix]))
        setattr(res, f"aggregatedPublishDelayLatency{suffix}",
                delay[suffix] if suffix == "Avg" else int(delay[suffix]))
    res.aggregatedPublishLatencyQuantiles = {
        repr(p): _ms(v) for p, v in _quantiles(whole["ack"]).items()}
    res.aggregatedPublishDelayLatencyQuantiles = {
        repr(p): v for p, v in _quantiles(whole["delay"]).items()}
    res.aggregatedEndToEndLatencyQuantiles = {
        repr(p): _ms(v) for p, v in _quantiles(whole["e2e"]).items()}
    return res


def write_result(load_dir: Path, driver: str, clouds: int) -> Path:
    """Write load/omb-result.json from the files aggregate.finalize wrote."""
    spec = json.loads((load_dir / "spec.json").read_text())
    timeline = json.loads((load_dir / "timeline.json").read_text())
    per_second = json.loads((load_dir / "histograms.json").read_text())["per_second"]
    res = build_result(per_second, timeline, spec, driver, clouds)
    path = load_dir / RESULT_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(res.model_dump_json(indent=1) + "\n")
    os.replace(tmp, path)
    return path
