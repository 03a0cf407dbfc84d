"""An OpenMessaging Benchmark workload through `riftdrill load --workload` on the real lab: the
OMB result carries TestResult's fields (and what OMB's create_charts.py reads), the backlog is
built with the consumers paused and drained, and the HdrHistogram logs and the OpenMetrics
timeline count exactly what the ledgers recorded."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from hdrh.log import HistogramLogReader

from riftdrill.inventory import Inventory
from riftdrill.load import backlog, hdrlog, histograms, ombresult, openmetrics
from riftdrill.load.consumer_ledger import (
    KIND_POLL,
    POLL_EARLIER_RUN,
    POLL_FENCE,
    POLL_FOREIGN,
    consumer_ledger_files,
    read_consumer_ledger,
)
from riftdrill.load.ledger import Ack, ledger_files, read_ledger
from tests.conftest import ROOT, riftdrill
from tests.unit.test_load_ombresult import TEST_RESULT_FIELDS, assert_chartable
from tests.unit.test_load_openmetrics import parse

pytestmark = pytest.mark.lab

# 6 s warm-up, ~10.7 s to build a 0.0005 GiB backlog at 500 msg/s of 100 B, 15 s measured
WORKLOAD = ROOT / "examples" / "omb" / "smoke-1-topic-6-partitions-100b.yaml"
DURATION_S = 6 + 536_870 / (500 * 100) + 15


def _hdr_total(path: Path) -> int:
    reader = HistogramLogReader(str(path), histograms.new_histogram())
    total = 0
    while (h := reader.get_next_interval_histogram()) is not None:
        total += h.get_total_count()
    reader.close()
    return total


def test_omb_workload_writes_omb_result_hdr_logs_and_openmetrics(lab: Inventory,
                                                                  tmp_path: Path) -> None:
    run_dir = tmp_path / "omb"
    proc = riftdrill("load", "--workload", str(WORKLOAD), "--topic",
                     f"rd-omb-{uuid.uuid4().hex[:8]}", "--run", str(run_dir), "--json",
                     timeout=180)  # fmt: skip
    res = json.loads(proc.stdout)
    assert res["failed"] == 0 and not res["interrupted"], res
    assert abs(res["acked"] - 500 * DURATION_S) <= 0.05 * 500 * DURATION_S, res
    load = run_dir / "load"
    spec = json.loads((load / "spec.json").read_text())
    assert (spec["warmup_s"], spec["size_bytes"], spec["backlog_bytes"]) == (6.0, 100, 536_870)
    assert spec["duration_s"] == pytest.approx(DURATION_S, abs=0.01)

    # The backlog: built with the consumers paused after the warm-up, then drained.
    built = backlog.BacklogOutcome.read(load / backlog.BACKLOG_FILE)
    assert built.phase == "drained", built
    assert built.backlog_reached_messages is not None and built.backlog_reached_messages >= 5368
    assert built.build_s is not None and 5 < built.build_s < 25, built
    assert built.drain_rate_per_s is not None and built.drain_rate_per_s > 500, built
    assert not backlog.pause_path(load).exists()

    # The ledgers: every ack, every consumed record of this run.
    acked = sum(1 for f in ledger_files(run_dir) for e in read_ledger(f) if isinstance(e, Ack))
    skip = POLL_FOREIGN | POLL_FENCE | POLL_EARLIER_RUN
    consumed = sum(1 for f in consumer_ledger_files(run_dir)
                   for e in read_consumer_ledger(f).entries
                   if e.kind == KIND_POLL and not e.flags & skip)  # fmt: skip
    assert acked == res["acked"] and consumed == res["consumed"] >= acked

    # OMB result: TestResult's fields, chartable, the workload's shape, after the warm-up.
    data = json.loads((load / ombresult.RESULT_FILE).read_text())
    assert list(data) == TEST_RESULT_FIELDS
    assert_chartable(data)
    assert data["workload"] == "smoke 1 topic / 6 partitions / 100b / 2p 2c / 500 / backlog"
    assert data["driver"] == f"riftdrill-{lab.engine}-{lab.topology}"
    assert (data["messageSize"], data["partitions"], data["producersPerTopic"],
            data["consumersPerTopic"]) == (100, 6, 2, 2)  # fmt: skip
    assert len(data["publishRate"]) >= 3  # ~26 s after the warm-up: 10-second intervals
    assert max(data["backlog"]) > 1000  # the paused consumers left a backlog in an interval
    assert 0 < data["aggregatedPublishLatency99pct"] < 30_000  # ms
    assert data["aggregatedEndToEndLatency50pct"] > 0

    # HdrHistogram logs, read back with hdrh's own reader: the ledgers' counts.
    assert _hdr_total(hdrlog.log_path(load, "ack_latency")) == acked
    assert _hdr_total(hdrlog.log_path(load, "e2e_latency")) == consumed
    assert _hdr_total(hdrlog.log_path(load, "publish_delay")) == res["sent"]

    # OpenMetrics: per cloud, adding up to the ledgers.
    series = parse((load / openmetrics.OPENMETRICS_FILE).read_text())
    clouds = {c.name for c in lab.clouds}
    assert {cloud for _, cloud in series} == clouds
    assert sum(series[("riftdrill_load_acked_total", c)][-1][1] for c in clouds) == acked
    assert sum(series[("riftdrill_load_consumed_total", c)][-1][1] for c in clouds) == consumed
