"""Consumer checks on crafted member histories: one test per anomaly, with its offsets."""

from __future__ import annotations

from dataclasses import dataclass

from riftdrill.load.consumer_ledger import (
    KIND_ASSIGN,
    KIND_COMMIT,
    KIND_POLL,
    KIND_REVOKE,
    POLL_FENCE,
)
from riftdrill.load.ledger import Ack
from riftdrill.verify.check import PartitionRead
from riftdrill.verify.consumers import check_group

PID = 7
TP = ("t", 0)


@dataclass(frozen=True)
class Entry:
    kind: int
    offset: int
    epoch: int = 1
    seq: int = -1
    flags: int = 0
    topic: str = "t"
    partition: int = 0
    producer_id: int = PID


def poll(offset: int, epoch: int = 1, flags: int = 0) -> Entry:
    return Entry(KIND_POLL, offset, epoch, seq=offset, flags=flags)


def commit(offset: int, epoch: int = 1, error: int = 0) -> Entry:
    return Entry(KIND_COMMIT, offset, epoch, flags=error)


def assign(offset: int, epoch: int) -> Entry:
    return Entry(KIND_ASSIGN, offset, epoch)


def log_of(n: int) -> PartitionRead:
    """Offsets 0..n-1 hold seq == offset of one producer; the replay met its fence."""
    read = PartitionRead(cluster="main", topic="t", partition=0, fenced=True)
    for o in range(n):
        read.append(o, PID, o, 0, True)
    return read


def acks_of(n: int) -> dict[tuple[str, int], list[Ack]]:
    return {TP: [Ack("t", 0, o, None, PID, o, 0, 0, 0) for o in range(n)]}


def test_a_member_that_read_everything_and_committed_is_clean() -> None:
    member = [assign(0, 1), *(poll(o) for o in range(5)), commit(5), poll(5, flags=POLL_FENCE)]
    f = check_group([member], {TP: log_of(5)}, acks_of(5))
    assert (f.poll_skip, f.nonmonotonic_poll, f.undelivered, f.unconsumed) == ({}, {}, {}, {})
    assert f.offsets.committed == {TP: 5} and f.offsets.polls == 6


def test_skip_over_existing_offsets_within_an_epoch() -> None:
    member = [assign(0, 1), poll(0), poll(1), poll(4), poll(5), commit(6)]
    f = check_group([member], {TP: log_of(6)}, acks_of(6))
    assert f.poll_skip == {TP: [2, 3]}
    assert f.undelivered == {TP: [2, 3]}  # committed past them, nobody received them


def test_a_jump_across_a_rebalance_is_a_seek_not_a_skip() -> None:
    member = [assign(0, 1), poll(0), poll(1), Entry(KIND_REVOKE, -1, 2), assign(4, 3), poll(4)]
    other = [assign(2, 1), poll(2), poll(3)]
    f = check_group([member, other], {TP: log_of(5)}, acks_of(5))
    assert f.poll_skip == {} and f.undelivered == {} and f.nonmonotonic_poll == {}


def test_going_backwards_within_an_epoch_is_nonmonotonic() -> None:
    member = [assign(0, 1), poll(0), poll(1), poll(2), poll(1), poll(2)]
    f = check_group([member], {TP: log_of(3)}, acks_of(3))
    assert f.nonmonotonic_poll == {TP: [1]}


def test_never_received_above_the_last_commit_is_unconsumed() -> None:
    member = [assign(0, 1), poll(0), poll(1), commit(2)]
    f = check_group([member], {TP: log_of(5)}, acks_of(5))
    assert f.undelivered == {} and f.unconsumed == {TP: [2, 3, 4]}


def test_a_failed_commit_does_not_count_as_committed() -> None:
    member = [assign(0, 1), poll(0), commit(3, error=27)]
    f = check_group([member], {TP: log_of(3)}, acks_of(3))
    assert f.undelivered == {} and f.unconsumed == {TP: [1, 2]}
    assert f.offsets.failed_commits == 1


def test_a_record_lost_from_the_log_is_not_also_undelivered() -> None:
    read = log_of(3)
    del read.offsets[1], read.producer_ids[1], read.seqs[1], read.checksums[1]
    del read.checksum_ok[1]
    member = [assign(0, 1), poll(0), poll(2), commit(3)]
    f = check_group([member], {TP: read}, acks_of(3))
    assert f.undelivered == {} and f.poll_skip == {}  # offset 1 holds nothing to skip
