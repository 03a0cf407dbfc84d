"""Is a cluster serving? Registered brokers plus a real acks=all produce/consume round trip."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from riftdrill.errors import LabError
from riftdrill.security.client import OFF, ClientSecurity

HEALTH_TOPIC = "__riftdrill_health"
# Probes report failure through their result; librdkafka's own connection chatter (which goes on
# after a probe while the client is not yet collected) would only bury that.
QUIET = {"log_level": 2}


def registered_brokers(bootstrap: str, timeout_s: float = 5,
                       security: ClientSecurity = OFF) -> set[int]:
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 3000, **QUIET,
                         **security.librdkafka()})
    md = admin.list_topics(timeout=timeout_s)
    return set(md.brokers)


def round_trip(bootstrap: str, replication_factor: int, timeout_s: float = 20,
               security: ClientSecurity = OFF) -> float:
    """Produce one record with acks=all and read it back; returns the seconds it took. The lab's
    own check: with security on, as the broker principal (the super user)."""
    started = time.monotonic()
    tls = security.librdkafka()
    admin = AdminClient({"bootstrap.servers": bootstrap, **QUIET, **tls})
    futures = admin.create_topics([NewTopic(HEALTH_TOPIC, 1, replication_factor)])
    try:
        futures[HEALTH_TOPIC].result(timeout=timeout_s)
    except KafkaException as exc:
        if "TOPIC_ALREADY_EXISTS" not in str(exc):
            raise
    token = uuid.uuid4().hex.encode()
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", **QUIET, **tls,
                         "message.timeout.ms": int(timeout_s * 1000)})
    delivered: list[tuple[int, int]] = []
    errors: list[str] = []

    def on_delivery(err: object, msg: object) -> None:
        if err is not None:
            errors.append(str(err))
        else:
            delivered.append((msg.partition(), msg.offset()))  # type: ignore[attr-defined]

    producer.produce(HEALTH_TOPIC, token, on_delivery=on_delivery)
    producer.flush(timeout_s)
    if not delivered:
        raise LabError(f"health produce to {bootstrap} failed: {errors or 'timed out'}")
    partition, offset = delivered[0]
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"rd-health-{token.decode()}", **QUIET,
                         "enable.auto.commit": False, **tls})
    try:
        consumer.assign([TopicPartition(HEALTH_TOPIC, partition, offset)])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None and msg.value() == token:
                return time.monotonic() - started
    finally:
        consumer.close()
    raise LabError(f"health record produced to {bootstrap} was not read back in {timeout_s:.0f}s")


def wait_cluster_ready(bootstrap: str, broker_ids: list[int], replication_factor: int,
                       timeout_s: float = 120, security: ClientSecurity = OFF) -> float:
    started = time.monotonic()
    deadline = started + timeout_s
    missing: set[int] = set(broker_ids)
    last_error = ""
    while time.monotonic() < deadline:
        try:
            missing = set(broker_ids) - registered_brokers(bootstrap, security=security)
            if not missing:
                round_trip(bootstrap, replication_factor,
                           timeout_s=max(5.0, deadline - time.monotonic()), security=security)
                return time.monotonic() - started
        except (KafkaException, LabError) as exc:
            last_error = str(exc)
        time.sleep(0.5)
    raise LabError(f"cluster at {bootstrap} not ready in {timeout_s:.0f}s "
                   f"(brokers not registered: {sorted(missing) or 'none'}; {last_error})")
