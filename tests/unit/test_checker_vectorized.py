"""The columnar checker (verify/vectorized.py) gives check_partition's record-by-record verdict
(check.check_records) on random histories holding every anomaly the checker knows."""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import pytest

from riftdrill.verify import check, vectorized
from riftdrill.verify.check import PartitionRead, check_partition
from riftdrill.verify.report import PartitionResult


@dataclass(frozen=True)
class A:  # an ack, as riftdrill.load.ledger.Ack carries it
    topic: str
    partition: int
    offset: int
    producer_id: int
    seq: int
    checksum: int


def history(rng: random.Random, n: int, big_ids: bool = False,
            ) -> tuple[PartitionRead, list[A], set[tuple[int, int]], set[int]]:
    pids = [rng.randrange(2**33) if big_ids else rng.randrange(1, 6) for _ in range(4)]
    read = PartitionRead(cluster="c", topic="t", partition=0, fenced=rng.random() < 0.7,
                         exists=rng.random() < 0.95, low_watermark=0)
    acks: list[A] = []
    acked: set[tuple[int, int]] = set()  # each send is acked once: its first copy's identity
    next_seq = dict.fromkeys(pids, 0)
    offset = 0
    for _ in range(n):
        pid = rng.choice(pids)
        seq = next_seq[pid]
        next_seq[pid] += 1
        if rng.random() < 0.05 and seq > 2:
            seq -= rng.randrange(1, 3)  # sent again, or late: a reorder or a duplicate
        ck = rng.randrange(2**32)
        roll = rng.random()
        if (pid, seq) in acked:
            roll = max(roll, 0.9)  # read again, not acked again
        acked.add((pid, seq))
        if roll < 0.04:
            acks.append(A("t", 0, offset + rng.randrange(0, 3), pid, seq, ck))  # never read
            continue
        if roll < 0.06:
            read.foreign.append(offset)
            offset += 1
            continue
        ok = rng.random() > 0.02
        read.append(offset, pid, seq, ck, ok)
        if roll < 0.85:
            ack_ck = ck if rng.random() > 0.02 else ck ^ 1  # not what was sent
            ack_off = offset if rng.random() > 0.03 else offset + rng.choice([-1, 1, 5, -1])
            acks.append(A("t", 0, ack_off, pid, seq, ack_ck))
        if rng.random() < 0.03:  # a retry landed twice
            offset += 1
            read.append(offset, pid, seq, ck, True)
        offset += 1
    if not read.fenced and read.offsets:
        cut = rng.randrange(len(read.offsets))
        for col in (read.offsets, read.producer_ids, read.seqs, read.checksums, read.checksum_ok):
            del col[cut:]
    rng.shuffle(acks)
    failed = {(rng.choice(pids), rng.randrange(n + 1)) for _ in range(5)}
    known = set(pids[:3])
    return read, acks, failed, known


def by_records(read: PartitionRead, acks: list[A], failed: set[tuple[int, int]],
               known: set[int], monkeypatch: pytest.MonkeyPatch) -> PartitionResult:
    with monkeypatch.context() as m:
        m.setattr(vectorized, "check_columns", lambda *_a: None)
        return check_partition(read, acks, failed, known)


@pytest.mark.parametrize("seed", range(60))
def test_columns_and_records_agree(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    read, acks, failed, known = history(rng, rng.choice([0, 1, 5, 50, 400]))
    assert vectorized.check_columns(read, acks) is not None  # the fast path was taken
    fast = check_partition(read, acks, failed, known)
    assert fast == by_records(read, acks, failed, known, monkeypatch)


@pytest.mark.parametrize("seed", range(10))
def test_with_the_readers_and_ledgers_arrays(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The arrays the fast reader and the ledger reader hand over give the same verdict."""
    rng = random.Random(1000 + seed)
    read, acks, failed, known = history(rng, 300)
    expected = by_records(read, acks, failed, known, monkeypatch)
    read.arrays = vectorized.ReadColumns(
        np.array(read.offsets, np.int64), np.array(read.producer_ids, np.int64),
        np.array(read.seqs, np.int64), np.array(read.checksums, np.int64),
        np.array(read.checksum_ok, np.bool_))
    cols = vectorized.AckColumns(*(np.array([getattr(a, f) for a in acks], np.int64)
                                   for f in ("producer_id", "seq", "offset", "checksum")))
    assert check_partition(read, acks, failed, known, cols) == expected


@pytest.mark.parametrize("seed", range(10))
def test_identities_beyond_32_bits_go_record_by_record(seed: int,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    read, acks, failed, known = history(random.Random(seed), 100, big_ids=True)
    assert vectorized.check_columns(read, acks) is None
    assert check_partition(read, acks, failed, known) == by_records(read, acks, failed, known,
                                                                    monkeypatch)


def test_an_identity_acked_twice_goes_record_by_record(monkeypatch: pytest.MonkeyPatch) -> None:
    read = PartitionRead(cluster="c", topic="t", partition=0, fenced=True)
    read.append(0, 1, 0, 7, True)
    acks = [A("t", 0, 0, 1, 0, 7), A("t", 0, 0, 1, 0, 7)]
    assert vectorized.check_columns(read, acks) is None
    result = check_partition(read, acks, set(), {1})
    assert result == by_records(read, acks, set(), {1}, monkeypatch)
    assert result.anomalies["lost"].count == 1  # the second ack finds its record taken


def test_group_acks_splits_a_ledger_by_partition() -> None:
    from riftdrill.load.ledger import KIND_ACK, KIND_ERROR, entry_dtype

    recs = np.zeros(5, entry_dtype())
    recs["kind"] = [KIND_ACK, KIND_ERROR, KIND_ACK, KIND_ACK, KIND_ACK]
    recs["topic_index"] = [0, 0, 1, 0, 0]
    recs["partition"] = [2, 2, 0, 1, 2]
    recs["offset"] = [10, -1, 20, 30, 11]
    recs["seq"] = [0, 1, 2, 3, 4]
    got = vectorized.group_acks(["a", "b"], recs)
    assert sorted(got) == [("a", 1), ("a", 2), ("b", 0)]
    assert got[("a", 2)].offsets.tolist() == [10, 11]  # ledger order kept
    assert got[("a", 2)].seqs.tolist() == [0, 4]


@pytest.mark.parametrize("chunk", [1, 2, 3, 1 << 18])
def test_group_acks_a_chunk_at_a_time_gives_the_same_groups_in_ledger_order(
        chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from riftdrill.load.ledger import KIND_ACK, KIND_ERROR, entry_dtype

    rng = np.random.default_rng(chunk)
    recs = np.zeros(200, entry_dtype())
    recs["kind"] = np.where(rng.random(200) < 0.1, KIND_ERROR, KIND_ACK)
    recs["topic_index"] = rng.integers(0, 2, 200)
    recs["partition"] = rng.integers(0, 5, 200)
    recs["offset"] = np.arange(200)
    recs["seq"] = np.arange(200) * 3
    monkeypatch.setattr(vectorized, "GROUP_CHUNK", chunk)
    got = vectorized.group_acks(["a", "b"], recs)
    acks = recs[recs["kind"] == KIND_ACK]
    want = {(["a", "b"][t], p) for t, p in zip(acks["topic_index"].tolist(),
                                               acks["partition"].tolist(), strict=True)}
    assert list(got) == sorted(want)
    for (topic, part), cols in got.items():
        mine = acks[(acks["topic_index"] == ["a", "b"].index(topic)) & (acks["partition"] == part)]
        assert cols.offsets.tolist() == mine["offset"].tolist()
        assert cols.seqs.tolist() == mine["seq"].tolist()
    assert vectorized.group_acks(["a"], recs[recs["kind"] == KIND_ERROR]) == {}


def test_the_check_module_documents_its_two_paths() -> None:
    assert check.check_records.__doc__ and "columnar" in check.check_records.__doc__


def test_the_random_histories_hold_every_anomaly() -> None:
    """Else the agreement above would prove less than it says."""
    seen: set[str] = set()
    for seed in range(60):
        rng = random.Random(seed)
        read, acks, failed, known = history(rng, rng.choice([0, 1, 5, 50, 400]))
        seen |= {k for k, a in check_partition(read, acks, failed, known).anomalies.items()
                 if a.count}
    assert seen == {"lost", "inconsistent_offset", "unreadable", "duplicates", "reordered",
                    "corrupt", "unexpected", "failed_present", "unacknowledged"}


def test_a_ledger_added_as_records_is_judged_like_one_added_as_objects() -> None:
    """add_records (the verifier's own ledger read) and add_entries (a drill's ledgers read
    once as objects) give the same acks, failed sends and counts."""
    from riftdrill.load.ledger import KIND_ACK, KIND_ERROR, entry_dtype
    from riftdrill.verify.check import ClusterLedger, ColumnAck

    recs = np.zeros(4, entry_dtype())
    recs["kind"] = [KIND_ACK, KIND_ERROR, KIND_ACK, KIND_ACK]
    recs["topic_index"] = [0, 1, 0, 1]
    recs["partition"] = [0, 3, 0, 2]
    recs["offset"] = [5, -1, 6, 9]
    recs["producer_id"] = 7
    recs["seq"] = [1, 2, 3, 4]
    recs["checksum"] = [11, 12, 13, 14]
    by_records = ClusterLedger()
    by_records.add_records(["a", "b"], recs)
    assert (by_records.n_acks, by_records.n_errors) == (3, 1)
    assert by_records.failed == {"b": {(7, 2)}} and by_records.topics == {"a", "b"}
    acks = by_records.acks[("a", 0)]
    assert len(acks) == 2 and acks.columns() is not None  # nothing made yet
    assert list(acks) == [ColumnAck("a", 0, 5, 7, 1, 11), ColumnAck("a", 0, 6, 7, 3, 13)]
    acks.add_objects([ColumnAck("a", 0, 8, 7, 5, 15)])
    assert len(acks) == 3 and acks.columns() is None and acks[-1].offset == 6
