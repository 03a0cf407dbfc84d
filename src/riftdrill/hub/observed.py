"""What the end of a hub run observed, as plain values the checker (`verify.hub`) judges:
snapshots of the source and sink tables, the CDC topic read up to the fence, the fence.

The readers that build them (SQL, a Kafka consumer) live with the lab; these types keep the
checker free of both.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

# Debezium's op codes, read into the ledger's words: c -> insert, u -> update, d -> delete,
# r (a snapshot read of an existing row, not a change) -> read. Tombstones are not events.
CdcOp = Literal["insert", "update", "delete", "read"]


class RowState(NamedTuple):
    """One row of a table snapshot: `{id: RowState}`."""

    version: int
    payload_crc: int


class CdcEvent(NamedTuple):
    """One change event of the CDC topic, in the order read. A delete's version is the deleted
    row's version + 1 (the ledger's numbering; Debezium's `before` holds the row only with
    REPLICA IDENTITY FULL on the source table)."""

    version: int
    op: CdcOp
    topic: str
    partition: int
    offset: int

    @property
    def at(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


class FenceSeen(NamedTuple):
    """The fence row (`rows.fence_id`), committed in the source after the load stopped, and
    where it was seen within the deadline. With several CDC partitions, `in_cdc` means a fence
    was read on every one of them."""

    id: int
    in_cdc: bool
    in_target: bool
