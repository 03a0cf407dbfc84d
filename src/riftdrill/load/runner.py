"""Run a load: one Locust process per placement cloud (inside that cloud's network namespace),
live progress, clean stop, merged results. Foreground (`run_load`) or background (`start_load`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from riftdrill import inventory as inventory_mod
from riftdrill import paths
from riftdrill.drivers import redactor_for
from riftdrill.errors import RiftdrillError
from riftdrill.inventory import Inventory
from riftdrill.load import (
    aggregate,
    allocator,
    backlog,
    endrun,
    failover,
    hdrlog,
    histograms,
    kafka,
    ombresult,
    openmetrics,
)
from riftdrill.load import memory as load_memory
from riftdrill.load.consumer_ledger import consumer_ledger_files
from riftdrill.load.fence import WRITE_TIMEOUT_S
from riftdrill.load.hubload import HubLoad, HubOutcome, start_hub_load
from riftdrill.load.ledger import ledger_files
from riftdrill.load.spec import HUB_RATE_PER_S, LoadSpec
from riftdrill.security.client import OFF, ClientSecurity, client_security

__all__ = ["LoadResult", "LoadSpec", "load_status", "run_load", "start_load", "stop_load"]

# SIGTERM -> a Locust process drains in-flight sends (up to the delivery timeout), then its
# consumers wait for the fences (written once every process drained, within WRITE_TIMEOUT_S),
# read up to them (up to fence_wait_s from the fences), commit (<= 5 s) and close (<= 30 s when
# a broker does not answer, users.CONSUMER_REQUEST_TIMEOUT_MS): stop_grace_s(spec).
STOP_GRACE_S = 60.0  # on top of the delivery timeout and the fence wait
START_WAIT_S = 20.0  # start_load waits this long for preflight to pass or fail
FINISH_S = 30.0  # after the processes exit: fence thread join, merging results
TAIL_GRACE_S = 35.0  # mirror tails, after the processes: TAIL_FENCE_WAIT_S and closing
PROGRESS_KEEP_S = 3.0  # the progress line shows the newest complete second


@dataclass
class LoadResult:
    run_dir: Path
    sent: int
    acked: int
    failed: int
    consumed: int
    corrupt: int
    target_count: int
    seconds: int
    ack_latency_ms: dict[str, Any]
    e2e_latency_ms: dict[str, Any]
    publish_delay_ms: dict[str, Any]
    interrupted: bool = False
    ledgers: list[str] = field(default_factory=list)
    # the load processes' main threads: CPU used, run-queue wait (aggregate.generator_figures)
    generator: dict[str, Any] | None = None

    @property
    def acked_per_s(self) -> float:
        return self.acked / self.seconds if self.seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir),
            "sent": self.sent, "acked": self.acked, "failed": self.failed,
            "consumed": self.consumed, "corrupt": self.corrupt,
            "target_count": self.target_count, "seconds": self.seconds,
            "acked_per_s": round(self.acked_per_s, 1),
            "ack_latency_ms": self.ack_latency_ms, "e2e_latency_ms": self.e2e_latency_ms,
            "publish_delay_ms": self.publish_delay_ms,
            "interrupted": self.interrupted, "ledgers": self.ledgers,
            "generator": self.generator,
        }  # fmt: skip

    @classmethod
    def from_summary(cls, run_dir: Path, s: dict[str, Any]) -> LoadResult:
        return cls(
            run_dir=run_dir, sent=s["sent"], acked=s["acked"], failed=s["failed"],
            consumed=s["consumed"], corrupt=s.get("corrupt", 0),
            target_count=s.get("target_count", 0), seconds=s["seconds"],
            ack_latency_ms=s["ack_latency_ms"], e2e_latency_ms=s["e2e_latency_ms"],
            publish_delay_ms=s["publish_delay_ms"], interrupted=s.get("interrupted", False),
            generator=s.get("generator"),
            ledgers=s.get("ledgers", []),
        )  # fmt: skip


def stop_grace_s(spec: LoadSpec) -> float:
    """How long a Locust process may take to end cleanly after SIGTERM before it is killed:
    its producers' drain, the fences' write (the slowest process's drain is in the first
    term: all stop together), the fence wait from the fences, then commit and close."""
    return spec.delivery_timeout_ms / 1000 + WRITE_TIMEOUT_S + spec.fence_wait_s + STOP_GRACE_S


def stop_timeout_s(spec: LoadSpec) -> float:
    """How long stop_load waits for the whole background load (processes, fences, the hub's
    drain, results)."""
    hub_s = spec.hub_drain_s if spec.hub_rate_per_s != 0 else 0.0
    return stop_grace_s(spec) + WRITE_TIMEOUT_S + FINISH_S + TAIL_GRACE_S + hub_s


def hub_rate_of(spec: LoadSpec, inv: Inventory) -> float:
    """The row workload's rate on this lab: the spec's, or HUB_RATE_PER_S on a hub lab; a
    rate asked of a lab without a hub is an error naming the fix (`require_hub`)."""
    if spec.hub_rate_per_s is None:
        return HUB_RATE_PER_S if inv.hub is not None else 0.0
    if spec.hub_rate_per_s > 0:
        inv.require_hub()
    return spec.hub_rate_per_s


def locustfile_path() -> Path:
    # Located, not imported: importing it imports locust, whose gevent monkey-patching breaks
    # ssl (RecursionError) in any process that already imported it, e.g. boto3's.
    return Path(__file__).with_name("locustfile.py")


def consumer_group(spec: LoadSpec, run_dir: Path) -> str:
    """The group the run's consumers join (on each cluster)."""
    return spec.consumer_group or f"riftdrill-{run_dir.name}"


def placement_of(spec: LoadSpec, inv: Inventory) -> list[str]:
    clouds = spec.placement or [c.name for c in inv.clouds]
    for c in clouds:
        inv.cloud(c)  # raises, naming the clouds that exist
    return clouds


def worker_command(
    spec: LoadSpec, inv: Inventory, cloud: str, index: int, run_dir: Path, run_start_ns: int,
    security: ClientSecurity = OFF,
) -> list[str]:
    """The Locust command line for the process placed in `cloud` (namespace prefix included)."""
    clouds = placement_of(spec, inv)
    consumers = spec.consumers_per_cloud if spec.consumers else 0
    users = spec.producers_per_cloud + consumers
    load_dir = run_dir / "load"
    safety_s = int(spec.duration_s + spec.delivery_timeout_ms / 1000 + 60)
    cluster = inv.cluster_of(cloud).name
    cmd = [
        sys.executable, "-m", "locust", "-f", str(locustfile_path()), "--headless",
        "-u", str(users), "-r", str(users), "-t", f"{safety_s}s", "--only-summary",
        "--loglevel", "WARNING", "--csv", str(load_dir / "locust" / cloud),
        "--rd-bootstrap", inv.bootstrap(cloud), "--rd-cloud", cloud,
        "--rd-run-dir", str(run_dir), "--rd-rate", repr(float(spec.rate_per_s)),
        "--rd-producers-total", str(len(spec.run_clouds or clouds) * spec.producers_per_cloud),
        "--rd-producer-users", str(spec.producers_per_cloud),
        "--rd-consumer-users", str(consumers),
        "--rd-duration", repr(float(spec.duration_s)), "--rd-exit-when-done",
        "--rd-topic", spec.topic, "--rd-partitions", str(spec.partitions),
        "--rd-replication-factor", str(replication_factor(spec, inv, cluster)),
        "--rd-size", str(spec.size_bytes), "--rd-acks", str(spec.acks),
        "--rd-max-in-flight", str(spec.max_in_flight),
        "--rd-compression", spec.compression, "--rd-linger-ms", repr(float(spec.linger_ms)),
        "--rd-batch-size", str(spec.batch_size), "--rd-keys", spec.keys,
        "--rd-key-count", str(spec.key_count),
        "--rd-group", consumer_group(spec, run_dir),
        "--rd-delivery-timeout-ms", str(spec.delivery_timeout_ms),
        "--rd-process-index", str(index), "--rd-run-start-ns", str(run_start_ns),
        "--rd-locust-report", spec.locust_report,
        "--rd-fence-wait-s", repr(float(spec.fence_wait_s)), "--rd-await-fences",
        "--rd-cluster", cluster,
    ]  # fmt: skip
    cmd.append("--rd-idempotence" if spec.idempotence else "--rd-no-idempotence")
    if not spec.ledger:
        cmd.append("--rd-no-ledger")
    if spec.trace_memory:
        cmd.append("--rd-trace-memory")
    if security.enabled:  # its path, never its password
        cmd += ["--rd-security-file", security.file]
    ns = inv.cloud(cloud).namespace
    return ["ip", "netns", "exec", ns, *cmd] if ns else cmd


def replication_factor(spec: LoadSpec, inv: Inventory, cluster: str) -> int:
    """The RF the run's topic gets in `cluster`: the one asked for, else the deploy's,
    capped by that cluster's brokers (a per-cloud cluster has fewer brokers than the stretched
    RF; Terraform caps its own topics the same way)."""
    return spec.replication_factor or inv.cluster_rf(cluster)[0]


def preflight(spec: LoadSpec, inv: Inventory, security: ClientSecurity = OFF) -> None:
    """Fail in seconds, with one line, before any process starts: reachability (and the load
    principal let in), then the topic (and its ACLs)."""
    clouds = placement_of(spec, inv)
    for cloud in clouds:
        kafka.check_reachable(inv.bootstrap(cloud), security=security)
    for cluster in sorted({inv.cluster_of(c).name for c in clouds}):
        kafka.ensure_topic(inv.bootstrap(clouds[0], cluster), spec.topic, spec.partitions,
                           replication_factor(spec, inv, cluster), security=security)


def fence_targets(inv: Inventory, clouds: list[str]) -> dict[str, str]:
    """cluster -> bootstrap, once per cluster the run's processes wrote to (as preflight)."""
    out: dict[str, str] = {}
    for cloud in clouds:
        out.setdefault(inv.cluster_of(cloud).name, inv.bootstrap(cloud))
    return out


Procs = list[tuple[str, "subprocess.Popen[bytes]", Path]]

TAIL_SAFETY_S = 300.0  # a tail outlives the run's safety bound by at most this
# After the Locust processes ended (the fences long written), a tail reads on this long for the
# mirrored fences: it has been reading all along, so only a stalled mirror makes it wait.
TAIL_FENCE_WAIT_S = 30.0


def mirror_tails(spec: LoadSpec, inv: Inventory, clouds: list[str], load_dir: Path,
                 run_start_ns: int, security: ClientSecurity = OFF) -> list[tuple[str, list[str]]]:
    """(mirror name, argv) of a mirror tail (load/mirrortail.py) for each MirrorMaker 2 that
    copies the run's topic out of a cluster the run writes: it runs in the mirror's cloud and
    reads the copy on the target cluster."""
    from riftdrill.load import mirrortail

    written = fence_targets(inv, clouds)
    out: list[tuple[str, list[str]]] = []
    for mm in inv.mirrors:
        if mm.source not in written or not re.fullmatch(mm.topics, spec.topic):
            continue
        o = mirrortail.Options(
            mode="tail", bootstrap=inv.bootstrap(mm.cloud, mm.target),
            topic=mirrortail.mirror_topic(mm.source, spec.topic), source_cluster=mm.source,
            cluster=mm.target, cloud=mm.cloud, ledger=mirror_ledger_path(load_dir, mm.name),
            run_start_ns=run_start_ns,
            max_s=spec.duration_s + spec.fence_wait_s + TAIL_SAFETY_S,
            fence_wait_s=TAIL_FENCE_WAIT_S, load_dir=load_dir,
            source_group=consumer_group(spec, load_dir.parent), security_file=security.file)
        ns = inv.cloud(mm.cloud).namespace
        argv = mirrortail.command(o)
        out.append((mm.name, ["ip", "netns", "exec", ns, *argv] if ns else argv))
    return out


def mirror_ledger_path(load_dir: Path, mirror: str) -> Path:
    return load_dir / "mirror" / f"{mirror}-tail.rdc"


def _start_tails(tails: list[tuple[str, list[str]]], load_dir: Path) -> Procs:
    procs: Procs = []
    for name, argv in tails:
        log = load_dir / "workers" / f"tail-{name}.log"
        mirror_ledger_path(load_dir, name).parent.mkdir(parents=True, exist_ok=True)
        with open(log, "wb") as out:
            procs.append((name, subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                                 stdin=subprocess.DEVNULL,
                                                 start_new_session=True), log))
    return procs


def _stop_tails(procs: Procs, grace_s: float) -> None:
    """SIGTERM: each tail reads on to the mirrored fences (at most its fence wait), then ends."""
    for _, p, _ in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for _, p, _ in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class _Fencer:
    """Writes the run's fences (in a thread, so a signal never interrupts a half-written fence)
    once every process's producers are done; see endrun.py for the whole sequence."""

    def __init__(self, spec: LoadSpec, inv: Inventory, clouds: list[str], load_dir: Path,
                 security: ClientSecurity = OFF) -> None:
        self.topic = spec.topic
        self.targets = fence_targets(inv, clouds)
        self.load_dir = load_dir
        self.security = security
        self.thread: threading.Thread | None = None

    def poll(self, procs: Procs) -> None:
        if self.thread is not None:
            return
        ends = [endrun.ProcessEnd(endrun.process_marker_written(self.load_dir, cloud, i),
                                  p.poll() is not None)
                for i, (cloud, p, _) in enumerate(procs)]  # fmt: skip
        if endrun.fences_due(ends):
            self.thread = threading.Thread(
                target=endrun.write_run_fences, name="riftdrill-fences", daemon=True,
                args=(self.targets, self.topic, self.load_dir / endrun.FENCES_FILE),
                # a rotation during the run swapped the password the runner read at its start:
                # fences written with that one were refused, the consumers waited out their wait
                kwargs={"security": self.security.reread()},
            )  # fmt: skip
            self.thread.start()

    def finish(self, procs: Procs) -> None:
        """After the processes exited: fences still due are written, a write under way ends."""
        self.poll(procs)
        if self.thread is not None:
            self.thread.join(timeout=WRITE_TIMEOUT_S + 15)


def _write_state(load_dir: Path, state: dict[str, Any]) -> None:
    tmp = load_dir / "state.json.tmp"
    tmp.write_text(json.dumps(state, indent=1) + "\n")
    os.replace(tmp, load_dir / "state.json")


class _Progress:
    """One live line: rate, p99 ack latency, errors — from the workers' per-second metrics."""

    def __init__(self, spec: LoadSpec, load_dir: Path, enabled: bool) -> None:
        self.spec = spec
        self.tail = aggregate.MetricsTail(load_dir, keep_s=PROGRESS_KEEP_S)
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.started = time.monotonic()
        self.sent = self.acked = self.failed = self.consumed = 0
        self._last_print = 0.0

    def update(self) -> None:
        new = self.tail.poll()
        for d in new:
            self.sent += d["sent"]
            self.acked += d["acked"]
            self.failed += d["failed"]
            self.consumed += d["consumed"]
        if not self.enabled:
            return
        if not new and not self.tty:
            return
        last_t = max((d["t"] for d in self.tail.lines), default=0)
        last = [d for d in self.tail.lines if d["t"] == last_t]
        rate = sum(d["acked"] for d in last)
        p99 = histograms.percentile_ms(
            histograms.merge(d["hist_us"]["ack_latency"] for d in last), 99
        )
        elapsed = time.monotonic() - self.started
        line = (
            f"load {elapsed:5.0f}s/{self.spec.duration_s:g}s  {rate:>7} acks/s "
            f"(target {self.spec.rate_per_s:g})  p99 ack {p99 if p99 is not None else '-'} ms  "
            f"sent {self.sent}  acked {self.acked}  errors {self.failed}  consumed {self.consumed}"
        )
        if self.tty:
            sys.stderr.write("\r" + line[:200] + "\033[K")
            sys.stderr.flush()
        elif time.monotonic() - self._last_print >= 5:
            print(line, file=sys.stderr, flush=True)
            self._last_print = time.monotonic()

    def done(self) -> None:
        if self.enabled and self.tty:
            sys.stderr.write("\n")


def _last_error_line(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if line.startswith("error: "):
            return line[len("error: ") :]
    return lines[-1] if lines else ""


def run_load(spec: LoadSpec, run_dir: Path, inv: Inventory, progress: bool = True) -> LoadResult:
    """Run the load in the foreground; Ctrl-C (SIGINT) stops it cleanly with everything flushed.
    However it ends, what it and its processes wrote under <run>/load/ (their logs, Locust's
    CSVs, the summaries) is then redacted in place (`riftdrill.redact`: a worker's traceback can
    quote a client's configuration); the binary ledgers are left alone."""
    redactor = redactor_for(inv)
    with _interrupt_on_signals():
        try:
            return _run_load(spec, run_dir, inv, progress)
        finally:
            redactor.sweep(run_dir / "load")


@contextlib.contextmanager
def _interrupt_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM both mean "stop cleanly", even when a shell started us with SIGINT
    ignored (`cmd &`), which would otherwise make stop_load's SIGINT a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    old = {s: signal.signal(s, interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _run_load(spec: LoadSpec, run_dir: Path, inv: Inventory, progress: bool) -> LoadResult:
    security = client_security(inv.security, "load")  # every client of the run is the load's
    alloc = allocator.resolve(spec.allocator)  # a missing jemalloc refuses before anything runs
    preflight(spec, inv, security)
    clouds = placement_of(spec, inv)
    load_dir = run_dir / "load"
    for sub in ("ledgers", "workers", "locust"):
        (load_dir / sub).mkdir(parents=True, exist_ok=True)
    (load_dir / "spec.json").write_text(json.dumps(spec.to_json(), indent=1) + "\n")
    started_at = datetime.now(UTC).isoformat()
    run_start_ns = time.time_ns()
    procs: Procs = []
    tails: Procs = []
    fencer = _Fencer(spec, inv, clouds, load_dir, security)
    interrupted = False
    hub_rate = hub_rate_of(spec, inv)
    hub: HubLoad | None = None
    hub_outcome: HubOutcome | None = None
    building = (backlog.BacklogPhase(load_dir, spec.backlog_bytes, spec.backlog_drain_ratio,
                                     spec.size_bytes, spec.warmup_s)
                if spec.backlog_bytes > 0 else None)  # fmt: skip
    backlog_outcome: backlog.BacklogOutcome | None = None
    try:
        tails = _start_tails(mirror_tails(spec, inv, clouds, load_dir, run_start_ns, security),
                             load_dir)
        if hub_rate > 0:
            assert inv.hub is not None  # hub_rate_of checked it
            hub = start_hub_load(inv.hub, run_dir, hub_rate, spec.duration_s, spec.hub_drain_s)
        for cloud in clouds:
            log = load_dir / "workers" / f"{cloud}.log"
            index = (spec.run_clouds or clouds).index(cloud)  # one run over load VMs: unique ids
            cmd = worker_command(spec, inv, cloud, index, run_dir, run_start_ns, security)
            with open(log, "wb") as out:
                p = subprocess.Popen(
                    cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True,  # Ctrl-C reaches us only; we stop them gracefully
                    env=alloc.env(os.environ),
                )  # fmt: skip
            procs.append((cloud, p, log))
        _write_state(load_dir, {"state": "running", "pid": os.getpid(), "started_at": started_at,
                                "run_start_ns": run_start_ns,
                                "workers": {c: p.pid for c, p, _ in procs}})  # fmt: skip
        prog = _Progress(spec, load_dir, progress)
        memory = load_memory.Sampler(load_dir / load_memory.MEMORY_FILE, time.monotonic())
        sampled = {"runner": os.getpid(), **{c: p.pid for c, p, _ in procs},
                   **{f"tail-{n}": p.pid for n, p, _ in tails}}
        try:
            while any(p.poll() is None for _, p, _ in procs):
                time.sleep(0.5)
                prog.update()
                fencer.poll(procs)
                memory.maybe_sample(sampled)
                if building is not None and prog.tail.first_t is not None:
                    # from the first second the load processes measured, as the OMB result's
                    building.update(time.time() - prog.tail.first_t,
                                    prog.sent, prog.consumed, fencer.thread is not None)
        except KeyboardInterrupt:
            interrupted = True
            if hub is not None:
                hub.stop()  # the rows stop with the producers
            _stop_workers(procs, fencer, stop_grace_s(spec))
        prog.update()
        prog.done()
    finally:
        if hub is not None:
            hub.stop()
        if any(p.poll() is None for _, p, _ in procs):
            interrupted = True
            _stop_workers(procs, fencer, stop_grace_s(spec))
        if building is not None:
            backlog_outcome = building.release()  # no consumer stays paused
        fencer.finish(procs)
        if hub is not None:
            hub_outcome = hub.finish()  # the sink drains while the mirror tails end
        _stop_tails(tails, TAIL_GRACE_S)
    for cloud, p, log in procs:
        if p.returncode not in (0, -signal.SIGTERM, -signal.SIGINT) and not interrupted:
            msg = _last_error_line(log) or f"exit code {p.returncode}, no output"
            _write_state(load_dir, {"state": "failed", "error": msg})
            raise RiftdrillError(f"load process for cloud {cloud} failed ({msg}); log: {log}")
    summary = aggregate.finalize(
        load_dir,
        {
            "target_count": round(spec.rate_per_s * spec.duration_s),
            "target_rate_per_s": spec.rate_per_s,
            "allocator": alloc.name,
            "duration_s": spec.duration_s,
            "interrupted": interrupted,
            "started_at": started_at,
            "ended_at": datetime.now(UTC).isoformat(),
            "placement": clouds,
            "ledgers": [str(p.relative_to(run_dir)) for p in ledger_files(run_dir)],
            "consumer_ledgers": [str(p.relative_to(run_dir)) for p in consumer_ledger_files(run_dir)],
            "mirror_ledgers": [str(mirror_ledger_path(load_dir, name).relative_to(run_dir))
                               for name, _, _ in tails],
            "spec": spec.to_json(),
            **({"hub": hub_outcome.summary()} if hub_outcome is not None else {}),
            **({"backlog": backlog_outcome.model_dump()} if backlog_outcome is not None else {}),
            "memory": {name: f.model_dump() for name, f in
                       load_memory.figures(load_dir / load_memory.MEMORY_FILE).items()},
            "heap": {cloud: h.model_dump() for cloud, h in
                     load_memory.heap_figures(load_dir).items()},
            "drain": endrun.read_drains(load_dir),
        },
    )
    write_exports(load_dir, f"{ombresult.DRIVER_PREFIX}-{inv.engine}-{inv.topology}", len(clouds))
    _write_state(load_dir, {"state": "done", "interrupted": interrupted})
    return LoadResult.from_summary(run_dir, summary)


def write_exports(load_dir: Path, driver: str, clouds: int) -> None:
    """The run in the field's formats, from what aggregate.finalize wrote: OMB's result JSON,
    HdrHistogram interval logs, an OpenMetrics timeline (docs/load.md)."""
    ombresult.write_result(load_dir, driver, clouds)
    hdrlog.write_logs(load_dir)
    openmetrics.write_openmetrics(load_dir)


def _stop_workers(procs: Procs, fencer: _Fencer, grace_s: float) -> None:
    """SIGTERM means "stop producing, finish cleanly": each process drains its producers and
    writes its marker; fences are written meanwhile (the consumers wait for them). A process
    still there after `grace_s` is killed."""
    for _, p, _ in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while any(p.poll() is None for _, p, _ in procs) and time.monotonic() < deadline:
        fencer.poll(procs)
        time.sleep(0.2)
    for _, p, _ in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


# -- background use (Chaos Toolkit actions) -------------------------------------------------


def start_load(spec: LoadSpec, run_dir: Path, inventory_path: Path | None = None) -> int:
    """Start the load in the background; returns its pid (also in run_dir/load/pid).

    Waits until the preflight passed (or raises its one-line error), so a drill never runs its
    fault against a load that never started.
    """
    load_dir = run_dir / "load"
    load_dir.mkdir(parents=True, exist_ok=True)
    inv_path = inventory_path or paths.inventory_path()
    inventory_mod.load(inv_path)  # no inventory: fail here, not in the background
    spec_path = load_dir / "spec.json"
    spec_path.write_text(json.dumps(spec.to_json(), indent=1) + "\n")
    (load_dir / "state.json").unlink(missing_ok=True)
    log = load_dir / "runner.log"
    with open(log, "wb") as out:
        p = subprocess.Popen(
            [sys.executable, "-m", "riftdrill.load", "run-spec", str(spec_path), str(run_dir),
             "--inventory", str(inv_path)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    (load_dir / "pid").write_text(f"{p.pid}\n")
    deadline = time.monotonic() + START_WAIT_S
    while time.monotonic() < deadline:
        if p.poll() is not None:
            msg = _last_error_line(log)
            raise RiftdrillError(f"background load exited at start: {msg} (log: {log})")
        if _read_state(load_dir).get("state") == "running":
            return p.pid
        time.sleep(0.2)
    return p.pid


def running_clouds(run_dir: Path) -> list[str]:
    """The clouds the running load placed a process in (load/state.json); [] when it is not
    running (yet)."""
    workers = _read_state(run_dir / "load").get("workers")
    return sorted(workers) if isinstance(workers, dict) else []


def run_start_ns(run_dir: Path) -> int:
    """When the running load started (records intended before it are an earlier run's); 0 when
    not known."""
    v = _read_state(run_dir / "load").get("run_start_ns")
    return v if isinstance(v, int) else 0


def _read_state(load_dir: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads((load_dir / "state.json").read_text())
        return data
    except (OSError, json.JSONDecodeError):
        return {}


def _pid(load_dir: Path) -> int | None:
    try:
        return int((load_dir / "pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def read_result(run_dir: Path) -> LoadResult | None:
    try:
        summary = json.loads((run_dir / "load" / "summary.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return LoadResult.from_summary(run_dir, summary)


def spec_of(load_dir: Path) -> LoadSpec | None:
    """The run's load spec (load/spec.json); None when there is none or it does not read."""
    try:
        return LoadSpec.from_json(json.loads((load_dir / "spec.json").read_text()))
    except (OSError, ValueError, RiftdrillError, TypeError):
        return None


def stop_load(run_dir: Path, timeout_s: float | None = None) -> LoadResult | None:
    """SIGINT the background load, wait for it to end cleanly (producers drained, consumers at
    the fences, results merged), return its result (None if none).

    `timeout_s` defaults to stop_timeout_s(spec): the runner kills a process that overruns its
    own grace first, so a stop only ends in SIGTERM / SIGKILL when the runner itself hangs."""
    load_dir = run_dir / "load"
    failover.stop(load_dir)  # a failed-over group still reading the mirror ends first
    pid = _pid(load_dir)
    spec = spec_of(load_dir)
    if timeout_s is None:
        timeout_s = stop_timeout_s(spec) if spec is not None else STOP_GRACE_S + FINISH_S
    if _alive(pid):
        assert pid is not None
        proc = psutil.Process(pid)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=timeout_s)
        except psutil.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=FINISH_S)
            except psutil.TimeoutExpired:
                proc.kill()
    return read_result(run_dir)


def load_status(run_dir: Path) -> dict[str, Any]:
    """Running or not, counts so far, the last second's rate and p99 ack latency."""
    load_dir = run_dir / "load"
    pid = _pid(load_dir)
    tail = aggregate.MetricsTail(load_dir)
    lines = tail.poll() if (load_dir / "workers").is_dir() else []
    totals = {c: sum(int(d.get(c, 0)) for d in lines) for c in aggregate.COUNTERS}
    last_t = max((d["t"] for d in lines), default=None)
    last = [d for d in lines if d["t"] == last_t]
    ack_p99 = (
        histograms.percentile_ms(histograms.merge(d["hist_us"]["ack_latency"] for d in last), 99)
        if last
        else None
    )
    result = read_result(run_dir)
    return {
        "running": _alive(pid),
        "pid": pid,
        "state": _read_state(load_dir).get("state"),
        **totals,
        "last_second": {"t": last_t, "acked": sum(d["acked"] for d in last),
                        "ack_latency_p99_ms": ack_p99},
        "summary": result.to_json() if result else None,
    }
