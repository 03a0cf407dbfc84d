"""`riftdrill verify` end to end: ledgers -> replay per cluster (and mirror) -> check -> report.

Which cluster a ledger's acks belong to: the cluster serving the ledger's cloud
(`Inventory.cluster_of(header["cloud"])`): `main` when stretched, the producer's own cloud's
cluster when per-cloud. Mirrors (`Inventory.mirrors`) are checked when both their source and
target cluster are selected.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from riftdrill import paths
from riftdrill.errors import RiftdrillError
from riftdrill.inventory import Inventory
from riftdrill.verify.check import (
    ClusterLedger,
    PartitionRead,
    check_cluster,
    check_mirror,
)
from riftdrill.verify.report import MirrorResult, PartitionResult, VerifyReport

# (bootstrap, cluster, topics, since_ns): records intended before since_ns are an earlier run's
Replay = Callable[[str, str, Sequence[str], int], list[PartitionRead]]


def resolve_run_dir(run: str | None, runs_dir: Path | None = None) -> Path:
    """`--run`: a directory, a run id under results/runs, or (None) the newest run."""
    runs = runs_dir or paths.results_dir() / "runs"
    if run is None:
        candidates = [d for d in runs.glob("*") if d.is_dir()] if runs.is_dir() else []
        if not candidates:
            raise RiftdrillError(f"no runs under {runs}; run `riftdrill load` or pass --run")
        return max(candidates, key=lambda d: d.stat().st_mtime)
    for candidate in (Path(run), runs / run):
        if candidate.is_dir():
            return candidate
    raise RiftdrillError(f"no run {run!r} (neither a directory nor a run id under {runs})")


def load_ledgers(run_dir: Path, inv: Inventory) -> tuple[dict[str, ClusterLedger], int]:
    """Ledgers of a run grouped by cluster; also how many ledger files there were."""
    from riftdrill.load.ledger import Ack, ledger_files, read_header, read_ledger

    files = ledger_files(run_dir)
    if not files:
        raise RiftdrillError(f"no ledgers under {run_dir}/load/ledgers; was load run for it?")
    by_cluster: dict[str, ClusterLedger] = {}
    for path in files:
        try:
            header = read_header(path)
            cluster = ledger_cluster(header, inv)
        except (OSError, ValueError, KeyError) as exc:
            raise RiftdrillError(f"ledger {path} is unreadable ({exc})") from exc
        ledger = by_cluster.setdefault(cluster, ClusterLedger())
        ledger.producers.add(int(header["producer_id"]))
        ledger.schedule_starts.append(int(header.get("schedule_start_ns") or 0))
        ledger.topics.update(header.get("topics") or [])
        add_ack, add_error = ledger.add_ack, ledger.add_error
        for entry in read_ledger(path):
            if isinstance(entry, Ack):
                add_ack(entry)
            else:
                add_error(entry)
    return by_cluster, len(files)


def ledger_cluster(header: dict[str, Any], inv: Inventory) -> str:
    """The cluster a ledger's producer wrote to: the one serving its cloud, or, for a producer
    outside the inventory's clouds (plain `locust`, cloud "local"), the one its bootstrap names."""
    cloud = str(header["cloud"])
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


def _replay_for(inv: Inventory) -> Replay:
    from riftdrill.verify.replay import replay_topics

    # Tansu serves a many-partition fetch too slowly to tell from a stall, and reports a stale
    # high watermark: one partition at a time, each to the end its fetches report.
    tansu = inv.engine == "tansu"

    def replay(bootstrap: str, cluster: str, topics: Sequence[str], since_ns: int) -> list[PartitionRead]:
        return replay_topics(bootstrap, cluster, topics, since_ns=since_ns, one_at_a_time=tansu)

    return replay


def verify_run(run_dir: Path, inv: Inventory, clusters: Sequence[str] | None = None,
               replay: Replay | None = None) -> VerifyReport:
    """Verify a run; writes nothing (the CLI writes `<run>/verify.json`)."""
    from riftdrill.verify.replay import cluster_bootstrap

    replay = replay or _replay_for(inv)
    ledgers, n_files = load_ledgers(run_dir, inv)
    # Records intended before the earliest schedule start are an earlier run's; a ledger from
    # before schedule_start_ns was recorded (0) turns that off.
    starts = [s for lg in ledgers.values() for s in lg.schedule_starts]
    since_ns = min(starts) if starts and all(starts) else 0
    selected = list(clusters) if clusters else sorted(ledgers)
    for name in selected:
        inv.cluster_named(name)  # unknown name -> RiftdrillError listing the clusters
    report = VerifyReport(run_dir=str(run_dir), clusters=selected, ledgers=n_files,
                          acks=sum(lg.n_acks for lg in ledgers.values()),
                          errors=sum(lg.n_errors for lg in ledgers.values()))
    partitions: list[PartitionResult] = []
    mirrors: list[MirrorResult] = []
    reads_by_tp: dict[tuple[str, str, int], PartitionRead] = {}
    replay_s = check_s = 0.0
    for cluster in selected:
        ledger = ledgers.get(cluster)
        if ledger is None:
            continue  # nobody produced into it; a mirror target is read below
        t0 = time.perf_counter()
        reads = replay(cluster_bootstrap(inv, cluster), cluster, sorted(ledger.topics), since_ns)
        t1 = time.perf_counter()
        partitions += check_cluster(cluster, reads, ledger)
        check_s += time.perf_counter() - t1
        replay_s += t1 - t0
        reads_by_tp.update({(cluster, r.topic, r.partition): r for r in reads})
    for mm in inv.mirrors:
        source = ledgers.get(mm.source)
        if source is None or mm.source not in selected or mm.target not in selected:
            continue
        topics = sorted(t for t in source.topics if re.fullmatch(mm.topics, t))
        mirror_of = {f"{mm.source}.{t}": t for t in topics}  # DefaultReplicationPolicy names
        t0 = time.perf_counter()
        mreads = {(r.topic, r.partition): r for r in
                  replay(cluster_bootstrap(inv, mm.target), mm.target, sorted(mirror_of), since_ns)}
        t1 = time.perf_counter()
        for (cl, topic, p), src in sorted(reads_by_tp.items()):
            if cl != mm.source or topic not in topics:
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
    return report.finish()
