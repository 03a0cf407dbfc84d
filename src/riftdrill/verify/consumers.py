"""The consumer side of the truth: what a consumer group received and committed, against the log.

Pure functions, no Kafka. Input: each member's consumer ledger (every record it polled, every
commit result, every assignment and revocation, in the order they happened) and the replay of
the partitions it read. Jepsen's kafka checker is the model; the definitions:

- `nonmonotonic_poll`: a member polled offset o on a partition, and its previous poll of that
  partition in the same assignment epoch (no rebalance or seek between) was at o or above.
- `poll_skip`: consecutive polls in one epoch jumped from a to b > a + 1 although the replay
  read records at offsets between a and b; the skipped offsets are reported. Jepsen allows both
  when consumers subscribe because a rebalance may legitimately rewind or jump a consumer; here
  the epoch excludes polls across a rebalance or seek, so both fail.
- `undelivered`: an acked record that is in the log, received by no member of the group,
  although the group committed an offset past it. At-least-once is broken.
- `unconsumed`: the same, below no commit: the group stopped before it got there. A drill ends
  when the group has polled up to the load's fences, so this means it never got there.

Identity is (producer_id, seq); a duplicate copy received counts as received.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from riftdrill.load.consumer_ledger import (
    KIND_ASSIGN,
    KIND_COMMIT,
    KIND_POLL,
    KIND_REVOKE,
    POLL_FENCE,
    POLL_FOREIGN,
)
from riftdrill.verify.check import AckLike, PartitionRead, RecordAt, RecordId

TopicPartition = tuple[str, int]


class EntryLike(RecordAt, Protocol):
    """What the checker needs of `riftdrill.load.consumer_ledger.ConsumerEntry`."""

    @property
    def kind(self) -> int: ...
    @property
    def epoch(self) -> int: ...
    @property
    def flags(self) -> int: ...


@dataclass
class GroupOffsets:
    """Per partition: offsets flagged, what the group received, and how far it committed."""

    poll_skip: dict[TopicPartition, list[int]] = field(default_factory=lambda: defaultdict(list))
    nonmonotonic_poll: dict[TopicPartition, list[int]] = field(
        default_factory=lambda: defaultdict(list))
    received: dict[TopicPartition, set[RecordId]] = field(default_factory=lambda: defaultdict(set))
    committed: dict[TopicPartition, int] = field(default_factory=dict)
    polls: int = 0
    commits: int = 0
    failed_commits: int = 0
    rebalances: int = 0


def _existing_between(offsets: Sequence[int], low: int, high: int) -> list[int]:
    """Offsets in `offsets` (ascending) strictly between low and high."""
    return list(offsets[bisect_right(offsets, low):bisect_left(offsets, high)])


def scan_member(entries: Iterable[EntryLike], reads: Mapping[TopicPartition, PartitionRead],
                out: GroupOffsets) -> None:
    """One member's history, in order, into the group's offsets (`out`)."""
    last: dict[TopicPartition, tuple[int, int]] = {}  # tp -> (epoch, offset of last poll)
    existing: dict[TopicPartition, list[int]] = {}
    for e in entries:
        tp = (e.topic, e.partition)
        if e.kind == KIND_POLL:
            out.polls += 1
            prev = last.get(tp)
            last[tp] = (e.epoch, e.offset)
            if not e.flags & (POLL_FOREIGN | POLL_FENCE):
                out.received[tp].add((e.producer_id, e.seq))
            if prev is None or prev[0] != e.epoch:
                continue  # first poll since an assignment: a seek, not a skip
            if e.offset <= prev[1]:
                out.nonmonotonic_poll[tp].append(e.offset)
            elif e.offset > prev[1] + 1:
                read = reads.get(tp)
                if read is None:
                    continue
                offs = existing.get(tp)
                if offs is None:
                    offs = existing[tp] = sorted([*read.offsets, *read.foreign])
                skipped = _existing_between(offs, prev[1], e.offset)
                if skipped:
                    out.poll_skip[tp].extend(skipped)
        elif e.kind == KIND_COMMIT:
            if e.flags:
                out.failed_commits += 1
                continue
            out.commits += 1
            if e.offset > out.committed.get(tp, -1):
                out.committed[tp] = e.offset
        elif e.kind in (KIND_ASSIGN, KIND_REVOKE):
            out.rebalances += e.kind == KIND_ASSIGN
            last.pop(tp, None)


@dataclass
class GroupFindings:
    """Consumer anomalies of one group, per partition, as offsets."""

    poll_skip: dict[TopicPartition, list[int]]
    nonmonotonic_poll: dict[TopicPartition, list[int]]
    undelivered: dict[TopicPartition, list[int]]
    unconsumed: dict[TopicPartition, list[int]]
    offsets: GroupOffsets


def check_group(members: Iterable[Iterable[EntryLike]],
                reads: Mapping[TopicPartition, PartitionRead],
                acks: Mapping[TopicPartition, Sequence[AckLike]]) -> GroupFindings:
    """Every member's history against the replay (`reads`) and the producers' acks.

    Only acked records that the replay found in the log are judged here: a record lost from
    the log is the producer side's `lost`, counted once, there.
    """
    g = GroupOffsets()
    for entries in members:
        scan_member(entries, reads, g)
    undelivered: dict[TopicPartition, list[int]] = defaultdict(list)
    unconsumed: dict[TopicPartition, list[int]] = defaultdict(list)
    for tp, tp_acks in acks.items():
        read = reads.get(tp)
        if read is None:
            continue
        in_log = {(pid, seq): off for off, pid, seq
                  in zip(read.offsets, read.producer_ids, read.seqs, strict=True)}
        received = g.received.get(tp, set())
        committed = g.committed.get(tp, -1)
        for ack in tp_acks:
            key = (ack.producer_id, ack.seq)
            off = in_log.get(key)
            if off is None or key in received:
                continue
            (undelivered if off < committed else unconsumed)[tp].append(off)
    return GroupFindings(poll_skip=dict(g.poll_skip), nonmonotonic_poll=dict(g.nonmonotonic_poll),
                         undelivered=dict(undelivered), unconsumed=dict(unconsumed), offsets=g)
