"""What the end of a hub run observes: the fence row, both tables, the CDC topic.

After the workload stopped, a fence row is committed in the source; the sink's table must show
it, and the sink's consumer group must have committed past its event, before the target table
is read (then every change before the fence that the sink will ever apply has been applied).
The CDC topic is read from its start up to the fence's event.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from riftdrill.hub import postgres
from riftdrill.hub.observed import CdcEvent, CdcOp, FenceSeen, RowState
from riftdrill.hub.pipeline import DatabaseRef
from riftdrill.hub.rows import payload, payload_crc
from riftdrill.security.client import OFF, ClientSecurity

FENCE_WAIT_S = 120.0
_OPS: dict[str, CdcOp] = {"c": "insert", "u": "update", "d": "delete", "r": "read"}


@dataclass
class Observed:
    source: dict[int, RowState]
    target: dict[int, RowState]
    cdc: dict[int, list[CdcEvent]]
    fence: FenceSeen
    cdc_events: int
    fence_wait_s: float


def _connect(db: DatabaseRef) -> Any:
    import psycopg

    return psycopg.connect(postgres.conninfo(db.address, db.port, db.dbname), autocommit=True)


def commit_fence(db: DatabaseRef, table: str, fence_id: int) -> None:
    with _connect(db) as conn:
        conn.execute(f"INSERT INTO {table} (id, version, payload) VALUES (%s, 1, %s) "
                     "ON CONFLICT (id) DO NOTHING", (fence_id, payload(fence_id, 1)))


def snapshot(db: DatabaseRef, table: str) -> dict[int, RowState] | None:
    """{id: RowState} of the workload's rows (fences left out); None: no such table."""
    import psycopg

    try:
        with _connect(db) as conn:
            rows = conn.execute(f"SELECT id, version, payload FROM {table} WHERE id >= 0").fetchall()
    except psycopg.errors.UndefinedTable:
        return None
    return {int(i): RowState(int(v), payload_crc(str(p))) for i, v, p in rows}


def has_row(db: DatabaseRef, table: str, row_id: int) -> bool:
    import psycopg

    try:
        with _connect(db) as conn:
            return conn.execute(f"SELECT 1 FROM {table} WHERE id = %s", (row_id,)).fetchone() is not None
    except (psycopg.errors.UndefinedTable, psycopg.OperationalError):
        return False


def decode_event(value: bytes | None) -> tuple[int, int, CdcOp] | None:
    """(id, ledger version, op) of a Debezium change event (JSON with schemas); None for a
    tombstone or anything that is not a row change."""
    if value is None:
        return None
    body = json.loads(value)
    data = body.get("payload", body) if isinstance(body, dict) else None
    if not isinstance(data, dict) or data.get("op") not in _OPS:
        return None
    op = _OPS[data["op"]]
    if op == "delete":
        before = data.get("before") or {}
        # The ledger numbers a delete one past the row it removed.
        return int(before["id"]), int(before["version"]) + 1, op
    after = data.get("after") or {}
    return int(after["id"]), int(after["version"]), op


def read_cdc(bootstrap: str, topic: str, fence_id: int, deadline_s: float = FENCE_WAIT_S,
             security: ClientSecurity = OFF) -> tuple[dict[int, list[CdcEvent]], bool, int]:
    """Every change event of `topic` from its start to the fence's event, per id in the order
    read; (events, fence seen, fence offset or -1)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"rd-hub-verify-{time.time_ns()}",
                         "enable.auto.commit": False, "isolation.level": "read_committed",
                         "enable.partition.eof": True, **security.librdkafka()})
    events: dict[int, list[CdcEvent]] = {}
    fence_offset = -1
    deadline = time.monotonic() + deadline_s
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        while time.monotonic() < deadline and fence_offset < 0:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error() is not None:
                # EOF, a topic not created yet, a broker away: read on until the fence or the
                # deadline (not reaching the fence is `hub_unreadable`)
                continue
            decoded = decode_event(msg.value())
            if decoded is None:
                continue
            row_id, version, op = decoded
            offset = msg.offset()
            assert offset is not None  # a record, not an event
            if row_id == fence_id:
                fence_offset = offset
                break
            if row_id < 0:
                continue  # another run's fence
            events.setdefault(row_id, []).append(CdcEvent(version, op, topic, 0, offset))
    finally:
        consumer.close()
    return events, fence_offset >= 0, fence_offset


def sink_committed_past(bootstrap: str, group: str, topic: str, offset: int,
                        deadline_s: float, security: ClientSecurity = OFF) -> bool:
    """Until the sink's consumer group has committed past `offset` (its writes before are
    flushed to the target)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "enable.auto.commit": False, **security.librdkafka()})
    deadline = time.monotonic() + deadline_s
    try:
        while time.monotonic() < deadline:
            [tp] = consumer.committed([TopicPartition(topic, 0)], timeout=5)
            if tp.offset is not None and tp.offset > offset:
                return True
            time.sleep(0.5)
        return False
    finally:
        consumer.close()


def observe(source: DatabaseRef, sink: DatabaseRef, table: str, fence_id: int, bootstrap: str,
            topic: str, sink_group: str, deadline_s: float = FENCE_WAIT_S,
            security: ClientSecurity = OFF) -> Observed:
    """Commit the fence, wait for it to arrive, then read the topic and both tables; Kafka is
    read as `security`'s principal (the verifier's)."""
    started = time.monotonic()
    commit_fence(source, table, fence_id)
    cdc, in_cdc, fence_offset = read_cdc(bootstrap, topic, fence_id, deadline_s, security)
    remaining = max(1.0, deadline_s - (time.monotonic() - started))
    in_target = False
    if in_cdc:
        in_target = sink_committed_past(bootstrap, sink_group, topic, fence_offset, remaining,
                                        security)
        in_target = in_target and has_row(sink, table, fence_id)
    fence_wait_s = time.monotonic() - started
    src = snapshot(source, table) or {}
    target = snapshot(sink, table) or {}
    return Observed(source=src, target=target, cdc=cdc,
                    fence=FenceSeen(id=fence_id, in_cdc=in_cdc, in_target=in_target),
                    cdc_events=sum(len(v) for v in cdc.values()),
                    fence_wait_s=round(fence_wait_s, 3))
