"""Recovery-time math: how long producers and consumers suffered from a fault.

Inputs are plain arrays (nanosecond epoch timestamps from the ledgers, a (t, lag) series), so the
math does not depend on any file layout; `figures_from_run` is the small adapter from a run
directory. Ack-based figures are exact to the timestamp or computed over 100 ms buckets.

Definitions (each returns None with a reason when it cannot be said):
- time_to_first_ack_s[cloud]: from fault start to the first ack of a record *sent* at or after
  fault start (records in flight before the fault would otherwise read as instant recovery).
- unavailability_s[cloud]: longest interval in [fault start, run end] with no ack in that cloud,
  edges included; `worst_unavailability_s` is the max over clouds.
- time_to_p99_baseline_s: baseline = p99 (nearest rank) of ack latency (ack - send) over acks in
  the BASELINE_S before the fault. Windows of WINDOW_S slide by 100 ms from fault start, latency
  binned by ack time, over all clouds; recovery is the start of the first window after which
  every window has acks and p99 <= FACTOR x baseline. An empty window counts as not recovered.
- time_to_zero_lag_s: from fault start to the start of the final run of samples with
  lag <= max_lag (lag sampled at whatever rate the series has).
- errors_by_code: delivery errors during [fault start, run end] by error name.
- acked_during_fault: acks with ack time in [fault start, fault end).

Per partition, as the client saw it (`partition_figures`; one row per producer cloud, topic and
partition that had sends intended in [fault start, run end]):
- a partition is unavailable from the first send to it that is not acked until its next ack
  (the next ack of any record on that partition): for each send s, [s, first ack on the
  partition at or after s), the partition's sends being its acked records (the ledger's ack
  says where it landed) and its failed sends (the partition the client had queued them on).
  A failed send whose partition is unknown (-1: a ledger from before errors kept it, or a send
  refused before the partitioner chose one) counts as a send to every partition of its cloud's
  topic: where a partition was acking meanwhile it adds nothing, where it was not it is the
  evidence that the client wanted it. `unavailability_s` is the longest such interval clipped
  to [fault start, run end] (none after the last send: a partition nobody wrote to is idle,
  not unavailable; a send never followed by an ack counts up to run end).
- time_to_first_ack_s: fault start -> first ack on the partition of a record sent at or after
  fault start; None if none before run end.
- headline: `worst_partition_unavailability_s` / `worst_partition` ("topic[p]@cloud") over all
  rows, `partitions_affected` = rows with unavailability_s > AFFECTED_S; `per_cloud` the same
  per producer cloud, with the slowest partition's time to first ack.
"""

from __future__ import annotations

import bisect
import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, SerializerFunctionWrapHandler, model_serializer

from riftdrill.errors import RiftdrillError

if TYPE_CHECKING:
    from riftdrill.load.ledger import ProducerLedger

NS = 1_000_000_000
BUCKET_NS = 100_000_000  # 100 ms: the resolution of the sliding-window figures
WINDOW_S = 1.0
FACTOR = 1.5
BASELINE_S = 60.0
ZERO_LAG_SAMPLED = "sampled committed lag"  # RecoveryFigures.time_to_zero_lag_from
AFFECTED_S = 1.0  # a partition unavailable longer than this is "affected"
UNKNOWN_PARTITION = -1


@dataclass(slots=True)
class AckSeries:
    """One cloud's acks: parallel arrays sorted by ack time."""

    ack_ts_ns: list[int] = field(default_factory=list)
    send_ts_ns: list[int] = field(default_factory=list)

    def sort(self) -> AckSeries:
        pairs = sorted(zip(self.ack_ts_ns, self.send_ts_ns, strict=True))
        self.ack_ts_ns = [a for a, _ in pairs]
        self.send_ts_ns = [s for _, s in pairs]
        return self


@dataclass(slots=True)
class PartitionSends:
    """One producer cloud's sends to one partition: acks (ack time, send time) and the send
    times of failed sends the client had put on this partition."""

    ack_ts_ns: list[int] = field(default_factory=list)
    send_ts_ns: list[int] = field(default_factory=list)  # of the acked records, parallel
    failed_send_ts_ns: list[int] = field(default_factory=list)


# (cloud, topic, partition) -> its sends; (cloud, topic) -> send times of failed sends whose
# partition is unknown.
PartitionKey = tuple[str, str, int]
SendsByPartition = dict[PartitionKey, PartitionSends]
Unattributed = dict[tuple[str, str], list[int]]


class PartitionFigure(BaseModel):
    cluster: str = ""
    topic: str
    partition: int
    cloud: str  # the producers' cloud
    unavailability_s: float
    time_to_first_ack_s: float | None
    # intended in [fault start, run end], acked or failed, known to be this partition's (failed
    # sends of unknown partition are not counted here; see reasons["partitions"])
    sends: int
    acked: int  # of those


class CloudPartitionFigures(BaseModel):
    worst_partition_unavailability_s: float | None = None
    partitions_affected: int = 0
    time_to_first_ack_s: float | None = None  # the slowest partition's; None: one never acked


class BaselineCloud(BaseModel):
    """One cloud's producers before the fault: was the cluster healthy when the fault came?"""

    sent: int  # sends intended before the fault began (acked or failed, whenever)
    acked_before_fault: int  # acks that arrived before the fault began
    failed_before_fault: int  # sends that failed before the fault began


PARTITION_FIELDS = ("partitions", "worst_partition_unavailability_s", "worst_partition",
                    "partitions_affected", "per_cloud")


class RecoveryFigures(BaseModel):
    fault_start_ns: int
    fault_end_ns: int | None
    run_end_ns: int
    time_to_first_ack_s: dict[str, float | None] = {}
    worst_time_to_first_ack_s: float | None = None
    unavailability_s: dict[str, float] = {}
    worst_unavailability_s: float = 0.0
    baseline_p99_ms: float | None = None
    time_to_p99_baseline_s: float | None = None
    time_to_zero_lag_s: float | None = None
    # how time_to_zero_lag_s was measured: "consumer ledgers" (chaos/endtoend.py, the true lag)
    # or "sampled committed lag" (the definition above); None in summaries written before
    time_to_zero_lag_from: str | None = None
    errors_by_code: dict[str, int] = {}
    acked_during_fault: int = 0
    # Per partition (absent in summaries written before they existed: None / [] / {}).
    partitions: list[PartitionFigure] = []
    worst_partition_unavailability_s: float | None = None
    worst_partition: str | None = None  # "topic[p]@cloud"
    partitions_affected: int = 0
    per_cloud: dict[str, CloudPartitionFigures] = {}
    # Per producer cloud, before the fault (absent in summaries written before it existed).
    baseline: dict[str, BaselineCloud] = {}
    reasons: dict[str, str] = {}  # figure -> why it is None

    @model_serializer(mode="wrap")
    def _without_unset_partition_fields(self, handler: SerializerFunctionWrapHandler
                                        ) -> dict[str, Any]:
        """A summary written before the per-partition figures (or the zero-lag label) existed
        is dumped as it was read (published runs are never rewritten; tests/unit/test_summary.py)."""
        out: dict[str, Any] = handler(self)
        for name in (*PARTITION_FIELDS, "time_to_zero_lag_from", "baseline"):
            if name not in self.model_fields_set:
                out.pop(name, None)
        return out


def baseline_health(producers: Iterable[ProducerLedger], fault_start_ns: int
                    ) -> dict[str, BaselineCloud]:
    """Per producer cloud: sends intended before the fault, and what was acked or failed before
    it began."""
    from riftdrill.load.ledger import Ack

    out: dict[str, BaselineCloud] = {}
    for ledger in producers:
        cloud = str(ledger.header["cloud"])
        b = out.setdefault(cloud, BaselineCloud(sent=0, acked_before_fault=0,
                                                failed_before_fault=0))  # fmt: skip
        for e in ledger.entries:
            if e.send_ts_ns >= fault_start_ns:
                continue
            b.sent += 1
            if isinstance(e, Ack):
                b.acked_before_fault += e.ack_ts_ns < fault_start_ns
            else:
                b.failed_before_fault += e.ts_ns < fault_start_ns
    return out


def baseline_problems(baseline: dict[str, BaselineCloud]) -> list[str]:
    """Why the cluster was not healthy when the fault came (empty: it was): a cloud that sent
    and got no ack before the fault, or any send that failed before it. What follows such a
    baseline does not measure the fault alone, so the verdict fails on it."""
    out = []
    for cloud, b in sorted(baseline.items()):
        if b.sent and (not b.acked_before_fault or b.failed_before_fault):
            out.append(f"baseline: {cloud} producers sent {b.sent} records before the fault, "
                       f"{b.acked_before_fault} were acknowledged and {b.failed_before_fault} "
                       "failed before it began: the cluster was not healthy before the fault, "
                       "so the figures after it do not measure the fault alone")
    return out


def _s(ns: int) -> float:
    return round(ns / NS, 3)


def p99_nearest_rank(values: Sequence[int]) -> int:
    ordered = sorted(values)
    return ordered[math.ceil(0.99 * len(ordered)) - 1]


def time_to_first_ack_s(series: AckSeries, fault_start_ns: int, run_end_ns: int) -> float | None:
    """First ack (by ack time) of a record sent at/after fault start; None if none before end."""
    best: int | None = None
    for ack_ns, send_ns in zip(series.ack_ts_ns, series.send_ts_ns, strict=True):
        if send_ns >= fault_start_ns and ack_ns <= run_end_ns and (best is None or ack_ns < best):
            best = ack_ns
    return None if best is None else _s(max(0, best - fault_start_ns))


def unavailability_s(ack_ts_ns: Sequence[int], start_ns: int, end_ns: int) -> float:
    """Longest gap between acks (sorted) within [start, end], counting both edges."""
    lo = bisect.bisect_left(ack_ts_ns, start_ns)
    hi = bisect.bisect_right(ack_ts_ns, end_ns)
    prev, longest = start_ns, 0
    for t in ack_ts_ns[lo:hi]:
        longest = max(longest, t - prev)
        prev = t
    return _s(max(longest, end_ns - prev))


def time_to_p99_baseline_s(
    series: Iterable[AckSeries], fault_start_ns: int, run_end_ns: int, *,
    window_s: float = WINDOW_S, factor: float = FACTOR, baseline_s: float = BASELINE_S,
) -> tuple[float | None, float | None, str | None]:
    """(time to p99 back within factor x baseline, baseline p99 ms, reason when None)."""
    baseline_from = fault_start_ns - int(baseline_s * NS)
    before: list[int] = []
    per_bucket_n: Counter[int] = Counter()
    per_bucket_ns: list[tuple[int, int]] = []  # (bucket, latency) after the fault
    for s in series:
        for ack_ns, send_ns in zip(s.ack_ts_ns, s.send_ts_ns, strict=True):
            if baseline_from <= ack_ns < fault_start_ns:
                before.append(ack_ns - send_ns)
            elif fault_start_ns <= ack_ns < run_end_ns:
                b = (ack_ns - fault_start_ns) // BUCKET_NS
                per_bucket_n[b] += 1
                per_bucket_ns.append((b, ack_ns - send_ns))
    if not before:
        return None, None, "no acks in the baseline before the fault"
    baseline = p99_nearest_rank(before)
    threshold = factor * baseline
    over: Counter[int] = Counter(b for b, lat in per_bucket_ns if lat > threshold)
    width = max(1, round(window_s * NS / BUCKET_NS))
    n_buckets = (run_end_ns - fault_start_ns) // BUCKET_NS
    baseline_ms = round(baseline / 1e6, 3)
    if n_buckets < width:
        return None, baseline_ms, "the run ended less than one window after the fault"
    settled = settled_after_s([per_bucket_n[b] for b in range(n_buckets)],
                              [over[b] for b in range(n_buckets)], width)
    if settled is None:
        return None, baseline_ms, (f"p99 ack latency never came back within {factor}x the "
                                   f"baseline ({baseline_ms} ms) before the run ended")
    return settled, baseline_ms, None


def settled_after_s(count: Sequence[int], over: Sequence[int], width: int) -> float | None:
    """Per BUCKET_NS bucket the acks and those over a threshold: the time from the first bucket
    to the start of the first window (`width` buckets, sliding by one) after which every window
    has acks and p99 (nearest rank) within the threshold; None when the last window is not so,
    or there are fewer buckets than one window."""
    n_buckets = len(count)
    if n_buckets < width:
        return None
    # p99 (nearest rank) <= threshold  <=>  #(latency > threshold) <= n - ceil(0.99 n)
    last_bad = -1  # start bucket of the last window that is not recovered
    n, k = sum(count[:width]), sum(over[:width])
    for start in range(n_buckets - width + 1):
        if start:
            n += count[start + width - 1] - count[start - 1]
            k += over[start + width - 1] - over[start - 1]
        if n == 0 or k > n - math.ceil(0.99 * n):
            last_bad = start
    if last_bad == n_buckets - width:
        return None
    return _s((last_bad + 1) * BUCKET_NS)


def time_to_zero_lag_s(t_s: Sequence[float], lag: Sequence[int], fault_start_s: float,
                       max_lag: int = 0) -> float | None:
    """Start of the final run of samples with lag <= max_lag, from fault start; None if the
    last sample still lags (or there are no samples after the fault)."""
    after = [(t, lg) for t, lg in zip(t_s, lag, strict=True) if t >= fault_start_s]
    if not after or after[-1][1] > max_lag:
        return None
    recovered_at = fault_start_s  # never lagged after the fault: nothing to recover from
    for (_, lg), (t_next, _) in pairwise(after):
        if lg > max_lag:
            recovered_at = t_next  # the sample after the last lagging one
    return round(max(0.0, recovered_at - fault_start_s), 3)


def partition_unavailability_s(ack_ts_ns: Sequence[int], send_ts_ns: Sequence[int],
                               start_ns: int, end_ns: int) -> float:
    """Longest [send, next ack at or after it) over the sends (both sorted), clipped to
    [start, end]; a send with no later ack counts to `end`. 0.0 without sends in the window."""
    longest = 0
    n = len(ack_ts_ns)
    # A send at or before the last ack before the window is answered before the window: skip.
    j0 = bisect.bisect_left(ack_ts_ns, start_ns)
    first = bisect.bisect_right(send_ts_ns, ack_ts_ns[j0 - 1]) if j0 else 0
    for s in send_ts_ns[first:]:
        if s > end_ns:
            break
        j = bisect.bisect_left(ack_ts_ns, s)
        a = ack_ts_ns[j] if j < n else end_ns
        if a <= start_ns:
            continue  # healed before the window
        longest = max(longest, min(a, end_ns) - max(s, start_ns))
    return _s(longest)


def partition_figures(sends: SendsByPartition, unattributed: Unattributed,
                      fault_start_ns: int, run_end_ns: int,
                      clusters: dict[str, str] | None = None) -> list[PartitionFigure]:
    """One row per (cloud, topic, partition) with sends in [fault start, run end] (module
    docstring); `clusters`: producer cloud -> the cluster serving it."""
    rows: list[PartitionFigure] = []
    clusters = clusters or {}
    for (cloud, topic, partition), ps in sorted(sends.items()):
        pairs = sorted(zip(ps.ack_ts_ns, ps.send_ts_ns, strict=True))
        acks = [a for a, _ in pairs]
        failed = ps.failed_send_ts_ns + unattributed.get((cloud, topic), [])
        all_sends = sorted([sd for _, sd in pairs] + failed)
        in_window = [sd for sd in all_sends if fault_start_ns <= sd <= run_end_ns]
        acked_after = [(a, sd) for a, sd in pairs if fault_start_ns <= sd <= run_end_ns]
        known = len(acked_after) + sum(1 for sd in ps.failed_send_ts_ns
                                       if fault_start_ns <= sd <= run_end_ns)
        if not in_window:
            continue  # nobody wrote to it after the fault: idle, not unavailable
        first = min((a for a, _ in acked_after if a <= run_end_ns), default=None)
        rows.append(PartitionFigure(
            cluster=clusters.get(cloud, ""), topic=topic, partition=partition, cloud=cloud,
            unavailability_s=partition_unavailability_s(acks, all_sends, fault_start_ns,
                                                        run_end_ns),
            time_to_first_ack_s=None if first is None else _s(max(0, first - fault_start_ns)),
            sends=known, acked=len(acked_after)))
    return rows


def _partition_headline(fig: RecoveryFigures, rows: list[PartitionFigure],
                        unattributed: Unattributed, fault_start_ns: int, run_end_ns: int,
                        reasons: dict[str, str]) -> None:
    fig.partitions = rows  # assigned, so set: summary.json then carries the per-partition block
    fig.partitions_affected = 0
    fig.per_cloud = {}
    if not rows:
        reasons["worst_partition_unavailability_s"] = (
            "no send to a known partition was intended after the fault")
        return
    worst = max(rows, key=lambda r: r.unavailability_s)
    fig.worst_partition_unavailability_s = worst.unavailability_s
    fig.worst_partition = f"{worst.topic}[{worst.partition}]@{worst.cloud}"
    fig.partitions_affected = sum(1 for r in rows if r.unavailability_s > AFFECTED_S)
    for cloud in sorted({r.cloud for r in rows}):
        mine = [r for r in rows if r.cloud == cloud]
        ttfa = [r.time_to_first_ack_s for r in mine]
        fig.per_cloud[cloud] = CloudPartitionFigures(
            worst_partition_unavailability_s=max(r.unavailability_s for r in mine),
            partitions_affected=sum(1 for r in mine if r.unavailability_s > AFFECTED_S),
            time_to_first_ack_s=None if None in ttfa else max(t for t in ttfa if t is not None))
        if None in ttfa:
            never = ", ".join(f"{r.topic}[{r.partition}]" for r in mine
                              if r.time_to_first_ack_s is None)
            reasons[f"per_cloud.{cloud}.time_to_first_ack_s"] = (
                f"no record sent in {cloud} after the fault was acked on {never} before the run "
                "ended")
    unknown = sum(1 for times in unattributed.values() for t in times
                  if fault_start_ns <= t <= run_end_ns)
    if unknown:
        reasons["partitions"] = (
            f"{unknown} failed sends after the fault record no partition (a ledger from before "
            "errors kept it, or refused before a partition was chosen): each counts as a send "
            "to every partition of its cloud's topic; the rest is computed from the acks")


def compute_recovery(
    acks_by_cloud: dict[str, AckSeries], errors: Sequence[tuple[int, str]],
    fault_start_ns: int, fault_end_ns: int | None, run_end_ns: int, *,
    lag: tuple[Sequence[float], Sequence[int]] | None = None, max_lag: int = 0,
    window_s: float = WINDOW_S, factor: float = FACTOR, baseline_s: float = BASELINE_S,
    partitions: tuple[SendsByPartition, Unattributed] | None = None,
    clusters: dict[str, str] | None = None,
) -> RecoveryFigures:
    """All figures for one fault. `errors`: (ts_ns, error name); `lag`: (t_s, lag) samples;
    `partitions`: the sends per partition (None: no per-partition figures)."""
    if run_end_ns <= fault_start_ns:
        raise RiftdrillError("run end is not after fault start: cannot compute recovery")
    fig = RecoveryFigures(fault_start_ns=fault_start_ns, fault_end_ns=fault_end_ns,
                          run_end_ns=run_end_ns)
    reasons: dict[str, str] = {}
    for cloud, series in sorted(acks_by_cloud.items()):
        series.sort()
        ttfa = time_to_first_ack_s(series, fault_start_ns, run_end_ns)
        fig.time_to_first_ack_s[cloud] = ttfa
        if ttfa is None:
            reasons[f"time_to_first_ack_s.{cloud}"] = (
                f"no record sent in {cloud} after the fault was acked before the run ended")
        fig.unavailability_s[cloud] = unavailability_s(series.ack_ts_ns, fault_start_ns,
                                                       run_end_ns)
        lo = bisect.bisect_left(series.ack_ts_ns, fault_start_ns)
        hi = bisect.bisect_left(series.ack_ts_ns, fault_end_ns or run_end_ns)
        fig.acked_during_fault += hi - lo
    known = [v for v in fig.time_to_first_ack_s.values() if v is not None]
    if known and len(known) == len(fig.time_to_first_ack_s):
        fig.worst_time_to_first_ack_s = max(known)
    elif fig.time_to_first_ack_s:
        reasons["worst_time_to_first_ack_s"] = "some cloud never got an ack after the fault"
    else:
        reasons["worst_time_to_first_ack_s"] = "no acks at all"
    fig.worst_unavailability_s = max(fig.unavailability_s.values(), default=_s(
        run_end_ns - fault_start_ns))
    p99_s, fig.baseline_p99_ms, why = time_to_p99_baseline_s(
        acks_by_cloud.values(), fault_start_ns, run_end_ns, window_s=window_s, factor=factor,
        baseline_s=baseline_s)
    fig.time_to_p99_baseline_s = p99_s
    if why:
        reasons["time_to_p99_baseline_s"] = why
    if lag is not None:
        fig.time_to_zero_lag_s = time_to_zero_lag_s(lag[0], lag[1], fault_start_ns / NS, max_lag)
        if fig.time_to_zero_lag_s is None:
            reasons["time_to_zero_lag_s"] = f"consumer lag was still > {max_lag} at run end"
    else:
        reasons["time_to_zero_lag_s"] = "no consumer lag series"
    fig.errors_by_code = dict(Counter(name for ts, name in errors
                                      if fault_start_ns <= ts <= run_end_ns))
    if partitions is not None:
        rows = partition_figures(partitions[0], partitions[1], fault_start_ns, run_end_ns,
                                 clusters)
        _partition_headline(fig, rows, partitions[1], fault_start_ns, run_end_ns, reasons)
    fig.reasons = reasons
    return fig


# ---- adapters from a run directory --------------------------------------------------------

AcksAndErrors = tuple[dict[str, AckSeries], list[tuple[int, str]]]  # per cloud; (ts_ns, error)


def acks_from_ledgers(run_dir: Path, producers: Iterable[ProducerLedger] | None = None
                      ) -> AcksAndErrors:
    """Ack series per cloud and (ts_ns, error name) from every ledger of a run (`producers` if
    already read, else read here one at a time)."""
    from riftdrill.load.ledger import Ack, ledger_files, read_producer_ledger

    by_cloud: dict[str, AckSeries] = {}
    errors: list[tuple[int, str]] = []
    if producers is None:
        producers = (read_producer_ledger(path) for path in ledger_files(run_dir))
    for ledger in producers:
        series = by_cloud.setdefault(str(ledger.header["cloud"]), AckSeries())
        for e in ledger.entries:
            if isinstance(e, Ack):
                series.ack_ts_ns.append(e.ack_ts_ns)
                series.send_ts_ns.append(e.send_ts_ns)
            else:
                errors.append((e.ts_ns, e.error_name))
    return by_cloud, errors


def sends_by_partition(producers: Iterable[ProducerLedger]
                       ) -> tuple[SendsByPartition, Unattributed]:
    """Per (cloud, topic, partition) sends, and failed sends of unknown partition per (cloud,
    topic), from the producer ledgers."""
    from riftdrill.load.ledger import Ack

    sends: SendsByPartition = {}
    unknown: Unattributed = {}
    for ledger in producers:
        cloud = str(ledger.header["cloud"])
        for e in ledger.entries:
            if e.partition == UNKNOWN_PARTITION:
                if not isinstance(e, Ack):
                    unknown.setdefault((cloud, e.topic), []).append(e.send_ts_ns)
                continue  # an ack without a partition (never seen): nothing to place
            ps = sends.get((cloud, e.topic, e.partition))
            if ps is None:
                ps = sends[(cloud, e.topic, e.partition)] = PartitionSends()
            if isinstance(e, Ack):
                ps.ack_ts_ns.append(e.ack_ts_ns)
                ps.send_ts_ns.append(e.send_ts_ns)
            else:
                ps.failed_send_ts_ns.append(e.send_ts_ns)
    return sends, unknown


def lag_from_timeline(path: Path) -> tuple[list[float], list[int]] | None:
    """(epoch second, consumer_lag) from the load's load/timeline.json (a list of rows)."""
    if not path.exists():
        return None
    rows = json.loads(path.read_text())
    pairs = [(float(r["t"]), int(r["consumer_lag"])) for r in rows if r.get("consumer_lag") is not None]
    return [t for t, _ in pairs], [lg for _, lg in pairs]


def figures_from_run(run_dir: Path, fault_start_ns: int, fault_end_ns: int | None,
                     run_end_ns: int | None = None, *, max_lag: int = 0,
                     window_s: float = WINDOW_S, factor: float = FACTOR,
                     baseline_s: float = BASELINE_S,
                     producers: Iterable[ProducerLedger] | None = None,
                     clusters: dict[str, str] | None = None,
                     acks: AcksAndErrors | None = None) -> RecoveryFigures:
    """Recovery figures of a run; run end defaults to the last ack or error seen. `clusters`:
    producer cloud -> cluster name, for the per-partition rows; `acks`: acks_from_ledgers of
    these producers if already read (sorted by ack time here, in place)."""
    if producers is None:
        from riftdrill.load.ledger import read_run_ledgers

        producers = read_run_ledgers(run_dir)
    producers = list(producers)  # read twice: per cloud, then per partition
    by_cloud, errors = acks if acks is not None else acks_from_ledgers(run_dir, producers)
    if run_end_ns is None:
        last = [max(s.ack_ts_ns) for s in by_cloud.values() if s.ack_ts_ns]
        last += [max(ts for ts, _ in errors)] if errors else []
        run_end_ns = max(last, default=fault_start_ns + 1)
    lag = lag_from_timeline(run_dir / "load" / "timeline.json")
    fig = compute_recovery(by_cloud, errors, fault_start_ns, fault_end_ns, run_end_ns,
                           lag=lag, max_lag=max_lag, window_s=window_s, factor=factor,
                           baseline_s=baseline_s, partitions=sends_by_partition(producers),
                           clusters=clusters)
    fig.baseline = baseline_health(producers, fault_start_ns)
    return fig
