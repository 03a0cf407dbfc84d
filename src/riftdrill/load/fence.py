"""Fences: one record per partition, written after a run's producers stopped.

A reader that has read a partition up to its fence has seen everything the run's producers
could ever have been acknowledged for there (Jepsen's final polls do the same job). The load
runner writes a fence for its consumers (they stop once they have polled past it); the verifier
writes a fresh one for its replay (so a verify run later still reads to a known end).

Value layout (big-endian): b"RDF1" | nonce 16 bytes | partition u32. Readers recognise any
RDF1 record as a fence (fences of other verifications are skipped, never "unexpected"); their
own fence by its nonce. The offset a fence was acked at is recorded, but readers stop at the
record itself: an engine that misreports offsets must not make a reader stop early.
"""

from __future__ import annotations

import json
import os
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from riftdrill.errors import RiftdrillError
from riftdrill.security.client import OFF, ClientSecurity
from riftdrill.security.diagnose import security_failure

FENCE_MAGIC = b"RDF1"
_FENCE = struct.Struct(">4s16sI")
FENCE_SIZE = _FENCE.size  # 24
WRITE_TIMEOUT_S = 30.0


class FenceError(RiftdrillError):
    """A fence could not be written: the cluster is not accepting writes."""


def fence_value(nonce: bytes, partition: int) -> bytes:
    return _FENCE.pack(FENCE_MAGIC, nonce, partition)


def is_fence(value: bytes | None) -> bool:
    return value is not None and len(value) == FENCE_SIZE and value[:4] == FENCE_MAGIC


def fence_nonce(value: bytes) -> bytes:
    return bytes(value[4:20])


@dataclass
class FenceSet:
    """The fences of one writing: nonce, and per topic the offset each partition's fence got."""

    nonce: bytes
    offsets: dict[str, dict[int, int]] = field(default_factory=dict)
    written_ns: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"nonce": self.nonce.hex(), "written_ns": self.written_ns,
                "offsets": {t: {str(p): o for p, o in ps.items()}
                            for t, ps in self.offsets.items()}}  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FenceSet:
        return cls(nonce=bytes.fromhex(data["nonce"]), written_ns=int(data.get("written_ns", 0)),
                   offsets={t: {int(p): int(o) for p, o in ps.items()}
                            for t, ps in data["offsets"].items()})  # fmt: skip

    def write(self, path: Path) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        os.replace(tmp, path)

    @classmethod
    def read(cls, path: Path) -> FenceSet:
        return cls.from_json(json.loads(path.read_text()))


def write_fences(bootstrap: str, topics: Sequence[str], timeout_s: float = WRITE_TIMEOUT_S,
                 security: ClientSecurity = OFF) -> FenceSet:
    """A fresh acks=all producer writes one fence to every partition of `topics`.

    Not idempotent, on purpose: a retried fence landing twice is harmless (readers stop at the
    first copy), and an idempotent producer first waits for a producer id (about a second on a
    busy cluster, and Tansu 0.6 fences idempotent producers).

    Raises FenceError naming the partitions that were not acknowledged within `timeout_s`.
    A topic missing from the cluster's answer gets no fence (the verifier asks every broker
    whether it is gone before judging its acks: verify/presence.py). Fences are part of the
    load's history: written as the load principal (`security`), whoever asks for them.
    """
    from confluent_kafka import KafkaException, Producer
    from confluent_kafka.admin import AdminClient

    nonce = os.urandom(16)
    fences = FenceSet(nonce=nonce)
    try:
        md = AdminClient({"bootstrap.servers": bootstrap, **security.librdkafka()}).list_topics(
            timeout=min(timeout_s, 10))
    except KafkaException as exc:
        raise FenceError(f"cannot write fences: cluster at {bootstrap} is unreachable ({exc}); "
                         "heal the cluster (`riftdrill heal`) and verify again") from None
    failures: list[str] = []
    refused: list[Any] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is not None:
            failures.append(f"{msg.topic()}[{msg.partition()}]: {err.name()}")
            refused.append(err)
        else:
            fences.offsets.setdefault(msg.topic(), {})[msg.partition()] = msg.offset()

    producer = Producer({
        "bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": False,
        "message.timeout.ms": int(timeout_s * 1000), "linger.ms": 0,
        "client.id": "riftdrill-fence", "on_delivery": on_delivery, **security.librdkafka(),
    })  # fmt: skip
    expected = 0
    for topic in topics:
        tmd = md.topics.get(topic)
        if tmd is None or tmd.error is not None:
            continue
        for p in sorted(tmd.partitions):
            producer.produce(topic, fence_value(nonce, p), partition=p)
            expected += 1
    remaining = producer.flush(timeout_s + 5)
    fences.written_ns = time.time_ns()
    got = sum(len(ps) for ps in fences.offsets.values())
    if failures or remaining or got < expected:
        denied = security_failure(refused, security, bootstrap)
        if denied is not None:
            raise denied
        what = "; ".join(failures[:5]) or f"{expected - got} not acknowledged in {timeout_s:g} s"
        raise FenceError(f"cannot write fences at {bootstrap} ({what}); the cluster is not "
                         "accepting writes: heal it (`riftdrill heal`) and verify again")
    return fences
