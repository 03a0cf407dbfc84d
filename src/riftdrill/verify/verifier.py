"""`riftdrill verify` end to end: ledgers -> fences -> replay per cluster (and mirror) -> check.

Order matters: the ledgers are read first, then a fence is written to every partition, then the
replay reads each partition up to its fence. Every ack the ledgers hold was given before the
fence existed, so each one must be met on the way (see riftdrill.verify.replay).

Which cluster a ledger's acks belong to: the cluster serving the ledger's cloud
(`Inventory.cluster_of(header["cloud"])`): `main` when stretched, the producer's own cloud's
cluster when per-cloud. Mirrors (`Inventory.mirrors`) are checked when both their source and
target cluster are selected.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from riftdrill.errors import RiftdrillError
from riftdrill.gcpause import gc_paused
from riftdrill.inventory import Inventory, MirrorDelivery
from riftdrill.load.fence import FenceSet
from riftdrill.load.ledger import ProducerLedger
from riftdrill.security.client import ClientSecurity, client_security
from riftdrill.verify.anomalies import CONSUMER_KINDS
from riftdrill.verify.check import (
    ClusterLedger,
    PartitionRead,
    check_cluster,
    check_mirror,
    missing_partitions,
)
from riftdrill.verify.consumers import EntryLike, check_group
from riftdrill.verify.contract import ProducerContract, producer_contract, run_contract
from riftdrill.verify.presence import Presence, presence_for
from riftdrill.verify.report import (
    GroupResult,
    MirrorResult,
    PartitionResult,
    VerifyReport,
    anomaly_from_offsets,
)

# (bootstrap, cluster, topics, since_ns, fences): records intended before since_ns are an
# earlier run's; each partition is read up to its fence of `fences`.
Replay = Callable[[str, str, Sequence[str], int, FenceSet], list[PartitionRead]]
# (bootstrap, topics) -> the fences written
Fence = Callable[[str, Sequence[str]], FenceSet]


@dataclass
class RunLedgers:
    """Everything a run's ledgers hold, grouped by cluster, read once."""

    by_cluster: dict[str, ClusterLedger]
    files: int
    producers: list[ProducerContract]
    truncated_entries: int = 0
    # (cluster, group) -> each member's entries in order
    groups: dict[tuple[str, str], list[Sequence[EntryLike]]] = field(default_factory=dict)


@dataclass(frozen=True)
class LedgerHead:
    """What a producer ledger's header says, and how much of it there was when it was looked at:
    enough to write the fences and start the replay before the entries are read."""

    path: Path
    cluster: str
    topics: tuple[str, ...]
    schedule_start_ns: int
    entries: int  # whole entries (good or not) at that moment
    limit_bytes: int | None  # read no further (None: the ledger was already read whole)


def _unreadable(path: Path, exc: Exception) -> RiftdrillError:
    return RiftdrillError(f"ledger {path} is unreadable ({exc}); it is damaged: "
                          "re-run the load, a damaged ledger cannot be judged")


def ledger_heads(run_dir: Path, inv: Inventory,
                 producers: Sequence[ProducerLedger] | None = None) -> list[LedgerHead]:
    """One LedgerHead per producer ledger of the run (or of `producers`, already read)."""
    from riftdrill.load.ledger import ledger_files, read_extent

    if producers is not None:
        files: list[Path] = [p.path for p in producers]
    else:
        files = ledger_files(run_dir)
    if not files:
        raise RiftdrillError(f"no ledgers under {run_dir}/load/ledgers; was load run for it? "
                             "(`riftdrill load` or `riftdrill drill` write them)")
    heads: list[LedgerHead] = []
    for i, path in enumerate(files):
        try:
            if producers is not None:
                header, size, entries = producers[i].header, None, len(producers[i].entries)
            else:
                header, size, entries = read_extent(path)
            heads.append(LedgerHead(path, ledger_cluster(header, inv),
                                    tuple(header.get("topics") or ()),
                                    int(header.get("schedule_start_ns") or 0), entries, size))
        except (OSError, ValueError, KeyError) as exc:
            raise _unreadable(path, exc) from exc
    return heads


def load_ledgers(run_dir: Path, inv: Inventory,
                 producers: Sequence[ProducerLedger] | None = None,
                 heads: Sequence[LedgerHead] | None = None) -> RunLedgers:
    """Producer and consumer ledgers of a run, grouped by cluster. A torn tail (a crash
    mid-write) is counted; anything else unreadable is a RiftdrillError naming the file.
    `producers`: the producer ledgers already read (a drill reads them once), else read here,
    each up to its `heads` extent when given."""
    from riftdrill.load.consumer_ledger import consumer_ledger_files, read_consumer_ledger
    from riftdrill.load.ledger import read_producer_ledger

    heads = heads if heads is not None else ledger_heads(run_dir, inv, producers)
    given = {p.path: p for p in producers or ()}
    out = RunLedgers(by_cluster={}, files=len(heads), producers=[])
    for head in heads:
        path = head.path
        try:
            read = (given[path] if path in given
                    else read_producer_ledger(path, limit_bytes=head.limit_bytes,
                                              objects=False))
            header, entries, torn = read.header, read.entries, read.torn
            cluster = ledger_cluster(header, inv)
        except (OSError, ValueError, KeyError) as exc:
            raise _unreadable(path, exc) from exc
        out.truncated_entries += torn
        out.producers.append(producer_contract(header))
        ledger = out.by_cluster.setdefault(cluster, ClusterLedger())
        ledger.producers.add(int(header["producer_id"]))
        ledger.schedule_starts.append(int(header.get("schedule_start_ns") or 0))
        ledger.topics.update(header.get("topics") or [])
        if read.columns is not None:  # the same entries as records: the checker's columns
            ledger.add_records(header.get("topics") or [], read.columns)
        else:
            ledger.add_entries(entries)
    for path in consumer_ledger_files(run_dir):
        try:
            log = read_consumer_ledger(path)
            cluster = ledger_cluster(log.header, inv)
        except (OSError, ValueError, KeyError) as exc:
            raise RiftdrillError(f"consumer ledger {path} is unreadable ({exc}); it is "
                                 "damaged: re-run the load") from exc
        out.truncated_entries += log.truncated_entries
        members = out.groups.setdefault((cluster, str(log.header.get("group", ""))), [])
        members.append(log.entries)
    return out


def ledger_cluster(header: dict[str, Any], inv: Inventory) -> str:
    """The cluster a ledger's client used: the one its header names (a producer that failed over
    to another cloud's cluster says so), else the one serving its cloud, or, for a producer
    outside the inventory's clouds (plain `locust`, cloud "local"), the one its bootstrap names."""
    cloud = str(header["cloud"])  # KeyError: not a ledger header
    named = str(header.get("cluster") or "")
    if named and any(c.name == named for c in inv.clusters):
        return named
    if any(cloud in c.clouds for c in inv.clusters):
        return inv.cluster_of(cloud).name
    addresses = set(str(header.get("bootstrap") or "").split(","))
    for c in inv.clusters:
        if any(addresses & set(b.split(",")) for b in c.bootstrap.values()):
            return c.name
    if len(inv.clusters) == 1:
        return inv.clusters[0].name
    raise RiftdrillError(
        f"ledger of producer {header.get('producer_id')} names cloud {cloud!r} and bootstrap "
        f"{header.get('bootstrap')!r}, neither in the inventory; run the load with --rd-cloud "
        "set to a cloud of the inventory"
    )


# Processes the librdkafka reader of one cluster is split over (what the fast reader leaves to
# it, and tansu): its per-record work is Python, so one process is bound to one core.
REPLAY_WORKERS = 2


def replay_for(inv: Inventory, workers: int = REPLAY_WORKERS, native: bool = True,
               security: ClientSecurity | None = None) -> Replay:
    """The replay verify_run uses by default for `inv`'s engine (`native`: the fast reader
    first; verify/bench.py measures it against librdkafka alone), reading as the verifier
    principal (`security`, default: the inventory's)."""
    from riftdrill.verify.replay import replay_topics

    # Tansu serves a many-partition fetch too slowly to tell from a stall: one at a time.
    tansu = inv.engine == "tansu"
    reader = security if security is not None else client_security(inv.security, "verifier")

    def replay(bootstrap: str, cluster: str, topics: Sequence[str], since_ns: int,
               fences: FenceSet) -> list[PartitionRead]:
        return replay_topics(bootstrap, cluster, topics, fences, since_ns=since_ns,
                             one_at_a_time=tansu, workers=workers, native=native,
                             security=reader)

    return replay


def fences_for(inv: Inventory, security: ClientSecurity | None = None) -> Fence:
    """The fence writer verify_run uses by default: fences belong to the load's history, so
    they are written as the load principal (`security`, default: the inventory's); the
    verifier principal may write nothing."""
    from riftdrill.load.fence import write_fences

    writer = security if security is not None else client_security(inv.security, "load")

    def fence(bootstrap: str, topics: Sequence[str]) -> FenceSet:
        return write_fences(bootstrap, topics, security=writer)

    return fence


def _attach(results: dict[tuple[str, str, int], PartitionResult], cluster: str,
            kind: str, by_tp: dict[tuple[str, int], list[int]]) -> None:
    for (topic, partition), offsets in by_tp.items():
        result = results.get((cluster, topic, partition))
        if result is not None and offsets:
            result.anomalies[kind] = anomaly_from_offsets(offsets)


def _nothing_sent(run_dir: Path) -> RiftdrillError:
    return RiftdrillError(f"the ledgers under {run_dir}/load/ledgers hold no send outcome: "
                          "the load sent nothing, so there is nothing to verify; re-run it")


def _replay_clusters(replay: Replay, inv: Inventory, topics: dict[str, list[str]],
                     since_ns: int, fences: dict[str, FenceSet],
                     ) -> dict[str, tuple[list[PartitionRead], float]]:
    """Each cluster's reads and how long its replay took, in `topics` order."""
    from riftdrill.verify.replay import cluster_bootstrap

    out: dict[str, tuple[list[PartitionRead], float]] = {}
    for cluster, names in topics.items():
        t0 = time.perf_counter()
        reads = replay(cluster_bootstrap(inv, cluster), cluster, names, since_ns,
                       fences[cluster])
        out[cluster] = (reads, time.perf_counter() - t0)
    return out


def verify_run(run_dir: Path, inv: Inventory, clusters: Sequence[str] | None = None,
               replay: Replay | None = None, fence: Fence | None = None,
               producers: Sequence[ProducerLedger] | None = None,
               presence: Presence | None = None) -> VerifyReport:
    """Verify a run; writes nothing (the CLI writes `<run>/verify.json`). `producers`: its
    producer ledgers if already read (`load.ledger.read_run_ledgers`); `presence`: who decides
    whether an acked partition the replay did not find is gone (default: every broker of the
    cluster is asked, verify/presence.py)."""
    with gc_paused():
        return _verify_run(run_dir, inv, clusters, replay, fence, producers, presence)


def _verify_run(run_dir: Path, inv: Inventory, clusters: Sequence[str] | None,
                replay: Replay | None, fence: Fence | None,
                producers: Sequence[ProducerLedger] | None,
                presence: Presence | None) -> VerifyReport:
    from riftdrill.load.ledger import ledger_files
    from riftdrill.verify.hubrun import check_hub_run, has_hub_ledger, verify_hub_only
    from riftdrill.verify.replay import cluster_bootstrap

    if producers is None and has_hub_ledger(run_dir) and not ledger_files(run_dir):
        return verify_hub_only(run_dir, inv)  # the hub's workload was the run's only load
    replay = replay or replay_for(inv)
    fence = fence or fences_for(inv)
    heads = ledger_heads(run_dir, inv, producers)
    if not any(h.entries for h in heads):
        raise _nothing_sent(run_dir)
    topics: dict[str, set[str]] = {}
    for h in heads:
        topics.setdefault(h.cluster, set()).update(h.topics)
    # Records intended before the earliest schedule start are an earlier run's; a ledger from
    # before schedule_start_ns was recorded (0) turns that off.
    starts = [h.schedule_start_ns for h in heads]
    since_ns = min(starts) if all(starts) else 0
    selected = list(clusters) if clusters else sorted(topics)
    for name in selected:
        inv.cluster_named(name)  # unknown name -> RiftdrillError listing the clusters
    t0 = time.perf_counter()
    fences = {name: fence(cluster_bootstrap(inv, name), sorted(topics[name]))
              for name in selected if name in topics}
    fence_s = time.perf_counter() - t0
    # Every entry up to each ledger's extent (taken above) was written before the fences, so
    # the entries can be read while the clusters are replayed: the replay waits on sockets and
    # the native decoder, the ledger reading on Python.
    with ThreadPoolExecutor(1, thread_name_prefix="rd-replay") as pool:
        replaying = pool.submit(_replay_clusters, replay, inv,
                                {c: sorted(topics[c]) for c in selected if c in topics},
                                since_ns, fences)
        t0 = time.perf_counter()
        run = load_ledgers(run_dir, inv, producers, heads)
        ledger_s = time.perf_counter() - t0
        replayed = replaying.result()
    ledgers = run.by_cluster
    if not any(lg.n_acks or lg.n_errors for lg in ledgers.values()):
        raise _nothing_sent(run_dir)  # every entry was torn
    report = VerifyReport(run_dir=str(run_dir), clusters=selected, ledgers=run.files,
                          acks=sum(lg.n_acks for lg in ledgers.values()),
                          errors=sum(lg.n_errors for lg in ledgers.values()),
                          ledger_truncated_lines=run.truncated_entries)
    partitions: list[PartitionResult] = []
    mirrors: list[MirrorResult] = []
    reads_by_tp: dict[tuple[str, str, int], PartitionRead] = {}
    replay_s = sum(s for _, s in replayed.values())
    check_s = 0.0
    for cluster, (reads, _) in replayed.items():
        acked = ledgers.get(cluster) or ClusterLedger()
        # An acked partition the replay's metadata (one broker's) lacked is judged gone only if
        # every broker agrees; one metadata round per cluster with such partitions, else none.
        t1 = time.perf_counter()
        missing = missing_partitions(reads, acked)
        absent = (presence or presence_for(inv))(cluster, missing) if missing else {}
        t2 = time.perf_counter()
        partitions += check_cluster(cluster, reads, acked, absent)
        replay_s += t2 - t1
        check_s += time.perf_counter() - t2
        reads_by_tp.update({(cluster, r.topic, r.partition): r for r in reads})
    by_key = {(p.cluster, p.topic, p.partition): p for p in partitions}
    t0 = time.perf_counter()
    for (cluster, group), members in sorted(run.groups.items()):
        ledger = ledgers.get(cluster)
        if ledger is None or cluster not in selected:
            continue
        reads_here = {(t, p): r for (c, t, p), r in reads_by_tp.items() if c == cluster}
        found = check_group(members, reads_here, ledger.acks)
        for kind in CONSUMER_KINDS:
            _attach(by_key, cluster, kind, getattr(found, kind))
        g = found.offsets
        report.groups.append(GroupResult(
            cluster=cluster, group=group, members=len(members), polls=g.polls,
            commits=g.commits, failed_commits=g.failed_commits, rebalances=g.rebalances,
            committed={f"{t}[{p}]": o for (t, p), o in sorted(g.committed.items())}))
    check_s += time.perf_counter() - t0
    for mm in inv.mirrors:
        source = ledgers.get(mm.source)
        if source is None or mm.source not in selected or mm.target not in selected:
            continue
        mirrored = sorted(t for t in source.topics if re.fullmatch(mm.topics, t))
        mirror_of = {f"{mm.source}.{t}": t for t in mirrored}  # DefaultReplicationPolicy names
        t0 = time.perf_counter()
        # The mirror copies the source's fence like any record: read up to that copy.
        mreads = {(r.topic, r.partition): r for r in
                  replay(cluster_bootstrap(inv, mm.target), mm.target, sorted(mirror_of),
                         since_ns, fences[mm.source])}
        t1 = time.perf_counter()
        for (cl, topic, p), src in sorted(reads_by_tp.items()):
            if cl != mm.source or topic not in mirrored:
                continue
            mtopic = f"{mm.source}.{topic}"
            mread = mreads.get((mtopic, p)) or PartitionRead(
                cluster=mm.target, topic=mtopic, partition=p, exists=False)
            mirrors.append(check_mirror(src, mread, source.acks.get((topic, p), []),
                                        source.failed.get(topic, set()), source.producers))
        check_s += time.perf_counter() - t1
        replay_s += t1 - t0
    report.partitions = partitions
    report.mirrors = mirrors
    report.replay_s = round(replay_s, 3)
    report.check_s = round(check_s, 3)
    report.ledger_s = round(ledger_s, 3)
    report.fence_s = round(fence_s, 3)
    report.readers = dict(Counter(r.reader for r in reads_by_tp.values()))
    checked = {(m.source_cluster, m.target_cluster) for m in report.mirrors}
    deliveries = [mm.delivery for mm in inv.mirrors if (mm.source, mm.target) in checked]
    # the weakest contract of the mirrors checked decides
    delivery: MirrorDelivery | None = (
        None if not deliveries else "at-least-once" if "at-least-once" in deliveries
        else "exactly-once")
    connector_delivery = None
    if has_hub_ledger(run_dir):
        report.hub = check_hub_run(run_dir, inv)
        connector_delivery = inv.require_hub().delivery
    contract = run_contract(run.producers, consumers_checked=bool(report.groups),
                            mirror_delivery=delivery, connector_delivery=connector_delivery)
    return report.finish(contract)
