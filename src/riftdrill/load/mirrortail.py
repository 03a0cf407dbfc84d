"""Reading a mirror on its target cluster: the mirror tail and the failover consumer.

One small process (plain confluent-kafka, no Locust), started inside the target cloud's
namespace, writing a consumer ledger (consumer_ledger.py, RDC1) of every record it polls:

- `tail`: every partition of the mirror topic (MirrorMaker 2's `<source>.<topic>`) from the
  beginning, no group. A poll's time is when the record became visible in the mirror; joined
  with the source producers' acks (chaos/replication.py) it is the replication lag.
- `failover`: the source's consumer group resumes on the target cluster. Its start positions
  are MirrorMaker 2's checkpoints of the group (`<source>.checkpoints.internal` on the target,
  what RemoteClusterUtils.translateOffsets reads); a partition without one starts at the
  first offset it holds (the group's `auto.offset.reset=earliest`). It consumes and commits under its own
  group id, and writes the checkpoints it started from next to its ledger
  (`<ledger>.checkpoints.json`: chaos/failover.py reports their age).

SIGTERM ends it. The tail then reads on until it polled the source's fence in every partition
(load/fences.json: the fence is mirrored like any record) or `--fence-wait-s` passed; the
failover consumer commits and exits at once (the group moves back: a failback). Every loop is
bounded by `--max-s`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import struct
import sys
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
)

from riftdrill.load.consumer_ledger import (
    POLL_CORRUPT,
    POLL_EARLIER_RUN,
    POLL_FENCE,
    POLL_FOREIGN,
    ConsumerLedgerWriter,
)
from riftdrill.load.endrun import FENCES_FILE, fences_of, load_fences
from riftdrill.load.fence import FenceSet, fence_nonce, is_fence
from riftdrill.load.record import HEADER, HEADER_SIZE, MAGIC
from riftdrill.security.client import FOLLOW_CHECK_S, OFF, ClientSecurity, Follower

CHECKPOINTS_SUFFIX = ".checkpoints.json"
COMMIT_INTERVAL_S = 1.0
METADATA_TIMEOUT_S = 5.0
_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_CHECKPOINT_VALUE = struct.Struct(">hqq")  # version, upstream offset, downstream offset


def mirror_topic(source_cluster: str, topic: str) -> str:
    """MirrorMaker 2's DefaultReplicationPolicy name of `topic` on the target."""
    return f"{source_cluster}.{topic}"


def checkpoints_topic(source_cluster: str) -> str:
    return f"{source_cluster}.checkpoints.internal"


@dataclass(frozen=True)
class Checkpoint:
    """One MirrorMaker 2 checkpoint: the group's committed offset upstream and its translation."""

    group: str
    topic: str  # as MirrorMaker 2 names it on the target (the mirror topic)
    partition: int
    upstream_offset: int
    downstream_offset: int
    ts_ms: int  # the checkpoint record's timestamp: when MirrorMaker 2 emitted it


def _string(buf: bytes, at: int) -> tuple[str, int]:
    (n,) = _I16.unpack_from(buf, at)
    if n < 0 or at + 2 + n > len(buf):
        raise ValueError("string past the end")
    return buf[at + 2: at + 2 + n].decode(), at + 2 + n


def decode_checkpoint(key: bytes | None, value: bytes | None, ts_ms: int) -> Checkpoint | None:
    """MirrorMaker 2's Checkpoint record (Kafka protocol types: key = group STRING, topic
    STRING, partition INT32; value = version INT16, upstream INT64, downstream INT64, metadata
    STRING); None for anything else."""
    if not key or not value:
        return None
    try:
        group, at = _string(key, 0)
        topic, at = _string(key, at)
        (partition,) = _I32.unpack_from(key, at)
        _, upstream, downstream = _CHECKPOINT_VALUE.unpack_from(value, 0)
    except (ValueError, struct.error, UnicodeDecodeError):
        return None
    return Checkpoint(group, topic, partition, upstream, downstream, ts_ms)


def latest_checkpoints(records: list[tuple[bytes | None, bytes | None, int]], group: str,
                       topic: str) -> dict[int, Checkpoint]:
    """The newest checkpoint per partition of `group` on `topic`, from (key, value, ts_ms)
    records in log order (a later record replaces an earlier one, as compaction would)."""
    out: dict[int, Checkpoint] = {}
    for key, value, ts_ms in records:
        cp = decode_checkpoint(key, value, ts_ms)
        if cp is not None and cp.group == group and cp.topic == topic:
            out[cp.partition] = cp
    return out


def _consumer(bootstrap: str, group: str, client_id: str,
              security: ClientSecurity = OFF) -> Consumer:
    return Consumer({
        "bootstrap.servers": bootstrap, "group.id": group, "client.id": client_id,
        "enable.auto.commit": False, "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest", "socket.timeout.ms": 30000,
        "topic.metadata.refresh.interval.ms": 2000, **security.librdkafka(),
    })


def read_checkpoints(bootstrap: str, source_cluster: str, group: str, topic: str,
                     timeout_s: float, security: ClientSecurity = OFF) -> dict[int, Checkpoint]:
    """Every checkpoint of `group` on the mirror `topic`, read now up to the high watermark of
    the checkpoints topic; {} when there is none (or the topic does not exist yet)."""
    c = _consumer(bootstrap, f"riftdrill-checkpoint-reader-{os.getpid()}", "riftdrill-checkpoints",
                  security)
    deadline = time.monotonic() + timeout_s
    try:
        name = checkpoints_topic(source_cluster)
        md = c.list_topics(name, timeout=min(METADATA_TIMEOUT_S, timeout_s))
        meta = md.topics.get(name)
        if meta is None or meta.error is not None or not meta.partitions:
            return {}
        ends: dict[int, int] = {}
        for p in meta.partitions:
            ends[p] = c.get_watermark_offsets(TopicPartition(name, p),
                                              timeout=METADATA_TIMEOUT_S, cached=False)[1]
        pending = {p for p, end in ends.items() if end > 0}
        c.assign([TopicPartition(name, p, OFFSET_BEGINNING) for p in pending])
        records: list[tuple[bytes | None, bytes | None, int]] = []
        while pending and time.monotonic() < deadline:
            for m in c.consume(num_messages=1000, timeout=0.5):
                if m.error() is not None:
                    continue
                records.append((m.key(), m.value(), m.timestamp()[1]))
                if (m.offset() or 0) + 1 >= ends[m.partition() or 0]:
                    pending.discard(m.partition() or 0)
        return latest_checkpoints(records, group, topic)
    finally:
        c.close()


class _Stop:
    def __init__(self) -> None:
        self.at: float | None = None

    def __call__(self, signum: int, frame: object) -> None:
        if self.at is None:
            self.at = time.monotonic()


@dataclass
class Options:
    mode: str  # "tail" | "failover"
    bootstrap: str
    topic: str  # the mirror topic on the target
    source_cluster: str
    cluster: str  # the target cluster
    cloud: str
    ledger: Path
    run_start_ns: int
    max_s: float
    fence_wait_s: float = 60.0
    load_dir: Path | None = None  # for the tail's fences
    group: str = ""  # failover: its own group id
    source_group: str = ""  # failover: the group whose checkpoints it starts from
    security_file: str = ""  # the load principal's client file ("": plaintext)


def _partitions(c: Consumer, topic: str, deadline: float, stop: _Stop) -> list[int]:
    """The mirror topic's partitions, waiting for MirrorMaker 2 to create it."""
    while time.monotonic() < deadline and stop.at is None:
        try:
            meta = c.list_topics(topic, timeout=METADATA_TIMEOUT_S).topics.get(topic)
        except KafkaException:
            meta = None
        if meta is not None and meta.error is None and meta.partitions:
            return sorted(meta.partitions)
        time.sleep(1.0)
    return []


def _low_watermark(c: Consumer, topic: str, partition: int) -> int:
    try:
        low: int = c.get_watermark_offsets(TopicPartition(topic, partition),
                                           timeout=METADATA_TIMEOUT_S, cached=False)[0]
        return low
    except KafkaException:
        return OFFSET_BEGINNING  # unknown: librdkafka resolves it (recorded as -2)


def _fence_nonce(load_dir: Path | None, source_cluster: str) -> bytes | None:
    if load_dir is None:
        return None
    outcomes = load_fences(load_dir / FENCES_FILE)
    if outcomes is None:
        return None
    fences = fences_of(outcomes, source_cluster)
    return fences.nonce if isinstance(fences, FenceSet) else b""  # b"": none will ever come


def run(o: Options) -> int:
    stop = _Stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    deadline = time.monotonic() + o.max_s
    failover = o.mode == "failover"
    group = o.group if failover else f"riftdrill-mirror-tail-{os.getpid()}"
    security = ClientSecurity.read(o.security_file)
    c = _consumer(o.bootstrap, group, f"riftdrill-{o.mode}", security)
    ledger = ConsumerLedgerWriter(o.ledger, group=group if failover else "", client_id=o.mode,
                                  cloud=o.cloud, topics=[o.topic], run_start_ns=o.run_start_ns,
                                  bootstrap=o.bootstrap, cluster=o.cluster)  # fmt: skip
    try:
        parts = _partitions(c, o.topic, deadline, stop)
        # From the beginning means the first offset the partition holds now, written down as
        # that offset (the failover's figures compare positions).
        starts = {p: _low_watermark(c, o.topic, p) for p in parts}
        if failover and parts:
            cps = read_checkpoints(o.bootstrap, o.source_cluster, o.source_group, o.topic,
                                   timeout_s=30.0, security=security)  # fmt: skip
            starts.update({p: cp.downstream_offset for p, cp in cps.items() if p in starts})
            side = o.ledger.with_name(o.ledger.name + CHECKPOINTS_SUFFIX)
            side.write_text(json.dumps({"source_group": o.source_group, "read_ns": time.time_ns(),
                                        "checkpoints": [asdict(cp) for cp in cps.values()]})
                            + "\n")  # fmt: skip
        now = time.time_ns()
        for p in parts:
            ledger.assign(0, p, starts[p], 1, group, now)
        assigned = [TopicPartition(o.topic, p, off) for p, off in starts.items()]
        if not failover and o.source_group:
            # The run group's checkpoints as MirrorMaker 2 emits them, beside the records
            cp_topic = checkpoints_topic(o.source_cluster)
            assigned += [TopicPartition(cp_topic, p, OFFSET_BEGINNING)
                         for p in _partitions(c, cp_topic, time.monotonic() + 10, stop)]
        c.assign(assigned)
        ledger.flush()
        _consume(c, o, ledger, parts, stop, deadline, failover, Follower(security))
    finally:
        ledger.close()
        c.close()
    return 0


def checkpoint_log_path(ledger: Path) -> Path:
    """The tail's log of the run group's checkpoints: one JSON line per checkpoint record."""
    return ledger.with_name(ledger.name + ".checkpoints.jsonl")


def _log_checkpoint(out: Any, o: Options, key: bytes | None, value: bytes | None,
                    ts_ms: int) -> None:
    cp = decode_checkpoint(key, value, ts_ms)
    if cp is not None and cp.group == o.source_group and cp.topic == o.topic:
        out.write(json.dumps({**asdict(cp), "polled_ns": time.time_ns()}) + "\n")


def _consume(c: Consumer, o: Options, ledger: ConsumerLedgerWriter, parts: list[int],
             stop: _Stop, deadline: float, failover: bool, login: Follower) -> None:
    if failover or not o.source_group:
        _poll_loop(c, o, ledger, parts, stop, deadline, failover, None, login)
        return
    with open(checkpoint_log_path(o.ledger), "a") as cps:
        _poll_loop(c, o, ledger, parts, stop, deadline, failover, cps, login)


def _poll_loop(c: Consumer, o: Options, ledger: ConsumerLedgerWriter, parts: list[int],
               stop: _Stop, deadline: float, failover: bool, cps: Any, login: Follower) -> None:
    login_checked = time.monotonic()
    fenced: set[int] = set()
    nonce: bytes | None = None
    positions: dict[int, int] = {}
    last_commit = time.monotonic()
    unpack, crc32, start_ns = HEADER.unpack_from, zlib.crc32, o.run_start_ns
    while time.monotonic() < deadline:
        if time.monotonic() - login_checked >= FOLLOW_CHECK_S:
            login_checked = time.monotonic()
            rotated = login.changed()  # a rotation swapped the client file (security/rotation.py)
            if rotated is not None:
                c.set_sasl_credentials(rotated.principal, rotated.password)
        if stop.at is not None:
            if failover:
                break
            nonce = nonce or _fence_nonce(o.load_dir, o.source_cluster)
            if nonce == b"" or len(fenced) >= len(parts) or \
                    time.monotonic() - stop.at >= o.fence_wait_s:
                break
        for m in c.consume(num_messages=1000, timeout=0.2):
            err = m.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    print(f"consume: {err}", file=sys.stderr, flush=True)
                continue
            if m.topic() != o.topic:
                if cps is not None:
                    _log_checkpoint(cps, o, m.key(), m.value(), m.timestamp()[1])
                continue
            value, p, off, now = m.value(), m.partition() or 0, m.offset() or 0, time.time_ns()
            positions[p] = off + 1
            if value is not None and len(value) >= HEADER_SIZE and value[:4] == MAGIC:
                _, pid, seq, intended, crc = unpack(value)
                flags = 0 if crc32(memoryview(value)[HEADER_SIZE:]) == crc else POLL_CORRUPT
                if intended < start_ns:
                    flags |= POLL_EARLIER_RUN
                try:
                    ledger.poll(0, p, off, 1, pid, crc, seq, intended, now, flags)
                except struct.error:
                    ledger.poll(0, p, off, 1, 0, 0, 0, 0, now, POLL_FOREIGN | flags)
            elif is_fence(value):
                assert value is not None
                got = fence_nonce(value)
                ledger.poll(0, p, off, 1, 0, crc32(got), 0, 0, now, POLL_FENCE)
                nonce = nonce or _fence_nonce(o.load_dir, o.source_cluster)
                if nonce and got == nonce:
                    fenced.add(p)
            else:
                ledger.poll(0, p, off, 1, 0, 0, 0, 0, now, POLL_FOREIGN)
        if failover and positions and time.monotonic() - last_commit >= COMMIT_INTERVAL_S:
            _commit(c, o.topic, positions, ledger)
            last_commit = time.monotonic()
        ledger.maybe_flush()
    if failover and positions:
        _commit(c, o.topic, positions, ledger)


def _commit(c: Consumer, topic: str, positions: dict[int, int],
            ledger: ConsumerLedgerWriter) -> None:
    code = 0
    try:
        c.commit(offsets=[TopicPartition(topic, p, o) for p, o in positions.items()],
                 asynchronous=False)
    except KafkaException as exc:
        code = exc.args[0].code() if exc.args and hasattr(exc.args[0], "code") else -1
    now = time.time_ns()
    for p, o in positions.items():
        ledger.commit(0, p, o, 1, code, now)


def parse(argv: list[str]) -> Options:
    ap = argparse.ArgumentParser(prog="python -m riftdrill.load.mirrortail",
                                 description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("mode", choices=["tail", "failover"])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--source-cluster", required=True)
    ap.add_argument("--cluster", required=True)
    ap.add_argument("--cloud", required=True)
    ap.add_argument("--ledger", required=True, type=Path)
    ap.add_argument("--run-start-ns", required=True, type=int)
    ap.add_argument("--max-s", required=True, type=float)
    ap.add_argument("--fence-wait-s", type=float, default=60.0)
    ap.add_argument("--load-dir", type=Path)
    ap.add_argument("--group", default="")
    ap.add_argument("--source-group", default="")
    ap.add_argument("--security-file", default="", help="the principal's client file")
    a = ap.parse_args(argv)
    if a.mode == "failover" and not (a.group and a.source_group):
        ap.error("failover needs --group and --source-group")
    return Options(mode=a.mode, bootstrap=a.bootstrap, topic=a.topic,
                   source_cluster=a.source_cluster, cluster=a.cluster, cloud=a.cloud,
                   ledger=a.ledger, run_start_ns=a.run_start_ns, max_s=a.max_s,
                   fence_wait_s=a.fence_wait_s, load_dir=a.load_dir, group=a.group,
                   source_group=a.source_group, security_file=a.security_file)


def command(o: Options) -> list[str]:
    """The argv that runs `o` (namespace prefix not included)."""
    argv = [sys.executable, "-m", "riftdrill.load.mirrortail", o.mode, "--bootstrap", o.bootstrap,
            "--topic", o.topic, "--source-cluster", o.source_cluster, "--cluster", o.cluster,
            "--cloud", o.cloud, "--ledger", str(o.ledger), "--run-start-ns", str(o.run_start_ns),
            "--max-s", repr(float(o.max_s)), "--fence-wait-s", repr(float(o.fence_wait_s))]
    if o.load_dir is not None:
        argv += ["--load-dir", str(o.load_dir)]
    if o.group:
        argv += ["--group", o.group]
    if o.source_group:
        argv += ["--source-group", o.source_group]
    if o.security_file:
        argv += ["--security-file", o.security_file]
    return argv


def main(argv: list[str] | None = None) -> int:
    return run(parse(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())

