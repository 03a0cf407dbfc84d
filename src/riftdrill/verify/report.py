"""The verifier's result: what every anomaly is, where it is, and whether the run is clean.

Each anomaly kind is defined once (`riftdrill.verify.anomalies`) and reported per partition with
the offending offsets, Jepsen-style. Offsets are stored as closed ranges `[first, last]`:
DeleteRecords or a truncated leader loses contiguous runs, and a million lost offsets then fit
in one line. The list is capped so a catastrophic run still writes a readable file; `count` is
always exact.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field

from riftdrill.redact import Redactor
from riftdrill.verify.anomalies import ANOMALY_KINDS
from riftdrill.verify.contract import Contract, allowed_kinds
from riftdrill.verify.hub import HubReport

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
    high_watermark: int  # where the replay stopped: everything below it was read
    fenced: bool = False  # the replay reached this verification's fence
    read: int  # records read
    acked: int  # acks the ledgers hold for this partition
    earlier_runs: int = 0  # records of earlier runs into the same topic: read, not judged
    # The replay did not find the partition: why its acks are lost (every broker that answered
    # said it does not exist) or unreadable (they disagreed, or none answered); None: it was read
    not_found: str | None = None
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
    fenced: bool = False  # the mirror was read up to the source's fence
    anomalies: dict[str, Anomaly] = {}

    def count(self, kind: str) -> int:
        a = self.anomalies.get(kind)
        return a.count if a else 0


class GroupResult(BaseModel):
    """What one consumer group did, from its members' consumer ledgers."""

    cluster: str
    group: str
    members: int  # consumer ledgers (one per consumer user)
    polls: int
    commits: int  # successful commit results, per partition
    failed_commits: int
    rebalances: int  # partition assignments seen
    committed: dict[str, int] = {}  # "topic[p]" -> the highest offset the group committed


VERIFY_FILE = "verify.json"


class VerifyReport(BaseModel):
    run_dir: str
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())
    clusters: list[str] = []
    ledgers: int = 0
    acks: int = 0
    errors: int = 0
    ledger_truncated_lines: int = 0  # torn ledger entries (a crash mid-write): counted, skipped
    records_read: int = 0
    partitions: list[PartitionResult] = []
    mirrors: list[MirrorResult] = []
    groups: list[GroupResult] = []
    hub: HubReport | None = None  # the integration hub, row by row (verify/hub.py); None: none
    totals: dict[str, int] = {}
    contract: Contract | None = None  # what the producers and consumers held, from the ledgers
    allowed_kinds: list[str] = []  # reported, not failing: derived from the contract
    failing_kinds: list[str] = []  # every other kind
    passed: bool = False  # set by finish(): a report nobody finished never passes
    # Where the time went: the ledgers are read while the clusters are replayed (verifier.py),
    # so ledger_s and replay_s overlap.
    replay_s: float = 0.0
    check_s: float = 0.0
    ledger_s: float = 0.0
    fence_s: float = 0.0
    # Partitions per replay reader: "native" (raw fetch, verify/fetch.py) or "librdkafka"
    # (tansu, compressed batches, partitions the fast reader gave back).
    readers: dict[str, int] = {}

    def write(self, run_dir: Path, redactor: Redactor) -> Path:
        """`<run>/verify.json`, redacted (an unreadable cluster's error can quote a client's
        config): the one writer, for `riftdrill verify`, the drill runner and the probe."""
        # pydantic's own JSON (inf/nan as null), then redacted as data: still valid JSON
        return redactor.write_json(run_dir / VERIFY_FILE, json.loads(self.model_dump_json()))

    def finish(self, contract: Contract) -> VerifyReport:
        """Sum anomalies over partitions, mirrors, groups and the hub; judge them by the
        contract."""
        if self.hub is not None and contract.connector_delivery is None:
            raise ValueError("a hub was checked: the contract must say the connector's delivery")
        totals: dict[str, int] = dict.fromkeys(ANOMALY_KINDS, 0)
        for anomalies in [p.anomalies for p in self.partitions] + [
                m.anomalies for m in self.mirrors]:
            for kind, a in anomalies.items():
                totals[kind] += a.count
        if self.hub is not None:
            for kind, n in self.hub.counts.items():
                totals[kind] += n
        self.totals = totals
        self.records_read = sum(p.read for p in self.partitions) + sum(
            m.read for m in self.mirrors)
        allowed = allowed_kinds(contract)
        self.contract = contract
        self.allowed_kinds = list(allowed)
        self.failing_kinds = [k for k in ANOMALY_KINDS if k not in allowed]
        self.passed = not any(totals[k] for k in self.failing_kinds)
        return self
