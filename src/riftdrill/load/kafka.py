"""Kafka admin steps every load run needs first: reach the cluster, make sure the topic exists."""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from riftdrill.errors import RiftdrillError

REACH_TIMEOUT_S = 5.0


class UnreachableError(RiftdrillError):
    """No broker of the bootstrap list answered in time."""


def _admin(bootstrap: str) -> AdminClient:
    # Short timeouts everywhere: an unreachable cluster must fail in seconds, not hang.
    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "socket.connection.setup.timeout.ms": int(REACH_TIMEOUT_S * 1000),
        "reconnect.backoff.max.ms": 500,
        "logger": _quiet_logger(),
    }
    return AdminClient(conf)


def _quiet_logger() -> logging.Logger:
    """librdkafka would print every failed connect; the caller reports one line instead."""
    log = logging.getLogger("riftdrill.load.librdkafka")
    log.propagate = False
    log.addHandler(logging.NullHandler())
    return log


def check_reachable(bootstrap: str, timeout_s: float = REACH_TIMEOUT_S) -> int:
    """Number of brokers in the cluster's metadata; UnreachableError when nobody answers."""
    try:
        md = _admin(bootstrap).list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise UnreachableError(
            f"cannot reach Kafka bootstrap servers {bootstrap} within {timeout_s:g} s ({exc}); "
            "is the lab deployed (`make deploy`) and the inventory current?"
        ) from None
    return len(md.brokers)


def ensure_topic(bootstrap: str, topic: str, partitions: int, replication_factor: int) -> bool:
    """Create `topic` when missing; True if created. A refusal is one clear RiftdrillError."""
    admin = _admin(bootstrap)
    try:
        md = admin.list_topics(timeout=REACH_TIMEOUT_S)
    except KafkaException as exc:
        raise UnreachableError(f"cannot reach Kafka at {bootstrap}: {exc}") from None
    existing = md.topics.get(topic)
    if existing is not None and existing.error is None:
        return False
    futures = admin.create_topics(
        [NewTopic(topic, partitions, replication_factor)], request_timeout=REACH_TIMEOUT_S
    )
    try:
        futures[topic].result(timeout=REACH_TIMEOUT_S * 2)
    except KafkaException as exc:
        err = exc.args[0]
        if getattr(err, "name", lambda: "")() == "TOPIC_ALREADY_EXISTS":
            return False
        raise RiftdrillError(
            f"topic {topic!r} is missing and could not be created with {partitions} partitions, "
            f"RF {replication_factor}: {err}"
        ) from None
    except TimeoutError:
        raise RiftdrillError(f"creating topic {topic!r} timed out at {bootstrap}") from None
    return True


def partition_count(bootstrap: str, topic: str) -> int:
    md = _admin(bootstrap).list_topics(topic, timeout=REACH_TIMEOUT_S)
    t = md.topics.get(topic)
    return len(t.partitions) if t is not None and t.error is None else 0
