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

With an integration hub (`Inventory.hub`) a line also has `connect` (absent otherwise, and in
lines written before it existed): every Connect worker is asked for the status of the source
and the sink connector (`hub/pipeline.py: ConnectRest.status`, CONNECT_TIMEOUT_S per request,
all workers at once and alongside the clusters, collected within CONNECT_BUDGET_S):

    "connect": {"workers": {"connect-aws": null, "connect-gcp": "no answer: ..."},
                "connectors": {"riftdrill-source": {"state": "RUNNING",
                  "worker_id": "198.18.1.30:8083", "seen_by": "connect-aws", "error": null,
                  "tasks": [{"id": 0, "state": "RUNNING", "worker_id": "198.18.1.30:8083",
                             "worker": "connect-aws"}]},
                  ...}}

`workers`: null for a worker that answered, else why it did not. A connector's status is the
first answering worker's, in the inventory's order (every worker reads the same status topic);
`error` when no worker gave one (`state` null, `tasks` empty). A task's `worker` is the
inventory's name for its `worker_id`. summary.json's `cluster_timeline.connectors` sums it up
per connector (seconds not RUNNING, seconds on a silent worker, task moves between workers).

The sampler is a daemon thread of the drill's own process (`riftdrill drill`'s runner, or the
chaos process under a stock `chaos run`, started by the control): it dies with it, stops when
the drill ends (`stop`, idempotent) and after `max_s` or `max_samples` whatever happens.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, SerializerFunctionWrapHandler, model_serializer

from riftdrill.chaos import kraft
from riftdrill.hub.pipeline import ConnectorError, ConnectRest, state_of
from riftdrill.inventory import Inventory

FILE = "cluster.jsonl"
INTERVAL_S = 1.0
METADATA_TIMEOUT_S = 0.8  # a dead or cut-off cluster costs at most this per sample
QUORUM_TIMEOUT_S = 0.3  # per controller asked after the one that answered last
QUORUM_LEADER_TIMEOUT_S = 0.8  # the one that answered last (the leader, while it stays)
MAX_S = 4 * 3600.0  # longer than any drill (runner.CHAOS_MAX_S + its grace): a hard stop
DEFAULT_TOPIC = "riftdrill"  # load.spec.LoadSpec's default, until the load writes its spec
CONNECT_TIMEOUT_S = 0.4  # one REST request to one Connect worker
CONNECT_BUDGET_S = 0.9  # the hub's part of a sample, all workers at once: never a stalled loop


class ConnectorTimeline(BaseModel):
    """One connector over the drill, from the `connect` blocks of cluster.jsonl."""

    samples: int = 0  # samples in which some worker gave its status
    unanswered: int = 0  # samples in which no worker did
    # Time from each sample that saw the connector or any of its tasks not RUNNING (or no task
    # at all) to the next sample (the last such sample counts one interval)
    not_running_s: float = 0.0
    # Likewise, for a task reported on a worker that did not answer in that sample (Connect
    # still says RUNNING until the group notices the worker is gone)
    on_silent_worker_s: float = 0.0
    task_moves: int = 0  # a task seen on another worker than in the sample before
    states_seen: list[str] = []  # every connector and task state seen, sorted


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
    # The integration hub's connectors by name, and per Connect worker the samples it did not
    # answer in; empty without a hub (and in summaries written before they existed)
    connectors: dict[str, ConnectorTimeline] = {}
    connect_workers_silent: dict[str, int] = {}

    @model_serializer(mode="wrap")
    def _without_an_absent_hub(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Written only with a hub: a published summary reads back and writes out unchanged."""
        out: dict[str, Any] = handler(self)
        for key in ("connectors", "connect_workers_silent"):
            if not out.get(key):
                out.pop(key, None)
        return out


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


@dataclass(frozen=True)
class HubSource:
    """The integration hub's Connect workers (name, REST URL) and the connectors to follow."""

    workers: Sequence[tuple[str, str]]
    connectors: Sequence[str]
    timeout_s: float = CONNECT_TIMEOUT_S
    budget_s: float = CONNECT_BUDGET_S

    def ask(self) -> Callable[[], dict[str, Any]]:
        """Ask every worker now (a daemon thread each); the returned function collects the
        `connect` block, waiting at most `budget_s` from now: a worker still silent by then is
        recorded as not answering."""
        answers: dict[str, dict[str, Any] | str] = {}
        lock = threading.Lock()
        start = time.monotonic()

        def one(name: str, url: str) -> None:
            rest = ConnectRest([url], timeout_s=self.timeout_s)
            statuses: dict[str, Any] = {}
            try:
                for connector in self.connectors:
                    try:
                        statuses[connector] = rest.status(connector)
                    except ConnectorError as exc:  # it answered: no such connector (404)
                        statuses[connector] = f"HTTP {exc.code}: {exc}"
            except Exception as exc:  # LabError (no answer, 5xx), a garbled reply: silent
                with lock:
                    answers[name] = f"no answer: {exc}"
                return
            with lock:
                answers[name] = statuses

        threads = [threading.Thread(target=one, args=(n, u), daemon=True,
                                    name=f"riftdrill-timeline-{n}") for n, u in self.workers]
        for t in threads:
            t.start()

        def collect() -> dict[str, Any]:
            for t in threads:
                t.join(max(0.0, start + self.budget_s - time.monotonic()))
            with lock:
                got = dict(answers)
            return connect_block(self.workers, self.connectors, got, self.budget_s)

        return collect


def connect_block(workers: Sequence[tuple[str, str]], connectors: Sequence[str],
                  answers: dict[str, dict[str, Any] | str], budget_s: float) -> dict[str, Any]:
    """A line's `connect`: each worker's answer (null) or silence, each connector's status as
    the first answering worker gave it. `workers`: (name, REST URL) in the inventory's order;
    a task's `worker` is the name of the worker Connect says runs it (its `worker_id` is the
    worker's advertised REST host:port), null when that is none of them."""
    names = {url.split("://", 1)[-1].rstrip("/"): name for name, url in workers}

    def task(t: dict[str, Any]) -> dict[str, Any]:
        return {"id": t.get("id"), "state": t.get("state"), "worker_id": t.get("worker_id"),
                "worker": names.get(str(t.get("worker_id")))}

    block: dict[str, Any] = {"workers": {}, "connectors": {}}
    for w, _ in workers:
        got = answers.get(w, f"no answer within {budget_s:g} s")
        block["workers"][w] = got if isinstance(got, str) else None
    for c in connectors:
        entry: dict[str, Any] = {"state": None, "worker_id": None, "tasks": [], "seen_by": None,
                                 "error": None}
        errors: list[str] = []
        for w, _ in workers:
            said = answers.get(w)
            status = said.get(c) if isinstance(said, dict) else None
            if isinstance(status, dict):
                state, _ = state_of(status)
                entry.update(state=state, worker_id=status.get("connector", {}).get("worker_id"),
                             tasks=[task(t) for t in status.get("tasks", [])], seen_by=w)
                break
            errors.append(f"{w}: {status if isinstance(status, str) else block['workers'][w]}")
        else:
            entry["error"] = "; ".join(errors) or "no Connect worker to ask"
        block["connectors"][c] = entry
    return block


def sample_line(sources: list[ClusterSource], topic: str, ts_s: float,
                hub: HubSource | None = None) -> dict[str, Any]:
    """One line of cluster.jsonl: every cluster sampled, counts added up; with a hub, its
    connectors asked alongside."""
    connect = hub.ask() if hub is not None else None
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
    if connect is not None:
        line["connect"] = connect()
    return line


@dataclass
class Sampler:
    """The timeline's thread: `start()`, then `stop()` on every exit path (idempotent)."""

    path: Path
    sources: list[ClusterSource]
    topic: Callable[[], str]
    hub: HubSource | None = None
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
            return sample_line(self.sources, self.topic(), ts, self.hub)
        except Exception as exc:  # a sampler bug must not end the timeline
            return {"ts_s": round(ts, 3), "partitions": [], "under_replicated": 0,
                    "offline": 0, "controller": -1, "brokers_up": [], "quorum": None,
                    "error": f"sample failed: {exc}"}


def sources_for(inv: Inventory) -> list[ClusterSource]:
    """An admin client per cluster over all its brokers (any one alive answers), and its
    controllers' DescribeQuorum on KRaft engines (Kafka, AutoMQ; Tansu has no quorum); as the
    verifier principal, which describes and never writes."""
    from confluent_kafka.admin import AdminClient

    from riftdrill.security.client import client_security

    security = client_security(inv.security, "verifier")
    tls = security.ssl_context()  # the controllers' listener: its certificate
    out = []
    for cluster in inv.clusters:
        members = [b for b in inv.brokers if b.id in cluster.brokers]
        bootstrap = [b.bootstrap for b in members if "broker" in b.roles]
        admin = AdminClient({"bootstrap.servers": ",".join(bootstrap or cluster.bootstrap.values()),
                             "socket.connection.setup.timeout.ms": 1000,
                             "reconnect.backoff.max.ms": 1000,
                             "log_level": 0,  # a dead broker is expected: no stderr noise
                             **security.librdkafka()})
        controllers = [(b.address, b.controller_port) for b in members
                       if "controller" in b.roles and b.controller_port]
        quorum = (kraft.QuorumWatch(controllers, QUORUM_TIMEOUT_S, tls,
                                    first_timeout_s=QUORUM_LEADER_TIMEOUT_S)
                  if inv.engine != "tansu" and controllers else None)
        out.append(ClusterSource(name=cluster.name, admin=admin, quorum=quorum))
    return out


def hub_source_for(inv: Inventory) -> HubSource | None:
    """The hub's Connect workers and its two connectors; None without a hub."""
    if inv.hub is None:
        return None
    return HubSource(workers=[(w.name, w.rest_url) for w in inv.hub.workers],
                     connectors=[inv.hub.source_connector, inv.hub.sink_connector])


def start(run_dir: Path, inv: Inventory, *, max_s: float = MAX_S) -> Sampler:
    """The timeline of the drill in `run_dir`, sampling until `stop()` (or max_s)."""
    return Sampler(path=run_dir / FILE, sources=sources_for(inv),
                   topic=lambda: topic_of(run_dir), hub=hub_source_for(inv), max_s=max_s,
                   max_samples=int(max_s / INTERVAL_S) + 1).start()


def summarize(run_dir: Path) -> ClusterTimeline | None:
    """summary.json's block from cluster.jsonl; None when the drill recorded no timeline."""
    path = run_dir / FILE
    if not path.exists():
        return None
    block = ClusterTimeline()
    previous = -1
    connect = _ConnectSummer()
    with open(path) as f:
        for raw in f:
            try:
                line = json.loads(raw)
            except ValueError:
                continue  # a line cut short by a killed process
            block.samples += 1
            if isinstance(line.get("connect"), dict):
                connect.add(float(line.get("ts_s") or 0.0), line["connect"])
            block.max_under_replicated = max(block.max_under_replicated,
                                             int(line.get("under_replicated") or 0))
            block.max_offline = max(block.max_offline, int(line.get("offline") or 0))
            block.sample_errors += bool(line.get("error"))
            controller = int(line.get("controller", -1))
            if controller >= 0:  # an unknown controller is not a change
                block.controller_changes += previous >= 0 and controller != previous
                previous = controller
    block.connectors, block.connect_workers_silent = connect.finish()
    return block


def connector_running(entry: dict[str, Any]) -> bool:
    """A `connect` block's connector entry: it and every task RUNNING (and at least one task);
    what `not_running_s` counts against, and the report's connector rows too."""
    tasks = entry.get("tasks") or []
    return entry.get("state") == "RUNNING" and bool(tasks) and all(
        t.get("state") == "RUNNING" for t in tasks)


@dataclass
class _ConnectSummer:
    """ConnectorTimeline per connector from the `connect` blocks, in line order. A sample's
    state holds until the next sample; the last sample's for one interval."""

    connectors: dict[str, ConnectorTimeline] = field(default_factory=dict)
    silent: dict[str, int] = field(default_factory=dict)
    where: dict[tuple[str, Any], str] = field(default_factory=dict)  # (connector, task) -> worker
    states: dict[str, set[str]] = field(default_factory=dict)
    # connector -> ts_s of its last sample that counts, closed by the next sample's ts_s
    open_down: dict[str, float] = field(default_factory=dict)
    open_silent: dict[str, float] = field(default_factory=dict)

    def add(self, ts_s: float, block: dict[str, Any]) -> None:
        self._close(ts_s)
        workers = block.get("workers") or {}
        for w, why in workers.items():
            self.silent.setdefault(w, 0)
            self.silent[w] += why is not None
        silent_ids = {w for w, why in workers.items() if why is not None}
        for name, entry in (block.get("connectors") or {}).items():
            c = self.connectors.setdefault(name, ConnectorTimeline())
            states = self.states.setdefault(name, set())
            if not isinstance(entry, dict) or entry.get("seen_by") is None:
                c.unanswered += 1
                continue
            c.samples += 1
            states.update(str(x) for x in [entry.get("state")] + [
                t.get("state") for t in entry.get("tasks") or []] if x)
            if not connector_running(entry):
                self.open_down[name] = ts_s
            tasks = entry.get("tasks") or []
            if any(t.get("worker") in silent_ids for t in tasks):
                self.open_silent[name] = ts_s
            for t in tasks:
                worker = t.get("worker_id")
                if not worker:
                    continue
                before = self.where.get((name, t.get("id")))
                c.task_moves += before is not None and before != worker
                self.where[(name, t.get("id"))] = worker

    def _close(self, ts_s: float | None) -> None:
        for pending, attr in ((self.open_down, "not_running_s"),
                              (self.open_silent, "on_silent_worker_s")):
            for name, since in pending.items():
                c = self.connectors[name]
                gap = INTERVAL_S if ts_s is None else max(0.0, ts_s - since)
                setattr(c, attr, round(getattr(c, attr) + gap, 3))
            pending.clear()

    def finish(self) -> tuple[dict[str, ConnectorTimeline], dict[str, int]]:
        self._close(None)
        for name, c in self.connectors.items():
            c.states_seen = sorted(self.states.get(name, set()))
        return self.connectors, self.silent
