"""The compat workflows through librdkafka (confluent-kafka): one plain function per workflow.

Each function takes the target and the client's name prefix, returns a one-line detail on
success, raises Failed (the engine misbehaved), Unavailable (no API / not deployed), or lets a
KafkaException escape (recorded as a failure with its error).
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    OffsetSpec,
    ResourcePatternType,
    ResourceType,
)

from riftdrill.compat.target import CompatTarget, Failed, Unavailable

CLIENT = "librdkafka"
Impl = Callable[[CompatTarget], str]
IMPLS: dict[str, Impl] = {}


def impl(wid: str) -> Callable[[Impl], Impl]:
    def register(fn: Impl) -> Impl:
        IMPLS[wid] = fn
        return fn
    return register


def _log() -> logging.Logger:
    log = logging.getLogger("riftdrill.compat.librdkafka")
    log.propagate = False
    log.addHandler(logging.NullHandler())
    return log


def _conf(t: CompatTarget, **extra: Any) -> dict[str, Any]:
    conf: dict[str, Any] = {"bootstrap.servers": t.bootstrap, "logger": _log(),
                            "socket.connection.setup.timeout.ms": 5000, **t.client_conf}
    conf.update({k.replace("_", "."): v for k, v in extra.items()})
    return conf


def _admin(t: CompatTarget, **extra: Any) -> AdminClient:
    return AdminClient(_conf(t, **extra))


def _wait(futures: dict[Any, Any], t: CompatTarget) -> dict[Any, Any]:
    return {k: f.result(timeout=t.timeout_s) for k, f in futures.items()}


@contextlib.contextmanager
def _topic(t: CompatTarget, name: str, partitions: int = 1,
           config: dict[str, str] | None = None) -> Iterator[str]:
    admin = _admin(t)
    _wait(admin.create_topics([NewTopic(name, partitions, replication_factor=-1,
                                        config=config or {})],
                              request_timeout=t.timeout_s), t)
    _await_leaders(t, admin, name, partitions)
    try:
        yield name
    finally:
        with contextlib.suppress(Exception):
            _wait(admin.delete_topics([name], request_timeout=t.timeout_s), t)


def _await_leaders(t: CompatTarget, admin: AdminClient, name: str, partitions: int) -> None:
    deadline = time.monotonic() + t.timeout_s
    while time.monotonic() < deadline:
        md = admin.list_topics(name, timeout=5)
        tm = md.topics.get(name)
        if tm is not None and tm.error is None and len(tm.partitions) >= partitions \
                and all(p.leader >= 0 for p in tm.partitions.values()):
            return
        time.sleep(0.2)
    raise Failed(f"topic {name} has no leader for every partition after {t.timeout_s:g} s")


def _produce(t: CompatTarget, topic: str, values: list[bytes], *, key: bytes | None = None,
             partition: int | None = None, producer: Producer | None = None,
             headers: list[tuple[str, bytes]] | None = None,
             timestamp_ms: int | None = None, **conf: Any) -> list[Message]:
    p = producer or Producer(_conf(t, **conf))
    acked: list[Message] = []
    errors: list[KafkaError] = []

    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            errors.append(err)
        else:
            acked.append(msg)

    for v in values:
        kw: dict[str, Any] = {"on_delivery": on_delivery}
        if partition is not None:
            kw["partition"] = partition
        if headers is not None:
            kw["headers"] = headers
        if timestamp_ms is not None:
            kw["timestamp"] = timestamp_ms
        p.produce(topic, v, key, **kw)
    left = p.flush(t.timeout_s)
    if errors:
        raise KafkaException(errors[0])
    if left:
        raise Failed(f"{left} records not acknowledged within {t.timeout_s:g} s")
    return acked


def _read(t: CompatTarget, topic: str, n: int, *, partitions: int = 1, start: int = OFFSET_BEGINNING,
          isolation: str = "read_uncommitted", until_s: float | None = None) -> list[Message]:
    """Assign every partition from `start` and read until n records or the deadline."""
    c = Consumer(_conf(t, group_id=f"reader-{uuid.uuid4().hex[:8]}", enable_auto_commit=False,
                       isolation_level=isolation))
    c.assign([TopicPartition(topic, p, start) for p in range(partitions)])
    out: list[Message] = []
    deadline = time.monotonic() + (until_s if until_s is not None else t.timeout_s)
    try:
        while len(out) < n and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error() is not None:
                if (err := m.error()) is not None and err.code() == KafkaError._PARTITION_EOF:
                    continue
                raise KafkaException(m.error())
            out.append(m)
    finally:
        c.close()
    return out


def _off(m: Message) -> int:
    """A delivered record's offset (-1 where the client reports none)."""
    o = m.offset()
    return -1 if o is None else o


def _part(m: Message) -> int:
    p = m.partition()
    return -1 if p is None else p


def _values(n: int, tag: str = "v") -> list[bytes]:
    return [f"{tag}-{i}".encode() for i in range(n)]


def _same_values(got: list[Message], want: list[bytes], what: str) -> None:
    seen = sorted(m.value() or b"" for m in got)
    if seen != sorted(want):
        raise Failed(f"{what}: read {len(got)} records, want {len(want)} "
                     f"(first difference {_first_diff(seen, sorted(want))})")


def _first_diff(a: list[bytes], b: list[bytes]) -> str:
    for x, y in zip(a, b, strict=False):
        if x != y:
            return f"{x!r} vs {y!r}"
    return f"length {len(a)} vs {len(b)}"


def _acks(wid: str, acks: str) -> Impl:
    def run(t: CompatTarget) -> str:
        with _topic(t, t.name(wid, CLIENT)) as topic:
            want = _values(100)
            acked = _produce(t, topic, want, acks=acks)
            got = _read(t, topic, len(want))
            _same_values(got, want, f"acks={acks}")
            if acks != "0":
                offsets = sorted(_off(m) for m in acked)
                if offsets != list(range(100)):
                    raise Failed(f"acks={acks}: offsets {offsets[:3]}..., want 0..99")
            return f"100 records acked (acks={acks}) and read back"
    return run


IMPLS["produce-acks-0"] = _acks("produce-acks-0", "0")
IMPLS["produce-acks-1"] = _acks("produce-acks-1", "1")
IMPLS["produce-acks-all"] = _acks("produce-acks-all", "all")


@impl("idempotent-producer")
def idempotent(t: CompatTarget) -> str:
    with _topic(t, t.name("idempotent-producer", CLIENT)) as topic:
        want = _values(500)
        acked = _produce(t, topic, want, enable_idempotence=True, acks="all",
                         max_in_flight_requests_per_connection=5, linger_ms=2)
        offsets = sorted(_off(m) for m in acked)
        if offsets != list(range(500)):
            raise Failed("idempotent producer's offsets are not contiguous 0..499")
        got = _read(t, topic, 501, until_s=3)
        _same_values(got, want, "idempotent")
        return "500 records, contiguous offsets, no duplicates"


@impl("keyed-partitioning")
def keyed(t: CompatTarget) -> str:
    with _topic(t, t.name("keyed-partitioning", CLIENT), partitions=4) as topic:
        p = Producer(_conf(t))
        for k in ("a", "b", "c"):
            _produce(t, topic, _values(20, k), key=k.encode(), producer=p)
        got = _read(t, topic, 60, partitions=4)
        by_key: dict[bytes, set[int]] = {}
        order: dict[bytes, list[bytes]] = {}
        for m in got:
            by_key.setdefault(m.key() or b"", set()).add(_part(m))
            order.setdefault(m.key() or b"", []).append(m.value() or b"")
        if len(got) != 60 or any(len(ps) != 1 for ps in by_key.values()):
            spread = {k.decode(): sorted(v) for k, v in by_key.items()}
            raise Failed(f"{len(got)} of 60 read; partitions per key: {spread}")
        for key, vals in order.items():
            if vals != _values(20, key.decode()):
                raise Failed(f"key {key.decode()}: records out of order")
        return "3 keys x 20 records: one partition per key, in order"


@impl("headers")
def headers(t: CompatTarget) -> str:
    with _topic(t, t.name("headers", CLIENT)) as topic:
        hdrs = [("trace", b"abc"), ("dup", b"1"), ("dup", b"2"), ("empty", b"")]
        _produce(t, topic, [b"x"], headers=hdrs)
        got = _read(t, topic, 1)
        raw: Any = got[0].headers() if got else None  # a list of (key, value) pairs as produced
        back = [(k, v or b"") for k, v in (raw or [])]
        if back != hdrs:
            raise Failed(f"headers came back as {back}, want {hdrs}")
        return "4 headers (a repeated key, an empty value) round-trip in order"


@impl("large-message")
def large(t: CompatTarget) -> str:
    max_bytes = 1_048_576
    with _topic(t, t.name("large-message", CLIENT), config={"max.message.bytes": str(max_bytes)}) as topic:
        # The limit is on the whole batch: leave room for the batch and record headers.
        fits = b"x" * (max_bytes - 200)
        _produce(t, topic, [fits], message_max_bytes=4 * max_bytes, compression_type="none")
        got = _read(t, topic, 1)
        if not got or len(got[0].value() or b"") != len(fits):
            raise Failed("the record at the limit did not come back whole")
        try:
            _produce(t, topic, [b"y" * (max_bytes + 1024)], message_max_bytes=4 * max_bytes,
                     compression_type="none", retries=0)
        except KafkaException as exc:
            if exc.args[0].code() == KafkaError.MSG_SIZE_TOO_LARGE:
                return f"{len(fits)} B accepted; {max_bytes + 1024} B refused (MESSAGE_TOO_LARGE)"
            raise Failed(f"over the limit refused with {exc.args[0].name()}, "
                         "want MESSAGE_TOO_LARGE") from None
        raise Failed(f"a record above max.message.bytes={max_bytes} was accepted")


def _compression(wid: str, codec: str) -> Impl:
    def run(t: CompatTarget) -> str:
        with _topic(t, t.name(wid, CLIENT)) as topic:
            want = [(f"{codec}-{i}-" + "z" * 200).encode() for i in range(200)]
            _produce(t, topic, want, compression_type=codec, linger_ms=20)
            _same_values(_read(t, topic, len(want)), want, codec)
            return f"200 records in {codec} batches round-trip"
    return run


for _codec in ("gzip", "snappy", "lz4", "zstd"):
    IMPLS[f"compression-{_codec}"] = _compression(f"compression-{_codec}", _codec)


def _txn_producer(t: CompatTarget, txn_id: str) -> Producer:
    p = Producer(_conf(t, transactional_id=txn_id, transaction_timeout_ms=30000))
    p.init_transactions(t.timeout_s)
    return p


@impl("transaction-commit")
def txn_commit(t: CompatTarget) -> str:
    with _topic(t, t.name("transaction-commit", CLIENT)) as topic:
        p = _txn_producer(t, t.name("transaction-commit", CLIENT, "txn"))
        p.begin_transaction()
        for v in _values(10):
            p.produce(topic, v)
        p.commit_transaction(t.timeout_s)
        _same_values(_read(t, topic, 10, isolation="read_committed"), _values(10), "committed")
        return "10 records committed, all visible to read_committed"


@impl("transaction-abort")
def txn_abort(t: CompatTarget) -> str:
    with _topic(t, t.name("transaction-abort", CLIENT)) as topic:
        p = _txn_producer(t, t.name("transaction-abort", CLIENT, "txn"))
        p.begin_transaction()
        for v in _values(10, "aborted"):
            p.produce(topic, v)
        p.flush(t.timeout_s)
        p.abort_transaction(t.timeout_s)
        p.begin_transaction()
        p.produce(topic, b"after")
        p.commit_transaction(t.timeout_s)
        committed = _read(t, topic, 2, isolation="read_committed", until_s=5)
        if [m.value() for m in committed] != [b"after"]:
            raise Failed(f"read_committed saw {[m.value() for m in committed][:3]}, want only b'after'")
        everything = _read(t, topic, 11, isolation="read_uncommitted")
        if len(everything) != 11:
            raise Failed(f"read_uncommitted saw {len(everything)} records, want 11")
        return "aborted records hidden from read_committed, visible to read_uncommitted"


@impl("read-committed-lso")
def txn_lso(t: CompatTarget) -> str:
    with _topic(t, t.name("read-committed-lso", CLIENT)) as topic:
        _produce(t, topic, [b"before"])
        p = _txn_producer(t, t.name("read-committed-lso", CLIENT, "txn"))
        p.begin_transaction()
        p.produce(topic, b"open")
        p.flush(t.timeout_s)
        _produce(t, topic, [b"after-open"])
        early = _read(t, topic, 3, isolation="read_committed", until_s=3)
        if [m.value() for m in early] != [b"before"]:
            raise Failed(f"with a transaction open read_committed saw "
                         f"{[m.value() for m in early]}, want only b'before' (stop at the LSO)")
        p.commit_transaction(t.timeout_s)
        late = _read(t, topic, 3, isolation="read_committed")
        if [m.value() for m in late] != [b"before", b"open", b"after-open"]:
            raise Failed(f"after commit read_committed saw {[m.value() for m in late]}")
        return "read_committed stopped at the open transaction and went on after its commit"


@impl("zombie-fencing")
def zombie(t: CompatTarget) -> str:
    with _topic(t, t.name("zombie-fencing", CLIENT)) as topic:
        txn_id = t.name("zombie-fencing", CLIENT, "txn")
        old = _txn_producer(t, txn_id)
        old.begin_transaction()
        old.produce(topic, b"zombie")
        old.flush(t.timeout_s)
        new = _txn_producer(t, txn_id)  # bumps the epoch: the old one is a zombie now
        new.begin_transaction()
        new.produce(topic, b"live")
        new.commit_transaction(t.timeout_s)
        try:
            old.produce(topic, b"zombie-2")
            old.commit_transaction(t.timeout_s)
        except KafkaException as exc:
            err = exc.args[0]
            if not (err.fatal() or err.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED,
                                                   KafkaError.INVALID_PRODUCER_EPOCH)):
                raise Failed(f"the zombie failed with {err.name()}, want a fencing error") from None
            got = _read(t, topic, 3, isolation="read_committed", until_s=4)
            if [m.value() for m in got] != [b"live"]:
                raise Failed(f"read_committed saw {[m.value() for m in got]}, want only b'live'") from None
            return f"the zombie was fenced ({err.name()}); only the live transaction is visible"
        raise Failed("the zombie producer committed after a newer producer took its transactional.id")


@impl("consume-transform-produce")
def ctp(t: CompatTarget) -> str:
    src_name = t.name("consume-transform-produce", CLIENT, "in")
    with _topic(t, src_name) as src, _topic(t, t.name("consume-transform-produce", CLIENT, "out")) as dst:
        _produce(t, src, _values(10))
        group = t.name("consume-transform-produce", CLIENT, "group")
        c = Consumer(_conf(t, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest",
                           isolation_level="read_committed"))
        c.subscribe([src])
        p = _txn_producer(t, t.name("consume-transform-produce", CLIENT, "txn"))
        try:
            batch: list[Message] = []
            deadline = time.monotonic() + t.timeout_s
            while len(batch) < 10 and time.monotonic() < deadline:
                m = c.poll(0.2)
                if m is not None and m.error() is None:
                    batch.append(m)
            if len(batch) != 10:
                raise Failed(f"read {len(batch)} of 10 input records")
            p.begin_transaction()
            for m in batch:
                p.produce(dst, (m.value() or b"").upper())
            p.send_offsets_to_transaction([TopicPartition(src, 0, _off(batch[-1]) + 1)],
                                          c.consumer_group_metadata(), t.timeout_s)
            p.commit_transaction(t.timeout_s)
            committed = c.committed([TopicPartition(src, 0)], timeout=t.timeout_s)[0].offset
        finally:
            c.close()
        out = _read(t, dst, 10, isolation="read_committed")
        _same_values(out, [v.upper() for v in _values(10)], "transformed")
        if committed != 10:
            raise Failed(f"the group's committed offset is {committed}, want 10")
        return "10 records transformed; output and input offsets committed in one transaction"


class _Member:
    """One group member that polls in the background of the caller's loop."""

    def __init__(self, t: CompatTarget, topic: str, group: str, **conf: Any) -> None:
        self.assigned: set[int] = set()
        self.revoked_total = 0
        self.c = Consumer(_conf(t, group_id=group, enable_auto_commit=False,
                                auto_offset_reset="earliest", session_timeout_ms=10000,
                                heartbeat_interval_ms=500, **conf))
        self.cooperative = conf.get("partition_assignment_strategy") == "cooperative-sticky"
        self.c.subscribe([topic], on_assign=self._on_assign, on_revoke=self._on_revoke)

    def _on_assign(self, c: Consumer, parts: list[TopicPartition]) -> None:
        if self.cooperative:
            self.assigned |= {p.partition for p in parts}
        else:
            self.assigned = {p.partition for p in parts}

    def _on_revoke(self, c: Consumer, parts: list[TopicPartition]) -> None:
        self.revoked_total += len(parts)
        self.assigned -= {p.partition for p in parts}

    def poll(self) -> None:
        self.c.poll(0.05)


def _settle(members: list[_Member], want: Callable[[], bool], t: CompatTarget, what: str) -> None:
    deadline = time.monotonic() + t.timeout_s * 2
    while time.monotonic() < deadline:
        for m in members:
            m.poll()
        if want():
            return
    raise Failed(f"{what}: assignments { [sorted(m.assigned) for m in members] } "
                 f"after {t.timeout_s * 2:g} s")


def _two_members(t: CompatTarget, wid: str, **conf: Any) -> tuple[_Member, _Member, str]:
    topic = t.name(wid, CLIENT)
    group = t.name(wid, CLIENT, "group")
    a = _Member(t, topic, group, **conf)
    _settle([a], lambda: a.assigned == {0, 1, 2, 3}, t, "first member")
    b = _Member(t, topic, group, **conf)
    _settle([a, b], lambda: len(a.assigned) == 2 and len(b.assigned) == 2
            and not a.assigned & b.assigned, t, "second member joins")
    return a, b, group


@impl("group-join-leave")
def join_leave(t: CompatTarget) -> str:
    with _topic(t, t.name("group-join-leave", CLIENT), partitions=4):
        a, b, _ = _two_members(t, "group-join-leave")
        b.c.close()
        _settle([a], lambda: a.assigned == {0, 1, 2, 3}, t, "after the second member left")
        a.c.close()
        return "4 partitions split 2/2, then all 4 to the member that stayed"


@impl("rebalance-eager")
def eager(t: CompatTarget) -> str:
    with _topic(t, t.name("rebalance-eager", CLIENT), partitions=4):
        a, b, _ = _two_members(t, "rebalance-eager", partition_assignment_strategy="range")
        revoked = a.revoked_total
        a.c.close()
        b.c.close()
        if revoked != 4:
            raise Failed(f"eager join revoked {revoked} of the first member's 4 partitions, want 4")
        return "the join revoked all 4 partitions of the first member, then split them 2/2"


@impl("rebalance-cooperative")
def cooperative(t: CompatTarget) -> str:
    with _topic(t, t.name("rebalance-cooperative", CLIENT), partitions=4):
        a, b, _ = _two_members(t, "rebalance-cooperative",
                               partition_assignment_strategy="cooperative-sticky")
        revoked = a.revoked_total
        a.c.close()
        b.c.close()
        if revoked != 2:
            raise Failed(f"cooperative join revoked {revoked} partitions, want 2 (only those moved)")
        return "the join revoked only the 2 partitions that moved"


@impl("static-membership")
def static(t: CompatTarget) -> str:
    with _topic(t, t.name("static-membership", CLIENT), partitions=4) as topic:
        group = t.name("static-membership", CLIENT, "group")
        conf = {"group_instance_id": "static-a"}
        a = _Member(t, topic, group, **conf)
        b = _Member(t, topic, group, group_instance_id="static-b")
        _settle([a, b], lambda: len(a.assigned) == 2 and len(b.assigned) == 2, t, "two static members")
        before = set(a.assigned)
        # A static member's close does not leave the group (librdkafka sends no LeaveGroup):
        # it comes back under the same instance id and gets the same partitions, and b keeps its.
        a.c.close()
        b_revoked = b.revoked_total
        a2 = _Member(t, topic, group, **conf)
        _settle([a2, b], lambda: a2.assigned == before, t, "the static member rejoins")
        moved = b.revoked_total - b_revoked
        a2.c.close()
        b.c.close()
        if moved:
            raise Failed(f"the rejoin revoked {moved} partitions of the other member, want 0")
        return "a static member rejoined with its own partitions; the other member kept its"


@impl("admin-groups")
def admin_groups(t: CompatTarget) -> str:
    with _topic(t, t.name("admin-groups", CLIENT)) as topic:
        group = t.name("admin-groups", CLIENT, "group")
        _produce(t, topic, [b"x"])
        c = Consumer(_conf(t, group_id=group, auto_offset_reset="earliest"))
        c.subscribe([topic])
        deadline = time.monotonic() + t.timeout_s
        while time.monotonic() < deadline and c.poll(0.2) is None:
            pass
        c.commit(asynchronous=False)
        admin = _admin(t)
        listed = admin.list_consumer_groups(request_timeout=t.timeout_s).result()
        if group not in {g.group_id for g in listed.valid}:
            raise Failed("ListGroups does not name the live group")
        desc = _wait(admin.describe_consumer_groups([group], request_timeout=t.timeout_s), t)[group]
        if len(desc.members) != 1:
            raise Failed(f"DescribeGroups: {len(desc.members)} members, want 1")
        c.close()
        _wait(admin.delete_consumer_groups([group], request_timeout=t.timeout_s), t)
        listed = admin.list_consumer_groups(request_timeout=t.timeout_s).result()
        if group in {g.group_id for g in listed.valid}:
            raise Failed("the deleted group is still listed")
        return "group listed, described (1 member), deleted"


def _group_read(t: CompatTarget, topic: str, group: str, n: int, settle_s: float | None = None,
                **conf: Any) -> list[Message]:
    """Up to `n` records as a member of `group`, committed. `settle_s`: also stop once the
    member has held its partitions that long with nothing more arriving (a read expecting
    none must not end before the member was even assigned)."""
    c = Consumer(_conf(t, group_id=group, enable_auto_commit=False, **conf))
    c.subscribe([topic])
    out: list[Message] = []
    deadline = time.monotonic() + t.timeout_s
    quiet_since: float | None = None
    try:
        while len(out) < n and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                out.append(m)
                quiet_since = None
            elif settle_s is not None and c.assignment():
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= settle_s:
                    break
        if out:
            c.commit(asynchronous=False)
    finally:
        c.close()
    return out


@impl("offset-commit-fetch")
def commit_fetch(t: CompatTarget) -> str:
    with _topic(t, t.name("offset-commit-fetch", CLIENT)) as topic:
        group = t.name("offset-commit-fetch", CLIENT, "group")
        _produce(t, topic, _values(10))
        first = _group_read(t, topic, group, 4, auto_offset_reset="earliest")
        admin = _admin(t)  # held: a client dropped before its futures complete never completes them
        committed = _wait(admin.list_consumer_group_offsets(
            [_group_request(group, topic)], request_timeout=t.timeout_s), t)[group]
        at = committed.topic_partitions[0].offset
        if at != len(first):
            raise Failed(f"committed offset fetched as {at}, want {len(first)}")
        rest = _group_read(t, topic, group, 10 - at, auto_offset_reset="earliest")
        if [m.offset() for m in rest] != list(range(at, 10)):
            raise Failed(f"a new member resumed at {[m.offset() for m in rest][:1]}, want {at}")
        return f"committed {at}, fetched {at}; a new member resumed at {at}"


def _group_request(group: str, topic: str) -> Any:
    from confluent_kafka import ConsumerGroupTopicPartitions
    return ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0)])


@impl("offset-reset")
def reset(t: CompatTarget) -> str:
    with _topic(t, t.name("offset-reset", CLIENT)) as topic:
        _produce(t, topic, _values(5))
        early = _group_read(t, topic, t.name("offset-reset", CLIENT, "e"), 5, auto_offset_reset="earliest")
        if len(early) != 5:
            raise Failed(f"earliest read {len(early)} of 5")
        latest_group = t.name("offset-reset", CLIENT, "l")
        late = _group_read(t, topic, latest_group, 1, settle_s=2, auto_offset_reset="latest")
        if late:
            raise Failed(f"latest read {len(late)} old records, want 0")
        admin = _admin(t)  # held: a client dropped before its futures complete never completes them
        from confluent_kafka import ConsumerGroupTopicPartitions
        _wait(admin.alter_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(latest_group, [TopicPartition(topic, 0, 2)])],
            request_timeout=t.timeout_s), t)
        moved = _group_read(t, topic, latest_group, 3)
        if [m.offset() for m in moved] != [2, 3, 4]:
            raise Failed(f"after the admin set offset 2 the group read {[m.offset() for m in moved]}")
        return "earliest read all, latest none; the admin's offset 2 was where the group resumed"


@impl("list-offsets-time")
def list_offsets(t: CompatTarget) -> str:
    with _topic(t, t.name("list-offsets-time", CLIENT)) as topic:
        base = int(time.time() * 1000) - 60_000
        p = Producer(_conf(t))
        for i in range(5):
            _produce(t, topic, [f"t{i}".encode()], timestamp_ms=base + i * 1000, producer=p)
        tp = TopicPartition(topic, 0)
        admin = _admin(t)

        def one(spec: Any) -> int:
            res = _wait(admin.list_offsets({tp: spec}, request_timeout=t.timeout_s), t)
            return int(res[tp].offset)

        earliest, latest = OffsetSpec.earliest(), OffsetSpec.latest()  # type: ignore[no-untyped-call]
        got = (one(earliest), one(latest), one(OffsetSpec.for_timestamp(base + 2500)))
        if got != (0, 5, 3):
            raise Failed(f"earliest/latest/by-time = {got}, want (0, 5, 3)")
        c = Consumer(_conf(t, group_id=f"r-{uuid.uuid4().hex[:6]}"))
        found = c.offsets_for_times([TopicPartition(topic, 0, base + 1000)], timeout=t.timeout_s)[0].offset
        c.close()
        if found != 1:
            raise Failed(f"the consumer's offsets_for_times gave {found}, want 1")
        return "earliest 0, latest 5, by timestamp 3 (admin) and 1 (consumer)"


@impl("seek-pause-resume")
def seek_pause(t: CompatTarget) -> str:
    with _topic(t, t.name("seek-pause-resume", CLIENT), partitions=2) as topic:
        _produce(t, topic, _values(5, "p0"), partition=0)
        _produce(t, topic, _values(5, "p1"), partition=1)
        c = Consumer(_conf(t, group_id=f"r-{uuid.uuid4().hex[:6]}", enable_auto_commit=False))
        c.assign([TopicPartition(topic, 0, 0), TopicPartition(topic, 1, 0)])
        c.pause([TopicPartition(topic, 1)])
        got: list[Message] = []
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                got.append(m)
        if {m.partition() for m in got} != {0} or len(got) != 5:
            c.close()
            raise Failed(f"while partition 1 was paused the consumer read "
                         f"{sorted({_part(m) for m in got})} ({len(got)} records)")
        c.resume([TopicPartition(topic, 1)])
        c.seek(TopicPartition(topic, 0, 3))
        more: list[Message] = []
        deadline = time.monotonic() + t.timeout_s
        while len(more) < 7 and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                more.append(m)
        c.close()
        p0 = [m.offset() for m in more if m.partition() == 0]
        if p0 != [3, 4] or len(more) != 7:
            raise Failed(f"after seek(3) and resume: partition 0 offsets {p0}, {len(more)} records")
        return "a paused partition stayed silent; resume delivered it; seek(3) replayed 3 and 4"


@impl("delete-records")
def delete_records(t: CompatTarget) -> str:
    with _topic(t, t.name("delete-records", CLIENT)) as topic:
        admin = _admin(t)  # held: a client dropped before its futures complete never completes them
        _produce(t, topic, _values(10))
        tp = TopicPartition(topic, 0, 6)
        res = _wait(admin.delete_records([tp], request_timeout=t.timeout_s), t)
        low = res[TopicPartition(topic, 0)].low_watermark if TopicPartition(topic, 0) in res \
            else next(iter(res.values())).low_watermark
        got = _read(t, topic, 10, until_s=4)
        if low != 6 or [m.offset() for m in got] != [6, 7, 8, 9]:
            raise Failed(f"after DeleteRecords(6): low watermark {low}, read {[m.offset() for m in got]}")
        return "DeleteRecords(6): log start 6, a reader from the beginning sees 6..9"


@impl("log-compaction")
def compaction(t: CompatTarget) -> str:
    config = {"cleanup.policy": "compact", "segment.ms": "100", "min.cleanable.dirty.ratio": "0.001",
              "min.compaction.lag.ms": "0", "delete.retention.ms": "100"}
    with _topic(t, t.name("log-compaction", CLIENT), config=config) as topic:
        try:
            _produce(t, topic, [b"no-key"], retries=0)
        except KafkaException as exc:
            refused = exc.args[0].name()
        else:
            raise Failed("a compacted topic accepted a record without a key")
        p = Producer(_conf(t))
        for round_ in range(5):
            _produce(t, topic, [f"k-{round_}".encode()], key=b"k", producer=p)
            time.sleep(0.2)  # past segment.ms: each value in a segment of its own
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            _produce(t, topic, [b"roll"], key=b"roller", producer=p)
            got = [m for m in _read(t, topic, 100, until_s=1.5) if m.key() == b"k"]
            if [m.value() for m in got] == [b"k-4"]:
                return f"keyless record refused ({refused}); the cleaner kept only the key's latest value"
            time.sleep(2)
        raise Failed(f"after 60 s the key still has {len(got)} values (the cleaner never compacted)")


@impl("retention")
def retention(t: CompatTarget) -> str:
    config = {"retention.ms": "1000", "segment.ms": "200"}
    with _topic(t, t.name("retention", CLIENT), config=config) as topic:
        p = Producer(_conf(t))
        _produce(t, topic, _values(5), producer=p)
        tp = TopicPartition(topic, 0)
        admin = _admin(t)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(1)
            _produce(t, topic, [b"roll"], producer=p)  # rolls the old segment out of the active one
            spec = OffsetSpec.earliest()  # type: ignore[no-untyped-call]
            start = _wait(admin.list_offsets({tp: spec}, request_timeout=t.timeout_s), t)[tp].offset
            if start >= 5:
                return f"retention.ms=1000: the log start moved to {start}"
        raise Failed("after 60 s the log start offset had not moved (retention never deleted)")


@impl("admin-topics")
def admin_topics(t: CompatTarget) -> str:
    admin = _admin(t)
    name = t.name("admin-topics", CLIENT)
    _wait(admin.create_topics([NewTopic(name, 3, replication_factor=-1)], request_timeout=t.timeout_s), t)
    try:
        try:
            _wait(admin.create_topics([NewTopic(name, 3, replication_factor=-1)],
                                      request_timeout=t.timeout_s), t)
            raise Failed("creating an existing topic succeeded")
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise Failed(f"a duplicate create failed with {exc.args[0].name()}, "
                             "want TOPIC_ALREADY_EXISTS") from None
        _await_leaders(t, admin, name, 3)  # metadata reaches each broker in its own time
        md = admin.list_topics(name, timeout=t.timeout_s).topics[name]
        if len(md.partitions) != 3:
            raise Failed(f"created with 3 partitions, metadata says {len(md.partitions)}")
    finally:
        _wait(admin.delete_topics([name], request_timeout=t.timeout_s), t)
    deadline = time.monotonic() + t.timeout_s
    while time.monotonic() < deadline:
        tm = admin.list_topics(timeout=t.timeout_s).topics.get(name)
        if tm is None or tm.error is not None:
            return "created (3 partitions), duplicate refused, deleted"
        time.sleep(0.3)
    raise Failed("the deleted topic is still in the metadata")


@impl("admin-partitions")
def add_partitions(t: CompatTarget) -> str:
    with _topic(t, t.name("admin-partitions", CLIENT), partitions=2) as topic:
        admin = _admin(t)
        _wait(admin.create_partitions([NewPartitions(topic, 5)], request_timeout=t.timeout_s), t)
        _await_leaders(t, admin, topic, 5)
        # The producer may ask a broker that has not yet heard of the new partitions (metadata
        # propagates to each broker in its own time): it retries that, as an application would.
        deadline = time.monotonic() + t.timeout_s
        while True:
            try:
                _produce(t, topic, [b"x"], partition=4)
                break
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError._UNKNOWN_PARTITION or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        return "2 -> 5 partitions; the new partition 4 takes writes"


@impl("admin-configs")
def admin_configs(t: CompatTarget) -> str:
    with _topic(t, t.name("admin-configs", CLIENT)) as topic:
        admin = _admin(t)
        res = ConfigResource(ResourceType.TOPIC, topic)
        res.add_incremental_config(ConfigEntry("retention.ms", "3600000",
                                               incremental_operation=AlterConfigOpType.SET))
        _wait(admin.incremental_alter_configs([res], request_timeout=t.timeout_s), t)
        deadline = time.monotonic() + t.timeout_s
        value = None
        while time.monotonic() < deadline:
            described = _wait(admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)],
                                                     request_timeout=t.timeout_s), t)
            entries = next(iter(described.values()))
            value = entries["retention.ms"].value if "retention.ms" in entries else None
            if value == "3600000":
                return f"DescribeConfigs: {len(entries)} entries; retention.ms set to 3600000 and read back"
            time.sleep(0.3)
        raise Failed(f"after IncrementalAlterConfigs retention.ms reads {value}, want 3600000")

@impl("admin-cluster")
def admin_cluster(t: CompatTarget) -> str:
    admin = _admin(t)  # held: a client dropped before its futures complete never completes them
    desc = admin.describe_cluster(request_timeout=t.timeout_s).result(timeout=t.timeout_s)
    if not desc.cluster_id or not desc.nodes:
        raise Failed(f"DescribeCluster: id {desc.cluster_id!r}, {len(desc.nodes)} nodes")
    racks = sorted({n.rack or "-" for n in desc.nodes})
    ctl = desc.controller.id if desc.controller is not None else None
    return f"cluster {desc.cluster_id}: {len(desc.nodes)} brokers, controller {ctl}, racks {racks}"


def _topic_acl(topic: str, principal: str, op: Any) -> AclBinding:
    return AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, f"User:{principal}",
                      "*", op, AclPermissionType.ALLOW)


@impl("acl-admin")
def acl_admin(t: CompatTarget) -> str:
    _need_security(t)  # without an authorizer the ACL API answers SECURITY_DISABLED
    admin = _admin(t)
    topic = t.name("acl-admin", CLIENT)
    binding = _topic_acl(topic, "compat-nobody", AclOperation.READ)
    _wait(admin.create_acls([binding], request_timeout=t.timeout_s), t)
    flt = AclBindingFilter(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, None, None,  # type: ignore[arg-type]
                           AclOperation.ANY, AclPermissionType.ANY)
    deadline = time.monotonic() + t.timeout_s
    while True:  # the answering broker learns of the ACL through the metadata log, in its time
        found = admin.describe_acls(flt, request_timeout=t.timeout_s).result(timeout=t.timeout_s)
        if binding in found:
            break
        if time.monotonic() > deadline:
            raise Failed(f"DescribeAcls did not return the created binding ({len(found)} found)")
        time.sleep(0.3)
    deleted = _wait(admin.delete_acls([flt], request_timeout=t.timeout_s), t)
    n = sum(len(v) for v in deleted.values())
    if n != 1:
        raise Failed(f"DeleteAcls deleted {n} bindings, want 1")
    return "ACL created, described and deleted"


def _need_security(t: CompatTarget) -> None:
    if not t.secured:
        raise Unavailable("the deploy runs without SASL/TLS (security off); deploy with "
                          "SECURITY=sasl-tls to run it")


@impl("acl-enforcement")
def acl_enforcement(t: CompatTarget) -> str:
    _need_security(t)
    limited = t.limited.principal
    with _topic(t, t.name("acl-enforcement", CLIENT)) as topic:
        as_limited: dict[str, Any] = {"sasl_username": limited, "sasl_password": t.limited.password}
        try:
            _produce(t, topic, [b"denied"], retries=0, **as_limited)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_AUTHORIZATION_FAILED:
                raise Failed(f"an unauthorised write failed with {exc.args[0].name()}, "
                             "want TOPIC_AUTHORIZATION_FAILED") from None
        else:
            raise Failed(f"{limited} wrote to {topic} without an ACL")
        admin = _admin(t)
        binding = _topic_acl(topic, limited, AclOperation.WRITE)
        _wait(admin.create_acls([binding], request_timeout=t.timeout_s), t)
        try:
            deadline = time.monotonic() + t.timeout_s
            while True:  # the grant reaches every broker through the metadata log
                try:
                    _produce(t, topic, [b"granted"], retries=0, **as_limited)
                    break
                except KafkaException:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
        finally:
            _wait(admin.delete_acls([AclBindingFilter(
                ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, None, None,  # type: ignore[arg-type]
                AclOperation.ANY, AclPermissionType.ANY)], request_timeout=t.timeout_s), t)
        return "without an ACL: TOPIC_AUTHORIZATION_FAILED; with WRITE granted: acknowledged"


@impl("sasl-scram")
def sasl(t: CompatTarget) -> str:
    _need_security(t)
    ok = AdminClient(_conf(t)).list_topics(timeout=t.timeout_s)
    seen = _refusals(_conf(t, sasl_password=t.admin.password + "-wrong"), KafkaError._AUTHENTICATION)
    if KafkaError._AUTHENTICATION not in seen:
        raise Failed(f"a wrong SCRAM password met {_names(seen) or 'nothing (accepted)'}, "
                     "want _AUTHENTICATION")
    # (no "password:" in a detail: redaction would take what follows for one)
    return (f"{len(ok.brokers)} brokers reached as {t.admin.principal}; a wrong password "
            "refused (_AUTHENTICATION)")


def _refusals(conf: dict[str, Any], want: int | None = None, wait_s: float = 6) -> list[int]:
    """The error codes a client with `conf` meets connecting within `wait_s` ([]: it got
    through); error_cb fires from poll, so the client is polled until `want` (or, without
    one, any error) is seen: a transport error may come before the one that says why."""
    seen: list[int] = []
    client = AdminClient({**conf, "error_cb": lambda err: seen.append(err.code())})  # type: ignore[dict-item]
    deadline = time.monotonic() + wait_s
    while (want not in seen if want is not None else not seen) and time.monotonic() < deadline:
        client.poll(0.2)
    return seen


def _names(codes: list[int]) -> str:
    return ", ".join(sorted({KafkaError(c).name() for c in codes}))


# A trust store of public roots only: the brokers' certificates, signed by the deploy's own
# authority, must not verify against it.
PUBLIC_ROOTS = "/etc/ssl/certs/ca-certificates.crt"


@impl("tls")
def tls(t: CompatTarget) -> str:
    _need_security(t)
    AdminClient(_conf(t)).list_topics(timeout=t.timeout_s)  # verified with the deploy's CA
    plain = {k: v for k, v in _conf(t).items() if not k.startswith(("ssl.", "sasl."))}
    plain["security.protocol"] = "PLAINTEXT"
    seen = _refusals(plain)
    if not seen:
        raise Failed("a plaintext client reached the cluster")
    refused = f"plaintext refused ({_names(seen)})"
    if not Path(PUBLIC_ROOTS).exists():
        return f"TLS verified with the deploy's CA; {refused}"
    seen = _refusals(_conf(t, ssl_ca_location=PUBLIC_ROOTS), KafkaError._SSL)
    if KafkaError._SSL not in seen:
        raise Failed(f"a client trusting only the public roots: {_names(seen) or 'accepted'}, "
                     "want _SSL (certificate verify failed)")
    return f"TLS verified with the deploy's CA; {refused}; public roots only: refused (_SSL)"


@impl("quotas")
def quotas(t: CompatTarget) -> str:
    raise Unavailable("librdkafka has no client-quota admin API (DescribeClientQuotas / "
                      "AlterClientQuotas)")


def version() -> str:
    import confluent_kafka

    return f"confluent-kafka {confluent_kafka.__version__} (librdkafka {confluent_kafka.libversion()[0]})"


def run_one(wid: str, t: CompatTarget) -> dict[str, Any]:
    """One cell as the runner reads it: a failure records its error, never stops the others."""
    start = time.monotonic()
    try:
        status, detail = "pass", IMPLS[wid](t)
    except Unavailable as exc:
        status, detail = "unavailable", str(exc)
    except Failed as exc:
        status, detail = "fail", str(exc)
    except Exception as exc:  # the client's own error is the finding
        status, detail = "fail", f"{type(exc).__name__}: {exc}"
    return {"workflow": wid, "status": status, "detail": detail,
            "duration_s": round(time.monotonic() - start, 3)}


def main(argv: list[str] | None = None) -> int:
    """`python -m riftdrill.compat.pyclient`: the same arguments and JSON lines as Compat.java
    (compat/run.py starts both): a version line, then one line per workflow as it ends."""
    import argparse
    import json
    import sys

    from riftdrill.compat.workflows import WORKFLOW_IDS
    from riftdrill.security.client import ClientSecurity

    ap = argparse.ArgumentParser(prog="riftdrill.compat.pyclient")
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--admin-config", default="", help="the principal's client file (JSON)")
    ap.add_argument("--limited-config", default="", help="a principal without write ACLs")
    ap.add_argument("--nonce", default=uuid.uuid4().hex[:6])
    ap.add_argument("--timeout-s", type=float, default=20.0)
    ap.add_argument("workflows", nargs="*")
    args = ap.parse_args(argv)
    unknown = [w for w in args.workflows if w not in IMPLS]
    if unknown:
        print(f"unknown workflow {unknown[0]!r}; workflows: {', '.join(WORKFLOW_IDS)}",
              file=sys.stderr)
        return 2
    t = CompatTarget(args.bootstrap, ClientSecurity.read(args.admin_config),
                     ClientSecurity.read(args.limited_config), args.nonce, args.timeout_s)
    print(json.dumps({"client": CLIENT, "version": version()}), flush=True)
    for wid in args.workflows or list(WORKFLOW_IDS):
        print(json.dumps(run_one(wid, t)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
