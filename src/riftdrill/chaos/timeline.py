"""The broker timeline: once a second during a drill, the cluster as its brokers see it, into
`<run>/cluster.jsonl`.

    {"ts_s": 1764633963.2, "partitions": [{"cluster": "main", "topic": "riftdrill",
       "partition": 0, "leader": 101, "isr": [101, 102], "replicas": [101, 102, 201]}, ...],
     "under_replicated": 1, "offline": 0, "controller": 101, "brokers_up": [101, 102, 201],
     "quorum": {"leader": 101, "epoch": 3, ...} | null, "error": null}

Partitions are the drill's topic (the load's, `load/spec.json`) and its mirrors' copies
("<source>.<topic>"); the counts are over those. One metadata request per cluster (librdkafka's
`list_topics`: leaders, replicas, ISR, registered brokers) and, on KRaft, one DescribeQuorum to
the controllers (`kraft.py`): its leader is the active controller (a KRaft broker's metadata
names a random live broker as "controller", so that id is used only without a quorum answer).
With several clusters (per-cloud) the counts add up, `controller` / `quorum` are the first
cluster's, and `clusters` holds each cluster's own. A sample never fails the drill: what went
wrong is the line's `error`.

The sampler is a daemon thread of the drill's own process (`riftdrill drill`'s runner, or the
chaos process under a stock `chaos run`, started by the control): it dies with it, stops when
the drill ends (`stop`, idempotent) and after `max_s` or `max_samples` whatever happens.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel

from riftdrill.chaos import kraft
from riftdrill.inventory import Inventory

FILE = "cluster.jsonl"
INTERVAL_S = 1.0
METADATA_TIMEOUT_S = 0.8  # a dead or cut-off cluster costs at most this per sample
QUORUM_TIMEOUT_S = 0.3  # per controller asked
MAX_S = 4 * 3600.0  # longer than any drill (runner.CHAOS_MAX_S + its grace): a hard stop
DEFAULT_TOPIC = "riftdrill"  # load.spec.LoadSpec's default, until the load writes its spec


class ClusterTimeline(BaseModel):
    """summary.json's `cluster_timeline`: what cluster.jsonl saw, and where the logs went."""

    file: str = FILE
    samples: int = 0
    max_under_replicated: int = 0
    max_offline: int = 0
    controller_changes: int = 0
    sample_errors: int = 0  # lines with an `error`
    logs: list[str] = []  # copied broker / mirror logs, relative to the run dir
    logs_note: str | None = None  # why logs were not copied


class Admin(Protocol):
    """What the sampler needs of confluent_kafka's AdminClient (a fake in the unit tests)."""

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any: ...


@dataclass
class ClusterSource:
    """One cluster to sample: its admin client, and how to ask its quorum (None: not KRaft)."""

    name: str
    admin: Admin
    quorum: Callable[[], kraft.Quorum] | None = None


def topic_of(run_dir: Path) -> str:
    """The load's topic: its spec once the load has written it, else the load's default."""
    try:
        topic = json.loads((run_dir / "load" / "spec.json").read_text()).get("topic")
    except (OSError, ValueError, AttributeError):
        return DEFAULT_TOPIC
    return str(topic) if topic else DEFAULT_TOPIC


def drill_topic(name: str, topic: str) -> bool:
    """The topic itself, or a mirror's copy of it (MirrorMaker 2: "<source>.<topic>")."""
    return name == topic or name.endswith("." + topic)


def sample_cluster(src: ClusterSource, topic: str,
                   timeout_s: float = METADATA_TIMEOUT_S) -> dict[str, Any]:
    """One cluster's part of a line; errors go in its `error`, never raised."""
    out: dict[str, Any] = {"partitions": [], "under_replicated": 0, "offline": 0,
                           "controller": -1, "brokers_up": [], "quorum": None, "error": None}
    errors: list[str] = []
    try:
        md = src.admin.list_topics(timeout=timeout_s)
        out["brokers_up"] = sorted(int(b) for b in md.brokers)
        out["controller"] = int(md.controller_id)
        for name in sorted(md.topics):
            if not drill_topic(name, topic):
                continue
            for pid in sorted(md.topics[name].partitions):
                p = md.topics[name].partitions[pid]
                leader, isr, replicas = int(p.leader), list(p.isrs), list(p.replicas)
                out["partitions"].append({"cluster": src.name, "topic": name, "partition": pid,
                                          "leader": leader, "isr": isr, "replicas": replicas})
                out["offline"] += leader < 0
                out["under_replicated"] += len(isr) < len(replicas)
    except Exception as exc:  # KafkaException on a timeout, anything else alike
        errors.append(f"{src.name} metadata: {exc}")
    if src.quorum is not None:
        try:
            q = src.quorum()
            out["quorum"] = q.to_line()
            out["controller"] = q.leader  # the active controller (see the module's docstring)
        except Exception as exc:
            errors.append(f"{src.name} quorum: {exc}")
    out["error"] = "; ".join(errors) or None
    return out


def sample_line(sources: list[ClusterSource], topic: str, ts_s: float) -> dict[str, Any]:
    """One line of cluster.jsonl: every cluster sampled, counts added up."""
    parts = [(src.name, sample_cluster(src, topic)) for src in sources]
    first = parts[0][1] if parts else {}
    line: dict[str, Any] = {
        "ts_s": round(ts_s, 3),
        "partitions": [p for _, part in parts for p in part["partitions"]],
        "under_replicated": sum(part["under_replicated"] for _, part in parts),
        "offline": sum(part["offline"] for _, part in parts),
        "controller": first.get("controller", -1),
        "brokers_up": sorted({b for _, part in parts for b in part["brokers_up"]}),
        "quorum": first.get("quorum"),
        "error": "; ".join(part["error"] for _, part in parts if part["error"]) or None,
    }
    if len(parts) > 1:
        line["clusters"] = {name: {k: part[k] for k in ("controller", "under_replicated",
                                                        "offline", "quorum")}
                            for name, part in parts}
    return line


@dataclass
class Sampler:
    """The timeline's thread: `start()`, then `stop()` on every exit path (idempotent)."""

    path: Path
    sources: list[ClusterSource]
    topic: Callable[[], str]
    interval_s: float = INTERVAL_S
    max_s: float = MAX_S
    max_samples: int = int(MAX_S / INTERVAL_S)
    clock: Callable[[], float] = time.time
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, name="riftdrill-timeline",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
            if not self._thread.is_alive():
                self.sources = []  # let the admin clients (librdkafka threads) go

    def _run(self) -> None:
        t0 = time.monotonic()
        try:
            with open(self.path, "a") as out:
                while not self._stop.is_set() and self.samples < self.max_samples:
                    tick = time.monotonic()
                    if tick - t0 > self.max_s:
                        break
                    out.write(json.dumps(self._line()) + "\n")
                    out.flush()
                    self.samples += 1
                    # the next whole interval from the start; a slow sample skips, not bunches
                    elapsed = time.monotonic() - t0
                    self._stop.wait(self.interval_s - elapsed % self.interval_s)
        except OSError:
            return  # the run dir is gone: nothing to record into

    def _line(self) -> dict[str, Any]:
        ts = self.clock()
        try:
            return sample_line(self.sources, self.topic(), ts)
        except Exception as exc:  # a sampler bug must not end the timeline
            return {"ts_s": round(ts, 3), "partitions": [], "under_replicated": 0,
                    "offline": 0, "controller": -1, "brokers_up": [], "quorum": None,
                    "error": f"sample failed: {exc}"}


def sources_for(inv: Inventory) -> list[ClusterSource]:
    """An admin client per cluster over all its brokers (any one alive answers), and its
    controllers' DescribeQuorum on KRaft engines (Kafka, AutoMQ; Tansu has no quorum)."""
    from confluent_kafka.admin import AdminClient

    out = []
    for cluster in inv.clusters:
        members = [b for b in inv.brokers if b.id in cluster.brokers]
        bootstrap = [b.bootstrap for b in members if "broker" in b.roles]
        admin = AdminClient({"bootstrap.servers": ",".join(bootstrap or cluster.bootstrap.values()),
                             "socket.connection.setup.timeout.ms": 1000,
                             "reconnect.backoff.max.ms": 1000,
                             "log_level": 0})  # a dead broker is expected: no stderr noise
        controllers = [(b.address, b.controller_port) for b in members
                       if "controller" in b.roles and b.controller_port]
        quorum = (kraft.QuorumWatch(controllers, QUORUM_TIMEOUT_S)
                  if inv.engine != "tansu" and controllers else None)
        out.append(ClusterSource(name=cluster.name, admin=admin, quorum=quorum))
    return out


def start(run_dir: Path, inv: Inventory, *, max_s: float = MAX_S) -> Sampler:
    """The timeline of the drill in `run_dir`, sampling until `stop()` (or max_s)."""
    return Sampler(path=run_dir / FILE, sources=sources_for(inv),
                   topic=lambda: topic_of(run_dir), max_s=max_s,
                   max_samples=int(max_s / INTERVAL_S) + 1).start()


def summarize(run_dir: Path) -> ClusterTimeline | None:
    """summary.json's block from cluster.jsonl; None when the drill recorded no timeline."""
    path = run_dir / FILE
    if not path.exists():
        return None
    block = ClusterTimeline()
    previous = -1
    with open(path) as f:
        for raw in f:
            try:
                line = json.loads(raw)
            except ValueError:
                continue  # a line cut short by a killed process
            block.samples += 1
            block.max_under_replicated = max(block.max_under_replicated,
                                             int(line.get("under_replicated") or 0))
            block.max_offline = max(block.max_offline, int(line.get("offline") or 0))
            block.sample_errors += bool(line.get("error"))
            controller = int(line.get("controller", -1))
            if controller >= 0:  # an unknown controller is not a change
                block.controller_changes += previous >= 0 and controller != previous
                previous = controller
    return block
