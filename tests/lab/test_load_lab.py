"""The load side on the real lab: exact counts, a ledger that matches Kafka record for record,
consumer e2e latencies, a run that ends at its fences with every consumer ledger behind them,
and a dead bootstrap failing fast with exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
import zlib
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from riftdrill.inventory import Inventory
from riftdrill.load.consumer_ledger import (
    KIND_COMMIT,
    KIND_POLL,
    POLL_FENCE,
    consumer_ledger_files,
    read_consumer_ledger,
)
from riftdrill.load.fence import FenceSet
from riftdrill.load.ledger import Ack, ledger_files, read_header, read_ledger
from riftdrill.load.record import decode
from riftdrill.load.runner import LoadSpec, load_status, run_load, start_load, stop_load
from tests.conftest import client_conf

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
RATE = 500
DURATION_S = 20


def _read_at(bootstrap: str, acks: list[Ack], conf: dict[str, str]) -> dict[tuple[int, int], bytes]:
    """Values of Kafka at exactly the ledger's (partition, offset) pairs."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"rd-check-{uuid.uuid4()}", **conf,
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})  # fmt: skip
    wanted = {(a.partition, a.offset) for a in acks}
    first: dict[int, int] = {}
    for p, o in wanted:
        first[p] = min(o, first.get(p, o))
    topic = acks[0].topic
    c.assign([TopicPartition(topic, p, o) for p, o in first.items()])
    got: dict[tuple[int, int], bytes] = {}
    deadline = time.monotonic() + 60
    while len(got) < len(wanted) and time.monotonic() < deadline:
        for m in c.consume(1000, timeout=1):
            if m.error() is None and (m.partition(), m.offset()) in wanted:
                got[(m.partition(), m.offset())] = m.value()
    c.close()
    return got


def test_fixed_rate_run_matches_target_and_kafka(lab: Inventory, tmp_path: Path) -> None:
    topic = f"rd-load-{uuid.uuid4().hex[:8]}"
    spec = LoadSpec(rate_per_s=RATE, duration_s=DURATION_S, topic=topic, keys="per-key")
    res = run_load(spec, tmp_path / "run", lab, progress=False)

    target = RATE * DURATION_S
    assert abs(res.acked - target) <= 0.05 * target, res.to_json()
    assert res.failed == 0
    # Consumers measured end-to-end latency from the records' intended send time.
    assert res.consumed >= 0.95 * target and res.e2e_latency_ms["p50"] is not None

    files = ledger_files(tmp_path / "run")
    assert {read_header(f)["cloud"] for f in files} == {c.name for c in lab.clouds}
    acks = [e for f in files for e in read_ledger(f) if isinstance(e, Ack)]
    assert len(acks) == res.acked
    values = _read_at(lab.bootstrap(lab.clouds[0].name), acks, client_conf(lab))
    for a in acks:
        meta, ok = decode(values[(a.partition, a.offset)])
        assert ok and (meta.producer_id, meta.seq, meta.checksum, meta.send_ts_ns) == (
            a.producer_id, a.seq, a.checksum, a.send_ts_ns)  # fmt: skip

    load = tmp_path / "run" / "load"
    summary = json.loads((load / "summary.json").read_text())
    assert {"p50", "p90", "p99", "p99_9", "p99_99", "max"} <= set(summary["ack_latency_ms"])
    timeline = json.loads((load / "timeline.json").read_text())
    assert sum(r["acked"] for r in timeline) == res.acked
    assert any(load.glob("locust/*_stats.csv"))


def test_background_start_status_stop(lab: Inventory, tmp_path: Path) -> None:
    run_dir = tmp_path / "bg"
    spec = LoadSpec(rate_per_s=200, duration_s=600, topic=f"rd-load-{uuid.uuid4().hex[:8]}")
    start_load(spec, run_dir, ROOT / ".riftdrill" / "inventory.json")
    time.sleep(8)
    assert load_status(run_dir)["running"]
    res = stop_load(run_dir)
    assert res is not None and res.interrupted and res.acked > 0
    ledgered = sum(1 for f in ledger_files(run_dir) for e in read_ledger(f) if isinstance(e, Ack))
    assert ledgered == res.acked  # Ctrl-C flushed every ack to the ledger
    _assert_ended_at_fences(run_dir, spec.partitions)  # a stop ends at the fences too


def _assert_ended_at_fences(run_dir: Path, partitions: int) -> None:
    """fences.json fences every partition; the group polled every fence and committed past it;
    the consumers polled every acked record; the producers ran idempotent."""
    fences = FenceSet.read(run_dir / "load" / "fences.json")
    topic = read_header(ledger_files(run_dir)[0])["topics"][0]
    assert sorted(fences.offsets[topic]) == list(range(partitions)), fences.to_json()
    logs = [read_consumer_ledger(f) for f in consumer_ledger_files(run_dir)]
    assert logs, "no consumer ledger"
    polls = [e for log in logs for e in log.entries if e.kind == KIND_POLL]
    fenced = {e.partition for e in polls
              if e.flags & POLL_FENCE and e.checksum == zlib.crc32(fences.nonce)}  # fmt: skip
    assert fenced == set(range(partitions))
    committed: dict[int, int] = {}
    for log in logs:
        for e in log.entries:
            if e.kind == KIND_COMMIT and e.flags == 0:
                committed[e.partition] = max(e.offset, committed.get(e.partition, -1))
    assert all(committed.get(p, -1) > o for p, o in fences.offsets[topic].items()), committed
    polled = {(e.partition, e.offset) for e in polls if e.flags == 0}
    acks = [e for f in ledger_files(run_dir) for e in read_ledger(f) if isinstance(e, Ack)]
    assert acks and all((a.partition, a.offset) in polled for a in acks)
    for f in ledger_files(run_dir):
        assert read_header(f)["producer"] == {"acks": "all", "idempotence": True,
                                              "max_in_flight": 5}  # fmt: skip
    assert all(log.truncated_entries == 0 and log.member_ids for log in logs)


def test_short_run_ends_at_its_fences(lab: Inventory, tmp_path: Path) -> None:
    run_dir = tmp_path / "fenced"
    spec = LoadSpec(rate_per_s=200, duration_s=10, topic=f"rd-load-{uuid.uuid4().hex[:8]}")
    t0 = time.monotonic()
    res = run_load(spec, run_dir, lab, progress=False)
    assert res.acked == 2000 and not res.interrupted
    assert time.monotonic() - t0 < 10 + 30  # the fence wait ends at the fences, not a timeout
    _assert_ended_at_fences(run_dir, spec.partitions)
    markers = list((run_dir / "load" / "workers").glob("*/producers-done"))
    assert len(markers) == len(lab.clouds)


def test_dead_bootstrap_exits_2_quickly(lab: Inventory, tmp_path: Path) -> None:
    inv = lab.model_copy(deep=True)
    for cl in inv.clusters:
        cl.bootstrap = dict.fromkeys(cl.bootstrap, "198.18.255.254:9092")
    home = tmp_path / "home"
    (home / ".riftdrill").mkdir(parents=True)
    (home / ".riftdrill" / "inventory.json").write_text(inv.model_dump_json())
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "riftdrill.load", "--rate", "100", "--duration", "5"],
        capture_output=True, text=True, timeout=60, cwd=home,
        env={**os.environ, "RIFTDRILL_HOME": str(home)},
    )  # fmt: skip
    assert proc.returncode == 2
    assert time.monotonic() - t0 < 15
    assert len(proc.stderr.strip().splitlines()) == 1 and "cannot reach" in proc.stderr


def test_like_for_like_judges_both_tools_from_the_topic(lab: Inventory, tmp_path: Path) -> None:
    """The bench's method on the lab (load/likeforlike.py): each tool's records read back with
    their CreateTime. For riftdrill no record's publish delay so derived exceeds its own clock's
    (to the microsecond; CreateTime has whole milliseconds): riftdrill is never early, so the
    latest start its records allow is never before its own. Compared at the highest delay: the
    derived p99
    leaves the first second out, and a subset's p99 may lie above the whole run's."""
    from riftdrill.load import bench
    from riftdrill.load.kafka import ensure_topic
    from riftdrill.security.client import client_security

    cloud = lab.clouds[0].name
    security = client_security(lab.security, "load")
    ensure_topic(lab.bootstrap(cloud), bench.TOPIC, bench.PARTITIONS, lab.replication_factor,
                 security=security)
    theirs = bench.perf_trial(lab, cloud, security, 500.0, 4.0).judge()
    ours = bench.riftdrill_trial(lab, cloud, security, tmp_path, "lfl", 500.0, 4.0).judge()
    for t in (theirs, ours):
        assert t.due == 2000 and t.read_back >= t.due, t
        assert t.publish_delay_p99_ms is not None and t.publish_delay_max_ms is not None, t
        assert t.acked_per_s is not None and t.acked_per_s > 0, t
        # the tool's own process CPU over the trial (a JVM or a Python start-up alone is more
        # than a tenth of a second; 2000 records cannot cost a minute)
        assert t.tool_cpu_s is not None and 0.1 < t.tool_cpu_s < 60, t
    assert theirs.own_ack_latency_p99_ms is not None and ours.own_ack_latency_p99_ms is not None
    assert ours.own_publish_delay_p99_ms is not None and ours.own_publish_delay_max_ms is not None
    assert ours.publish_delay_max_ms <= ours.own_publish_delay_max_ms + 1.0, ours
