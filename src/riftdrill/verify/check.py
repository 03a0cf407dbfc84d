"""The checker: ledgers (what producers were told) against the replayed log (what is there).

Pure functions, no Kafka: `check_partition` and `check_mirror` take what the replay read and
what the ledgers hold and return results with the offending offsets. Each anomaly is defined
once, in `riftdrill.verify.anomalies`; this module is where those words become code.

Identity of a record is (producer_id, seq). The replay reads each partition from its start up
to a fence written after the load stopped (and after the ledgers were read), so every acked
record must have been read: one that was not is *lost*, whatever its offset. If the replay could
not reach the fence, acks above the last offset it read are *unreadable* (not judged, failing)
and acks below it still *lost*. An ack also names an offset: the record read there must be the
acked one (`inconsistent_offset` otherwise).

Speed: check_partition judges on columns (verify/vectorized.py: sorts and searches with
numpy); `check_records` is the same judgement record by record, the definition the columnar
path is held to and the path for what it does not take (`riftdrill.verify.bench` measures).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, overload

from riftdrill.verify.report import Anomaly, MirrorResult, PartitionResult, anomaly_from_offsets
from riftdrill.verify.vectorized import AckColumns, Found, ReadColumns, group_acks

RecordId = tuple[int, int]  # (producer_id, seq)


class RecordAt(Protocol):
    """A record's identity and where a ledger says it is: what acks and polls share."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def producer_id(self) -> int: ...
    @property
    def seq(self) -> int: ...


class AckLike(RecordAt, Protocol):
    """What the checker needs of `riftdrill.load.ledger.Ack`."""

    @property
    def checksum(self) -> int: ...


class ErrorLike(Protocol):
    """What the checker needs of `riftdrill.load.ledger.DeliveryError`."""

    @property
    def topic(self) -> str: ...
    @property
    def producer_id(self) -> int: ...
    @property
    def seq(self) -> int: ...


@dataclass(slots=True)
class PartitionRead:
    """Everything the replay read from one partition, as parallel columns in offset order."""

    cluster: str
    topic: str
    partition: int
    low_watermark: int = 0
    high_watermark: int = 0  # where the replay stopped: the fence's offset + 1
    exists: bool = True  # False: the topic/partition is gone from the cluster
    # The replay did not find it: why it is judged gone (exists False: every ack lost) or not
    # judged at all (exists True: every ack unreadable). "" when it was read.
    not_found: str = ""
    fenced: bool = False  # the replay read up to this verification's fence
    fence_offset: int = -1  # offset the fence was read at (-1: not reached)
    offsets: list[int] = field(default_factory=list)
    producer_ids: list[int] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    checksums: list[int] = field(default_factory=list)  # as stored in the record header
    checksum_ok: list[bool] = field(default_factory=list)  # header checksum == crc32(payload)
    foreign: list[int] = field(default_factory=list)  # offsets of non-riftdrill records
    earlier_runs: int = 0  # riftdrill records sent before this run started: skipped
    reader: str = "librdkafka"  # which replay reader read it: "native" (verify/fetch.py) or this
    # The columns above as arrays, when the fast reader made them (used while their length
    # still matches the lists')
    arrays: ReadColumns | None = None

    def append(self, offset: int, producer_id: int, seq: int, checksum: int, ok: bool) -> None:
        self.offsets.append(offset)
        self.producer_ids.append(producer_id)
        self.seqs.append(seq)
        self.checksums.append(checksum)
        self.checksum_ok.append(ok)

    @property
    def read(self) -> int:
        return len(self.offsets) + len(self.foreign)

    @property
    def horizon(self) -> int:
        """Highest offset the replay has read past (everything up to it was read); acks at or
        below it that were not read are lost, acks above it unreadable."""
        if self.fenced or not self.exists:
            return 2**63  # read to the fence, or gone: every ack is judged
        if self.not_found:
            return -(2**63)  # never read: no ack can be judged
        last = max(self.offsets[-1] if self.offsets else -1,
                   self.foreign[-1] if self.foreign else -1)
        return max(last, self.low_watermark - 1)


@dataclass(slots=True)
class _Scan:
    first_at: dict[RecordId, int]  # identity -> column index of its first copy
    duplicates: list[int]
    reordered: list[int]
    corrupt: list[int]


def _scan(read: PartitionRead) -> _Scan:
    """One pass over the read columns: first copy of each record, duplicates, reorders."""
    first_at: dict[RecordId, int] = {}
    duplicates: list[int] = []
    reordered: list[int] = []
    last_seq: dict[int, int] = {}
    offsets = read.offsets
    for i, key in enumerate(zip(read.producer_ids, read.seqs, strict=True)):
        if key in first_at:
            duplicates.append(offsets[i])
            continue
        first_at[key] = i
        pid, seq = key
        # Only first copies count: a retried duplicate landing late is a duplicate, not a reorder.
        if seq < last_seq.get(pid, -1):
            reordered.append(offsets[i])
        else:
            last_seq[pid] = seq
    corrupt = [offsets[i] for i, ok in enumerate(read.checksum_ok) if not ok]
    return _Scan(first_at, duplicates, reordered, corrupt)


def _anomalies(**offsets: Iterable[int]) -> dict[str, Anomaly]:
    out = {kind: anomaly_from_offsets(offs) for kind, offs in offsets.items()}
    return {kind: a for kind, a in out.items() if a.count}


def _classify_unmatched(unmatched: Iterable[tuple[RecordId, int]], failed: set[RecordId],
                        known_producers: set[int]) -> tuple[list[int], list[int], list[int]]:
    """Records read but not acked here: (failed_present, unacknowledged, unexpected) offsets."""
    failed_present: list[int] = []
    unacknowledged: list[int] = []
    unexpected: list[int] = []
    for key, offset in unmatched:
        if key in failed:
            failed_present.append(offset)
        elif key[0] in known_producers:
            unacknowledged.append(offset)
        else:
            unexpected.append(offset)
    return failed_present, unacknowledged, unexpected


def check_partition(read: PartitionRead, acks: Sequence[AckLike], failed: set[RecordId],
                    known_producers: set[int],
                    ack_columns: AckColumns | None = None) -> PartitionResult:
    """Acks for one partition against what the replay read from it.

    `failed`: identities whose send the ledgers recorded as failed (for this topic);
    `known_producers`: producer ids that have a ledger for this cluster; `ack_columns`: the
    acks as arrays, if the ledger reader made them.
    """
    from riftdrill.verify.vectorized import check_columns

    found = check_columns(read, acks, ack_columns)
    if found is None:
        found = check_records(read, acks)
    failed_present, unacknowledged, unexpected = _classify_unmatched(
        found.unmatched, failed, known_producers)
    unexpected.extend(read.foreign)
    return PartitionResult(
        cluster=read.cluster, topic=read.topic, partition=read.partition,
        low_watermark=read.low_watermark, high_watermark=read.high_watermark,
        fenced=read.fenced, read=read.read, acked=len(acks), earlier_runs=read.earlier_runs,
        not_found=read.not_found or None,
        anomalies=_anomalies(lost=found.lost, inconsistent_offset=found.inconsistent,
                             unreadable=found.unreadable, duplicates=found.duplicates,
                             reordered=found.reordered, corrupt=found.corrupt,
                             unexpected=unexpected, failed_present=failed_present,
                             unacknowledged=unacknowledged),
    )


def check_records(read: PartitionRead, acks: Sequence[AckLike]) -> Found:
    """check_partition's anomalies record by record: the definition the columnar path
    (verify/vectorized.py) is held to, and the path for what that one does not take."""
    scan = _scan(read)
    first_at = scan.first_at
    offsets, checksums, ids = read.offsets, read.checksums, (read.producer_ids, read.seqs)
    found = Found()
    found.duplicates, found.reordered, found.corrupt = scan.duplicates, scan.reordered, scan.corrupt
    # A vanished partition lost everything; an unfenced one lost only what it read past.
    horizon = read.horizon
    for ack in acks:
        key = (ack.producer_id, ack.seq)
        # pop: what is left afterwards is what was read without an ack (each send acks once).
        i = first_at.pop(key, None)
        if i is None or offsets[i] != ack.offset:
            # Off the fast path: what does the acked offset hold? (offsets are ascending; an
            # ack without an offset, as acks=0 gets, is checked by identity only)
            j = bisect_left(offsets, ack.offset)
            held = (ids[0][j], ids[1][j]) if j < len(offsets) and offsets[j] == ack.offset else None
            if ack.offset >= 0 and held != key and (held is not None or i is not None):
                # another record sits at the acked offset, or this one was read elsewhere only
                found.inconsistent.append(ack.offset)
            if i is None:
                if ack.offset <= horizon:
                    found.lost.append(ack.offset)
                else:
                    found.unreadable.append(ack.offset)
                continue
        if checksums[i] != ack.checksum and read.checksum_ok[i]:
            found.corrupt.append(offsets[i])  # self-consistent but not what was sent
    found.unmatched = [(key, offsets[i]) for key, i in first_at.items()]
    return found


def check_mirror(source: PartitionRead, mirror: PartitionRead, acks: Sequence[AckLike],
                 failed: set[RecordId], known_producers: set[int]) -> MirrorResult:
    """A mirrored partition against its source partition (MirrorMaker 2 keeps partition numbers).

    Offsets differ between the clusters, so the mirror is matched by identity: every record
    read in the source partition is expected in the mirror. When the mirror was read up to the
    source's fence (copied by the mirror like any record), a source record the mirror lacks is
    `missing_in_mirror`; when it was not, the missing records above the highest *source* offset
    the mirror holds are `unreadable` (the mirror may still be catching up), those below it
    missing. Copies in the mirror beyond the source's own are `mirror_duplicates` (MirrorMaker
    2's delivery contract decides them, not the producers'); reorders, corruption and unexpected records in
    the mirror are reported at mirror offsets.
    """
    src = _scan(source)
    src_offset = {key: source.offsets[i] for key, i in src.first_at.items()}
    mir = _scan(mirror)
    mirror_horizon = -1
    for key in mir.first_at:
        off = src_offset.get(key)
        if off is not None and off > mirror_horizon:
            mirror_horizon = off
    if mirror.fenced:
        mirror_horizon = 2**63
    missing: list[int] = []
    unreadable: list[int] = []
    for key, off in src_offset.items():
        if key not in mir.first_at:
            (missing if off <= mirror_horizon else unreadable).append(off)
    # A mirrored record the source no longer has is fine if it was acked (the mirror kept it).
    acked_here = {(a.producer_id, a.seq) for a in acks}
    unmatched = ((key, mirror.offsets[i]) for key, i in mir.first_at.items()
                 if key not in src_offset and key not in acked_here)
    failed_present, unacknowledged, unexpected = _classify_unmatched(
        unmatched, failed, known_producers)
    unexpected.extend(mirror.foreign)
    # A record the source itself holds twice is copied twice: only copies beyond the source's
    # are the mirror's own.
    src_copies = Counter(zip(source.producer_ids, source.seqs, strict=True))
    seen: Counter[RecordId] = Counter()
    mirror_dups: list[int] = []
    for i, key in enumerate(zip(mirror.producer_ids, mirror.seqs, strict=True)):
        seen[key] += 1
        if seen[key] > max(1, src_copies.get(key, 0)):
            mirror_dups.append(mirror.offsets[i])
    return MirrorResult(
        source_cluster=source.cluster, target_cluster=mirror.cluster, topic=source.topic,
        mirror_topic=mirror.topic, partition=source.partition, read=mirror.read,
        expected=len(src_offset), fenced=mirror.fenced,
        anomalies=_anomalies(missing_in_mirror=missing, unreadable=unreadable,
                             mirror_duplicates=mirror_dups, reordered=mir.reordered,
                             corrupt=mir.corrupt, unexpected=unexpected,
                             failed_present=failed_present, unacknowledged=unacknowledged),
    )


class ColumnAck(NamedTuple):
    """An ack made from a ledger's columns, when something needs it as an object."""

    topic: str
    partition: int
    offset: int
    producer_id: int
    seq: int
    checksum: int


class PartitionAcks(Sequence[AckLike]):
    """One partition's acks: objects added one by one and/or columns from ledger records. The
    columnar checker needs only the count and the arrays; objects for the columns are made the
    first time someone iterates (the record-by-record path, consumer and mirror checks)."""

    def __init__(self, tp: tuple[str, int]) -> None:
        self.tp = tp
        self.objects: list[AckLike] = []
        self.parts: list[AckColumns] = []
        self._all: list[AckLike] | None = None

    def add_objects(self, acks: Iterable[AckLike]) -> None:
        self.objects.extend(acks)
        self._all = None

    def add_columns(self, cols: AckColumns) -> None:
        self.parts.append(cols)
        self._all = None

    def columns(self) -> AckColumns | None:
        """All of them as arrays (None when some came as objects only)."""
        return AckColumns.concat(self.parts) if self.parts and not self.objects else None

    def _materialized(self) -> list[AckLike]:
        if self._all is None:
            topic, partition = self.tp
            made: list[AckLike] = list(self.objects)
            for c in self.parts:
                made += [ColumnAck(topic, partition, off, pid, seq, ck) for off, pid, seq, ck
                         in zip(c.offsets.tolist(), c.producer_ids.tolist(), c.seqs.tolist(),
                                c.checksums.tolist(), strict=True)]
            self._all = made
        return self._all

    def __len__(self) -> int:
        return len(self.objects) + sum(len(c) for c in self.parts)

    @overload
    def __getitem__(self, i: int) -> AckLike: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[AckLike]: ...
    def __getitem__(self, i: int | slice) -> AckLike | Sequence[AckLike]:
        return self._materialized()[i]

    def __iter__(self) -> Iterator[AckLike]:
        return iter(self._materialized())


@dataclass(slots=True)
class ClusterLedger:
    """What the ledgers of one cluster's producers hold, grouped the way the checker needs."""

    acks: dict[tuple[str, int], PartitionAcks] = field(default_factory=dict)
    failed: dict[str, set[RecordId]] = field(default_factory=lambda: defaultdict(set))
    producers: set[int] = field(default_factory=set)
    topics: set[str] = field(default_factory=set)
    n_acks: int = 0
    n_errors: int = 0
    schedule_starts: list[int] = field(default_factory=list)  # per ledger (0: not recorded)

    def _partition(self, tp: tuple[str, int]) -> PartitionAcks:
        acks = self.acks.get(tp)
        if acks is None:
            acks = self.acks[tp] = PartitionAcks(tp)
            self.topics.add(tp[0])
        return acks

    def add_ack(self, ack: AckLike) -> None:
        self.add_entries([ack])

    def add_entries(self, entries: Iterable[AckLike | ErrorLike]) -> None:
        """A ledger's entries in bulk: acks are the ones with an offset. One tight loop with
        local counters, since a verify adds a million acks."""
        by_tp: dict[tuple[str, int], list[AckLike]] = defaultdict(list)
        failed, topics = self.failed, self.topics
        n_acks = n_errors = 0
        for e in entries:
            if hasattr(e, "offset"):
                by_tp[(e.topic, e.partition)].append(e)  # type: ignore[attr-defined,arg-type]
                n_acks += 1
            else:
                failed[e.topic].add((e.producer_id, e.seq))
                topics.add(e.topic)
                n_errors += 1
        for tp, acks in by_tp.items():
            self._partition(tp).add_objects(acks)
        self.n_acks += n_acks
        self.n_errors += n_errors

    def add_records(self, topics: Sequence[str], records: Any) -> None:
        """A ledger's entries as ENTRY_DTYPE records (riftdrill.load.ledger): the acks stay
        columns, the failed sends (few) become identities."""
        from riftdrill.load.ledger import KIND_ERROR

        for tp, cols in group_acks(topics, records).items():
            self._partition(tp).add_columns(cols)
            self.n_acks += len(cols)
        errors = records[records["kind"] == KIND_ERROR]
        for ti, pid, seq in zip(errors["topic_index"].tolist(), errors["producer_id"].tolist(),
                                errors["seq"].tolist(), strict=True):
            self.failed[topics[ti]].add((pid, seq))
            self.topics.add(topics[ti])
        self.n_errors += len(errors)


@dataclass(frozen=True, slots=True)
class Absence:
    """What became of an acked partition the replay did not find (verify/presence.py decides):
    `gone` only when every broker that answered agreed it does not exist."""

    gone: bool
    reason: str


NOT_ASKED = Absence(gone=False, reason="the replay did not find it and no broker was asked "
                    "whether it exists")


def missing_partitions(reads: Iterable[PartitionRead],
                       ledger: ClusterLedger) -> list[tuple[str, int]]:
    """Acked partitions of `ledger` the replay did not find."""
    seen = {(r.topic, r.partition) for r in reads}
    return sorted(tp for tp in ledger.acks if tp not in seen)


def check_cluster(cluster: str, reads: Iterable[PartitionRead], ledger: ClusterLedger,
                  absent: Mapping[tuple[str, int], Absence] | None = None,
                  ) -> list[PartitionResult]:
    """Every replayed partition of one cluster, plus acked partitions the replay did not find:
    those are judged by `absent` (verify/presence.py); one it does not name is not judged
    (every ack `unreadable`), never lost on the replay's word alone."""
    results: list[PartitionResult] = []
    seen: set[tuple[str, int]] = set()
    for read in reads:
        tp = (read.topic, read.partition)
        seen.add(tp)
        acks = ledger.acks.get(tp)
        results.append(check_partition(read, acks if acks is not None else [],
                                       ledger.failed.get(read.topic, set()), ledger.producers,
                                       acks.columns() if acks is not None else None))
    for tp, acks in ledger.acks.items():
        if tp not in seen:  # acked into a partition the replay's metadata did not list
            why = (absent or {}).get(tp, NOT_ASKED)
            unread = PartitionRead(cluster=cluster, topic=tp[0], partition=tp[1],
                                   exists=not why.gone, not_found=why.reason)
            results.append(check_partition(unread, acks, set(), ledger.producers,
                                           acks.columns()))
    return results
