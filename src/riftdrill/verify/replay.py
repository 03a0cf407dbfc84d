"""Replay: read topics of one cluster from their start up to a fence, with confluent-kafka.

The verifier reads the ledgers first, then writes a fence to every partition
(`riftdrill.load.fence`), then reads each partition until it meets that fence record. Every ack
in the ledgers was given before the fence was written, so everything it could name lies before
the fence: an ack the replay did not meet on the way is lost. The replay stops at the fence
record itself, not at an offset or a high watermark, so an engine that misreports either
cannot make it stop early. A partition whose fence is not met within the deadline is marked
unfenced (the checker reports what it could not judge as `unreadable`); a cluster that cannot
be reached or does not take the fence is a ReplayError / FenceError (exit 2), never a verdict.

The topics and partitions read are those of one broker's metadata answer; an acked partition
missing from it is not judged on that word alone: the verifier asks every broker of the cluster
(verify/presence.py) whether it is gone.

A partition whose low watermark is above 0 had records deleted (DeleteRecords, retention): the
replay starts at the low watermark and the checker counts acks below it as lost. Mirrors are
read the same way up to the *source's* fence, which the mirror copies like any record.
"""

from __future__ import annotations

import time
import uuid
import zlib
from collections import deque
from collections.abc import Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from riftdrill.errors import RiftdrillError
from riftdrill.inventory import Inventory
from riftdrill.load.fence import FenceSet, fence_nonce, is_fence
from riftdrill.load.record import HEADER, HEADER_SIZE, MAGIC
from riftdrill.security.client import OFF, ClientSecurity
from riftdrill.security.diagnose import security_failure
from riftdrill.verify.check import PartitionRead

_BATCH = 10_000


class ReplayError(RiftdrillError):
    """The cluster cannot be read completely (unreachable, no leader, stalled)."""


def cluster_bootstrap(inv: Inventory, cluster: str) -> str:
    """All of a cluster's bootstrap lists: reachable even when one cloud's brokers are down."""
    servers: list[str] = []
    for lst in inv.cluster_named(cluster).bootstrap.values():
        servers += [s for s in lst.split(",") if s and s not in servers]
    return ",".join(servers)


def _consumer(bootstrap: str, security: ClientSecurity = OFF,
              errors: deque[KafkaError] | None = None) -> Consumer:
    return Consumer({
        **security.librdkafka(),
        # why a connection fails: a refused login says so only here
        **({"error_cb": errors.append} if errors is not None else {}),
        "bootstrap.servers": bootstrap,
        "group.id": f"riftdrill-verify-{uuid.uuid4().hex[:8]}",  # never committed
        "client.id": "riftdrill-verify",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",  # records deleted under us: continue at the new start
        "enable.partition.eof": True,
        "isolation.level": "read_uncommitted",  # the truth is everything in the log
        "fetch.max.bytes": 52_428_800,
        "max.partition.fetch.bytes": 8_388_608,
        "queued.max.messages.kbytes": 262_144,
        "socket.timeout.ms": 10_000,
        "log_level": 3,
    })


def _watermarks(consumer: Consumer, cluster: str, topics: Sequence[str],
                timeout_s: float, security: ClientSecurity = OFF,
                errors: Sequence[KafkaError] = ()) -> tuple[list[PartitionRead], Any]:
    """One PartitionRead per existing partition, and the cluster metadata they came from."""
    try:
        md = consumer.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        consumer.poll(0)  # serve the error callbacks queued while it tried
        refused = security_failure([*errors, exc.args[0]], security, f"cluster {cluster!r}")
        if refused is not None:
            raise refused from None
        raise ReplayError(f"cluster {cluster!r} is unreachable ({exc}); is the lab up?") from exc
    reads: list[PartitionRead] = []
    for topic in topics:
        tmd = md.topics.get(topic)
        if tmd is None or tmd.error is not None:
            continue  # one broker's answer: verify/presence.py asks them all before judging
        for p in sorted(tmd.partitions):
            try:
                wm = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
            except KafkaException as exc:
                raise ReplayError(f"{cluster}:{topic}[{p}] has no readable leader ({exc}); "
                                  "heal the cluster (`riftdrill heal`) and verify again") from exc
            if wm is None:
                raise ReplayError(f"{cluster}:{topic}[{p}]: watermark request timed out")
            reads.append(PartitionRead(cluster=cluster, topic=topic, partition=p,
                                       low_watermark=wm[0], high_watermark=wm[1]))
    return reads, md


def replay_topics(bootstrap: str, cluster: str, topics: Sequence[str], fences: FenceSet, *,
                  since_ns: int = 0, one_at_a_time: bool = False, timeout_s: float = 600.0,
                  idle_timeout_s: float = 30.0, workers: int = 1,
                  native: bool = True, security: ClientSecurity = OFF) -> list[PartitionRead]:
    """Read `topics` of `cluster` up to `fences`; one PartitionRead per existing partition.

    Records intended before `since_ns` (an earlier run into the same topic) are only counted.
    `one_at_a_time` reads one partition after another: Tansu 0.6 answers a fetch of many
    partitions so slowly that they look stalled. A partition that shows no progress for
    `idle_timeout_s`, or is not done by `timeout_s`, is left unfenced. The fast reader
    (verify/fetch.py) reads what it can unless `native` is False; librdkafka reads the rest,
    split over `workers` processes when > 1 (its per-record work is Python, bound to one core).
    Every reader reads as `security`'s principal (the verifier's: read and describe only).
    """
    deadline = time.monotonic() + timeout_s
    errors: deque[KafkaError] = deque(maxlen=32)  # the replay's lifetime: only the latest
    consumer = _consumer(bootstrap, security, errors)
    try:
        reads, md = _watermarks(consumer, cluster, topics, timeout_s=min(idle_timeout_s, 30.0),
                                security=security, errors=errors)
        rest = (reads if one_at_a_time or not native
                else _read_natively(reads, md, fences.nonce, since_ns, deadline, idle_timeout_s,
                                    security))
        if workers <= 1 or one_at_a_time or len(rest) <= 1:
            step = 1 if one_at_a_time else max(1, len(rest))
            for i in range(0, len(rest), step):
                _replay_group(consumer, rest[i : i + step], fences.nonce, deadline,
                              idle_timeout_s, since_ns)
            return reads
    finally:
        consumer.close()
    done = {(r.topic, r.partition): r for r in _replay_in_processes(
        bootstrap, rest, fences.nonce, workers, max(0.0, deadline - time.monotonic()),
        idle_timeout_s, since_ns, security)}
    return [done.get((r.topic, r.partition), r) for r in reads]


def _read_natively(reads: list[PartitionRead], md: Any, nonce: bytes, since_ns: int,
                   deadline: float, idle_timeout_s: float,
                   security: ClientSecurity = OFF) -> list[PartitionRead]:
    """Read what the fast reader (verify/fetch.py) can; returns the partitions it left for
    librdkafka (all of them when the native decoder cannot be built here)."""
    from riftdrill.native import decoder
    from riftdrill.verify.fetch import read_partitions

    dec = decoder()
    if dec is None:
        return reads
    leaders = {(t, p): pm.leader for t, tmd in md.topics.items()
               for p, pm in tmd.partitions.items()}
    brokers = {b.id: (b.host, b.port) for b in md.brokers.values()}
    left = read_partitions(reads, leaders, brokers, dec, nonce, since_ns, deadline,
                           idle_timeout_s, security)
    left_ids = {id(r) for r in left}  # identity: PartitionRead's == compares every column
    for r in reads:
        r.reader = "librdkafka" if id(r) in left_ids else "native"
    return [r for r in reads if id(r) in left_ids]


def _replay_group(consumer: Consumer, reads: Sequence[PartitionRead], nonce: bytes,
                  deadline: float, idle_timeout_s: float, since_ns: int) -> None:
    pending = {(r.topic, r.partition): r for r in reads}
    consumer.incremental_assign([TopicPartition(r.topic, r.partition, r.low_watermark)
                                 for r in reads])
    # _consume unassigns each partition as it meets its fence.
    _consume(consumer, pending, nonce, deadline, idle_timeout_s, since_ns)


def _replay_worker(bootstrap: str, reads: list[PartitionRead], nonce: bytes, timeout_s: float,
                   idle_timeout_s: float, since_ns: int,
                   security: ClientSecurity = OFF) -> list[PartitionRead]:
    """One process's share of a replay (see _replay_in_processes)."""
    from riftdrill.gcpause import gc_paused

    consumer = _consumer(bootstrap, security)
    try:
        with gc_paused():
            _replay_group(consumer, reads, nonce, time.monotonic() + timeout_s,
                          idle_timeout_s, since_ns)
        return reads
    finally:
        consumer.close()


def _replay_in_processes(bootstrap: str, reads: list[PartitionRead], nonce: bytes,
                         workers: int, timeout_s: float, idle_timeout_s: float,
                         since_ns: int, security: ClientSecurity = OFF) -> list[PartitionRead]:
    """Partitions dealt round-robin to `workers` spawned processes (spawn: this process
    already runs librdkafka threads, which a fork would copy half-way). Each returns its
    PartitionReads, merged back in the original order. The principal's settings go to each
    through the pool's pipe, never a command line."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    shares = [reads[i::workers] for i in range(workers) if reads[i::workers]]
    with ProcessPoolExecutor(len(shares), mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_replay_worker, bootstrap, share, nonce, timeout_s,
                               idle_timeout_s, since_ns, security) for share in shares]
        done = {(r.topic, r.partition): r for f in futures for r in f.result()}
    return [done[(r.topic, r.partition)] for r in reads]


def _sink(read: PartitionRead) -> tuple[PartitionRead, Any, Any, Any, Any, Any]:
    """A partition's column appenders, bound once: the hot loop calls them per record."""
    return (read, read.offsets.append, read.producer_ids.append, read.seqs.append,
            read.checksums.append, read.checksum_ok.append)


def _consume(consumer: Consumer, pending: dict[tuple[str, int], PartitionRead], nonce: bytes,
             deadline: float, idle_timeout_s: float, since_ns: int) -> None:
    unpack_header, crc32, header_size = HEADER.unpack_from, zlib.crc32, HEADER_SIZE
    sinks = {tp: _sink(r) for tp, r in pending.items()}
    last_progress = time.monotonic()
    while sinks:
        now = time.monotonic()
        if now > deadline or now - last_progress > idle_timeout_s:
            consumer.incremental_unassign(
                [TopicPartition(r.topic, r.partition) for r, *_ in sinks.values()])
            return  # left unfenced: the checker says what could not be judged
        msgs = consumer.consume(num_messages=_BATCH, timeout=1.0)
        done: list[tuple[str, int]] = []
        for msg in msgs:
            sink = sinks.get((msg.topic(), msg.partition()))  # type: ignore[arg-type]
            if sink is None:
                continue  # partition already complete; later records are not ours to judge
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue  # the fence is not there yet: keep polling until the deadline
                if err.fatal() or not err.retriable():
                    raise ReplayError(f"reading {msg.topic()}[{msg.partition()}] failed: "
                                      f"{err.str()}; was the topic deleted under the verifier? "
                                      "Verify again once the cluster is healthy")
                continue
            read, add_offset, add_pid, add_seq, add_checksum, add_ok = sink
            offset: int = msg.offset()  # type: ignore[assignment]
            value = msg.value()
            if value is not None and len(value) >= header_size and value[:4] == MAGIC:
                # Inline of riftdrill.load.record.decode: no per-record object on the hot path.
                _, pid, seq, send_ts_ns, checksum = unpack_header(value)
                if send_ts_ns < since_ns:
                    read.earlier_runs += 1
                else:
                    add_offset(offset)
                    add_pid(pid)
                    add_seq(seq)
                    add_checksum(checksum)
                    add_ok(crc32(memoryview(value)[header_size:]) == checksum)
            elif is_fence(value):
                assert value is not None
                if fence_nonce(value) == nonce:
                    read.fenced, read.fence_offset = True, offset
                    done.append((read.topic, read.partition))
                # another verification's fence: not a record of anyone's
            else:
                read.foreign.append(offset)
        if msgs:
            last_progress = now
            for read, *_ in sinks.values():  # where each partition got to, once per batch
                last = max(read.offsets[-1] if read.offsets else -1,
                           read.foreign[-1] if read.foreign else -1, read.fence_offset)
                read.high_watermark = max(read.high_watermark, last + 1)
        if done:
            for tp in dict.fromkeys(done):
                sinks.pop(tp, None)
                pending.pop(tp, None)
            consumer.incremental_unassign([TopicPartition(t, p) for t, p in dict.fromkeys(done)])
