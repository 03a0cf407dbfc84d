"""Replication lag across MirrorMaker 2, in seconds, from the ledgers.

A record's replication lag = when it became visible in the mirror (the mirror tail's first poll
of it, load/mirrortail.py) - when the source cluster acked it (the producer ledger). Records
are identified by (producer_id, seq), so the lag needs no offset mapping. Seconds count from
the fault start, as every other figure of a drill.

- series: one point per second of *ack* time, first to last: the highest and the p99 (nearest
  rank) lag of the records acked in [t, t + 1 s) (None in a second without acks), how many
  were acked, and how many of them never reached the mirror tail (a record acked while the
  mirror is down shows its whole wait, not a gap).
- baseline_p99_s: p99 lag of the records acked in the BASELINE_S before the fault that were in
  the mirror before it (not since the load started: the mirror topic only appears at
  MirrorMaker 2's next topic refresh; and a record the fault caught in flight is the fault's).
- checkpoints: the run group's checkpoints the tail read (`<ledger>.checkpoints.jsonl`), by
  emission time: their count and the longest gap between two, and where it began.
- settled_s: the last time, at or after the heal, that a record became visible with a lag over
  the settle bound (max(2 x baseline p99, SETTLE_FLOOR_S)); the heal when none did. From then
  on replication kept up. None with a reason when an acked record never reached the mirror.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, SerializerFunctionWrapHandler, model_serializer

if TYPE_CHECKING:
    from riftdrill.inventory import Inventory
    from riftdrill.load.ledger import ProducerLedger

NS = 1_000_000_000
SETTLE_FLOOR_S = 1.0
BASELINE_S = 5.0
RecordId = tuple[int, int]  # (producer_id, seq)
# The cluster a ledger's client used, from its header (verify.verifier.ledger_cluster)
ClusterOf = Callable[[dict[str, Any]], str]


class LagPoint(BaseModel):
    t_s: float  # seconds from the fault start (acks in [t, t + 1 s))
    max_lag_s: float | None  # None: nothing acked then reached the mirror
    p99_lag_s: float | None
    acked: int
    never_mirrored: int


class MirrorLag(BaseModel):
    """One MirrorMaker 2's replication lag (summary.json `replication[<mirror>]`)."""

    source: str  # clusters
    target: str
    topic: str  # the mirror topic
    acked: int = 0  # records acked in the source topic
    mirrored: int = 0  # of those, seen in the mirror
    never_mirrored: int = 0
    baseline_p99_s: float | None = None
    p99_s: float | None = None
    max_s: float | None = None
    settled_s: float | None = None
    settled_reason: str | None = None
    # MirrorMaker 2's checkpoints of the run's group, as the tail saw them emitted: how many,
    # and the longest time between two (a stopped MirrorMaker 2 stops translating offsets)
    checkpoints: int = 0
    checkpoint_max_gap_s: float | None = None
    checkpoint_gap_from_s: float | None = None  # where that gap began, from the fault start
    # The gap the fault sits in: the last checkpoint before its start to the first after. None
    # without one on each side: a run whose first checkpoint came after the fault shows no
    # stop, whatever its longest gap (all of them after the restart).
    checkpoints_before_fault: int = 0
    checkpoint_fault_gap_s: float | None = None

    @model_serializer(mode="wrap")
    def _without_unmeasured_gap(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # absent from runs written before these were measured: published data is not rewritten
        out: dict[str, Any] = handler(self)
        for name in ("checkpoints_before_fault", "checkpoint_fault_gap_s"):
            if name not in self.model_fields_set:
                out.pop(name, None)
        return out
    series: list[LagPoint] = []


@dataclass(frozen=True)
class SourceAck:
    partition: int
    offset: int
    ack_ts_ns: int


@dataclass(frozen=True)
class Visible:
    partition: int  # in the mirror topic
    offset: int
    ts_ns: int  # first poll by the mirror tail


def source_acks(producers: Iterable[ProducerLedger], cluster: str, topic: str,
                cluster_of: ClusterOf) -> dict[RecordId, SourceAck]:
    """Acks of `topic` by producers of `cluster` (`cluster_of(header)` names a ledger's)."""
    from riftdrill.load.ledger import Ack

    out: dict[RecordId, SourceAck] = {}
    for ledger in producers:
        if cluster_of(dict(ledger.header)) != cluster:
            continue
        for e in ledger.entries:
            if isinstance(e, Ack) and e.topic == topic:
                out[(e.producer_id, e.seq)] = SourceAck(e.partition, e.offset, e.ack_ts_ns)
    return out


def first_polls(path: Path) -> dict[RecordId, Visible]:
    """This run's records in a consumer ledger (mirror tail or failover consumer): the first
    poll of each."""
    from riftdrill.load.consumer_ledger import (
        KIND_POLL,
        POLL_EARLIER_RUN,
        POLL_FENCE,
        POLL_FOREIGN,
        read_consumer_ledger,
    )

    skip = POLL_FOREIGN | POLL_FENCE | POLL_EARLIER_RUN
    out: dict[RecordId, Visible] = {}
    for e in read_consumer_ledger(path).entries:
        if e.kind == KIND_POLL and not e.flags & skip:
            out.setdefault((e.producer_id, e.seq), Visible(e.partition, e.offset, e.ts_ns))
    return out


def _p99(values: list[float]) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[max(0, math.ceil(0.99 * len(s)) - 1)]


def compute_lag(acks: Mapping[RecordId, SourceAck], visible: Mapping[RecordId, Visible],
                fault_start_ns: int, heal_ns: int | None, *, source: str, target: str,
                topic: str) -> MirrorLag:
    by_second: dict[int, list[float]] = {}
    missing_by_second: dict[int, int] = {}
    acked_by_second: dict[int, int] = {}
    lags: list[float] = []
    baseline: list[float] = []
    late: list[tuple[int, float]] = []  # (visible ns, lag s)
    for rid, a in acks.items():
        k = math.floor((a.ack_ts_ns - fault_start_ns) / NS)
        acked_by_second[k] = acked_by_second.get(k, 0) + 1
        v = visible.get(rid)
        if v is None:
            missing_by_second[k] = missing_by_second.get(k, 0) + 1
            continue
        lag = max(0.0, (v.ts_ns - a.ack_ts_ns) / NS)
        lags.append(lag)
        by_second.setdefault(k, []).append(lag)
        if fault_start_ns - BASELINE_S * NS <= a.ack_ts_ns and v.ts_ns < fault_start_ns:
            baseline.append(lag)
        late.append((v.ts_ns, lag))
    never = sum(missing_by_second.values())
    out = MirrorLag(source=source, target=target, topic=topic, acked=len(acks),
                    mirrored=len(lags), never_mirrored=never, baseline_p99_s=_r(_p99(baseline)),
                    p99_s=_r(_p99(lags)), max_s=_r(max(lags, default=None)))
    out.series = [LagPoint(t_s=float(k), max_lag_s=_r(max(by_second.get(k, []), default=None)),
                           p99_lag_s=_r(_p99(by_second.get(k, []))),
                           acked=acked_by_second.get(k, 0),
                           never_mirrored=missing_by_second.get(k, 0))
                  for k in range(min(acked_by_second, default=0),
                                 max(acked_by_second, default=-1) + 1)]
    if never:
        out.settled_reason = f"{never} acked record(s) never reached the mirror tail"
    elif heal_ns is None:
        out.settled_reason = "the fault was never healed"
    else:
        bound = max(2 * (out.baseline_p99_s or 0.0), SETTLE_FLOOR_S)
        after = [ts for ts, lag in late if ts >= heal_ns and lag > bound]
        out.settled_s = _r((max(after, default=heal_ns) - fault_start_ns) / NS)
    return out


def checkpoint_gaps(lag: MirrorLag, emitted_ms: list[int], fault_start_ns: int) -> None:
    """Fill the checkpoint figures from the emission times (ms) of the group's checkpoints."""
    times = sorted(set(emitted_ms))
    lag.checkpoints = len(emitted_ms)
    if len(times) < 2:
        return
    gap, at = max((b - a, a) for a, b in itertools.pairwise(times))
    lag.checkpoint_max_gap_s = round(gap / 1000, 3)
    lag.checkpoint_gap_from_s = round((at * 1_000_000 - fault_start_ns) / NS, 3)
    fault_ms = fault_start_ns // 1_000_000
    before = [t for t in times if t <= fault_ms]
    after = [t for t in times if t > fault_ms]
    lag.checkpoints_before_fault = sum(1 for t in emitted_ms if t <= fault_ms)
    lag.checkpoint_fault_gap_s = (round((after[0] - before[-1]) / 1000, 3) if before and after
                                  else None)


def _emitted_ms(path: Path) -> list[int]:
    import json

    out: list[int] = []
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            out.append(int(json.loads(line)["ts_ms"]))
        except (ValueError, KeyError, TypeError):
            continue  # a torn last line
    return out


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def replication_from_run(run_dir: Path, producers: Iterable[ProducerLedger], inv: Inventory,
                         fault_start_ns: int, heal_ns: int | None,
                         cluster_of: ClusterOf) -> dict[str, MirrorLag]:
    """Per mirror with a tail ledger in the run (load/mirror/<mirror>-tail.rdc): its lag."""
    from riftdrill.load.mirrortail import checkpoint_log_path, mirror_topic
    from riftdrill.load.runner import mirror_ledger_path, spec_of

    load_dir = run_dir / "load"
    spec = spec_of(load_dir)
    if spec is None:
        return {}
    topic = spec.topic
    producers = list(producers)
    out: dict[str, MirrorLag] = {}
    for mm in inv.mirrors:
        path = mirror_ledger_path(load_dir, mm.name)
        if not path.is_file():
            continue
        acks = source_acks(producers, mm.source, topic, cluster_of)
        out[mm.name] = compute_lag(acks, first_polls(path), fault_start_ns, heal_ns,
                                   source=mm.source, target=mm.target,
                                   topic=mirror_topic(mm.source, topic))
        checkpoint_gaps(out[mm.name], _emitted_ms(checkpoint_log_path(path)), fault_start_ns)
    return out
