"""Engine tansu in the lab: stateless brokers on one S3 bucket (the shared-storage model)."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from riftdrill import inventory
from riftdrill.lab.stores import s3_client
from tests.conftest import ROOT, riftdrill

pytestmark = [pytest.mark.lab, pytest.mark.lab_reshape]


def produce(bootstrap: str, topic: str, values: list[bytes], timeout_s: float = 20) -> list[object]:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                         "message.timeout.ms": int(timeout_s * 1000)})
    errors: list[object] = []
    for v in values:
        producer.produce(topic, v, partition=0, on_delivery=lambda e, m: errors.append(e))
    producer.flush(timeout_s + 5)
    return errors


def read_all(bootstrap: str, topic: str, expect: int, timeout_s: float = 20) -> list[bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4().hex[:6]}",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(got) < expect and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                got.append(msg.value())
    finally:
        consumer.close()
    return got


def test_tansu_brokers_share_one_log_in_the_bucket(lab_session: None) -> None:
    riftdrill("deploy", "--engine", "tansu", "--json")
    inv = inventory.load(ROOT / ".riftdrill" / "inventory.json")
    assert inv.engine == "tansu" and inv.engine_version == "0.6.0"
    aws, gcp = inv.brokers_in("aws"), inv.brokers_in("gcp")
    topic = f"shared-{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": aws[0].bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)

    # Written through a broker in aws, read through a broker in gcp: the log is in the bucket.
    values = [f"r{i}".encode() for i in range(20)]
    assert produce(aws[0].bootstrap, topic, values) == [None] * 20
    assert read_all(gcp[0].bootstrap, topic, 20) == values
    store = inv.store("aws")
    keys = [o["Key"] for o in s3_client(store.endpoint).list_objects_v2(
        Bucket=store.buckets[0]).get("Contents", [])]
    assert any(f"/topics/{topic}/" in k for k in keys)

    # A broker dies; clients carry on through another one, nothing acknowledged is lost.
    riftdrill("fault", "kill", aws[0].name, "--json")
    more = [f"s{i}".encode() for i in range(10)]
    assert produce(aws[1].bootstrap, topic, more) == [None] * 10
    assert read_all(gcp[1].bootstrap, topic, 30) == values + more

    # The store goes away: produce fails (no silent acks) and works again after.
    riftdrill("heal", "--json")
    riftdrill("fault", "block-store", "aws", "--json")
    try:
        errors = produce(aws[1].bootstrap, topic, [b"during-outage"], timeout_s=8)
        assert errors and errors[0] is not None, "a record was acked while its store was unreachable"
    finally:
        riftdrill("fault", "unblock-store", "aws", "--json")
    assert produce(aws[1].bootstrap, topic, [b"after"], timeout_s=30) == [None]
    status = json.loads(riftdrill("status", "--json").stdout)
    assert status["faults"] == []


def test_tansu_refuses_per_cloud_with_one_line(lab_session: None) -> None:
    proc = riftdrill("deploy", "--engine", "tansu", "--topology", "per-cloud", check=False)
    assert proc.returncode == 2
    assert "tansu runs stretched only" in proc.stderr
