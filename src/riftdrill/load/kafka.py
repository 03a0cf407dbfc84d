"""Kafka admin steps every load run needs first: reach the cluster, make sure the topic exists.

Both run as the caller's principal (`security`, OFF: plaintext); a cluster that refuses it —
a wrong password, a certificate it does not trust, an ACL it lacks — is one line naming the
principal and the fix (security/diagnose.py), not a timeout.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from riftdrill.errors import RiftdrillError
from riftdrill.security.client import OFF, ClientSecurity
from riftdrill.security.diagnose import authorization, security_failure

REACH_TIMEOUT_S = 5.0
LEADERS_TIMEOUT_S = 30.0  # a created topic's partitions get leaders in well under a second


class UnreachableError(RiftdrillError):
    """No broker of the bootstrap list answered in time."""


def _admin(bootstrap: str, security: ClientSecurity = OFF,
           errors: list[Any] | None = None) -> AdminClient:
    # Short timeouts everywhere: an unreachable cluster must fail in seconds, not hang.
    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "socket.connection.setup.timeout.ms": int(REACH_TIMEOUT_S * 1000),
        "reconnect.backoff.max.ms": 500,
        "logger": _quiet_logger() if errors is None else _capturing_logger(errors),
        **security.librdkafka(),
    }
    if errors is not None:  # why connections fail: a refused login says so only here
        conf["error_cb"] = errors.append
    return AdminClient(conf)


def _quiet_logger() -> logging.Logger:
    """librdkafka would print every failed connect; the caller reports one line instead."""
    log = logging.getLogger("riftdrill.load.librdkafka")
    log.propagate = False
    log.addHandler(logging.NullHandler())
    return log


class _Capture(logging.Handler):
    def __init__(self, into: list[Any]) -> None:
        super().__init__(logging.DEBUG)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.into) < 100:
            self.into.append(record.getMessage())


def _capturing_logger(into: list[Any]) -> logging.Logger:
    """Quiet too, but keeps what librdkafka logged: a plaintext client at a TLS listener is
    told so ("connecting to a SSL listener?") only in its log, never in an error."""
    log = logging.Logger("riftdrill.load.librdkafka.capture")  # unregistered: one per client
    log.propagate = False
    log.addHandler(_Capture(into))
    return log


def check_reachable(bootstrap: str, timeout_s: float = REACH_TIMEOUT_S,
                    security: ClientSecurity = OFF) -> int:
    """Number of brokers in the cluster's metadata; UnreachableError when nobody answers, a
    SecurityError when the cluster refuses the principal."""
    errors: list[Any] = []  # KafkaErrors and librdkafka's log lines
    admin = _admin(bootstrap, security, errors)
    try:
        md = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        admin.poll(0)  # serve the error callbacks queued while it tried
        refused = security_failure([*errors, exc.args[0]], security, bootstrap)
        if refused is not None:
            raise refused from None
        raise UnreachableError(
            f"cannot reach Kafka bootstrap servers {bootstrap} within {timeout_s:g} s ({exc}); "
            "is the lab deployed (`make deploy`) and the inventory current?"
        ) from None
    return len(md.brokers)


def ensure_topic(bootstrap: str, topic: str, partitions: int, replication_factor: int,
                 security: ClientSecurity = OFF) -> bool:
    """Create `topic` when missing; True if created. A refusal is one clear RiftdrillError."""
    admin = _admin(bootstrap, security)
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
        name = getattr(err, "name", lambda: "")()
        if name == "TOPIC_ALREADY_EXISTS":
            return False
        denied = authorization(name, security, f"creating topic {topic!r}")
        if denied is not None:
            raise denied from None
        raise RiftdrillError(
            f"topic {topic!r} is missing and could not be created with {partitions} partitions, "
            f"RF {replication_factor}: {err}"
        ) from None
    except TimeoutError:
        raise RiftdrillError(f"creating topic {topic!r} timed out at {bootstrap}") from None
    await_leaders(admin, topic, partitions)
    return True


def await_leaders(admin: AdminClient, topic: str, partitions: int,
                  timeout_s: float = LEADERS_TIMEOUT_S) -> None:
    """Return once every partition of a just-created topic has a leader in the metadata.

    CreateTopics answers when the controller has the topic, before every broker's metadata
    does: a client asking at once may be told the partition is unknown (CI saw
    _UNKNOWN_PARTITION from a watermark query right after the create)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            t = admin.list_topics(topic, timeout=REACH_TIMEOUT_S).topics.get(topic)
        except KafkaException:
            t = None
        if (t is not None and t.error is None and len(t.partitions) >= partitions
                and all(p.leader >= 0 for p in t.partitions.values())):
            return
        if time.monotonic() >= deadline:
            raise RiftdrillError(f"topic {topic!r} was created but its {partitions} partitions "
                                 f"had no leaders after {timeout_s:.0f} s: check the brokers "
                                 "with `riftdrill status`")
        time.sleep(0.2)


def partition_count(bootstrap: str, topic: str, security: ClientSecurity = OFF) -> int:
    md = _admin(bootstrap, security).list_topics(topic, timeout=REACH_TIMEOUT_S)
    t = md.topics.get(topic)
    return len(t.partitions) if t is not None and t.error is None else 0
