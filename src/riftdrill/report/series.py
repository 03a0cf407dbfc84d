"""What the report's figures draw, prepared from a run and kept apart from the drawing.

Every x is seconds from the fault start (the first fault window's start, when the fault was in
effect; negative before it), and every series is one cloud's, never a sum over clouds:
- per cloud, per second: sent, acked, failed sends, ack p99, end-to-end p99 and lag, from the
  load's per-process metrics (`load/workers/<cloud>-<n>-<pid>/metrics.jsonl`); a run written
  before those were kept falls back to the merged `load/timeline.json` as one "all clouds" series;
- end-to-end p99 and true lag from summary.json's `end_to_end` when the run has it (else the
  load's e2e histograms and librdkafka's committed-offset lag);
- per (cloud, partition), per second: acks, from the producer ledgers when they are on disk (the
  heat map), else the per-partition unavailability of `recovery.partitions` (bars);
- under-replicated / offline partitions, brokers up and smallest ISR per second from
  `<run>/cluster.jsonl` when the run sampled its brokers;
- with an integration hub, each Kafka Connect connector per sample of cluster.jsonl's `connect`
  blocks: its state (RUNNING, RUNNING on a worker that did not answer, not RUNNING, no worker
  answered), the worker(s) running its tasks and each task's move to another worker;
- the integration hub's change lag per second of commit (highest and p99) from summary.json's
  `hub` (chaos/hubfigures.py), and when it was back under the baseline after the heal.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from riftdrill.chaos.timeline import INTERVAL_S, connector_running
from riftdrill.load import histograms

NS = 1_000_000_000
ALL_CLOUDS = "all clouds"  # the one series of a run without per-process metrics
MAX_PARTITION_ROWS = 48  # a heat map taller than this is unreadable: the worst rows are kept
_WORKER = re.compile(r"^(?P<cloud>.+)-\d+-\d+$")  # load/workers/<cloud>-<n>-<pid>


@dataclass
class Window:
    """A fault window on the x axis (seconds from fault start)."""

    start_s: float
    end_s: float
    label: str
    healed: bool = True


@dataclass
class CloudSeries:
    """One cloud's per-second figures; every list is parallel to `x_s`."""

    cloud: str
    x_s: list[float] = field(default_factory=list)
    sent: list[float] = field(default_factory=list)
    acked: list[float] = field(default_factory=list)
    failed: list[float] = field(default_factory=list)
    ack_p99_ms: list[float] = field(default_factory=list)  # nan: no ack that second
    e2e_p99_ms: list[float] = field(default_factory=list)
    lag: list[float] = field(default_factory=list)  # nan: not reported that second


@dataclass
class EndToEnd:
    """End-to-end latency and lag per cloud; `source` says which lag it is."""

    source: str  # "end_to_end" (true lag, consumer ledgers) | "load" (committed-offset lag)
    x_s: dict[str, list[float]]
    e2e_p99_ms: dict[str, list[float]]
    lag: dict[str, list[float]]


@dataclass
class PartitionRow:
    cloud: str
    topic: str
    partition: int
    acks: list[int] = field(default_factory=list)  # per second of PartitionHeat.x_s
    unavailability_s: float | None = None  # recovery.partitions' figure, when the run has it
    # indexes in `acks` of the first second its producers intended a send and the last second
    # their ledgers hold anything (an ack or a failed send): outside, not written (not
    # unavailable)
    written_until: int | None = None
    written_from: int | None = None

    @property
    def label(self) -> str:
        return f"{self.cloud} {self.topic}[{self.partition}]"


@dataclass
class PartitionHeat:
    x_s: list[float]  # the start of each second
    rows: list[PartitionRow]
    source: str  # "ledgers" | "summary"
    dropped_rows: int = 0


@dataclass
class ClusterSeries:
    """From cluster.jsonl, one series per cluster sampled ("" when the file names none)."""

    x_s: dict[str, list[float]]
    under_replicated: dict[str, list[float]]
    offline: dict[str, list[float]]
    min_isr: dict[str, list[float]]
    brokers_up: dict[str, list[float]]


# A connector's state in one sample, worst first: no worker gave its status; it or a task not
# RUNNING (or no task); RUNNING, but a task on a worker that did not answer that sample (Connect
# still names the dead worker until the group rebalances); RUNNING.
CONNECT_STATES = ("unanswered", "not_running", "silent", "running")


@dataclass
class Span:
    """A stretch of equal values on the x axis, [start_s, end_s)."""

    start_s: float
    end_s: float
    value: str | None


@dataclass
class TaskMove:
    """A task first seen on another worker than in its sample before (as summary.json's
    `task_moves` counts them), at that sample."""

    x_s: float
    task: str  # the task's id
    from_worker: str
    to_worker: str


@dataclass
class ConnectorRow:
    """One Kafka Connect connector, per sample of cluster.jsonl that has it; lists parallel to
    `x_s`. A sample holds until the next one (the last for one interval), as summary.json's
    `cluster_timeline.connectors` counts them."""

    name: str
    x_s: list[float] = field(default_factory=list)
    state: list[str] = field(default_factory=list)  # one of CONNECT_STATES
    # the worker Connect says runs its tasks ("+"-joined when they are on several; its
    # worker_id when the inventory does not name it); None: no task, or no worker answered
    worker: list[str | None] = field(default_factory=list)
    moves: list[TaskMove] = field(default_factory=list)

    def _spans(self, values: list[str | None]) -> list[Span]:
        out: list[Span] = []
        for i, (x, v) in enumerate(zip(self.x_s, values, strict=True)):
            end = self.x_s[i + 1] if i + 1 < len(self.x_s) else x + INTERVAL_S
            if out and out[-1].value == v:
                out[-1].end_s = end
            else:
                out.append(Span(x, end, v))
        return out

    def state_spans(self) -> list[Span]:
        return self._spans(list(self.state))

    def worker_spans(self) -> list[Span]:
        return self._spans(self.worker)


@dataclass
class HubLag:
    """The hub's change lag per second of commit; lists parallel to `x_s` (each second's
    middle), nan where no change committed that second was seen in the sink."""

    x_s: list[float]
    max_lag_s: list[float]
    p99_lag_s: list[float]
    baseline_bound_s: float | None  # baseline max + a poll: under it, the lag is back
    recovered_x_s: float | None  # x of the moment the lag was back under it after the heal


@dataclass
class RunSeries:
    t0_s: float  # epoch seconds of x = 0
    from_fault: bool  # x counts from the fault start (else from the run's first second)
    windows: list[Window]
    clouds: list[CloudSeries]
    end_to_end: EndToEnd | None
    partitions: PartitionHeat | None
    cluster: ClusterSeries | None
    markers: list[tuple[str, float]]  # (label, x) of recovery moments
    hub: HubLag | None = None  # the integration hub's change lag, when the run has it
    connectors: list[ConnectorRow] = field(default_factory=list)  # cluster.jsonl's `connect`

    @property
    def x_label(self) -> str:
        return "seconds from fault start" if self.from_fault else "seconds since run start"

    def meta(self) -> dict[str, str]:
        """What a figure drawn from this shows, for the HTML page (data-* attributes)."""
        return {"x": self.x_label, "series": ",".join(c.cloud for c in self.clouds),
                "fault-windows": ",".join(f"{w.start_s:.3f}:{w.end_s:.3f}"
                                          for w in self.windows)}


# ---- inputs ---------------------------------------------------------------------------------

def worker_cloud(name: str) -> str | None:
    """The cloud of a load worker directory (`aws-0-16053` -> aws)."""
    m = _WORKER.match(name)
    return m.group("cloud") if m else None


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Lines of a JSON-lines file; a torn or foreign line is skipped."""
    out: list[dict[str, Any]] = []
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        return out
    for line in text.splitlines():
        try:
            d = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(d, dict):
            out.append(d)
    return out


def cloud_metrics(load_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """The per-second metrics lines of every load process, grouped by the process's cloud."""
    by_cloud: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path in sorted((load_dir / "workers").glob("*/metrics.jsonl")):
        cloud = worker_cloud(path.parent.name)
        if cloud is not None:
            by_cloud[cloud] += [d for d in read_jsonl(path) if "t" in d]
    return dict(by_cloud)


def per_second(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One cloud's lines summed per second (several processes in one cloud), p99s computed."""
    by_sec: dict[int, dict[str, Any]] = {}
    for d in lines:
        t = int(d["t"])
        m = by_sec.setdefault(t, {"t": t, "sent": 0, "acked": 0, "failed": 0, "lag": None,
                                  "ack": [], "e2e": []})
        for c in ("sent", "acked", "failed"):
            m[c] += int(d.get(c) or 0)
        if d.get("lag") is not None:
            m["lag"] = (m["lag"] or 0) + int(d["lag"])
        hists = d.get("hist_us") or {}
        m["ack"].append(hists.get("ack_latency", ""))
        m["e2e"].append(hists.get("e2e_latency", ""))
    out = []
    for t in sorted(by_sec):
        m = by_sec[t]
        ack = histograms.percentile_ms(histograms.merge(m.pop("ack")), 99)
        e2e = histograms.percentile_ms(histograms.merge(m.pop("e2e")), 99)
        out.append({**m, "ack_p99_ms": ack, "e2e_p99_ms": e2e})
    return out


def _num(v: Any) -> float:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else math.nan


def _plain(value: Any) -> Any:
    """A summary field as plain JSON data (a pydantic model, or a kept unknown key)."""
    dump = getattr(value, "model_dump", None)
    return dump() if callable(dump) else value


def summary_field(summary: Any, name: str) -> Any:
    """A field of RunSummary that later writers add: a declared field or a kept unknown key."""
    if name in type(summary).model_fields:
        return _plain(getattr(summary, name))
    return _plain((summary.model_extra or {}).get(name))


def fault_start_s(summary: Any, timeline: list[dict[str, Any]]) -> tuple[float, bool]:
    """(epoch seconds of x = 0, whether that is a fault start)."""
    if summary.fault_windows:
        return min(w.start_s for w in summary.fault_windows), True
    if summary.recovery is not None:
        return summary.recovery.fault_start_ns / NS, True
    return (float(timeline[0]["t"]) if timeline else summary.started_epoch_s), False


# ---- the series -----------------------------------------------------------------------------

def cloud_series(metrics: dict[str, list[dict[str, Any]]], timeline: list[dict[str, Any]],
                 t0_s: float) -> list[CloudSeries]:
    """One series per cloud; the merged timeline as ALL_CLOUDS when no per-cloud metrics."""
    rows_by_cloud: dict[str, list[dict[str, Any]]] = {
        cloud: per_second(lines) for cloud, lines in sorted(metrics.items()) if lines}
    if not rows_by_cloud and timeline:
        rows_by_cloud = {ALL_CLOUDS: [
            {"t": r["t"], "sent": r.get("sent"), "acked": r.get("acked"),
             "failed": r.get("failed"), "ack_p99_ms": r.get("ack_latency_p99_ms"),
             "e2e_p99_ms": r.get("e2e_latency_p99_ms"), "lag": r.get("consumer_lag")}
            for r in timeline]}
    out = []
    for cloud, rows in rows_by_cloud.items():
        # a second's bucket covers [t, t + 1): plotted at its middle
        out.append(CloudSeries(
            cloud=cloud, x_s=[float(r["t"]) + 0.5 - t0_s for r in rows],
            sent=[_num(r.get("sent")) for r in rows], acked=[_num(r.get("acked")) for r in rows],
            failed=[_num(r.get("failed")) for r in rows],
            ack_p99_ms=[_num(r.get("ack_p99_ms")) for r in rows],
            e2e_p99_ms=[_num(r.get("e2e_p99_ms")) for r in rows],
            lag=[_num(r.get("lag")) for r in rows]))
    return out


def end_to_end(summary: Any, clouds: list[CloudSeries], t0_s: float) -> EndToEnd | None:
    """From summary.json's `end_to_end` (R2's consumer-ledger figures), else from the load."""
    e2e = summary_field(summary, "end_to_end")
    per_cloud = e2e.get("per_cloud") if isinstance(e2e, dict) else None
    if isinstance(per_cloud, dict) and per_cloud:
        # its t_s counts from the recovery figures' fault start; re-based on this x axis
        rec = summary.recovery
        shift = (rec.fault_start_ns / NS - t0_s) if rec is not None else 0.0
        xs, p99, lag = {}, {}, {}
        for cloud, block in sorted(per_cloud.items()):
            points = [p for p in (block or {}).get("series") or [] if isinstance(p, dict)]
            xs[cloud] = [_num(p.get("t_s")) + shift for p in points]
            p99[cloud] = [_num(p.get("e2e_p99_ms")) for p in points]
            lag[cloud] = [_num(p.get("lag_records")) for p in points]
        return EndToEnd("end_to_end", xs, p99, lag)
    shown = [c for c in clouds if any(not math.isnan(v) for v in c.e2e_p99_ms + c.lag)]
    if not shown:
        return None
    return EndToEnd("load", {c.cloud: c.x_s for c in shown},
                    {c.cloud: c.e2e_p99_ms for c in shown}, {c.cloud: c.lag for c in shown})


def _summary_partitions(summary: Any) -> list[dict[str, Any]]:
    rec = summary.recovery
    if rec is None:
        return []
    parts = _plain(getattr(rec, "partitions", None))
    if parts is None:
        parts = (getattr(rec, "model_extra", None) or {}).get("partitions")
    return [p for p in parts or [] if isinstance(p, dict)]


def partition_heat(run_dir: Path, summary: Any, t0_s: float) -> PartitionHeat | None:
    """Acks per (cloud, partition) per second from the ledgers; else the summary's bars."""
    figures = {(str(p.get("cloud")), str(p.get("topic")), int(p.get("partition", -1))):
               p.get("unavailability_s") for p in _summary_partitions(summary)}
    counts, span_by_cloud = ledger_acks(run_dir)
    if counts:
        first = min(min(s for per in counts.values() for s in per),
                    min(a for a, _ in span_by_cloud.values()))
        last = max(b for _, b in span_by_cloud.values())
        seconds = list(range(first, last + 1))
        rows = [PartitionRow(cloud, topic, part, [per.get(s, 0) for s in seconds],
                             _opt_float(figures.get((cloud, topic, part))),
                             span_by_cloud[cloud][1] - first, span_by_cloud[cloud][0] - first)
                for (cloud, topic, part), per in sorted(counts.items())]
        return _bounded(PartitionHeat([s - t0_s for s in seconds], rows, "ledgers"))
    if figures:
        rows = [PartitionRow(cloud, topic, part, [], _opt_float(u))
                for (cloud, topic, part), u in sorted(figures.items())]
        return _bounded(PartitionHeat([], rows, "summary"))
    return None


def _opt_float(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _bounded(heat: PartitionHeat) -> PartitionHeat:
    if len(heat.rows) <= MAX_PARTITION_ROWS:
        return heat
    def badness(r: PartitionRow) -> float:
        return r.unavailability_s if r.unavailability_s is not None else float(
            sum(1 for a in r.acks if a == 0))
    keep = sorted(heat.rows, key=badness, reverse=True)[:MAX_PARTITION_ROWS]
    kept = [r for r in heat.rows if r in keep]
    return PartitionHeat(heat.x_s, kept, heat.source, len(heat.rows) - len(kept))


def ledger_acks(run_dir: Path) -> tuple[dict[tuple[str, str, int], dict[int, int]],
                                         dict[str, tuple[int, int]]]:
    """Acks per (cloud, topic, partition) per epoch second of the ack, and per cloud (the first
    second a send was intended, the last second its ledgers hold anything: ack or failed send),
    from the producer ledgers on disk (({}, {}) when there are none or they cannot be read)."""
    from riftdrill.load.ledger import KIND_ACK, ledger_files, read_header, valid_entries

    out: dict[tuple[str, str, int], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    span: dict[str, tuple[int, int]] = {}
    for path in ledger_files(run_dir):
        try:
            header = read_header(path)
            _, entries, _ = valid_entries(path)
        except (OSError, ValueError):
            continue
        cloud, topics = str(header.get("cloud", "?")), list(header.get("topics") or [])
        if entries:
            a = min(int(e[8] // NS) for e in entries)
            b = max(int(e[9] // NS) for e in entries)
            old = span.get(cloud, (a, b))
            span[cloud] = (min(old[0], a), max(old[1], b))
        for e in entries:
            # raw entry: kind, topic index, partition, offset, key, producer, checksum, seq,
            # send ts, ack ts, error code, crc (load/ledger.py ENTRY)
            if e[0] != KIND_ACK:
                continue
            topic = topics[e[1]] if e[1] < len(topics) else str(e[1])
            out[(cloud, topic, int(e[2]))][int(e[9] // NS)] += 1
    return {k: dict(v) for k, v in out.items()}, span


def cluster_series(run_dir: Path, t0_s: float,
                   lines: list[dict[str, Any]] | None = None) -> ClusterSeries | None:
    """cluster.jsonl (the broker timeline sampled once a second), when the run has it.
    `lines`: the file's lines, when already read."""
    if lines is None:
        lines = read_jsonl(run_dir / "cluster.jsonl")
    if not lines:
        return None
    series = ClusterSeries({}, {}, {}, {}, {})
    for d in lines:
        if not isinstance(d.get("ts_s"), int | float):
            continue
        key = str(d.get("cluster") or "")
        isr = [len(p.get("isr") or []) for p in d.get("partitions") or [] if isinstance(p, dict)]
        series.x_s.setdefault(key, []).append(float(d["ts_s"]) - t0_s)
        series.under_replicated.setdefault(key, []).append(_num(d.get("under_replicated")))
        series.offline.setdefault(key, []).append(_num(d.get("offline")))
        series.min_isr.setdefault(key, []).append(float(min(isr)) if isr else math.nan)
        ups = d.get("brokers_up")
        series.brokers_up.setdefault(key, []).append(
            float(len(ups)) if isinstance(ups, list) else math.nan)
    return series if series.x_s else None


def connector_state(entry: Any, silent_workers: set[str]) -> str:
    """One connector's CONNECT_STATES entry in a sample (`silent_workers`: the names of the
    workers that did not answer in it)."""
    if not isinstance(entry, dict) or entry.get("seen_by") is None:
        return "unanswered"
    if not connector_running(entry):
        return "not_running"
    tasks = [t for t in entry.get("tasks") or [] if isinstance(t, dict)]
    if any(t.get("worker") in silent_workers for t in tasks):
        return "silent"
    return "running"


def _task_worker(task: dict[str, Any]) -> str | None:
    name = task.get("worker") or task.get("worker_id")
    return str(name) if name else None


def connect_series(lines: list[dict[str, Any]], t0_s: float) -> list[ConnectorRow]:
    """Per connector, from the `connect` blocks of cluster.jsonl's lines (none without a hub,
    and for lines written before they existed), in the order the lines name them."""
    rows: dict[str, ConnectorRow] = {}
    where: dict[tuple[str, str], tuple[str, str]] = {}  # (connector, task) -> (worker_id, shown)
    for d in lines:
        block = d.get("connect")
        if not isinstance(block, dict) or not isinstance(d.get("ts_s"), int | float):
            continue
        x = float(d["ts_s"]) - t0_s
        workers = block.get("workers")
        silent = {str(w) for w, why in (workers if isinstance(workers, dict) else {}).items()
                  if why is not None}
        connectors = block.get("connectors")
        for name, entry in (connectors if isinstance(connectors, dict) else {}).items():
            row = rows.setdefault(name, ConnectorRow(name))
            state = connector_state(entry, silent)
            row.x_s.append(x)
            row.state.append(state)
            tasks = ([t for t in entry.get("tasks") or [] if isinstance(t, dict)]
                     if state != "unanswered" else [])
            shown = list(dict.fromkeys(w for t in tasks if (w := _task_worker(t))))
            row.worker.append("+".join(shown) or None)
            for t in tasks:
                worker_id = t.get("worker_id")
                if not worker_id:
                    continue
                key, now = (name, str(t.get("id"))), (str(worker_id), _task_worker(t) or "?")
                before = where.get(key)
                if before is not None and before[0] != now[0]:
                    row.moves.append(TaskMove(x, key[1], before[1], now[1]))
                where[key] = now
    return list(rows.values())


def connect_meta(rows: list[ConnectorRow]) -> dict[str, str]:
    """The connector rows as data-* of the timeline plot (nothing without them): the names in
    order, and per connector its state spans, worker spans (`[value, start, end]`, seconds on
    the x axis) and task moves (`[x, task, from, to]`), as JSON."""
    if not rows:
        return {}

    def spans(ss: list[Span]) -> list[list[Any]]:
        return [[sp.value, round(sp.start_s, 3), round(sp.end_s, 3)] for sp in ss]

    return {"connectors": ",".join(r.name for r in rows),
            "connector-states": json.dumps({r.name: spans(r.state_spans()) for r in rows}),
            "connector-workers": json.dumps({r.name: spans(r.worker_spans()) for r in rows}),
            "connector-moves": json.dumps({r.name: [[round(m.x_s, 3), m.task, m.from_worker,
                                                     m.to_worker] for m in r.moves]
                                           for r in rows})}


def recovery_markers(summary: Any, t0_s: float) -> list[tuple[str, float]]:
    """(label, x) of each recovery moment the figures know."""
    rec = summary.recovery
    if rec is None:
        return []
    start = rec.fault_start_ns / NS - t0_s
    e2e = summary_field(summary, "end_to_end")
    zero_lag = (e2e.get("time_to_zero_lag_s") if isinstance(e2e, dict)
                and "time_to_zero_lag_s" in e2e else rec.time_to_zero_lag_s)
    marks = [("first ack", rec.worst_time_to_first_ack_s),
             ("p99 back to baseline", rec.time_to_p99_baseline_s),
             ("lag zero", zero_lag)]
    return [(label, start + float(v)) for label, v in marks if isinstance(v, int | float)]


def fault_windows(summary: Any, t0_s: float, end_x_s: float) -> list[Window]:
    out = []
    for w in summary.fault_windows:
        end = (w.end_s - t0_s) if w.end_s is not None else end_x_s
        out.append(Window(w.start_s - t0_s, end, f"{w.kind} {w.target}".strip(),
                          healed=w.end_s is not None))
    return out


def hub_lag(summary: Any, t0_s: float, windows: list[Window]) -> HubLag | None:
    """summary.json's `hub` series on this x axis (its t_s count from the fault start already:
    None when the run has no hub figures, no fault, or no series)."""
    hub = summary_field(summary, "hub")
    if not isinstance(hub, dict) or not summary.fault_windows:
        return None
    points = [p for p in hub.get("series") or [] if isinstance(p, dict)]
    if not points:
        return None
    shift = min(w.start_s for w in summary.fault_windows) - t0_s  # 0 on the fault-start axis
    baseline = _opt_float(hub.get("baseline_max_s"))
    poll = _opt_float(hub.get("poll_interval_s")) or 0.0
    recovered = _opt_float(hub.get("lag_recovered_s"))
    fault_end = max((w.end_s for w in windows), default=None)
    healed = all(w.healed for w in windows)
    return HubLag(x_s=[_num(p.get("t_s")) + 0.5 + shift for p in points],
                  max_lag_s=[_num(p.get("max_lag_s")) for p in points],
                  p99_lag_s=[_num(p.get("p99_lag_s")) for p in points],
                  baseline_bound_s=None if baseline is None else baseline + poll,
                  recovered_x_s=(fault_end + recovered if recovered is not None and healed
                                 and fault_end is not None else None))


def run_series(run_dir: Path, summary: Any, timeline: list[dict[str, Any]],
               metrics: dict[str, list[dict[str, Any]]] | None = None) -> RunSeries:
    """Everything the run's figures draw. `metrics`: per-cloud metrics lines (read from the
    run's load directory when not given)."""
    t0, from_fault = fault_start_s(summary, timeline)
    if metrics is None:
        metrics = cloud_metrics(run_dir / summary.load_dir)
    clouds = cloud_series(metrics, timeline, t0)
    end_x = max((c.x_s[-1] + 0.5 for c in clouds if c.x_s),
                default=(summary.started_epoch_s + summary.duration_s) - t0)
    wins = fault_windows(summary, t0, end_x)
    lines = read_jsonl(run_dir / "cluster.jsonl")
    return RunSeries(t0_s=t0, from_fault=from_fault, windows=wins,
                     clouds=clouds, end_to_end=end_to_end(summary, clouds, t0),
                     partitions=partition_heat(run_dir, summary, t0),
                     cluster=cluster_series(run_dir, t0, lines),
                     markers=recovery_markers(summary, t0), hub=hub_lag(summary, t0, wins),
                     connectors=connect_series(lines, t0))


def cloud_totals(metrics: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per cloud over the whole run: sent, acked, failed and the ack p99 (ms)."""
    out: dict[str, dict[str, Any]] = {}
    for cloud, lines in sorted(metrics.items()):
        if not lines:
            continue
        hist = histograms.merge((d.get("hist_us") or {}).get("ack_latency", "") for d in lines)
        out[cloud] = {c: sum(int(d.get(c) or 0) for d in lines) for c in ("sent", "acked",
                                                                         "failed")}
        out[cloud]["ack_p99_ms"] = histograms.percentile_ms(hist, 99)
    return out
