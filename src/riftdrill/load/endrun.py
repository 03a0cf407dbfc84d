"""How a load run ends: producers done -> markers -> fences -> consumers read up to them.

1. Each Locust process stops its producers and drains them (in-flight sends get up to the
   delivery timeout), then writes `load/workers/<worker>/producers-done`.
2. The load runner (the parent of the per-cloud processes) sees every process's marker (or the
   process gone) and writes one fence per partition of the run's topic once per cluster the run
   wrote to (fence.write_fences), saved as `load/fences.json`.
3. Each process's consumers keep polling (and committing) until every partition assigned to them
   polled its cluster's fence and the group's commits are past every fence, or
   `--rd-fence-wait-s` after the marker; then a final commit, close, exit. How that went is
   `load/workers/<worker>/drain.json` (a DrainRecord): a stop that waits out its whole fence
   wait says there which step never came.

`load/fences.json` shapes:
- one cluster: a FenceSet's JSON `{"nonce", "written_ns", "offsets": {topic: {partition:
  offset}}}`, or `{"error": "..."}` when the fences could not be written;
- several clusters (per-cloud topology): `{<cluster name>: <one of the above>, ...}`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from riftdrill.load.fence import WRITE_TIMEOUT_S, FenceSet
from riftdrill.security.client import OFF, ClientSecurity

PRODUCERS_DONE = "producers-done"
FENCES_FILE = "fences.json"
DRAIN_FILE = "drain.json"
SINGLE = ""  # the key load_fences gives the fences of a run with one cluster

# What a cluster's fencing came to: its fences, or why there are none.
FenceOutcome = FenceSet | str


def marker_path(load_dir: Path, worker: str) -> Path:
    return load_dir / "workers" / worker / PRODUCERS_DONE


def write_marker(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{time.time_ns()}\n")
    os.replace(tmp, path)


def process_marker_written(load_dir: Path, cloud: str, index: int) -> bool:
    """The runner's view: the process it started as (cloud, index) wrote its marker.
    Worker dirs are `<cloud>-<index>-<pid>`."""
    return any((load_dir / "workers").glob(f"{cloud}-{index}-*/{PRODUCERS_DONE}"))


@dataclass
class DrainRecord:
    """How one process's consumers ended the run, in seconds since its drain began."""

    members: int
    fences_s: float | None = None  # load/fences.json read
    members_fenced_s: float | None = None  # every member here polled its partitions' fences
    group_checks: int = 0  # asks for the group's committed offsets
    group_unanswered: int = 0  # ... that got no answer in time
    group_fenced_s: float | None = None  # the group's commits past every fence
    # at the end, when not done: the partitions the last answer had short of their fence, and
    # per member the partitions it owned without having polled their fence (None: a rebalance)
    group_behind: list[int] | None = None
    members_unfenced: list[list[int] | None] = field(default_factory=list)
    ended: str = ""  # group-fenced | deadline | fences-not-written | no-fences-tail | lag-zero
    read_s: float | None = None
    finish_s: float | None = None  # final commits and close

    def line(self) -> str:
        def s(v: float | None) -> str:
            return "-" if v is None else f"{v:.1f} s"

        return (f"consumers drained: {self.ended} after {s(self.read_s)} (fences {s(self.fences_s)}, "
                f"members fenced {s(self.members_fenced_s)}, group {s(self.group_fenced_s)} after "
                f"{self.group_checks} asks, {self.group_unanswered} unanswered); final commit and "
                f"close {s(self.finish_s)}")

    def write(self, worker_dir: Path) -> None:
        worker_dir.mkdir(parents=True, exist_ok=True)
        (worker_dir / DRAIN_FILE).write_text(json.dumps(asdict(self)) + "\n")


def read_drains(load_dir: Path) -> dict[str, dict[str, Any]]:
    """Every worker's drain record, by worker name ({} for a run without consumers)."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(load_dir.glob(f"workers/*/{DRAIN_FILE}")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            out[path.parent.name] = data
    return out


@dataclass(frozen=True)
class ProcessEnd:
    marker: bool  # its producers stopped and drained
    exited: bool  # the process is gone (it will never write a marker)


def fences_due(processes: Sequence[ProcessEnd]) -> bool:
    """Write fences once every process's producers are done (or the process is gone), and at
    least one process got that far: a run whose every process died has no consumer waiting."""
    return any(p.marker for p in processes) and all(p.marker or p.exited for p in processes)


def fences_json(outcomes: Mapping[str, FenceOutcome]) -> dict[str, Any]:
    def one(o: FenceOutcome) -> dict[str, Any]:
        return o.to_json() if isinstance(o, FenceSet) else {"error": o}

    if len(outcomes) == 1:
        return one(next(iter(outcomes.values())))
    return {cluster: one(o) for cluster, o in outcomes.items()}


def save_fences(path: Path, outcomes: Mapping[str, FenceOutcome]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(fences_json(outcomes), indent=1) + "\n")
    os.replace(tmp, path)


def _outcome(data: Any) -> FenceOutcome:
    if isinstance(data, dict) and "nonce" in data:
        return FenceSet.from_json(data)
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"])
    return f"unreadable fences entry: {str(data)[:200]}"


def load_fences(path: Path) -> dict[str, FenceOutcome] | None:
    """The fences file by cluster (SINGLE for a one-cluster run); None while not written."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or "nonce" in data or "error" in data:
        return {SINGLE: _outcome(data)}
    return {str(cluster): _outcome(v) for cluster, v in data.items()}


def fences_of(outcomes: Mapping[str, FenceOutcome], cluster: str) -> FenceOutcome:
    """The fences a consumer of `cluster` waits for ('' = unknown: a one-cluster file only)."""
    if SINGLE in outcomes:
        return outcomes[SINGLE]
    if cluster in outcomes:
        return outcomes[cluster]
    return f"no fences for cluster {cluster or '(unknown)'} in {', '.join(sorted(outcomes))}"


def write_run_fences(targets: Mapping[str, str], topic: str, path: Path,
                     timeout_s: float = WRITE_TIMEOUT_S,
                     security: ClientSecurity = OFF) -> dict[str, FenceOutcome]:
    """Fence `topic` on every cluster (name -> bootstrap) at once, then save the file.

    Never raises for a cluster's failure: it is recorded as that cluster's error, so consumers
    waiting for the file stop at their deadline instead of hanging.
    """
    from riftdrill.load.fence import write_fences

    def one(bootstrap: str) -> FenceOutcome:
        try:
            return write_fences(bootstrap, [topic], timeout_s, security=security)
        except Exception as exc:  # any failure must end up in the file, never hang a consumer
            return str(exc) or type(exc).__name__

    with ThreadPoolExecutor(max_workers=max(1, len(targets))) as pool:
        futures = {cluster: pool.submit(one, bs) for cluster, bs in targets.items()}
        outcomes = {cluster: f.result() for cluster, f in futures.items()}
    save_fences(path, outcomes)
    return outcomes
