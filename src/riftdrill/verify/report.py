"""The verifier's result: what every anomaly is, where it is, and whether the run is clean.

Each anomaly kind is defined once (here, in `ANOMALY_KINDS`) and reported per partition with
the offending offsets, Jepsen-style. Offsets are stored as closed ranges `[first, last]`:
DeleteRecords or a truncated leader loses contiguous runs, and a million lost offsets then fit
in one line. The list is capped so a catastrophic run still writes a readable file; `count` is
always exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

AnomalyKind = Literal[
    "lost",
    "unseen",
    "duplicates",
    "reordered",
    "corrupt",
    "unexpected",
    "failed_present",
    "unacknowledged",
    "missing_in_mirror",
    "unseen_in_mirror",
]

# What each kind means; docs/verify.md and `riftdrill verify --help` quote this table.
ANOMALY_KINDS: dict[str, str] = {
    "lost": "acked at an offset that was never read although a higher offset was read, "
    "or that lies below the low watermark (deleted/truncated away)",
    "unseen": "acked, never read, above the highest offset read (the log ends before it)",
    "duplicates": "a (producer, seq) read again after its first copy; offsets of the extra copies",
    "reordered": "a producer's seq read after a higher seq of the same producer in the partition",
    "corrupt": "payload checksum does not match its header, or differs from the acked checksum",
    "unexpected": "not a riftdrill record, or written by a producer no ledger belongs to",
    "failed_present": "the producer was told the send failed, yet it is in the log (legal: a "
    "failed send is indeterminate)",
    "unacknowledged": "from a known producer but its ledger has no outcome for it (in flight "
    "when the producer stopped)",
    "missing_in_mirror": "read in the source partition, absent from the mirror although a later "
    "source record of that partition was mirrored; offsets are source offsets",
    "unseen_in_mirror": "read in the source, absent from the mirror, after the last mirrored "
    "record (mirror lag); offsets are source offsets",
}

# Kinds that fail a run (exit code 1). `unseen` is reported but not failing: it is the same as
# Jepsen's, a write the reader may simply not have reached. `duplicates`/`reordered` are
# expected without idempotence, so a drill decides about them through its SLO bounds.
FAILING_KINDS: tuple[AnomalyKind, ...] = ("lost", "corrupt", "unexpected", "missing_in_mirror")

MAX_RANGES = 1000


class Anomaly(BaseModel):
    count: int = 0
    offsets: list[tuple[int, int]] = []  # closed ranges, ascending
    truncated: bool = False  # more ranges than MAX_RANGES: the list is a prefix


def anomaly_from_offsets(offsets: Iterable[int]) -> Anomaly:
    """Compress offsets (any order, may repeat) into capped closed ranges."""
    ordered = sorted(offsets)
    if not ordered:
        return Anomaly()
    ranges: list[tuple[int, int]] = []
    first = last = ordered[0]
    for off in ordered[1:]:
        if off <= last + 1:
            last = max(last, off)
            continue
        ranges.append((first, last))
        first = last = off
    ranges.append((first, last))
    return Anomaly(count=len(ordered), offsets=ranges[:MAX_RANGES],
                   truncated=len(ranges) > MAX_RANGES)


def expand(anomaly: Anomaly) -> list[int]:
    """The listed offsets one by one (tests and small reports)."""
    return [o for first, last in anomaly.offsets for o in range(first, last + 1)]


class PartitionResult(BaseModel):
    cluster: str
    topic: str
    partition: int
    low_watermark: int
    high_watermark: int  # at the start of the replay: the replay read everything below it
    read: int  # records read
    acked: int  # acks the ledgers hold for this partition
    earlier_runs: int = 0  # records of earlier runs into the same topic: read, not judged
    anomalies: dict[str, Anomaly] = {}  # only kinds with count > 0

    def count(self, kind: str) -> int:
        a = self.anomalies.get(kind)
        return a.count if a else 0


class MirrorResult(BaseModel):
    """One partition of a mirrored topic: identity is (producer, seq) since offsets differ."""

    source_cluster: str
    target_cluster: str
    topic: str  # source topic
    mirror_topic: str  # "<source>.<topic>" (MirrorMaker 2 DefaultReplicationPolicy)
    partition: int
    read: int
    expected: int  # source records (acked and read in the source) for this partition
    anomalies: dict[str, Anomaly] = {}

    def count(self, kind: str) -> int:
        a = self.anomalies.get(kind)
        return a.count if a else 0


class VerifyReport(BaseModel):
    run_dir: str
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())
    clusters: list[str] = []
    ledgers: int = 0
    acks: int = 0
    errors: int = 0
    records_read: int = 0
    partitions: list[PartitionResult] = []
    mirrors: list[MirrorResult] = []
    totals: dict[str, int] = {}
    failing_kinds: list[str] = list(FAILING_KINDS)
    passed: bool = True
    replay_s: float = 0.0
    check_s: float = 0.0

    def finish(self) -> VerifyReport:
        """Sum anomalies over partitions and mirrors and set `passed`."""
        totals: dict[str, int] = dict.fromkeys(ANOMALY_KINDS, 0)
        for anomalies in [p.anomalies for p in self.partitions] + [
                m.anomalies for m in self.mirrors]:
            for kind, a in anomalies.items():
                totals[kind] += a.count
        self.totals = totals
        self.records_read = sum(p.read for p in self.partitions) + sum(
            m.read for m in self.mirrors)
        self.passed = not any(totals[k] for k in self.failing_kinds)
        return self
