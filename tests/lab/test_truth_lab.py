"""Mutation tests: forge each anomaly on the real lab with an independent client, and demand
that `riftdrill verify` finds exactly it and exits non-zero.

The records and their ledgers are written here with confluent-kafka used directly, not with
riftdrill's load code; only the ledger file format is shared (it is what verify reads).
"""

from __future__ import annotations

import json
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from riftdrill.inventory import Inventory
from riftdrill.load.consumer_ledger import POLL_FENCE, ConsumerLedgerWriter
from riftdrill.load.fence import is_fence
from riftdrill.load.ledger import LedgerWriter
from riftdrill.load.record import encode
from riftdrill.security.client import client_security
from riftdrill.verify.replay import cluster_bootstrap
from tests.conftest import client_conf, riftdrill

pytestmark = pytest.mark.lab

PARTITIONS = 3
IDEMPOTENT = {"acks": "all", "idempotence": True, "max_in_flight": 5}
LEGACY = {"acks": "all", "idempotence": False, "max_in_flight": 1_000_000}


@dataclass
class Sent:
    partition: int
    offset: int
    seq: int
    value: bytes


@dataclass
class Topic:
    name: str
    bootstrap: str
    cloud: str
    admin: AdminClient
    conf: dict[str, str]  # the broker principal's client settings ({} with security off)


@pytest.fixture()
def topic(lab: Inventory) -> Iterator[Topic]:
    cluster = lab.clusters[0]
    bootstrap = cluster_bootstrap(lab, cluster.name)
    name = f"rd-truth-{uuid.uuid4().hex[:8]}"
    conf = client_conf(lab)
    admin = AdminClient({"bootstrap.servers": bootstrap, **conf})
    rf = min(lab.replication_factor, len(cluster.brokers))
    admin.create_topics([NewTopic(name, PARTITIONS, rf)])[name].result(30)
    try:
        yield Topic(name, bootstrap, cluster.clouds[0], admin, conf)
    finally:
        admin.delete_topics([name])[name].result(30)


def ledger(run_dir: Path, t: Topic, producer_id: int, contract: dict[str, Any],
           sent: list[Sent], start_ns: int) -> None:
    """The ledger an honest producer with `contract` would have written for `sent`."""
    path = run_dir / "load" / "ledgers" / f"{t.cloud}-p{producer_id}.rdl"
    with LedgerWriter(path, producer_id, t.cloud, [t.name], t.bootstrap, start_ns,
                      producer=contract) as w:
        for s in sent:
            w.append_ack(t.name, s.partition, s.offset, None, s.seq,
                         zlib.crc32(s.value[32:]), start_ns, time.time_ns())


def produce(t: Topic, producer_id: int, records: int, conf: dict[str, Any] | None = None,
            partitions: int = PARTITIONS) -> tuple[list[Sent], int]:
    """Send riftdrill records round-robin over the partitions; (what was acked, start ns)."""
    start_ns = time.time_ns()
    producer = Producer({"bootstrap.servers": t.bootstrap, "acks": "all",
                         "enable.idempotence": True, "linger.ms": 5, **t.conf, **(conf or {})})
    sent: list[Sent] = []
    failures: list[str] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is not None:
            failures.append(str(err))
        else:
            seq = int.from_bytes(msg.value()[12:20], "big")
            sent.append(Sent(msg.partition(), msg.offset(), seq, msg.value()))

    for seq in range(records):
        value = encode(producer_id, seq, time.time_ns(), b"truth-%08d" % seq * 8)
        producer.produce(t.name, value, partition=seq % partitions, on_delivery=on_delivery)
        producer.poll(0)
    assert producer.flush(60) == 0
    assert not failures, failures[:3]
    return sent, start_ns


def raw_produce(t: Topic, partition: int, value: bytes) -> int:
    """Write one value as it is, with a plain producer: the forgery."""
    offsets: list[int] = []
    producer = Producer({"bootstrap.servers": t.bootstrap, "acks": "all", **t.conf})
    producer.produce(t.name, value, partition=partition,
                     on_delivery=lambda err, msg: offsets.append(msg.offset()))
    assert producer.flush(30) == 0 and offsets
    return offsets[0]


def verify(run_dir: Path) -> tuple[int, dict[str, Any]]:
    proc = riftdrill("verify", "--run", str(run_dir), "--json", check=False)
    assert proc.returncode in (0, 1), proc.stderr
    report: dict[str, Any] = json.loads(proc.stdout)
    return proc.returncode, report


def clean_run(tmp_path: Path, t: Topic, records: int = 300,
              contract: dict[str, Any] = IDEMPOTENT) -> tuple[Path, list[Sent]]:
    run_dir = tmp_path / "run"
    sent, start_ns = produce(t, 11, records)
    ledger(run_dir, t, 11, contract, sent, start_ns)
    code, report = verify(run_dir)
    assert code == 0 and not any(report["totals"].values()), report["totals"]
    assert report["contract"]["profile"] == ("idempotent" if contract is IDEMPOTENT else "legacy")
    assert all(p["fenced"] for p in report["partitions"])
    return run_dir, sent


def test_acked_range_deleted_is_lost(topic: Topic, tmp_path: Path) -> None:
    run_dir, sent = clean_run(tmp_path, topic)
    cut = 40
    tp = TopicPartition(topic.name, 0, cut)
    topic.admin.delete_records([tp])[tp].result(30)
    code, report = verify(run_dir)
    assert code == 1 and not report["passed"]
    assert report["totals"]["lost"] == cut
    p0 = next(p for p in report["partitions"] if p["partition"] == 0)
    assert p0["low_watermark"] == cut
    acked_p0 = sorted(s.offset for s in sent if s.partition == 0)
    assert p0["anomalies"]["lost"]["offsets"] == [[acked_p0[0], acked_p0[cut - 1]]]
    assert report["records_read"] == len(sent) - cut


def test_byte_flipped_copy_is_corrupt(topic: Topic, tmp_path: Path) -> None:
    run_dir, sent = clean_run(tmp_path, topic)
    original = sent[7]
    flipped = original.value[:-1] + bytes([original.value[-1] ^ 0xFF])
    offset = raw_produce(topic, original.partition, flipped)
    code, report = verify(run_dir)
    assert code == 1
    assert report["totals"]["corrupt"] == 1 and report["totals"]["duplicates"] == 1
    part = next(p for p in report["partitions"] if p["partition"] == original.partition)
    assert part["anomalies"]["corrupt"]["offsets"] == [[offset, offset]]


def test_reproduced_record_is_a_duplicate_that_only_legacy_allows(topic: Topic,
                                                                  tmp_path: Path) -> None:
    run_dir, sent = clean_run(tmp_path, topic)
    raw_produce(topic, sent[3].partition, sent[3].value)
    code, report = verify(run_dir)
    assert code == 1 and report["totals"]["duplicates"] == 1
    assert "duplicates" in report["failing_kinds"]
    # The same log judged for a producer that had idempotence off: reported, allowed.
    legacy_dir = tmp_path / "legacy"
    ledger(legacy_dir, topic, 11, LEGACY, sent, 0)
    code, report = verify(legacy_dir)
    assert code == 0 and report["totals"]["duplicates"] == 1
    assert report["contract"]["profile"] == "legacy" and "duplicates" in report["allowed_kinds"]


def test_foreign_record_is_unexpected(topic: Topic, tmp_path: Path) -> None:
    run_dir, _ = clean_run(tmp_path, topic)
    raw_produce(topic, 2, b"not a riftdrill record")
    code, report = verify(run_dir)
    assert code == 1 and report["totals"]["unexpected"] == 1


def test_acked_offset_holding_another_record_is_inconsistent(topic: Topic,
                                                             tmp_path: Path) -> None:
    """A ledger whose offsets disagree with the log (what a broker that misreports offsets
    would make a producer write): two acks swapped."""
    run_dir = tmp_path / "run"
    sent, start_ns = produce(topic, 12, 30)
    a, b = sent[0], next(s for s in sent if s.partition == sent[0].partition and s is not sent[0])
    a.offset, b.offset = b.offset, a.offset
    ledger(run_dir, topic, 12, IDEMPOTENT, sent, start_ns)
    code, report = verify(run_dir)
    assert code == 1 and report["totals"]["inconsistent_offset"] == 2
    assert report["totals"]["lost"] == 0


def test_consumer_that_seeks_past_records_and_commits(topic: Topic, tmp_path: Path) -> None:
    """A consumer that jumps over ten records of partition 0 without a rebalance, then commits
    past them: the skip is a poll_skip and the ten records are undelivered."""
    run_dir, sent = clean_run(tmp_path, topic)
    last = {p: max(s.offset for s in sent if s.partition == p) for p in range(PARTITIONS)}
    path = run_dir / "load" / "consumers" / f"{topic.cloud}-c0-0.rdc"
    group = f"rd-truth-{uuid.uuid4().hex[:6]}"
    consumer = Consumer({"bootstrap.servers": topic.bootstrap, "group.id": group, **topic.conf,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition(topic.name, p, 0) for p in range(PARTITIONS)])
    at: dict[int, int] = {}
    with ConsumerLedgerWriter(path, group=group, client_id="forger", cloud=topic.cloud,
                              topics=[topic.name], run_start_ns=0,
                              bootstrap=topic.bootstrap) as w:
        for p in range(PARTITIONS):
            w.assign(0, p, 0, 1, "forger-member", time.time_ns())
        deadline = time.monotonic() + 60
        while any(at.get(p, -1) < last[p] for p in range(PARTITIONS)):
            assert time.monotonic() < deadline, f"consumer stuck at {at}"
            seeked = False
            for m in consumer.consume(100, timeout=1.0):
                if m.error() is not None or (seeked and m.partition() == 0):
                    continue  # after a seek, the rest of this batch is from before it
                value = m.value()
                p, off = m.partition(), m.offset()
                if is_fence(value):  # the clean verify's fence: polled like any record
                    w.poll(0, p, off, 1, 0, 0, 0, 0, time.time_ns(), POLL_FENCE)
                    continue
                pid, seq = int.from_bytes(value[4:12], "big"), int.from_bytes(value[12:20], "big")
                w.poll(0, p, off, 1, pid, 0, seq, 0, time.time_ns(), 0)
                at[p] = off
                if p == 0 and off == 9:
                    consumer.seek(TopicPartition(topic.name, 0, 20))  # the forgery
                    seeked = True
        offsets = [TopicPartition(topic.name, p, last[p] + 1) for p in range(PARTITIONS)]
        for tp in consumer.commit(offsets=offsets, asynchronous=False) or []:
            w.commit(0, tp.partition, tp.offset, 1, tp.error.code() if tp.error else 0,
                     time.time_ns())
    consumer.close()
    skipped = [s.offset for s in sent if s.partition == 0 and 10 <= s.offset < 20]
    code, report = verify(run_dir)
    assert code == 1
    assert report["totals"]["poll_skip"] == len(skipped) == 10
    assert report["totals"]["undelivered"] == 10
    assert report["totals"]["unconsumed"] == 0 and report["totals"]["nonmonotonic_poll"] == 0
    assert report["contract"]["consumers_checked"]
    (grp,) = report["groups"]
    assert grp["group"] == group and grp["commits"] == PARTITIONS


def broker_ids(lab: Inventory) -> dict[str, int]:
    return {b.name: b.id for b in lab.brokers}


def test_unclean_leader_election_loses_acked_records(lab: Inventory, tmp_path: Path) -> None:
    """A real loss: RF=2, min.insync.replicas=1, unclean election on, acks=1. The follower
    stops, the leader acks alone, the leader dies, the stale follower is elected: the records
    only the old leader had are gone, and verify must say exactly how many."""
    ids = broker_ids(lab)
    # Neither broker is needed for the KRaft quorum (voters aws-1, aws-2, gcp-1: two stay up).
    leader, follower = "gcp-2", "aws-2"
    cluster = lab.clusters[0]
    bootstrap = cluster_bootstrap(lab, cluster.name)
    name = f"rd-unclean-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap, **client_conf(lab)})
    # One partition placed by hand (librdkafka wants its count named with an assignment).
    new = NewTopic(name, num_partitions=1, replica_assignment=[[ids[leader], ids[follower]]],
                   config={"min.insync.replicas": "1",
                           "unclean.leader.election.enable": "true"})
    admin.create_topics([new])[name].result(30)
    t = Topic(name, bootstrap, cluster.clouds[0], admin, client_conf(lab))
    run_dir = tmp_path / "run"
    try:
        replicated, start1 = produce(t, 21, 50, partitions=1)  # acks=all: on both replicas
        ledger(run_dir, t, 21, IDEMPOTENT, replicated, start1)
        riftdrill("fault", "kill", follower)
        _wait_isr(admin, name, {ids[leader]})
        alone, start2 = produce(t, 22, 40, {"acks": "1", "enable.idempotence": False},
                                partitions=1)
        ledger(run_dir, t, 22, {"acks": "1", "idempotence": False, "max_in_flight": 5},
               alone, start2)
        riftdrill("fault", "kill", leader)
        riftdrill("fault", "restart", follower)
        _wait_leader(admin, name, ids[follower])
        code, report = verify(run_dir)
        assert code == 1, report["totals"]
        assert report["totals"]["lost"] == len(alone) == 40
        assert report["contract"]["profile"] == "legacy"
    finally:
        riftdrill("heal", "--json", check=False)
        admin.delete_topics([name])[name].result(60)


def _partition0(admin: AdminClient, topic: str) -> Any:
    return admin.list_topics(topic, timeout=10).topics[topic].partitions[0]


def _wait_isr(admin: AdminClient, topic: str, isr: set[int], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while set(_partition0(admin, topic).isrs) != isr:
        assert time.monotonic() < deadline, f"ISR never became {isr}"
        time.sleep(0.5)


def _wait_leader(admin: AdminClient, topic: str, leader: int, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while _partition0(admin, topic).leader != leader:
        assert time.monotonic() < deadline, f"broker {leader} was never elected"
        time.sleep(0.5)


def _columns(reads: list[Any]) -> list[Any]:
    """Everything a PartitionRead holds but which reader read it (and its arrays, which only
    the fast reader makes, of the same columns)."""
    import dataclasses

    for r in reads:
        if r.arrays is not None:
            assert r.arrays.offsets.tolist() == r.offsets
            assert r.arrays.checksum_ok.tolist() == r.checksum_ok
    return [dataclasses.replace(r, reader="", arrays=None) for r in reads]


def test_every_replay_reader_reads_the_same(topic: Topic, lab: Inventory) -> None:
    """The fast reader (raw fetch + native decoder), librdkafka in one process and librdkafka
    split over two read exactly the same, record for record: riftdrill records, a corrupt copy,
    foreign and null records, another verification's fence, an earlier run's record, aborted
    and committed transactions (control batches) and the fence. A compressed partition is left
    to librdkafka by the fast reader, and still read the same."""
    from riftdrill.load.fence import fence_value, write_fences
    from riftdrill.verify.replay import replay_topics

    sent, start_ns = produce(topic, 13, 200)
    raw_produce(topic, 0, encode(13, 9_999, start_ns - 10**9, b"an earlier run"))
    raw_produce(topic, 1, b"not a riftdrill record")
    raw_produce(topic, 1, fence_value(b"o" * 16, 1))
    flipped = bytearray(sent[0].value)
    flipped[-1] ^= 0x01
    raw_produce(topic, sent[0].partition, bytes(flipped))
    nulls = Producer({"bootstrap.servers": topic.bootstrap, **topic.conf})
    nulls.produce(topic.name, None, partition=2)
    assert nulls.flush(30) == 0
    tx = Producer({"bootstrap.servers": topic.bootstrap, "transactional.id": topic.name,
                   **topic.conf})
    tx.init_transactions(30)
    for commit in (False, True):
        tx.begin_transaction()
        for seq in range(5):
            tx.produce(topic.name, encode(14, seq, time.time_ns(), b"tx"), partition=seq % 3)
        assert tx.flush(30) == 0  # in the log before the abort: read_uncommitted reads them
        (tx.commit_transaction if commit else tx.abort_transaction)(30)
    lz4 = Producer({"bootstrap.servers": topic.bootstrap, "compression.type": "lz4", **topic.conf,
                    "linger.ms": 5})
    for seq in range(50):
        lz4.produce(topic.name, encode(15, seq, time.time_ns(), b"lz4" * 30), partition=2)
    assert lz4.flush(30) == 0
    # as the verifier does it: fences as the load's principal, reads as the verifier's
    fences = write_fences(topic.bootstrap, [topic.name],
                          security=client_security(lab.security, "load"))
    reader = client_security(lab.security, "verifier")
    fast = replay_topics(topic.bootstrap, "main", [topic.name], fences, since_ns=start_ns,
                         workers=1, security=reader)
    one = replay_topics(topic.bootstrap, "main", [topic.name], fences, since_ns=start_ns,
                        workers=1, native=False, security=reader)
    two = replay_topics(topic.bootstrap, "main", [topic.name], fences, since_ns=start_ns,
                        workers=2, native=False, security=reader)
    assert [r.partition for r in fast] == list(range(PARTITIONS))
    assert [r.reader for r in fast] == ["native", "native", "librdkafka"]
    assert {r.reader for r in one + two} == {"librdkafka"}
    assert all(r.fenced for r in fast)
    assert sum(len(r.offsets) for r in fast) == 200 + 1 + 10 + 50
    assert sum(r.earlier_runs for r in fast) == 1 and sum(len(r.foreign) for r in fast) == 2
    assert sum(not ok for r in fast for ok in r.checksum_ok) == 1
    assert _columns(fast) == _columns(one) == _columns(two)
