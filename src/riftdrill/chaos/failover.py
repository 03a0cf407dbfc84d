"""Consumer failover and failback across MirrorMaker 2: RTO, RPO, records read twice, skipped.

Inputs, all from the run directory: the source producers' acks, the source group's polls (its
members' consumer ledgers on the source cluster), the mirror tail (when each record became
visible in the mirror, and at which mirror offset), and the failover consumer (its ledger, the
start positions it took from MirrorMaker 2's checkpoints, load/failover/state.json). Records are
(producer_id, seq); seconds count from the cut (the fault start).

- rto_s: cut -> the first record the failed-over group consumed on the target.
- rpo_records / rpo_s: records acked in the source before the cut that were not in the mirror
  by the failback (the data a team loses by failing over); rpo_s is the cut - the oldest ack of
  them (0 when none).
- reconsumed: records the source group had consumed before the cut and the failed-over group
  consumed again (translation granularity: MirrorMaker 2 translates to its last offset sync).
- skipped (failing): records in the mirror before the failed-over group's start position in
  their partition that the source group had not consumed before the cut: the translation was
  ahead of what was delivered, and nobody will read them on the target.
- unconsumed_on_target (failing): records in the mirror at or past the start position, visible
  at least CATCH_UP_S before the failback, that the failed-over group never read.
- never_delivered (failing): records acked in the source before the cut that no member of the
  group read on either cluster by the end of the run.
- failback_rto_s / failback_reconsumed: from the failback (the failed-over consumer stopped) to
  the source group's first poll after it; records read on the target and again at the source.
- producers (when the drill switched them, load/switch.py): when the source cloud's producers
  were pointed at the target, producer_rto_s (the cut to their first ack there), how many
  records the target acked for them, and the same back (the switch back to their first ack in
  the source). Their acks are verified with the target cluster's like any other.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from riftdrill.chaos.replication import (
    NS,
    ClusterOf,
    RecordId,
    SourceAck,
    Visible,
    first_polls,
    source_acks,
)

if TYPE_CHECKING:
    from riftdrill.inventory import Inventory
    from riftdrill.load.ledger import ProducerLedger

CATCH_UP_S = 5.0  # a record that reached the mirror this close to the failback may be unread


class PartitionFailover(BaseModel):
    partition: int
    checkpoint_upstream: int | None  # the group's committed offset in the source, as checkpointed
    checkpoint_downstream: int | None  # its translation: where the failed-over group started
    start_offset: int
    reconsumed: int
    skipped: int


class ProducerFailover(BaseModel):
    """The source cloud's producers moved to the target cluster and back (seconds from the cut)."""

    switched_at_s: float | None = None
    rto_s: float | None = None  # the cut to their first ack on the target
    acked_on_target: int = 0
    switched_back_at_s: float | None = None
    failback_rto_s: float | None = None  # the switch back to their first ack in the source


class FailoverFigures(BaseModel):
    """summary.json `failover`."""

    source: str  # clusters
    target: str
    group: str  # the source group
    topic: str  # the mirror topic read on the target
    failover_at_s: float  # the failed-over consumer started, from the cut
    failback_at_s: float | None
    rto_s: float | None = None
    rto_reason: str | None = None
    rpo_records: int = 0
    rpo_s: float = 0.0
    checkpoint_age_s: float | None = None  # the cut - the newest checkpoint it started from
    reconsumed: int = 0
    skipped: int = 0
    unconsumed_on_target: int = 0
    never_delivered: int = 0
    consumed_on_target: int = 0
    failback_rto_s: float | None = None
    failback_reconsumed: int = 0
    producers: ProducerFailover | None = None  # None: the producers stayed where they were
    partitions: list[PartitionFailover] = []

    def problems(self) -> list[str]:
        """What fails the drill: records skipped, left unread on the target, never delivered."""
        out = []
        if self.skipped:
            out.append(f"failover skipped {self.skipped} record(s): MirrorMaker 2's translated "
                       "offsets were ahead of what the group had consumed in the source")
        if self.unconsumed_on_target:
            out.append(f"the failed-over group left {self.unconsumed_on_target} record(s) in the "
                       "mirror unread before the failback")
        if self.never_delivered:
            out.append(f"{self.never_delivered} record(s) acked in the source before the cut "
                       "were never consumed by the group on either cluster")
        return out


def compute_failover(acks: Mapping[RecordId, SourceAck], source_polls: Iterable[tuple[RecordId, int]],
                     mirror: Mapping[RecordId, Visible], target_polls: Mapping[RecordId, Visible],
                     starts: Mapping[int, int], checkpoints: Mapping[int, dict[str, Any]],
                     cut_ns: int, failover_ns: int, failback_ns: int | None, *,
                     source: str, target: str, group: str, topic: str) -> FailoverFigures:
    """The figures from plain maps (see the module doc); `source_polls`: (record, poll ns) of
    the source group, any order; `starts`: mirror partition -> start offset of the failed-over
    group; `checkpoints`: mirror partition -> the checkpoint it started from."""
    before_cut: set[RecordId] = set()
    after_back: set[RecordId] = set()
    ever_source: set[RecordId] = set()
    first_after_back: int | None = None
    for rid, ts in source_polls:
        ever_source.add(rid)
        if ts < cut_ns:
            before_cut.add(rid)
        if failback_ns is not None and ts >= failback_ns:
            after_back.add(rid)
            first_after_back = ts if first_after_back is None else min(first_after_back, ts)
    end_ns = failback_ns if failback_ns is not None else max(
        (v.ts_ns for v in target_polls.values()), default=failover_ns)
    acked_before = {rid: a for rid, a in acks.items() if a.ack_ts_ns < cut_ns}
    rpo = [a.ack_ts_ns for rid, a in acked_before.items()
           if rid not in mirror or mirror[rid].ts_ns >= end_ns]
    f = FailoverFigures(source=source, target=target, group=group, topic=topic,
                        failover_at_s=round((failover_ns - cut_ns) / NS, 3),
                        failback_at_s=None if failback_ns is None
                        else round((failback_ns - cut_ns) / NS, 3))
    f.rpo_records = len(rpo)
    f.rpo_s = round(max(0.0, (cut_ns - min(rpo)) / NS), 3) if rpo else 0.0
    mine = {rid: v for rid, v in target_polls.items() if rid in acks}
    f.consumed_on_target = len(mine)
    if mine:
        f.rto_s = round((min(v.ts_ns for v in mine.values()) - cut_ns) / NS, 3)
    else:
        f.rto_reason = "the failed-over group consumed no record of the run on the target"
    cps_ms = [int(c["ts_ms"]) for c in checkpoints.values() if "ts_ms" in c]
    if cps_ms:
        f.checkpoint_age_s = round((cut_ns - max(cps_ms) * 1_000_000) / NS, 3)
    per: dict[int, dict[str, int]] = {p: {"reconsumed": 0, "skipped": 0} for p in starts}
    for rid in mine:
        if rid in before_cut:
            f.reconsumed += 1
            per.setdefault(mine[rid].partition, {"reconsumed": 0, "skipped": 0})["reconsumed"] += 1
    for rid, v in mirror.items():
        if rid not in acks or rid in mine or rid in before_cut:
            continue
        start = starts.get(v.partition)
        if start is not None and 0 <= v.offset < start:
            f.skipped += 1
            per.setdefault(v.partition, {"reconsumed": 0, "skipped": 0})["skipped"] += 1
        elif v.ts_ns < end_ns - CATCH_UP_S * NS:
            f.unconsumed_on_target += 1
    f.never_delivered = sum(1 for rid in acked_before if rid not in ever_source and rid not in mine)
    if failback_ns is not None and first_after_back is not None:
        f.failback_rto_s = round((first_after_back - failback_ns) / NS, 3)
    f.failback_reconsumed = len(after_back & set(mine))
    f.partitions = [PartitionFailover(
        partition=p, checkpoint_upstream=checkpoints.get(p, {}).get("upstream_offset"),
        checkpoint_downstream=checkpoints.get(p, {}).get("downstream_offset"),
        start_offset=starts.get(p, -1), **per.get(p, {"reconsumed": 0, "skipped": 0}))
        for p in sorted(set(starts) | set(per))]
    return f


def producer_failover(acks_by_cluster: Mapping[str, list[int]], events: list[dict[str, Any]],
                      source_cloud: str, source: str, target: str, cut_ns: int
                      ) -> ProducerFailover | None:
    """The figures from the source cloud's ack times per cluster and the switch events; None
    when its producers were never switched to `target`."""
    mine = [e for e in events if e.get("cloud") == source_cloud]
    over = [int(e["ts_ns"]) for e in mine if e.get("cluster") == target]
    if not over:
        return None
    back = [int(e["ts_ns"]) for e in mine if e.get("cluster") == source and int(e["ts_ns"]) > over[0]]
    on_target = sorted(acks_by_cluster.get(target, []))
    out = ProducerFailover(switched_at_s=round((over[0] - cut_ns) / NS, 3),
                           acked_on_target=len(on_target))
    if on_target:
        out.rto_s = round((on_target[0] - cut_ns) / NS, 3)
    if back:
        out.switched_back_at_s = round((back[0] - cut_ns) / NS, 3)
        after = [t for t in acks_by_cluster.get(source, []) if t >= back[0]]
        if after:
            out.failback_rto_s = round((min(after) - back[0]) / NS, 3)
    return out


def _source_polls(run_dir: Path, cluster: str, topic: str, cluster_of: ClusterOf
                  ) -> list[tuple[RecordId, int]]:
    from riftdrill.load.consumer_ledger import (
        KIND_POLL,
        POLL_EARLIER_RUN,
        POLL_FENCE,
        POLL_FOREIGN,
        consumer_ledger_files,
        read_consumer_ledger,
    )

    skip = POLL_FOREIGN | POLL_FENCE | POLL_EARLIER_RUN
    out: list[tuple[RecordId, int]] = []
    for path in consumer_ledger_files(run_dir):
        log = read_consumer_ledger(path)
        if cluster_of(dict(log.header)) != cluster:
            continue
        out += [((e.producer_id, e.seq), e.ts_ns) for e in log.entries
                if e.kind == KIND_POLL and e.topic == topic and not e.flags & skip]
    return out


def _starts(path: Path) -> dict[int, int]:
    from riftdrill.load.consumer_ledger import KIND_ASSIGN, read_consumer_ledger

    return {e.partition: e.offset for e in read_consumer_ledger(path).entries
            if e.kind == KIND_ASSIGN}


def failover_from_run(run_dir: Path, producers: Iterable[ProducerLedger], inv: Inventory,
                      cut_ns: int, cluster_of: ClusterOf) -> FailoverFigures | None:
    """The figures of a run whose consumers failed over (load/failover/state.json); None when
    none did. Raises OSError / ValueError for unreadable ledgers."""
    from riftdrill.load import failover
    from riftdrill.load.ledger import Ack
    from riftdrill.load.mirrortail import CHECKPOINTS_SUFFIX
    from riftdrill.load.runner import mirror_ledger_path, spec_of
    from riftdrill.load.switch import switch_events

    load_dir = run_dir / "load"
    st = failover.read_state(load_dir)
    if st is None:
        return None
    spec = spec_of(load_dir)
    if spec is None:
        raise ValueError(f"{load_dir / 'spec.json'} is missing or does not read")
    spec_topic = spec.topic
    mm = inv.mirror_from(st.source_cloud)
    ledger = run_dir / st.ledger
    tail = mirror_ledger_path(load_dir, mm.name)
    mirror = first_polls(tail) if tail.is_file() else {}
    side = ledger.with_name(ledger.name + CHECKPOINTS_SUFFIX)
    try:
        cps = {int(c["partition"]): c for c in json.loads(side.read_text())["checkpoints"]}
    except (OSError, ValueError, KeyError):
        cps = {}
    producers = list(producers)
    figures = compute_failover(
        source_acks(producers, mm.source, spec_topic, cluster_of),
        _source_polls(run_dir, mm.source, spec_topic, cluster_of), mirror, first_polls(ledger),
        _starts(ledger), cps, cut_ns, st.started_ns, st.stopped_ns, source=mm.source,
        target=mm.target, group=st.source_group, topic=st.topic)
    acks_by_cluster: dict[str, list[int]] = {}
    for p in producers:
        if p.header.get("cloud") == st.source_cloud:
            acks_by_cluster.setdefault(cluster_of(dict(p.header)), []).extend(
                e.ack_ts_ns for e in p.entries if isinstance(e, Ack))
    figures.producers = producer_failover(acks_by_cluster, switch_events(load_dir),
                                          st.source_cloud, mm.source, mm.target, cut_ns)
    return figures
