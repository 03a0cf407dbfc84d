"""End to end, from the consumer ledgers: latency (intended send -> consumed) and true lag.

Inputs are plain numpy arrays (nanosecond epoch timestamps, record ids, small integer codes for
partitions and clouds), so the math does not depend on any file layout; `end_to_end_from_run`
is the one adapter from a run directory (it takes the producer ledgers the drill already read).

Definitions (seconds count from the fault start; the series has one point per second of the
run, at t = fault start + k s, k negative before the fault):
- A record is identified by (producer_id, seq). A consumer group expects every record acked on
  its cluster in the topics it subscribes to; a record is *consumed* at the first poll of it by
  any member of that group (a redelivery does not consume it again).
- lag_records(cloud, t): records acked at or before t that the group expecting them had not
  consumed at or before t, counted against the cloud of the member that owned the record's
  partition at t (the last ASSIGN of it at or before t; before any, the first member it went
  to). Per-cloud clusters therefore count against their own cloud; a stretched cluster's
  backlog against whichever cloud's consumer was supposed to read it, so a consumer that is
  cut off shows its lag growing until the group gives its partitions to another member.
- e2e_p99_ms(cloud, t): p99 (nearest rank) of consumed time - intended send time over the polls
  of this run's records by that cloud's consumers in [t, t + 1 s) (redeliveries included: the
  application saw them); `consumed` is how many such polls there were. None: no poll.
- time_to_zero_lag_s: the first moment T at or after the last heal at which every record acked
  at or before T had been consumed (the summed lag is 0), in seconds from the fault start, so it
  is never shorter than the hold. Exact to the event (it only becomes 0 at a consumption), not
  sampled. None with a reason when the backlog never emptied before the run ended (a record
  acked and never consumed keeps it from ever emptying).
- lag_settled_s: the last consumption, at or after the heal, of a record that waited more than
  LAG_GRACE_S between its ack and its consumption, in seconds from the fault start (the heal
  when none did): from then on every record was consumed within LAG_GRACE_S of its ack. Unlike
  time_to_zero_lag_s it sees a second stall after the consumers first caught up. None with a
  reason when an acked record was never consumed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from riftdrill.chaos.recovery import ZERO_LAG_SAMPLED, RecoveryFigures

if TYPE_CHECKING:  # numpy is imported where it is used: `riftdrill` starts without it
    import numpy as np
    import numpy.typing as npt

    from riftdrill.load.ledger import ProducerLedger

    I64 = npt.NDArray[np.int64]
    U64 = npt.NDArray[np.uint64]

NS = 1_000_000_000
NEVER = 2**63 - 1  # "not consumed" as a timestamp: after every real one
LAG_GRACE_S = 1.0  # a record consumed within this of its ack was not part of a backlog
LAT_BITS = 44  # latencies sort as ns below 2**44 (4.9 h) in one key with (cloud, second)
LAT_MASK = (1 << LAT_BITS) - 1
SEQ_BITS = 32  # record id = producer_id << 32 | seq (a drill sends far fewer than 2**32 records)


# ---- the summary block --------------------------------------------------------------------

class EndToEndPoint(BaseModel):
    t_s: float  # seconds from the fault start (negative before it)
    e2e_p99_ms: float | None  # over [t, t + 1 s); None: nothing consumed in that second
    lag_records: int  # at the instant t
    consumed: int  # polls of this run's records in [t, t + 1 s)


class CloudEndToEnd(BaseModel):
    series: list[EndToEndPoint] = []
    max_lag_records: int = 0


class EndToEnd(BaseModel):
    """summary.json's `end_to_end` (docs/verify.md, "End to end")."""

    per_cloud: dict[str, CloudEndToEnd] = {}
    time_to_zero_lag_s: float | None = None
    zero_lag_reason: str | None = None
    lag_settled_s: float | None = None
    settled_reason: str | None = None
    never_consumed: int = 0  # acked records no member of the group expecting them ever polled


ZERO_LAG_TRUE = "consumer ledgers"  # RecoveryFigures.time_to_zero_lag_from


def with_true_lag(recovery: RecoveryFigures, end_to_end: EndToEnd | None) -> None:
    """Replace the sampled time_to_zero_lag_s (committed-offset lag, which reads 0 for a consumer
    that is cut off) by the true one when the run has consumer ledgers; the SLO bound and the
    regression check then judge the true figure. Without them the sampled one stays, labelled."""
    if end_to_end is None:
        recovery.time_to_zero_lag_from = ZERO_LAG_SAMPLED
        return
    recovery.time_to_zero_lag_s = end_to_end.time_to_zero_lag_s
    recovery.time_to_zero_lag_from = ZERO_LAG_TRUE
    recovery.reasons.pop("time_to_zero_lag_s", None)
    if end_to_end.zero_lag_reason is not None:
        recovery.reasons["time_to_zero_lag_s"] = end_to_end.zero_lag_reason


# ---- inputs --------------------------------------------------------------------------------

@dataclass(frozen=True)
class GroupHistory:
    """One consumer group (on one cluster) against the records it should consume.

    Partitions are indices 0..n_partitions-1 of the group's (topic, partition) table; clouds are
    indices into the clouds list given to `compute_end_to_end`."""

    n_partitions: int
    acked_id: U64  # each acked record the group expects
    acked_partition: I64
    acked_ts_ns: I64  # ack time
    poll_id: U64  # every poll of this run's records by a member of the group
    poll_ts_ns: I64
    assign_partition: I64  # every ASSIGN of a partition to a member
    assign_ts_ns: I64
    assign_cloud: I64  # the member's cloud
    fallback_cloud: int  # who a partition never assigned to anyone counts against


@dataclass(frozen=True)
class PollLatencies:
    """Every poll of this run's records (all groups): for the e2e latency and consumed series."""

    ts_ns: I64
    send_ts_ns: I64  # intended send time from the record's header
    cloud: I64


def record_ids(producer_id: npt.ArrayLike, seq: npt.ArrayLike) -> U64:
    import numpy as np

    return (np.asarray(producer_id, dtype=np.uint64) << np.uint64(SEQ_BITS)) | np.asarray(
        seq, dtype=np.uint64)


# ---- the math ------------------------------------------------------------------------------

def first_consumed_ns(acked_id: U64, poll_id: U64, poll_ts_ns: I64) -> I64:
    """Per acked record, the time of its first poll (NEVER when none polled it)."""
    import numpy as np

    out = np.full(len(acked_id), NEVER, dtype=np.int64)
    if not len(poll_id) or not len(acked_id):
        return out
    order = np.argsort(poll_id)
    ids = poll_id[order]
    firsts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    uniq, first_ts = ids[firsts], np.minimum.reduceat(poll_ts_ns[order], firsts)
    at = np.searchsorted(uniq, acked_id)
    found = at < len(uniq)
    found[found] = uniq[at[found]] == acked_id[found]
    out[found] = first_ts[at[found]]
    return out


def pending_at(acked_sorted: I64, done_sorted: I64, t_ns: I64) -> I64:
    """Records acked at or before t and not consumed at or before t. `done` = max(ack, first
    consumed) per record (a record read before its ack reached the producer is never pending);
    both arrays sorted."""
    import numpy as np

    return (np.searchsorted(acked_sorted, t_ns, side="right")
            - np.searchsorted(done_sorted, t_ns, side="right")).astype(np.int64)


def owner_at(assign_ts_ns: I64, assign_cloud: I64, t_ns: I64, fallback_cloud: int) -> I64:
    """Cloud owning one partition at each t: the last ASSIGN at or before t, else the first one,
    else `fallback_cloud`. `assign_ts_ns` sorted."""
    import numpy as np

    if not len(assign_ts_ns):
        return np.full(len(t_ns), fallback_cloud, dtype=np.int64)
    at = np.searchsorted(assign_ts_ns, t_ns, side="right") - 1
    return assign_cloud[np.maximum(at, 0)].astype(np.int64)


def done_ns(group: GroupHistory) -> I64:
    """Per acked record of the group: max(ack time, first consumed time)."""
    import numpy as np

    return np.maximum(group.acked_ts_ns,
                      first_consumed_ns(group.acked_id, group.poll_id, group.poll_ts_ns))


def counts_by_second(ts_ns: I64, partition: I64, n_partitions: int, t0_ns: int,
                     n_points: int) -> I64:
    """(n_partitions, n_points): events (one per timestamp, on its partition) at or before each
    t0 + k s. One bincount and a cumulative sum: no sort."""
    import numpy as np

    k = np.maximum(-((t0_ns - ts_ns) // NS), 0)  # ceil((ts - t0) / 1 s): first point at/after
    keep = k < n_points
    flat = np.bincount(partition[keep] * n_points + k[keep], minlength=n_partitions * n_points)
    return np.cumsum(flat.reshape(n_partitions, n_points), axis=1)


def lag_by_cloud(group: GroupHistory, done: I64, t0_ns: int, n_points: int,
                 n_clouds: int) -> I64:
    """(n_clouds, n_points) lag of one group at t0 + k s, each partition's counted against its
    owner at that instant."""
    import numpy as np

    pending = (counts_by_second(group.acked_ts_ns, group.acked_partition, group.n_partitions,
                                t0_ns, n_points)
               - counts_by_second(done, group.acked_partition, group.n_partitions, t0_ns,
                                  n_points))
    t_ns = t0_ns + np.arange(n_points, dtype=np.int64) * NS
    owner = np.empty((group.n_partitions, n_points), dtype=np.int64)
    a_order = np.lexsort((group.assign_ts_ns, group.assign_partition))
    a_bounds = np.searchsorted(group.assign_partition[a_order],
                               np.arange(group.n_partitions + 1))
    for p in range(group.n_partitions):
        rows = a_order[a_bounds[p]:a_bounds[p + 1]]
        owner[p] = owner_at(group.assign_ts_ns[rows], group.assign_cloud[rows], t_ns,
                            group.fallback_cloud)
    return np.stack([np.where(owner == c, pending, 0).sum(axis=0, dtype=np.int64)
                     for c in range(n_clouds)]) if n_clouds else np.zeros((0, n_points),
                                                                           dtype=np.int64)


def e2e_by_second(polls: PollLatencies, t0_ns: int, n_points: int, n_clouds: int
                  ) -> tuple[npt.NDArray[np.float64], I64]:
    """(p99 ms with NaN for an empty second, consumed count), each (n_clouds, n_points), over
    the seconds [t0 + k s, t0 + (k + 1) s)."""
    import numpy as np

    p99 = np.full((n_clouds, n_points), np.nan)
    counts = np.zeros((n_clouds, n_points), dtype=np.int64)
    k = (polls.ts_ns - t0_ns) // NS
    keep = (k >= 0) & (k < n_points)
    if not keep.any():
        return p99, counts
    # One int64 sort key, (cloud, second) above the latency: far faster than a lexsort.
    lat = np.clip(polls.ts_ns[keep] - polls.send_ts_ns[keep], 0, LAT_MASK)
    key = np.sort(((polls.cloud[keep] * n_points + k[keep]) << LAT_BITS) | lat)
    gid, lat = key >> LAT_BITS, key & LAT_MASK
    starts = np.flatnonzero(np.r_[True, gid[1:] != gid[:-1]])
    n = np.diff(np.r_[starts, len(gid)])
    rank = (99 * n + 99) // 100  # ceil(0.99 n): nearest rank, as recovery.p99_nearest_rank
    groups = gid[starts]
    p99.flat[groups] = lat[starts + rank - 1] / 1e6
    counts.flat[groups] = n
    return p99, counts


def time_to_zero_lag(acked_ts_ns: I64, done: I64, heal_ns: int, fault_start_ns: int,
                     run_end_ns: int) -> tuple[float | None, str | None]:
    """First T in [heal, run end] with nothing acked at or before T still unconsumed at T, in
    seconds from fault start; (None, reason) if there is none."""
    import numpy as np

    acked, finished = np.sort(acked_ts_ns), np.sort(done)
    if not len(acked):
        return None, "no acked record to consume"
    # The sum only drops to 0 at a consumption (or is 0 at the heal already).
    after = finished[(finished > heal_ns) & (finished <= run_end_ns)]  # sorted
    candidates = np.r_[heal_ns, after[np.r_[True, after[1:] != after[:-1]]] if len(after)
                       else after]
    zero = np.flatnonzero(pending_at(acked, finished, candidates) == 0)
    if len(zero):
        return round((int(candidates[zero[0]]) - fault_start_ns) / NS, 3), None
    never = int(np.count_nonzero(done == NEVER))
    left = int(pending_at(acked, finished, np.array([run_end_ns]))[0])
    why = (f"{left} acked records were still unconsumed at the run end"
           f" ({never} never consumed)" if never else
           f"lag never reached 0 after the heal: {left} acked records unconsumed at the run end")
    return None, why


def lag_settled(acked_ts_ns: I64, done: I64, heal_ns: int, fault_start_ns: int,
                grace_s: float = LAG_GRACE_S) -> tuple[float | None, str | None]:
    """Last consumption at/after the heal of a record that waited > grace after its ack, in
    seconds from fault start (the heal when there was none); (None, reason) if a record was
    never consumed."""
    import numpy as np

    never = int(np.count_nonzero(done == NEVER))
    if never:
        return None, f"{never} acked records were never consumed"
    late = done[(done - acked_ts_ns > int(grace_s * NS)) & (done >= heal_ns)]
    settled = int(late.max()) if len(late) else heal_ns
    return round((settled - fault_start_ns) / NS, 3), None


def compute_end_to_end(groups: Sequence[GroupHistory], polls: PollLatencies, clouds: list[str],
                       fault_start_ns: int, heal_ns: int | None, run_start_ns: int,
                       run_end_ns: int) -> EndToEnd:
    """The `end_to_end` block: per-cloud series, time to zero lag (module docstring). `heal_ns`
    None (a fault never healed within the run): the figures count from the fault start."""
    import numpy as np

    k0 = -(-(fault_start_ns - run_start_ns) // NS)  # seconds before the fault, rounded up
    k1 = -(-(run_end_ns - fault_start_ns) // NS)
    ks = np.arange(-k0, k1 + 1, dtype=np.int64)
    t_ns = fault_start_ns + ks * NS
    lag = np.zeros((len(clouds), len(ks)), dtype=np.int64)
    all_acked, all_done = [], []
    for g in groups:
        done = done_ns(g)
        lag += lag_by_cloud(g, done, int(t_ns[0]), len(ks), len(clouds))
        all_acked.append(g.acked_ts_ns)
        all_done.append(done)
    p99, consumed = e2e_by_second(polls, int(t_ns[0]), len(ks), len(clouds))
    acked = np.concatenate(all_acked) if all_acked else np.zeros(0, dtype=np.int64)
    done = np.concatenate(all_done) if all_done else np.zeros(0, dtype=np.int64)
    ttzl, why = time_to_zero_lag(acked, done, fault_start_ns if heal_ns is None else heal_ns,
                                 fault_start_ns, run_end_ns)
    settled, settled_why = lag_settled(acked, done, fault_start_ns if heal_ns is None
                                       else heal_ns, fault_start_ns)
    out = EndToEnd(time_to_zero_lag_s=ttzl, zero_lag_reason=why, lag_settled_s=settled,
                   settled_reason=settled_why,
                   never_consumed=int(np.count_nonzero(done == NEVER)))
    for c, cloud in enumerate(clouds):
        series = [EndToEndPoint(t_s=float(k), e2e_p99_ms=None if np.isnan(p) else round(float(p), 3),
                                lag_records=int(lg), consumed=int(n))
                  for k, p, lg, n in zip(ks.tolist(), p99[c], lag[c].tolist(),
                                         consumed[c].tolist(), strict=True)]
        out.per_cloud[cloud] = CloudEndToEnd(series=series, max_lag_records=int(lag[c].max()))
    return out


# ---- adapter from a run directory ---------------------------------------------------------

def _no_cluster(header: Mapping[str, Any]) -> str:
    return ""


def _entry_dtype() -> np.dtype[Any]:
    """A consumer ledger entry (load/ledger.py ENTRY; `key` = epoch, `error_code` = flags)."""
    import numpy as np

    return np.dtype([("kind", "u1"), ("topic_index", "<u2"), ("partition", "<i4"),
                     ("offset", "<i8"), ("epoch", "<i8"), ("producer_id", "<u4"),
                     ("checksum", "<u4"), ("seq", "<u8"), ("send_ts_ns", "<i8"),
                     ("ts_ns", "<i8"), ("flags", "<i4"), ("crc", "<u4")])


@dataclass
class _Acks:
    """One producer ledger's acks as columns."""

    topic: npt.NDArray[np.str_]
    partition: I64
    record_id: U64
    ack_ts_ns: I64


@dataclass
class _Member:
    entries: npt.NDArray[Any]  # ENTRY_DTYPE
    topics: list[str]  # the ledger header's: topic_index -> name
    cloud: int


def _ack_columns(producers: Iterable[ProducerLedger],
                 cluster_of: Callable[[Mapping[str, Any]], str]
                 ) -> tuple[dict[str, list[_Acks]], list[int]]:
    """Acks as columns per cluster, and the times of the failed sends (they span the run too)."""
    import numpy as np

    from riftdrill.load.ledger import Ack, DeliveryError

    out: dict[str, list[_Acks]] = {}
    failed_ts_ns: list[int] = []
    for ledger in producers:
        acks = [e for e in ledger.entries if isinstance(e, Ack)]
        if len(acks) < len(ledger.entries):
            failed_ts_ns += [e.ts_ns for e in ledger.entries if isinstance(e, DeliveryError)]
        if not acks:
            continue
        topic, partition, _, _, pid, seq, _, _, ack_ts = zip(*acks, strict=True)  # columns, in C
        out.setdefault(cluster_of(ledger.header), []).append(_Acks(
            topic=np.array(topic), partition=np.array(partition, dtype=np.int64),
            record_id=record_ids(pid, seq), ack_ts_ns=np.array(ack_ts, dtype=np.int64)))
    return out, failed_ts_ns


def _group_history(acks: list[_Acks], members: list[_Member], topics: set[str]) -> GroupHistory:
    """One group's history: the acks of its cluster in its topics, its members' polls of this
    run's records and their assignments, partitions numbered in one table."""
    import numpy as np

    from riftdrill.load.consumer_ledger import (
        KIND_ASSIGN,
        KIND_POLL,
        POLL_EARLIER_RUN,
        POLL_FENCE,
        POLL_FOREIGN,
    )

    table: dict[tuple[str, int], int] = {}
    a_part, a_id, a_ts = [], [], []
    for cols in acks:
        mine = np.isin(cols.topic, sorted(topics))
        names, parts = cols.topic[mine], cols.partition[mine]
        keys = {(str(t), int(p)) for t, p in set(zip(names.tolist(), parts.tolist(), strict=True))}
        for key in sorted(keys):
            table.setdefault(key, len(table))
        index = {name: i for i, name in enumerate(np.unique(names).tolist())}
        lookup = np.full((len(index), int(parts.max(initial=-1)) + 1), -1, dtype=np.int64)
        for (t, p), i in table.items():
            if t in index and p < lookup.shape[1]:
                lookup[index[t], p] = i
        topic_ix = np.searchsorted(np.array(sorted(index)), names)
        a_part.append(lookup[topic_ix, parts])
        a_id.append(cols.record_id[mine])
        a_ts.append(cols.ack_ts_ns[mine])
    p_id, p_ts, s_part, s_ts, s_cloud = [], [], [], [], []
    not_this_run = POLL_FOREIGN | POLL_FENCE | POLL_EARLIER_RUN
    for m in members:
        polls = m.entries[(m.entries["kind"] == KIND_POLL)
                          & ((m.entries["flags"] & not_this_run) == 0)]
        p_id.append(record_ids(polls["producer_id"], polls["seq"]))
        p_ts.append(polls["ts_ns"])
        assigns = m.entries[m.entries["kind"] == KIND_ASSIGN]
        s_part.append(np.array([table.setdefault((m.topics[ti], p), len(table)) for ti, p in
                                zip(assigns["topic_index"].tolist(),
                                    assigns["partition"].tolist(), strict=True)],
                               dtype=np.int64))
        s_ts.append(assigns["ts_ns"])
        s_cloud.append(np.full(len(assigns), m.cloud, dtype=np.int64))
    return GroupHistory(
        n_partitions=len(table), acked_id=_cat(a_id, "uint64"), acked_partition=_cat(a_part),
        acked_ts_ns=_cat(a_ts), poll_id=_cat(p_id, "uint64"), poll_ts_ns=_cat(p_ts),
        assign_partition=_cat(s_part), assign_ts_ns=_cat(s_ts), assign_cloud=_cat(s_cloud),
        fallback_cloud=members[0].cloud)


def end_to_end_from_run(run_dir: Path, producers: Iterable[ProducerLedger], fault_start_ns: int,
                        heal_ns: int | None, *,
                        cluster_of: Callable[[Mapping[str, Any]], str] = _no_cluster,
                        ) -> EndToEnd | None:
    """The block from a run's consumer ledgers and its producer ledgers (already read); None
    when the run has no consumer ledger. `cluster_of(header)`: the cluster a producer or
    consumer ledger's client used (`verify.verifier.ledger_cluster`); by default one cluster.
    Raises OSError / ValueError (LedgerCorruptError) for an unreadable consumer ledger."""
    import numpy as np

    from riftdrill.load.consumer_ledger import (
        CONSUMER_MAGIC,
        KIND_POLL,
        POLL_EARLIER_RUN,
        POLL_FENCE,
        POLL_FOREIGN,
        consumer_ledger_files,
    )
    from riftdrill.load.ledger import valid_entries

    files = consumer_ledger_files(run_dir)
    if not files:
        return None
    clouds: list[str] = []
    groups: dict[tuple[str, str], tuple[set[str], list[_Member]]] = {}
    for path in files:
        header, raw, _ = valid_entries(path, CONSUMER_MAGIC)
        cloud = str(header["cloud"])
        if cloud not in clouds:
            clouds.append(cloud)
        topics, members = groups.setdefault(
            (cluster_of(header), str(header.get("group", ""))), (set(), []))
        topics.update(header["topics"])
        members.append(_Member(np.array(raw, dtype=_entry_dtype()), list(header["topics"]),
                               clouds.index(cloud)))
    acks, failed_ts_ns = _ack_columns(producers, cluster_of)
    histories = [_group_history(acks.get(cluster, []), members, topics)
                 for (cluster, _), (topics, members) in sorted(groups.items())]
    # Every poll of this run's records, for the e2e latency.
    every = np.concatenate([m.entries for _, ms in groups.values() for m in ms])
    cloud_of = np.concatenate([np.full(len(m.entries), m.cloud, dtype=np.int64)
                               for _, ms in groups.values() for m in ms])
    this_run = (every["kind"] == KIND_POLL) & (
        (every["flags"] & (POLL_FOREIGN | POLL_FENCE | POLL_EARLIER_RUN)) == 0)
    polls = PollLatencies(ts_ns=every["ts_ns"][this_run].astype(np.int64),
                          send_ts_ns=every["send_ts_ns"][this_run].astype(np.int64),
                          cloud=cloud_of[this_run])
    # The run: from the first to the last thing any ledger recorded.
    stamps = [every["ts_ns"], np.array(failed_ts_ns, dtype=np.int64),
              *(h.acked_ts_ns for h in histories)]
    run_start = min([int(a.min()) for a in stamps if len(a)], default=fault_start_ns)
    run_end = max([int(a.max()) for a in stamps if len(a)], default=fault_start_ns)
    return compute_end_to_end(histories, polls, clouds, fault_start_ns, heal_ns,
                              min(run_start, fault_start_ns), max(run_end, fault_start_ns))


def _cat(parts: list[npt.NDArray[Any]], dtype: str = "int64") -> npt.NDArray[Any]:
    import numpy as np

    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)
