"""The verifier's final read, done on a load VM and judged on the operator's machine.

On a cloud target only the load VMs reach the brokers. The verifier's judgement needs the
ledgers (brought back from the VMs) and three answers from the cluster: the fences written
after the load, the replay of every partition up to them, and, for a partition the replay did
not find, whether every broker agrees it is gone. This module asks those three questions on
the VM (`python -m riftdrill.verify.final_read request.json out.npz --inventory inv.json`, the
same functions `riftdrill verify` uses: verifier.fences_for/replay_for, presence_for) and
writes the answers into one file, which `shipped` turns back into the callables
`verify_run` takes. Nothing is judged on the VM.

File format (`.npz`): `meta` (JSON: per cluster its bootstrap, fence set, the reads' scalar
fields and the absences) and the reads' columns as int64/bool arrays `<i>.<column>`.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from pydantic import BaseModel

from riftdrill.errors import RiftdrillError
from riftdrill.inventory import Inventory
from riftdrill.load.fence import FenceSet
from riftdrill.verify.check import NOT_ASKED, Absence, PartitionRead
from riftdrill.verify.presence import Presence, TopicPartition
from riftdrill.verify.vectorized import ReadColumns
from riftdrill.verify.verifier import Fence, Replay

COLUMNS = ("offsets", "producer_ids", "seqs", "checksums", "checksum_ok")
SCALARS = ("cluster", "topic", "partition", "low_watermark", "high_watermark", "exists",
           "not_found", "fenced", "fence_offset", "foreign", "earlier_runs", "reader")


class ClusterRead(BaseModel):
    topics: list[str]
    since_ns: int = 0  # records intended before this are an earlier run's


class FinalReadRequest(BaseModel):
    """What the operator asks the VM to read (from the ledgers it holds)."""

    clusters: dict[str, ClusterRead]
    # Partitions each topic was made with: those the replay did not find are put to every
    # broker (presence), since the VM does not hold the ledgers that say which were acked.
    partitions: dict[str, int] = {}


class ShippedRead:
    """The VM's answers, read back on the operator's machine."""

    def __init__(self, bootstraps: dict[str, str], fences: dict[str, FenceSet],
                 reads: dict[str, list[PartitionRead]],
                 absent: dict[str, dict[TopicPartition, Absence]]) -> None:
        self.bootstraps = bootstraps
        self.fences = fences
        self.reads = reads
        self.absent = absent

    def _cluster_of(self, bootstrap: str) -> str:
        for cluster, b in self.bootstraps.items():
            if b == bootstrap:
                return cluster
        raise RiftdrillError(f"the final read on the load VM did not read the cluster at "
                             f"{bootstrap}; run `riftdrill verify` again")

    def fence(self) -> Fence:
        def fence(bootstrap: str, topics: Sequence[str]) -> FenceSet:
            return self.fences[self._cluster_of(bootstrap)]
        return fence

    def replay(self) -> Replay:
        def replay(bootstrap: str, cluster: str, topics: Sequence[str], since_ns: int,
                   fences: FenceSet) -> list[PartitionRead]:
            wanted = set(topics)
            return [r for r in self.reads.get(cluster, []) if r.topic in wanted]
        return replay

    def presence(self) -> Presence:
        def presence(cluster: str, tps: Collection[TopicPartition]
                     ) -> dict[TopicPartition, Absence]:
            known = self.absent.get(cluster, {})
            return {tp: known.get(tp, NOT_ASKED) for tp in tps}
        return presence


def read_on_node(request: FinalReadRequest, inv: Inventory, fence: Fence | None = None,
                 replay: Replay | None = None, presence: Presence | None = None) -> ShippedRead:
    """Fence, replay and presence for every cluster of `request` (runs on the load VM)."""
    from riftdrill.verify.presence import presence_for
    from riftdrill.verify.replay import cluster_bootstrap
    from riftdrill.verify.verifier import fences_for, replay_for

    fence = fence or fences_for(inv)
    replay = replay or replay_for(inv)
    presence = presence or presence_for(inv)
    bootstraps = {c: cluster_bootstrap(inv, c) for c in request.clusters}
    # All fences first, as verify_run does: every one is written after the load ended.
    fences = {c: fence(bootstraps[c], sorted(r.topics)) for c, r in request.clusters.items()}
    reads: dict[str, list[PartitionRead]] = {}
    absent: dict[str, dict[TopicPartition, Absence]] = {}
    for c, r in request.clusters.items():
        reads[c] = replay(bootstraps[c], c, sorted(r.topics), r.since_ns, fences[c])
        found = {(x.topic, x.partition) for x in reads[c] if x.exists and not x.not_found}
        missing = [(t, p) for t in sorted(r.topics) for p in range(request.partitions.get(t, 0))
                   if (t, p) not in found]
        absent[c] = presence(c, missing) if missing else {}
    return ShippedRead(bootstraps, fences, reads, absent)


def save(shipped: ShippedRead, path: Path) -> None:
    arrays: dict[str, np.ndarray] = {}
    clusters: dict[str, Any] = {}
    i = 0
    for c in shipped.bootstraps:
        rows = []
        for r in shipped.reads.get(c, []):
            rows.append({k: getattr(r, k) for k in SCALARS} | {"i": i})
            for col in COLUMNS:
                dtype = np.bool_ if col == "checksum_ok" else np.int64
                arrays[f"{i}.{col}"] = np.asarray(getattr(r, col), dtype=dtype)
            i += 1
        clusters[c] = {
            "bootstrap": shipped.bootstraps[c],
            "fences": shipped.fences[c].to_json(),
            "reads": rows,
            "absent": [[t, p, a.gone, a.reason]
                       for (t, p), a in sorted(shipped.absent.get(c, {}).items())],
        }
    arrays["meta"] = np.frombuffer(json.dumps({"version": 1, "clusters": clusters}).encode(),
                                   np.uint8)
    with open(path, "wb") as out:  # a file object: np.savez would append ".npz" to a name
        np.savez_compressed(out, allow_pickle=False, **arrays)


def load(path: Path) -> ShippedRead:
    try:
        with np.load(path) as data:
            meta = json.loads(data["meta"].tobytes())
            bootstraps: dict[str, str] = {}
            fences: dict[str, FenceSet] = {}
            reads: dict[str, list[PartitionRead]] = {}
            absent: dict[str, dict[TopicPartition, Absence]] = {}
            for c, m in meta["clusters"].items():
                bootstraps[c] = m["bootstrap"]
                fences[c] = FenceSet.from_json(m["fences"])
                reads[c] = [_read(row, data) for row in m["reads"]]
                absent[c] = {(t, p): Absence(gone=g, reason=why) for t, p, g, why in m["absent"]}
    except (OSError, ValueError, KeyError) as exc:
        raise RiftdrillError(f"{path}: not a final read written by riftdrill.verify.final_read "
                             f"({exc}); run `riftdrill verify` again") from exc
    return ShippedRead(bootstraps, fences, reads, absent)


def _read(row: dict[str, Any], data: Any) -> PartitionRead:
    i = row.pop("i")
    cols = {c: data[f"{i}.{c}"] for c in COLUMNS}
    read = PartitionRead(**row, **{c: a.tolist() for c, a in cols.items()})
    read.arrays = ReadColumns(*(cols[c] for c in COLUMNS))
    return read


app = typer.Typer(add_completion=False)


@app.command()
def main(request_path: Path, out_path: Path,
         inventory_path: Annotated[Path, typer.Option("--inventory")]) -> None:
    """Run on a load VM: read what `request_path` asks, write the answers to `out_path`."""
    from riftdrill import inventory

    try:
        request = FinalReadRequest.model_validate_json(request_path.read_text())
        save(read_on_node(request, inventory.load(inventory_path)), out_path)
    except RiftdrillError as exc:
        typer.echo(f"riftdrill final read: {exc}", err=True)
        raise typer.Exit(2) from None


if __name__ == "__main__":
    app()
