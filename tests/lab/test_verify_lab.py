"""The verifier against a real cluster: a clean run verifies clean; records deleted after their
ack (DeleteRecords) are reported lost, with their offsets."""

from __future__ import annotations

import time
import uuid
import zlib
from pathlib import Path

import pytest
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from riftdrill.inventory import Inventory
from riftdrill.load.ledger import Ack, LedgerWriter
from riftdrill.load.record import encode
from riftdrill.verify.replay import cluster_bootstrap
from riftdrill.verify.report import expand
from riftdrill.verify.verifier import verify_run

pytestmark = pytest.mark.lab

PARTITIONS = 3
RECORDS = 3000
DELETED = 100  # records deleted from partition 0 after their ack


def produce_with_ledger(bootstrap: str, topic: str, ledger_path: Path, cloud: str,
                        producer_id: int, records: int) -> list[Ack]:
    """Send `records` riftdrill records keyed round-robin; every ack goes into the ledger."""
    writer = LedgerWriter(ledger_path, producer_id, cloud, [topic])
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                         "enable.idempotence": True, "linger.ms": 5})
    acks: list[Ack] = []
    failures: list[str] = []

    def on_delivery(err: object, msg: object, seq: int, send_ts_ns: int, ck: int) -> None:
        if err is not None:
            failures.append(str(err))
            return
        ack = Ack(topic=msg.topic(), partition=msg.partition(), offset=msg.offset(),  # type: ignore[attr-defined]
                  key=msg.key(), producer_id=producer_id, seq=seq, checksum=ck,  # type: ignore[attr-defined]
                  send_ts_ns=send_ts_ns, ack_ts_ns=time.time_ns())
        writer.append_ack(ack.topic, ack.partition, ack.offset, ack.key, seq, ck, send_ts_ns,
                          ack.ack_ts_ns)
        acks.append(ack)

    for seq in range(records):
        payload = f"payload-{seq}".encode() * 4
        ts = time.time_ns()
        ck = zlib.crc32(payload)
        producer.produce(topic, value=encode(producer_id, seq, ts, payload),
                         key=b"k-%d" % (seq % 16), partition=seq % PARTITIONS,
                         on_delivery=lambda e, m, s=seq, t=ts, c=ck: on_delivery(e, m, s, t, c))
        producer.poll(0)
    assert producer.flush(60) == 0
    writer.close()
    assert not failures, failures[:3]
    return acks


def test_verify_clean_then_deleted_records_are_lost(lab: Inventory, tmp_path: Path) -> None:
    cluster = lab.clusters[0]
    bootstrap = cluster_bootstrap(lab, cluster.name)
    topic = f"rd-verify-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    rf = min(lab.replication_factor, len(cluster.brokers))
    admin.create_topics([NewTopic(topic, PARTITIONS, rf)])[topic].result(30)
    try:
        run_dir = tmp_path / "run"
        (run_dir / "load" / "ledgers").mkdir(parents=True)
        acks = produce_with_ledger(bootstrap, topic, run_dir / "load" / "ledgers" / "p1.rdl",
                                   cluster.clouds[0], 4242, RECORDS)
        assert len(acks) == RECORDS

        clean = verify_run(run_dir, lab, clusters=[cluster.name])
        assert clean.passed, clean.totals
        assert clean.records_read == RECORDS
        assert not any(clean.totals.values()), clean.totals

        # Delete the first DELETED records of partition 0: acked, then gone.
        admin.delete_records([TopicPartition(topic, 0, DELETED)])[
            TopicPartition(topic, 0, DELETED)].result(30)
        acked_p0 = sorted(a.offset for a in acks if a.partition == 0)
        after = verify_run(run_dir, lab, clusters=[cluster.name])
        assert not after.passed
        assert after.totals["lost"] == DELETED
        p0 = next(p for p in after.partitions if p.topic == topic and p.partition == 0)
        assert p0.low_watermark == DELETED
        assert expand(p0.anomalies["lost"]) == acked_p0[:DELETED]
        assert after.records_read == RECORDS - DELETED
    finally:
        admin.delete_topics([topic])[topic].result(30)
