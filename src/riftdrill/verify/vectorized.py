"""check_partition on columns: the same verdict as the record-by-record checker, with numpy.

A verify of a million records spent most of its checking time in two Python loops (one over
the read records for duplicates and reorders, one over the acks with dict lookups on tuples).
Here a record's identity (producer id, seq) is packed into one uint64, so the first copy of
each identity, the duplicates, the reorders per producer and the ack matches are sorts and
searches on arrays. Only what is off the fast path — acks whose record is missing or read
elsewhere, records nobody acked — goes through Python, one by one, as in check.py.

It applies when every producer id and seq fits in 32 bits (riftdrill's ledgers store producer
ids as u32) and no identity is acked twice in the partition; otherwise `check_columns` returns
None and check.py's record-by-record path judges. tests/unit/test_checker_vectorized.py holds
the two to the same results on random histories with every anomaly.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING

import numpy as np

from riftdrill.load.ledger import KIND_ACK

if TYPE_CHECKING:
    from riftdrill.verify.check import AckLike, PartitionRead, RecordId

_FITS = 1 << 32
_PID, _SEQ, _OFFSET, _CHECKSUM = (attrgetter(f) for f in ("producer_id", "seq", "offset",
                                                           "checksum"))


class Found:
    """What check_partition reports, as offset lists (any order; anomaly_from_offsets sorts)."""

    __slots__ = ("corrupt", "duplicates", "inconsistent", "lost", "reordered", "unmatched",
                 "unreadable")

    def __init__(self) -> None:
        self.duplicates: list[int] = []
        self.reordered: list[int] = []
        self.corrupt: list[int] = []
        self.lost: list[int] = []
        self.unreadable: list[int] = []
        self.inconsistent: list[int] = []
        self.unmatched: list[tuple[RecordId, int]] = []  # read, not acked: (identity, offset)


@dataclass(frozen=True, slots=True)
class ReadColumns:
    """A PartitionRead's columns as arrays, as the fast replay reader decoded them (numpy
    makes these from Python lists ~5x slower than it makes lists from them)."""

    offsets: np.ndarray  # int64
    producer_ids: np.ndarray  # int64
    seqs: np.ndarray  # int64
    checksums: np.ndarray  # int64
    checksum_ok: np.ndarray  # bool

    @classmethod
    def concat(cls, parts: Sequence[ReadColumns]) -> ReadColumns:
        if len(parts) == 1:
            return parts[0]
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) if parts
                     else np.empty(0, np.bool_ if f == "checksum_ok" else np.int64)
                     for f in cls.__slots__))


@dataclass(frozen=True, slots=True)
class AckColumns:
    """One partition's acks as arrays, in ledger order (ledger files in the order read)."""

    producer_ids: np.ndarray  # int64
    seqs: np.ndarray  # int64
    offsets: np.ndarray  # int64
    checksums: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.offsets)

    @classmethod
    def concat(cls, parts: Sequence[AckColumns]) -> AckColumns:
        if len(parts) == 1:
            return parts[0]
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in cls.__slots__))


GROUP_CHUNK = 1 << 18  # entries grouped at a time: their columns stay in the CPU's cache


def group_acks(topics: Sequence[str], entries: np.ndarray) -> dict[tuple[str, int], AckColumns]:
    """A ledger's acks (ENTRY_DTYPE records, riftdrill.load.ledger) per (topic, partition), in
    ledger order within each. Linear in the entries (results/bench/scale.json): a chunk at a
    time, whose columns stay in cache; only the columns it needs taken from the records; and
    a radix sort (below)."""
    parts: dict[int, list[AckColumns]] = {}
    for start in range(0, len(entries), GROUP_CHUNK):
        for key, cols in _group_chunk(entries[start:start + GROUP_CHUNK]):
            parts.setdefault(key, []).append(cols)
    return {(topics[key >> 32], key & (_FITS - 1)): AckColumns.concat(parts[key])
            for key in sorted(parts)}


def _group_chunk(entries: np.ndarray) -> list[tuple[int, AckColumns]]:
    is_ack = entries["kind"] == KIND_ACK
    every = bool(is_ack.all())

    def column(name: str) -> np.ndarray:
        c = entries[name]
        return (c if every else c[is_ack]).astype(np.int64)

    ti, pa = column("topic_index"), column("partition")
    if not len(ti):
        return []
    tp = (ti << 32) | pa
    # Few (topic, partition)s in a run: numbered in 16 bits, numpy's stable sort of them is a
    # radix sort, linear (a stable int64 sort is not).
    code = ti * (int(pa.max()) + 1) + pa
    small = int(pa.min()) >= 0 and int(code.max()) < 1 << 16
    order = np.argsort(code.astype(np.uint16) if small else tp, kind="stable")
    tp = tp[order]
    cols = [column(name)[order] for name in ("producer_id", "seq", "offset", "checksum")]
    bounds = [0, *(np.flatnonzero(tp[1:] != tp[:-1]) + 1).tolist(), len(tp)]
    return [(int(tp[a]), AckColumns(*(c[a:b] for c in cols)))
            for a, b in itertools.pairwise(bounds)]


def _column(values: Sequence[int] | Sequence[bool], dtype: type) -> np.ndarray:
    return np.asarray(values, dtype=dtype) if len(values) else np.empty(0, dtype)


def _ack_column(acks: Sequence[AckLike], get: Callable[[AckLike], int]) -> np.ndarray:
    return np.fromiter(map(get, acks), dtype=np.int64, count=len(acks))


def _read_columns(read: PartitionRead) -> ReadColumns:
    cols = read.arrays
    if cols is not None and len(cols.offsets) == len(read.offsets):
        return cols
    return ReadColumns(_column(read.offsets, np.int64), _column(read.producer_ids, np.int64),
                       _column(read.seqs, np.int64), _column(read.checksums, np.int64),
                       _column(read.checksum_ok, np.bool_))


def _ack_columns(acks: Sequence[AckLike], cols: AckColumns | None) -> AckColumns:
    if cols is not None and len(cols) == len(acks):
        return cols
    return AckColumns(_ack_column(acks, _PID), _ack_column(acks, _SEQ),
                      _ack_column(acks, _OFFSET), _ack_column(acks, _CHECKSUM))


def _fits(*columns: np.ndarray) -> bool:
    return all(not len(c) or (c.min() >= 0 and c.max() < _FITS) for c in columns)


def check_columns(read: PartitionRead, acks: Sequence[AckLike],
                  ack_columns: AckColumns | None = None) -> Found | None:
    """The anomalies of one partition (None: not on the fast path, see the module doc).
    `ack_columns`: `acks` as arrays if the ledger reader made them (else built here)."""
    r = _read_columns(read)
    n = len(r.offsets)
    pid, seq, off, ok, ck = r.producer_ids, r.seqs, r.offsets, r.checksum_ok, r.checksums
    a = _ack_columns(acks, ack_columns)
    a_pid, a_seq, a_off, a_ck = a.producer_ids, a.seqs, a.offsets, a.checksums
    if not _fits(pid, seq, a_pid, a_seq):
        return None
    key = (pid << 32) | seq
    found = Found()

    # First copy of every identity, duplicates, reorders (first copies only, as check._scan).
    uniq, first = np.unique(key, return_index=True)
    is_first = np.zeros(n, np.bool_)
    is_first[first] = True
    found.duplicates = off[~is_first].tolist()
    fi = np.flatnonzero(is_first)  # in offset order
    by_pid = np.argsort(pid[fi], kind="stable")
    p, s = pid[fi][by_pid], seq[fi][by_pid]
    if len(p):
        starts = np.empty(len(p), np.bool_)
        starts[0] = True
        starts[1:] = p[1:] != p[:-1]
        group = np.cumsum(starts) - 1
        v = (group << 32) + s  # one ascending band per producer: a segmented running max
        high = np.maximum.accumulate(v)
        before = np.empty_like(high)
        before[1:] = high[:-1]
        before[starts] = (group[starts] << 32) - 1  # a producer's first record is never late
        found.reordered = off[fi[by_pid[v < before]]].tolist()
    found.corrupt = off[~ok].tolist()

    # Acks against the first copies.
    a_key = (a_pid << 32) | a_seq
    if len(uniq):
        pos = np.minimum(np.searchsorted(uniq, a_key), len(uniq) - 1)
        hit = uniq[pos] == a_key
    else:
        pos, hit = np.zeros(len(acks), np.int64), np.zeros(len(acks), np.bool_)
    if len(acks) and hit.any() and np.bincount(pos[hit]).max() > 1:
        return None  # an identity acked twice: the record-by-record path pops it once
    at = first[pos] if len(uniq) else pos
    fast = hit & (off[at] == a_off) if n else hit
    bad_ck = fast & (ck[at] != a_ck) & ok[at] if n else fast
    found.corrupt += off[at[bad_ck]].tolist()
    horizon = read.horizon
    slow = np.flatnonzero(~fast)
    # where each slow ack's offset is in the read: one call, not one per ack
    where = np.searchsorted(off, a_off[slow]).tolist()
    for k, j in zip(slow.tolist(), where, strict=True):
        ack_off, ident = int(a_off[k]), (int(a_pid[k]), int(a_seq[k]))
        i = int(at[k]) if hit[k] else None
        held = (int(pid[j]), int(seq[j])) if j < n and off[j] == ack_off else None
        if ack_off >= 0 and held != ident and (held is not None or i is not None):
            found.inconsistent.append(ack_off)
        if i is None:
            (found.lost if ack_off <= horizon else found.unreadable).append(ack_off)
        elif ck[i] != a_ck[k] and ok[i]:
            found.corrupt.append(int(off[i]))
    acked = np.zeros(len(uniq), np.bool_)
    acked[pos[hit]] = True
    for u in np.flatnonzero(~acked).tolist():
        k = int(uniq[u])
        found.unmatched.append(((k >> 32, k & (_FITS - 1)), int(off[first[u]])))
    return found
