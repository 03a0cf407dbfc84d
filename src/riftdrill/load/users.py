"""Locust users that drive Kafka: an open-model producer and a consumer-group member.

Importing this module registers riftdrill's command-line options (`--rd-*`) and the init /
stop listeners on Locust's global event hooks, so `loadtest/locustfile.py` only imports the
users. Everything runs on Locust's gevent loop: the clients are only ever called non-blocking
(`produce()`, `poll(0)`, `consume(timeout=0)`) and results arrive in librdkafka callbacks.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
import gevent.event
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_STORED,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from locust import User, constant, events, task
from locust.env import Environment
from locust.runners import STATE_RUNNING, MasterRunner, WorkerRunner
from locust.stats import RequestStats

from riftdrill.errors import RiftdrillError
from riftdrill.load import backlog, endrun, heap, kafka, locuststats, schedstat, tracemem
from riftdrill.load.consumer_ledger import (
    POLL_CORRUPT,
    POLL_EARLIER_RUN,
    POLL_FENCE,
    POLL_FOREIGN,
    UNKNOWN_POSITION,
    ConsumerLedgerWriter,
    consumer_ledger_path,
)
from riftdrill.load.fence import WRITE_TIMEOUT_S, FenceSet, fence_nonce, is_fence
from riftdrill.load.ledger import LedgerWriter
from riftdrill.load.memory import TRIM_EVERY_S
from riftdrill.load.metrics import ProcessMetrics
from riftdrill.load.record import HEADER, HEADER_SIZE, MAGIC
from riftdrill.load.schedule import OpenSchedule, send_pause_s
from riftdrill.load.spec import (
    DEFAULT_FENCE_WAIT_S,
    MAX_IDEMPOTENT_IN_FLIGHT,
    producer_problem,
    producer_settings,
)
from riftdrill.load.switch import SWITCH_CHECK_S, read_switch
from riftdrill.security.client import (
    FOLLOW_CHECK_S,
    OFF,
    ClientSecurity,
    Follower,
    client_security,
)

RERUN_ID_STRIDE = 1 << 20  # producer ids of a process's n-th test (web UI) start at n << 20
PAYLOAD_VARIANTS = 256  # distinct payloads per producer: cheap, and a swapped payload shows up
MAX_SENDS_PER_TICK = 2000  # yield to callbacks and other users at least this often
LATE_SEND_GRACE_NS = 1_000_000_000  # a little lateness at the end still sends the full count
CONSUMER_TAIL_S = 10.0  # without fences, how long consumers may take to catch up at the end (ends
# earlier once lag is 0: across the inter-region link 3 s left a consumer short in CI)
CONSUMER_TAIL_MIN_S = 1.5  # ... at least: a fresh stats report (lag) after the last ack
CONSUMER_READY_S = 10.0  # producers wait at most this long for consumers' first assignment
COMMIT_INTERVAL_S = 0.1  # consumers commit what they processed at most this often
FINAL_COMMIT_S = 5.0  # how long the last commit at close may take to be answered
LOOKUP_TIMEOUT_S = 5.0  # committed / offsets_for_times / watermarks at assignment
FENCES_CHECK_S = 0.2  # how often a draining process looks for load/fences.json
GROUP_CHECK_S = 1.0  # how often a drained process asks the group's committed offsets
GROUP_CHECK_TIMEOUT_S = 2.0  # ... and how long one ask may block (the loop only drains then)
CONSUMER_REQUEST_TIMEOUT_MS = 30_000  # bounds close() when a broker does not answer


def _add_options(parser: Any) -> None:
    g = parser.add_argument_group("riftdrill")
    g.add_argument("--rd-bootstrap", default="", help="Kafka bootstrap servers")
    g.add_argument("--rd-cloud", default="",
                   help="cloud this process runs in (default: the inventory's first cloud, "
                        "or 'local' with --rd-bootstrap)")  # fmt: skip
    g.add_argument("--rd-run-dir", default="", help="run dir: ledgers and metrics go to load/")
    g.add_argument("--rd-rate", type=float, default=1000.0, help="total msgs/s, all producers")
    g.add_argument("--rd-producers-total", type=int, default=0,
                   help="producer users in the whole run, the rate is split over them "
                        "(default: --rd-producer-users)")  # fmt: skip
    g.add_argument("--rd-producer-users", type=int, default=1,
                   help="producer users in this process (master: over all workers)")  # fmt: skip
    g.add_argument("--rd-consumer-users", type=int, default=1,
                   help="consumer users in this process (master: over all workers)")  # fmt: skip
    g.add_argument("--rd-duration", type=float, default=0.0,
                   help="producers stop sending after this many s (0: never)")  # fmt: skip
    g.add_argument("--rd-topic", default="riftdrill")
    g.add_argument("--rd-partitions", type=int, default=6)
    g.add_argument("--rd-replication-factor", type=int, default=1)
    g.add_argument("--rd-size", type=int, default=1024, help="record value bytes")
    g.add_argument("--rd-acks", default="all")
    # Idempotent producers by default (the contract drills check); the first-added default wins.
    g.add_argument("--rd-idempotence", dest="rd_idempotence", action="store_true", default=True,
                   help="enable.idempotence (default on)")  # fmt: skip
    g.add_argument("--rd-no-idempotence", dest="rd_idempotence", action="store_false",
                   help="legacy producers: idempotence off (then raise --rd-max-in-flight too)")  # fmt: skip
    g.add_argument("--rd-max-in-flight", type=int, default=MAX_IDEMPOTENT_IN_FLIGHT,
                   help="max.in.flight.requests.per.connection (<= 5 with idempotence)")  # fmt: skip
    g.add_argument("--rd-compression", default="none")
    g.add_argument("--rd-linger-ms", type=float, default=5.0)
    g.add_argument("--rd-batch-size", type=int, default=65536)
    g.add_argument("--rd-keys", default="round-robin", choices=["none", "round-robin", "per-key"])
    g.add_argument("--rd-key-count", type=int, default=64)
    g.add_argument("--rd-group", default="", help="consumer group (default riftdrill-<run>)")
    g.add_argument("--rd-delivery-timeout-ms", type=int, default=30000)
    g.add_argument("--rd-process-index", type=int, default=0,
                   help="unique per process in a run: producer ids derive from it")  # fmt: skip
    g.add_argument("--rd-run-start-ns", type=int, default=0,
                   help="records sent before this are from older runs: no e2e sample")  # fmt: skip
    g.add_argument("--rd-no-ledger", action="store_true", help="benchmark only: no ledger")
    g.add_argument("--rd-exit-when-done", action="store_true",
                   help="quit once every producer finished --rd-duration and drained")  # fmt: skip
    g.add_argument("--rd-locust-report", default="per-message",
                   choices=["per-message", "per-poll"])  # fmt: skip
    g.add_argument("--rd-trace-memory", action="store_true",
                   help="diagnostic: tracemalloc's top growing lines (load/tracemem.py)")
    g.add_argument("--rd-fence-wait-s", type=float, default=DEFAULT_FENCE_WAIT_S,
                   help="after the producers are done, consumers read until they polled the "
                        "run's fences (load/fences.json) or this many s passed")  # fmt: skip
    g.add_argument("--rd-await-fences", action="store_true",
                   help="set by riftdrill's launcher: it writes load/fences.json")  # fmt: skip
    g.add_argument("--rd-cluster", default="",
                   help="cluster this process's consumers read (picks its entry of fences.json)")  # fmt: skip
    g.add_argument("--rd-security-file", default="",
                   help="the load principal's client file (security sasl-tls; default: the "
                        "inventory's, or plaintext with --rd-bootstrap)")  # fmt: skip


@dataclass
class LoadContext:
    """What the users of one process share: options, metrics, and every producer to drain."""

    opts: Any
    load_dir: Path
    metrics: ProcessMetrics
    run_start_ns: int
    security: ClientSecurity = OFF  # the load principal's, for every client of the process
    producers: list[KafkaProducerUser] = field(default_factory=list)
    consumers: list[KafkaConsumerUser] = field(default_factory=list)
    worker: str = ""  # <cloud>-<process index>-<pid>: this process's dir under load/workers/
    runs_in_process: int = 0  # tests this process ran before this one (web UI restarts)
    next_local_index: int = 0
    assigned: int = 0  # consumer users that got their first assignment
    closed: bool = False
    draining: gevent.event.Event | None = None  # set once drain() finished
    backlog_paused: bool = False  # the runner's load/consumers-paused, read every PAUSE_CHECK_S
    backlog_checked_at: float = 0.0

    @property
    def worker_dir(self) -> Path:
        """load/workers/<worker>/: this process's metrics, heap log and drain record."""
        return self.load_dir / "workers" / self.worker


PAUSE_CHECK_S = 0.25


def consumers_paused(ctx: LoadContext) -> bool:
    """The backlog phase (load/backlog.py) wants this process's consumers paused; never once
    its producers are done, so the run always reads on to its fences."""
    if ctx.draining is not None:
        return False
    now = time.monotonic()
    if now - ctx.backlog_checked_at >= PAUSE_CHECK_S:
        ctx.backlog_checked_at = now
        ctx.backlog_paused = backlog.pause_path(ctx.load_dir).exists()
    return ctx.backlog_paused


def process_index(env: Environment, opts: Any) -> int:
    # Distributed mode: the master numbers its workers; our own launcher passes an index.
    if isinstance(env.runner, WorkerRunner):
        return int(env.runner.worker_index) + int(opts.rd_process_index)
    return int(opts.rd_process_index)


def context_of(env: Environment) -> LoadContext:
    ctx = getattr(env, "riftdrill", None)
    if ctx is None:
        raise RiftdrillError("riftdrill load context missing: run through loadtest/locustfile.py")
    assert isinstance(ctx, LoadContext)
    return ctx


def _bootstrap(opts: Any) -> str:
    if opts.rd_bootstrap:
        opts.rd_cloud = opts.rd_cloud or "local"
        return str(opts.rd_bootstrap)
    from riftdrill import inventory

    inv = inventory.load()
    clouds = [c.name for c in inv.clouds]
    opts.rd_cloud = opts.rd_cloud or clouds[0]
    if opts.rd_cloud not in clouds:
        raise RiftdrillError(
            f"--rd-cloud {opts.rd_cloud!r} is not a cloud of the inventory ({', '.join(clouds)}); "
            "pick one of them or pass --rd-bootstrap"
        )
    return inv.bootstrap(opts.rd_cloud)


def _security(opts: Any) -> ClientSecurity:
    """The load principal's client settings: the file given, else (no --rd-bootstrap) the
    inventory's; plaintext for a bootstrap given without a file."""
    if opts.rd_security_file or opts.rd_bootstrap:
        return ClientSecurity.read(opts.rd_security_file)
    from riftdrill import inventory

    return client_security(inventory.load().security, "load")


def _preflight_or_exit(opts: Any) -> None:
    """Resolve the bootstrap and the principal, check it answers and the topic exists; exit 2
    with one line if not."""
    try:
        problem = producer_problem(str(opts.rd_acks), bool(opts.rd_idempotence),
                                   int(opts.rd_max_in_flight))  # fmt: skip
        if problem is not None:
            raise RiftdrillError(f"{problem} (options --rd-acks, --rd-no-idempotence, "
                                 "--rd-max-in-flight)")  # fmt: skip
        security = _security(opts)
        bootstrap = _bootstrap(opts)
        kafka.check_reachable(bootstrap, security=security)
        kafka.ensure_topic(bootstrap, opts.rd_topic, opts.rd_partitions,
                           opts.rd_replication_factor, security=security)  # fmt: skip
    except RiftdrillError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        os._exit(2)  # before any user starts: nothing to flush, and Locust must not go on
    opts.rd_bootstrap = bootstrap
    opts.rd_security_file = security.file  # a path: options travel to workers as plain values
    # The blocking preflight above froze gevent's cached clock; Locust's -t timer would fire early.
    gevent.get_hub().loop.update_now()


def _fix_counts(opts: Any) -> None:
    KafkaProducerUser.fixed_count = opts.rd_producer_users
    KafkaConsumerUser.fixed_count = opts.rd_consumer_users
    if not opts.rd_producers_total:
        # One process, or a master dispatching these users over its workers: the same number.
        opts.rd_producers_total = opts.rd_producer_users


def _on_init(environment: Environment, **_: Any) -> None:
    opts = environment.parsed_options
    if opts is None or not hasattr(opts, "rd_topic"):
        return
    if isinstance(environment.runner, WorkerRunner):
        # A worker's --rd-* options are the master's, and arrive with its first spawn message:
        # everything that needs them waits for test_start.
        return
    _fix_counts(opts)
    if isinstance(environment.runner, MasterRunner):
        if opts.rd_exit_when_done and opts.rd_duration > 0:
            _register_master_quit(environment)
        return  # the master only dispatches users: no Kafka client, ledger or metrics here
    _preflight_or_exit(opts)  # headless or web UI: fail before the UI or the run starts


def _run_dir(opts: Any, runs_in_process: int) -> Path:
    base = opts.rd_run_dir or f"results/runs/locust-{time.strftime('%Y%m%dT%H%M%S')}"
    # The web UI can start a test again in the same process: each test gets its own ledgers.
    return Path(base if runs_in_process == 0 else f"{base}-{runs_in_process + 1}")


def _on_test_start(environment: Environment, **_: Any) -> None:
    opts = environment.parsed_options
    if opts is None or not hasattr(opts, "rd_topic") or isinstance(environment.runner, MasterRunner):
        return
    if isinstance(environment.runner, WorkerRunner):
        _fix_counts(opts)
        _preflight_or_exit(opts)
    previous = getattr(environment, "riftdrill", None)
    runs = previous.runs_in_process + 1 if isinstance(previous, LoadContext) else 0
    load_dir = _run_dir(opts, runs) / "load"
    worker = f"{opts.rd_cloud}-{process_index(environment, opts)}-{os.getpid()}"
    ctx = LoadContext(
        opts=opts,
        load_dir=load_dir,
        metrics=ProcessMetrics(load_dir / "workers" / worker / "metrics.jsonl"),
        run_start_ns=opts.rd_run_start_ns or time.time_ns(),
        security=ClientSecurity.read(opts.rd_security_file),
        worker=worker,
        runs_in_process=runs,
    )
    environment.riftdrill = ctx  # type: ignore[attr-defined]
    gevent.spawn(_write_seconds, ctx)
    heap.fix_mmap_threshold()  # before the load allocates: large buffers never grow the heap
    tracer = tracemem.Tracer.start(ctx.worker_dir) if opts.rd_trace_memory else None
    gevent.spawn(_tend_heap, ctx, environment.stats, tracer)
    if ctx.security.enabled:
        gevent.spawn(_follow_credentials, ctx)
    if opts.rd_exit_when_done and opts.rd_duration > 0:
        gevent.spawn(_quit_when_done, ctx, environment)


def _follow_credentials(ctx: LoadContext) -> None:
    """A rotation (security/rotation.py) swaps the load principal's client file: every client of
    the process gets the new password for its next login (set_sasl_credentials: the sessions it
    has stay until the brokers ask them to log in again), and clients made later are configured
    with it, as an application that follows its mounted secret would."""
    follower = Follower(ctx.security)
    while not ctx.closed:
        gevent.sleep(FOLLOW_CHECK_S)
        sec = follower.changed()
        if sec is None:
            continue
        ctx.security = sec
        clients = 0
        for p in ctx.producers:
            p.conf = {**p.conf, **sec.librdkafka()}
            if p.producer is not None:
                p.producer.set_sasl_credentials(sec.principal, sec.password)
                clients += 1
        for c in ctx.consumers:
            if c.consumer is not None:
                c.consumer.set_sasl_credentials(sec.principal, sec.password)
                clients += 1
        print(f"riftdrill: principal {sec.principal}'s password changed in {sec.file}: {clients} "
              "client(s) log in with the new one", file=sys.stderr, flush=True)


DONE_MESSAGE = "riftdrill_done"  # worker -> master: this worker's producers finished and drained


def _quit_when_done(ctx: LoadContext, env: Environment) -> None:
    """The schedule, not a wall-clock -t, ends a run: every producer sends its full count and
    in-flight sends get up to the delivery timeout; then quit, whose drain() reads the
    consumers up to the run's fences (or a short tail without them).

    A worker does not quit by itself (its master would hand its users to another worker, which
    would start sending again): it tells the master, which quits once every worker is done.
    """
    opts = ctx.opts
    worker = isinstance(env.runner, WorkerRunner)
    while env.runner is not None and env.runner.state != STATE_RUNNING:
        gevent.sleep(0.05)  # every user spawned: a worker knows its share only from then on
    expected = _users_here(env, KafkaProducerUser, int(opts.rd_producer_users))
    while len(ctx.producers) < expected or any(
        p.sending and not p.schedule_done() for p in ctx.producers
    ):
        gevent.sleep(0.05)
    deadline = time.monotonic() + opts.rd_delivery_timeout_ms / 1000 + 1
    while time.monotonic() < deadline and any(p.in_flight() for p in ctx.producers):
        gevent.sleep(0.05)
    if worker and env.runner is not None:
        env.runner.send_message(DONE_MESSAGE)
        return
    if env.runner is not None:
        env.runner.quit()  # stop -> test_stop -> drain(): marker, fences, consumers, close


def _register_master_quit(env: Environment) -> None:
    """Master side of --rd-exit-when-done: quit once every connected worker reported done."""
    runner = env.runner
    assert isinstance(runner, MasterRunner)
    done: set[str] = set()

    def on_done(environment: Environment, msg: Any, **_: Any) -> None:
        done.add(str(msg.node_id))
        if len(done) >= runner.worker_count:
            gevent.spawn(_quit_after_tail, runner)

    runner.register_message(DONE_MESSAGE, on_done)


def _quit_after_tail(runner: MasterRunner) -> None:
    # Each worker's drain() gives its consumers their tail when the quit arrives; this pause
    # only lets the workers' last stats reports reach the master first.
    gevent.sleep(CONSUMER_TAIL_MIN_S)
    runner.quit()


def _write_seconds(ctx: LoadContext) -> None:
    """Each second that ended: its main-thread CPU and run-queue wait, then its metrics line."""
    pid = os.getpid()
    last = schedstat.read(pid)
    while not ctx.closed:
        gevent.sleep(1.0 - (time.time() % 1.0) + 0.01)
        if ctx.closed:
            return  # the drain wrote the last seconds
        now = schedstat.read(pid)
        if last is not None and now is not None:
            ctx.metrics.thread_times(int(time.time()) - 1, *schedstat.delta_ms(last, now))
        last = now
        ctx.metrics.write_completed()


def _tend_heap(ctx: LoadContext, stats: RequestStats, tracer: tracemem.Tracer | None) -> None:
    """Every TRIM_EVERY_S: bound Locust's own per-second bookkeeping, give malloc's retained
    memory back, and log what it held (and, tracing, where Python's memory grew)."""
    while not ctx.closed:
        gevent.sleep(TRIM_EVERY_S)
        locuststats.prune(stats, time.time())
        if tracer is not None:
            tracer.maybe_compare()
        sample = heap.trim_and_sample(os.getpid())
        if sample is not None:  # None without glibc: nothing to read or trim
            heap.append(ctx.worker_dir, sample)


def drain(ctx: LoadContext, timeout_s: float) -> None:
    """End the test: producers stop and drain (their acks go to the ledger), the marker
    `producers-done` is written, consumers read up to the run's fences, then everything closes.

    Runs at test stop or quit, so Ctrl-C / SIGTERM / the end of `-t` / --rd-exit-when-done all
    end the same way. A second caller (SIGTERM while a drain runs) waits for the first one.
    """
    if ctx.closed:
        return
    if ctx.draining is not None:
        ctx.draining.wait(timeout_s + WRITE_TIMEOUT_S + float(ctx.opts.rd_fence_wait_s)
                          + FINAL_COMMIT_S + CONSUMER_REQUEST_TIMEOUT_MS / 1000 + 5)  # fmt: skip
        return
    ctx.draining = gevent.event.Event()
    try:
        deadline = time.monotonic() + timeout_s
        for p in ctx.producers:
            p.sending = False
        for p in ctx.producers:
            while p.producer is not None and len(p.producer) > 0 and time.monotonic() < deadline:
                p.producer.poll(0.05)
            p.close()
        endrun.write_marker(endrun.marker_path(ctx.load_dir, ctx.worker))
        for c in ctx.consumers:
            c.follow_backlog_pause()  # ctx.draining is set: a paused consumer resumes
        # The runner writes the fences once every process's producers are done, each within
        # its delivery timeout (all got the stop together: `deadline` here), the write within
        # WRITE_TIMEOUT_S; the fence wait runs from the fences, not from this marker (a process
        # whose peer drained for its whole timeout ran out its wait before the fences existed).
        _drain_consumers(ctx, float(ctx.opts.rd_fence_wait_s),
                         fences_by=deadline + WRITE_TIMEOUT_S)
    finally:
        for c in ctx.consumers:
            c.close()
        ctx.closed = True
        ctx.metrics.close()
        ctx.draining.set()


def _poll_all(consumers: list[KafkaConsumerUser]) -> None:
    """One non-blocking poll of each consumer; a short sleep when none had anything."""
    got = 0
    for c in consumers:
        got += c.poll_batch()
    gevent.sleep(0 if got else 0.002)


def _drain_consumers(ctx: LoadContext, fence_wait_s: float, fences_by: float) -> None:
    """Read on until the group is done, or `fence_wait_s` after the fences were read (before
    they are: until `fences_by`, the latest they can come, and at least `fence_wait_s`): every
    consumer here polled its cluster's fence on all partitions it owns, and the group's
    committed offsets are past every fence (so a partition nobody owned at the end still
    counts). Without a launcher writing fences (plain locust) this is a short tail, unless
    load/fences.json appears during it."""
    pending = [c for c in ctx.consumers if c.consumer is not None]
    if not pending:
        return
    path = ctx.load_dir / endrun.FENCES_FILE
    opts = ctx.opts
    fences: FenceSet | str | None = None
    next_check = next_group_check = 0.0
    start = time.monotonic()
    deadline = max(start + fence_wait_s, fences_by)
    rec = endrun.DrainRecord(members=len(pending), ended="deadline")

    def since() -> float:
        return round(time.monotonic() - start, 3)

    while pending and time.monotonic() < deadline:
        _poll_all(pending)
        now = time.monotonic()
        if fences is None and now >= next_check:
            next_check = now + FENCES_CHECK_S
            found = endrun.load_fences(path)
            if found is not None:
                fences = endrun.fences_of(found, str(opts.rd_cluster))
                rec.fences_s = since()
                deadline = now + fence_wait_s
            elif not opts.rd_await_fences and now - start >= CONSUMER_TAIL_S:
                rec.ended = "no-fences-tail"
                break  # nobody writes fences: today's short tail is over
            elif not opts.rd_await_fences and now - start >= CONSUMER_TAIL_MIN_S \
                    and ctx.metrics.lag() == 0:
                rec.ended = "lag-zero"
                break
        if isinstance(fences, FenceSet) and now >= next_group_check:
            unfenced = [c.unfenced(fences) for c in pending]
            # No member here owns a partition short of its fence (one between assignments,
            # or never given any: subscribed to a topic its broker did not know yet, owns
            # none); a member elsewhere may still wait for partitions nobody was handed yet,
            # so the group's commits decide: past every fence, nothing is left to read.
            if all(u == [] or u is None for u in unfenced):
                if rec.members_fenced_s is None and all(u == [] for u in unfenced):
                    rec.members_fenced_s = since()
                next_group_check = now + GROUP_CHECK_S
                rec.group_checks += 1
                rec.group_behind = pending[0].group_behind(fences, GROUP_CHECK_TIMEOUT_S)
                if rec.group_behind is None:
                    rec.group_unanswered += 1
                elif not rec.group_behind:
                    rec.group_fenced_s, rec.ended = since(), "group-fenced"
                    break
        # fences is a str: they could not be written; read on until the deadline.
    rec.read_s = since()
    if isinstance(fences, str):
        rec.ended = "fences-not-written"  # read on to the deadline
    if isinstance(fences, FenceSet) and rec.ended == "deadline":
        rec.members_unfenced = [c.unfenced(fences) for c in pending]
    for c in pending:
        c.finish()
    rec.finish_s = round(since() - rec.read_s, 3)
    rec.write(ctx.worker_dir)
    print(f"riftdrill: {rec.line()}", file=sys.stderr, flush=True)


def _on_test_stop(environment: Environment, **_: Any) -> None:
    ctx = getattr(environment, "riftdrill", None)
    if isinstance(ctx, LoadContext):
        drain(ctx, ctx.opts.rd_delivery_timeout_ms / 1000 + 1)


def _on_quitting(environment: Environment, **_: Any) -> None:
    _on_test_stop(environment)
    opts = environment.parsed_options
    ours = isinstance(getattr(environment, "riftdrill", None), LoadContext) or (
        isinstance(environment.runner, MasterRunner) and hasattr(opts, "rd_topic"))
    if ours:
        # Broker errors are data (counted, in the ledger), not a failed run: on the master too,
        # whose stats hold the workers' errors (a consumer subscribing before the topic's
        # metadata reached its broker made the master exit 1 in CI).
        environment.process_exit_code = 0


def _users_here(env: Environment, user_class: type[User], configured: int) -> int:
    """Users of a class this process runs: on a worker, what the master dispatched to it."""
    if isinstance(env.runner, WorkerRunner):
        return int(env.runner.target_user_classes_count.get(user_class.__name__, 0))
    return configured


def _payloads(size_bytes: int, seed: int) -> list[tuple[bytes, int]]:
    """(payload, crc32) variants; random bytes so compression numbers are honest (as OMB does)."""
    n = max(0, size_bytes - HEADER_SIZE)
    rnd = os.urandom(n + PAYLOAD_VARIANTS) if n else b""
    out = []
    for i in range(PAYLOAD_VARIANTS):
        p = rnd[i : i + n]
        out.append((p, zlib.crc32(p)))
    return out


class KafkaProducerUser(User):
    """One Kafka producer sending on an open-model schedule; one ledger per user.

    Each record's intended send time comes from the schedule, not from when the loop got to it:
    a stalled cluster shows up as ack latency and publish delay, never as silently lower load.
    """

    wait_time = constant(0)
    fixed_count = 1

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.producer: Producer | None = None
        self.ledger: LedgerWriter | None = None
        self.sending = True
        self.fatal: str | None = None  # the client's fatal error, until the producer is recreated

    def on_start(self) -> None:
        ctx = context_of(self.environment)
        o = ctx.opts
        self.ctx = ctx
        local = ctx.next_local_index
        ctx.next_local_index += 1
        # Each test a web UI process runs again gets ids of its own: its records land in the
        # same topic, and an idempotent run's verify would see equal ids as duplicates.
        self.producer_id = (ctx.runs_in_process * RERUN_ID_STRIDE
                            + process_index(self.environment, o) * 256 + local)  # fmt: skip
        self.topic = str(o.rd_topic)
        self.key_mode = str(o.rd_keys)
        self.key_count = int(o.rd_key_count)
        self.report_each = o.rd_locust_report == "per-message"
        self.payloads = _payloads(int(o.rd_size), self.producer_id)
        rate = float(o.rd_rate) / max(1, int(o.rd_producers_total))
        # Like OMB: start sending once this process's consumers own their partitions, so e2e
        # latency measures the cluster, not the consumer group's first join.
        deadline = time.monotonic() + CONSUMER_READY_S
        consumers_here = _users_here(self.environment, KafkaConsumerUser, int(o.rd_consumer_users))
        while ctx.assigned < consumers_here and time.monotonic() < deadline:
            gevent.sleep(0.05)
        self.schedule = OpenSchedule(rate, time.time_ns(), float(o.rd_duration))
        # The contract this producer runs under, recorded in its ledger exactly as configured.
        contract = producer_settings(o.rd_acks, o.rd_idempotence, o.rd_max_in_flight)
        self.contract = contract
        self.cluster = str(o.rd_cluster)
        self.switches = 0  # ledgers opened after a failover or failback (load/switch.py)
        self.switch_checked = 0.0
        self.switch_seen: tuple[str, str] | None = None  # (bootstrap, cluster) of the switch file
        if not o.rd_no_ledger:
            self.ledger = self._open_ledger(str(o.rd_bootstrap))
        conf: dict[str, Any] = {
            "bootstrap.servers": o.rd_bootstrap,
            "acks": contract["acks"],
            "enable.idempotence": contract["idempotence"],
            "max.in.flight.requests.per.connection": contract["max_in_flight"],
            "compression.type": o.rd_compression,
            "linger.ms": o.rd_linger_ms,
            "batch.size": o.rd_batch_size,
            "message.timeout.ms": o.rd_delivery_timeout_ms,
            "partitioner": "murmur2_random",  # same key -> partition mapping as Java clients
            "queue.buffering.max.messages": 100000,
            "queue.buffering.max.kbytes": 262144,
            "client.id": f"riftdrill-p{self.producer_id}",
            "on_delivery": self._on_delivery,
            **ctx.security.librdkafka(),
        }
        self.conf = conf
        self.producer = Producer(conf)
        self.next_seq = 0
        ctx.producers.append(self)

    def _open_ledger(self, bootstrap: str) -> LedgerWriter:
        o = self.ctx.opts
        suffix = f"-{self.cluster}-{self.switches}" if self.switches else ""
        return LedgerWriter(
            self.ctx.load_dir / "ledgers" / f"{o.rd_cloud}-p{self.producer_id}{suffix}.rdl",
            self.producer_id, str(o.rd_cloud), [self.topic], bootstrap,
            self.schedule.start_ns, producer=self.contract, cluster=self.cluster,
        )  # fmt: skip

    def _maybe_switch(self) -> None:
        """Follow this cloud's switch file (load/switch.py): when it names another cluster, the
        producer fails over (or back) as an application would: what the old instance still
        held is purged (failed into the old ledger: indeterminate), a new instance writes to
        the new cluster, into a new ledger that names it; producer id and sequence carry on."""
        now = time.monotonic()
        if now - self.switch_checked < SWITCH_CHECK_S:
            return
        self.switch_checked = now
        want = read_switch(self.ctx.load_dir, str(self.ctx.opts.rd_cloud))
        if want is None or want == self.switch_seen:
            return
        self.switch_seen = want
        bootstrap, cluster = want
        if cluster == self.cluster:
            return
        old = self.producer
        if old is not None:
            old.purge(in_queue=True, in_flight=True)
            old.flush(1.0)  # the purged sends' delivery reports land in the old ledger
        if self.ledger is not None:
            self.ledger.close()
        self.cluster = cluster
        self.switches += 1
        if not self.ctx.opts.rd_no_ledger:
            self.ledger = self._open_ledger(bootstrap)
        self.conf = {**self.conf, "bootstrap.servers": bootstrap}
        self.producer = Producer(self.conf)
        print(f"riftdrill: producer p{self.producer_id} now writes to cluster {cluster} "
              f"({bootstrap})", file=sys.stderr, flush=True)

    def _recreate_after_fatal(self) -> None:
        """librdkafka's rule for a fatal error (e.g. an idempotent producer's "Unable to
        reconstruct MessageSet", librdkafka #4736, docs/findings.md): the instance is unusable
        and must be destroyed and created anew, as a careful application would. What it still
        held is purged and fails into the ledger: its queue includes batches waiting for a retry
        that may already be in the log, so re-sending them would duplicate and reorder (tried:
        1 duplicate, 574 reordered in one cloud-outage run). The new instance gets a new
        producer id from the cluster; riftdrill's producer id and sequence carry on."""
        old = self.producer
        if old is not None:
            old.purge(in_queue=True, in_flight=True)
            old.flush(1.0)  # serves the purged sends' delivery reports: failed, in the ledger
        print(f"riftdrill: producer p{self.producer_id} recreated after a fatal client error "
              f"({self.fatal})", file=sys.stderr, flush=True)
        self.fatal = None
        self.ctx.metrics.producer_restarted()
        self.producer = Producer(self.conf)

    def _key(self, seq: int) -> bytes | None:
        if self.key_mode == "none":
            return None
        if self.key_mode == "round-robin":  # keys shared by all producers
            return b"k-%d" % (seq % self.key_count)
        # per-key: keys owned by this producer, so each key's sequence is one producer's order
        return b"k-%d" % (self.producer_id * self.key_count + seq % self.key_count)

    @task
    def send_due(self) -> None:
        self._maybe_switch()
        if self.fatal is not None and self.producer is not None:
            self._recreate_after_fatal()
        producer = self.producer
        if producer is None:
            return
        sched = self.schedule
        now = time.time_ns()
        end = sched.end_ns
        if end is not None and now >= end + LATE_SEND_GRACE_NS:
            self.sending = False  # behind schedule at the end: what is unsent stays unsent
        due = sched.due_count(now) if self.sending else self.next_seq
        stop = min(due, self.next_seq + MAX_SENDS_PER_TICK)
        metrics = self.ctx.metrics
        pack = HEADER.pack
        payloads = self.payloads
        topic = self.topic
        seq = self.next_seq
        while seq < stop:
            intended = sched.intended_ns(seq)
            payload, crc = payloads[seq % PAYLOAD_VARIANTS]
            value = pack(MAGIC, self.producer_id, seq, intended, crc) + payload
            actual = time.time_ns()
            try:
                producer.produce(topic, value, self._key(seq))
            except BufferError:
                producer.poll(0)  # local queue full: the cluster is behind; retry next tick
                break
            except KafkaException as exc:
                err = exc.args[0]
                self._record_error(seq, err, intended, self._key(seq), crc)
                if err.fatal() or err.code() == KafkaError._FATAL:
                    self.fatal = self.fatal or err.str()
            metrics.sent((actual - intended) / 1000)
            seq += 1
            if self.fatal is not None:
                break  # the instance is unusable: recreated at the next tick
        self.next_seq = seq
        producer.poll(0)
        if self.ledger is not None:
            self.ledger.maybe_flush()
        gevent.sleep(send_pause_s(seq, due, self.schedule_done(),
                                  sched.intended_ns(seq), time.time_ns()))

    def _record_error(
        self, seq: int, err: KafkaError, intended: int, key: bytes | None, crc: int,
        partition: int = -1,
    ) -> None:  # fmt: skip
        now = time.time_ns()
        if self.ledger is not None:
            self.ledger.append_error(self.topic, seq, err.code(), intended, now,
                                     partition=partition, key=key, checksum=crc)  # fmt: skip
        self.ctx.metrics.failed()
        self.environment.events.request.fire(
            request_type="produce", name=self.topic, response_time=(now - intended) / 1e6,
            response_length=0, exception=KafkaException(err), context={},
        )  # fmt: skip

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        ack_ns = time.time_ns()
        value = msg.value()
        if value is None or len(value) < HEADER_SIZE:
            return
        _, _pid, seq, intended, crc = HEADER.unpack_from(value)
        if err is not None:
            # The partition the client queued it on (per-partition availability counts it);
            # None / -1 when it failed before the partitioner chose one.
            part = msg.partition()
            self._record_error(seq, err, intended, msg.key(), crc,
                               -1 if part is None or part < 0 else part)
            if err.fatal():
                self.fatal = self.fatal or err.str()
            elif err.code() == KafkaError._PURGE_QUEUE and self.sending:
                # librdkafka purges its own queue when an idempotent producer goes fatal.
                self.fatal = self.fatal or "the client purged its queue"
            return
        if self.ledger is not None:
            partition, offset = msg.partition(), msg.offset()
            self.ledger.append_ack(
                self.topic, -1 if partition is None else partition,
                -1 if offset is None else offset, msg.key(), seq, crc, intended, ack_ns,
            )  # fmt: skip
        latency_us = (ack_ns - intended) / 1000
        self.ctx.metrics.acked(latency_us)
        if self.report_each:
            self.environment.events.request.fire(
                request_type="produce", name=self.topic, response_time=latency_us / 1000,
                response_length=len(value), exception=None, context={},
            )  # fmt: skip

    def on_stop(self) -> None:
        self.sending = False

    def schedule_done(self) -> bool:
        total = self.schedule.total
        return not self.sending or (total is not None and self.next_seq >= total)

    def in_flight(self) -> int:
        return len(self.producer) if self.producer is not None else 0

    def close(self) -> None:
        if self.producer is not None:
            self.producer.poll(0)
        if self.ledger is not None:
            self.ledger.close()
            self.ledger = None
        self.producer = None


def partitions_behind(fence_offsets: dict[int, int], committed: dict[int, int]) -> list[int]:
    """The partitions whose committed offset (the next one to read) does not lie past their
    fence."""
    return sorted(p for p, o in fence_offsets.items() if committed.get(p, -1) <= o)


class KafkaConsumerUser(User):
    """A consumer-group member that behaves like a careful application: manual offset store and
    commit of what it processed, a start at the run's first offsets, and a ledger of every poll,
    commit and (re)assignment. Measures end-to-end latency from the record's intended send time,
    lag and rebalances, and checks every record's payload checksum."""

    wait_time = constant(0)
    fixed_count = 1

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.consumer: Consumer | None = None
        self.ledger: ConsumerLedgerWriter | None = None
        self.assigned_once = False
        self.epoch = 0  # local assignment epoch: +1 on every assign / revoke / lost callback
        self.assignment: set[int] = set()
        self.settled = False  # the last rebalance callback was an assign (none yet: False)
        self.started_at: dict[int, int] = {}  # partition -> position of its latest assignment
        self.positions: dict[int, int] = {}  # partition -> next offset to read (last polled + 1)
        self.fences_polled: dict[int, set[bytes]] = {}  # partition -> nonces of fences polled
        self.uncommitted = False  # offsets stored since the last commit request
        self.last_commit = 0.0
        self.commits_asked = 0
        self.commits_answered = 0
        self.closing = False
        self.backlog_paused: set[int] = set()  # partitions paused for the backlog phase

    def on_start(self) -> None:
        ctx = context_of(self.environment)
        o = ctx.opts
        self.ctx = ctx
        self.consumer_index = len(ctx.consumers)
        self.report_each = o.rd_locust_report == "per-message"
        group = o.rd_group or f"riftdrill-{ctx.load_dir.parent.name}"
        self.topic = str(o.rd_topic)
        pindex = process_index(self.environment, ctx.opts)
        client_id = f"riftdrill-c{pindex}-{self.consumer_index}"
        if not o.rd_no_ledger:
            self.ledger = ConsumerLedgerWriter(
                consumer_ledger_path(ctx.load_dir, str(o.rd_cloud), pindex, self.consumer_index),
                group=group, client_id=client_id, cloud=str(o.rd_cloud), topics=[self.topic],
                run_start_ns=ctx.run_start_ns, bootstrap=str(o.rd_bootstrap),
                cluster=str(o.rd_cluster),
            )  # fmt: skip
        conf: dict[str, Any] = {
            "bootstrap.servers": o.rd_bootstrap,
            "group.id": group,
            # Offsets are stored after processing and committed by us (on_commit records the
            # results). A committed offset that no longer exists restarts at the earliest
            # record, never at the end: records must not be skipped.
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "on_commit": self._on_commit,
            # close() waits for in-flight requests: to an unreachable broker that is this
            # timeout (librdkafka's 60 s default; 30 s is the Java consumer's request timeout).
            "socket.timeout.ms": CONSUMER_REQUEST_TIMEOUT_MS,
            "statistics.interval.ms": 1000,
            "stats_cb": self._on_stats,
            "client.id": client_id,
            **ctx.security.librdkafka(),
        }
        self.consumer = Consumer(conf)
        self.consumer.subscribe([self.topic], on_assign=self._on_assign,
                                on_revoke=self._on_revoke, on_lost=self._on_lost)  # fmt: skip
        ctx.consumers.append(self)

    # -- rebalances ---------------------------------------------------------------------------

    def _start_positions(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Set each partition's start: its committed offset, else the first offset at the run's
        start time, else the high watermark read now. Positions found are in tp.offset; an
        unknown one is left to librdkafka (committed, else earliest: nothing skipped).

        These lookups block the gevent loop (producers too), so together they get at most
        LOOKUP_TIMEOUT_S; what is still unknown then starts at the earliest record."""
        deadline = time.monotonic() + LOOKUP_TIMEOUT_S

        def left_s() -> float:
            return deadline - time.monotonic()

        try:
            committed = {tp.partition: tp.offset
                         for tp in consumer.committed(partitions, timeout=left_s())}  # fmt: skip
        except KafkaException:
            for tp in partitions:
                tp.offset = OFFSET_STORED
            return
        fresh = [tp for tp in partitions if committed.get(tp.partition, -1) < 0]
        for tp in partitions:
            tp.offset = committed.get(tp.partition, -1)
        if not fresh:
            return
        start_ms = self.ctx.run_start_ns // 1_000_000
        found: dict[int, int] = {}
        with contextlib.suppress(KafkaException):
            if left_s() > 0:
                found = {tp.partition: tp.offset for tp in consumer.offsets_for_times(
                    [TopicPartition(self.topic, tp.partition, start_ms) for tp in fresh],
                    timeout=left_s())}  # fmt: skip
        for tp in fresh:
            at = found.get(tp.partition, OFFSET_BEGINNING)
            if at == -1:
                # Nothing at or after the run start yet: start at the end as it is *now*
                # (OFFSET_END would resolve later and skip what arrives in between).
                at = OFFSET_BEGINNING
                with contextlib.suppress(KafkaException):
                    if left_s() > 0:
                        at = consumer.get_watermark_offsets(tp, timeout=left_s(), cached=False)[1]
            tp.offset = at

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.epoch += 1
        self._start_positions(consumer, partitions)
        consumer.assign(partitions)
        self.backlog_paused = set()  # a new assignment fetches: follow_backlog_pause re-pauses
        member = consumer.memberid() or ""
        now = time.time_ns()
        for tp in partitions:
            pos = tp.offset if tp.offset >= 0 else UNKNOWN_POSITION
            self.assignment.add(tp.partition)
            self.started_at[tp.partition] = pos
            if self.ledger is not None:
                self.ledger.assign(0, tp.partition, pos, self.epoch, member, now)
        self.settled = True
        if not self.assigned_once:
            self.assigned_once = True
            self.ctx.assigned += 1
        self.ctx.metrics.rebalanced()

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if not self.closing:
            self._commit_sync(consumer)  # the next owner starts right after what we processed
        self._forget(partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._forget(partitions)  # no longer ours: nothing may be committed for them

    def _forget(self, partitions: list[TopicPartition]) -> None:
        self.epoch += 1
        self.settled = False
        now = time.time_ns()
        for tp in partitions:
            self.assignment.discard(tp.partition)
            if self.ledger is not None:
                self.ledger.revoke(0, tp.partition, self.positions.get(tp.partition, -1),
                                   self.epoch, now)  # fmt: skip

    # -- commits ------------------------------------------------------------------------------

    def _commit_async(self, consumer: Consumer) -> None:
        self.uncommitted = False
        self.last_commit = time.monotonic()
        try:
            consumer.commit(asynchronous=True)
        except KafkaException:
            return  # e.g. nothing assigned: no callback will come
        self.commits_asked += 1

    def _commit_sync(self, consumer: Consumer) -> None:
        """Synchronous commit (rebalance): librdkafka does not call on_commit for it."""
        self.uncommitted = False
        try:
            result = consumer.commit(asynchronous=False)
        except KafkaException as exc:
            err = exc.args[0]
            if err.code() != KafkaError._NO_OFFSET:  # _NO_OFFSET: nothing new to commit
                self._record_commit([TopicPartition(self.topic, p, o)
                                     for p, o in self.positions.items()
                                     if p in self.assignment], err.code())  # fmt: skip
            return
        self._record_commit(list(result or []), 0)

    def _on_commit(self, err: KafkaError | None, partitions: list[TopicPartition]) -> None:
        self.commits_answered += 1
        if err is not None and err.code() == KafkaError._NO_OFFSET:
            return  # nothing was stored since the last commit
        self._record_commit(partitions, err.code() if err is not None else 0)

    def _record_commit(self, partitions: list[TopicPartition], code: int) -> None:
        if self.ledger is None:
            return
        now = time.time_ns()
        for tp in partitions:
            own = tp.error.code() if tp.error is not None else 0
            if tp.offset < 0 and not (code or own):
                continue  # an assigned partition with nothing stored: nothing was committed
            self.ledger.commit(0, tp.partition, tp.offset, self.epoch, code or own, now)

    # -- polling ------------------------------------------------------------------------------

    def _on_stats(self, stats_json: str) -> None:
        stats = json.loads(stats_json)
        lag = 0
        for t in stats.get("topics", {}).values():
            for pid, p in t.get("partitions", {}).items():
                # consumer_lag_stored counts from what this consumer has processed (stored);
                # consumer_lag counts from the last commit.
                stored = p.get("consumer_lag_stored", -1)
                value = stored if stored >= 0 else p.get("consumer_lag", -1)
                if pid != "-1" and value >= 0:
                    lag += int(value)
        self.ctx.metrics.set_lag(self.consumer_index, lag)

    @task
    def consume_ready(self) -> None:
        if self.consumer is None:
            gevent.sleep(0.05)
            return
        self.follow_backlog_pause()
        gevent.sleep(0 if self.poll_batch() else 0.002)

    def follow_backlog_pause(self) -> None:
        """Pause (or resume) the assignment as the backlog phase asks; polling goes on, so the
        member stays in its group (max.poll.interval.ms) and serves its rebalances."""
        consumer = self.consumer
        want = consumers_paused(self.ctx)
        if consumer is None or (not want and not self.backlog_paused):
            return
        with contextlib.suppress(KafkaException, RuntimeError):
            parts = consumer.assignment()
            if not want:
                consumer.resume(parts)
                self.backlog_paused = set()
            elif {tp.partition for tp in parts} != self.backlog_paused:
                consumer.pause(parts)
                self.backlog_paused = {tp.partition for tp in parts}

    def poll_batch(self) -> int:
        """One non-blocking consume: every record into the ledger, riftdrill records of this
        run into the metrics, then store the offsets and commit if due. Returns records polled."""
        consumer = self.consumer
        if consumer is None:
            return 0
        msgs = consumer.consume(num_messages=1000, timeout=0)
        metrics = self.ctx.metrics
        start_ns = self.ctx.run_start_ns
        ledger = self.ledger
        log = ledger.poll if ledger is not None else None
        epoch = self.epoch
        unpack = HEADER.unpack_from
        crc32 = zlib.crc32
        touched: dict[int, int] = {}
        for m in msgs:
            err = m.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    self.environment.events.request.fire(
                        request_type="consume", name=self.topic, response_time=0,
                        response_length=0, exception=KafkaException(err), context={},
                    )  # fmt: skip
                continue
            value = m.value()
            partition = m.partition() or 0
            offset = m.offset() or 0
            now = time.time_ns()
            touched[partition] = offset + 1
            if value is not None and len(value) >= HEADER_SIZE and value[:4] == MAGIC:
                _, pid, seq, intended, crc = unpack(value)
                ok = crc32(memoryview(value)[HEADER_SIZE:]) == crc
                flags = 0 if ok else POLL_CORRUPT
                if intended < start_ns:
                    flags |= POLL_EARLIER_RUN
                else:
                    e2e_us = (now - intended) / 1000
                    metrics.consumed(e2e_us, ok)
                    if self.report_each:
                        self.environment.events.request.fire(
                            request_type="consume", name=self.topic, response_time=e2e_us / 1000,
                            response_length=len(value), exception=None, context={},
                        )  # fmt: skip
                if log is not None:
                    try:
                        log(0, partition, offset, epoch, pid, crc, seq, intended, now, flags)
                    except struct.error:  # a header no riftdrill producer wrote (ids out of range)
                        log(0, partition, offset, epoch, 0, 0, 0, 0, now, POLL_FOREIGN | flags)
            elif is_fence(value):
                assert value is not None
                nonce = fence_nonce(value)
                self.fences_polled.setdefault(partition, set()).add(nonce)
                if log is not None:
                    log(0, partition, offset, epoch, 0, crc32(nonce), 0, 0, now, POLL_FENCE)
            elif log is not None:
                log(0, partition, offset, epoch, 0, 0, 0, 0, now, POLL_FOREIGN)
        if touched:
            self.positions.update(touched)
            with contextlib.suppress(KafkaException):  # a partition revoked meanwhile
                consumer.store_offsets(offsets=[TopicPartition(self.topic, p, o)
                                                for p, o in touched.items()])  # fmt: skip
                self.uncommitted = True
        if self.uncommitted and time.monotonic() - self.last_commit >= COMMIT_INTERVAL_S:
            self._commit_async(consumer)
        if ledger is not None:
            ledger.maybe_flush()
        return len(msgs)

    # -- the end of a run ---------------------------------------------------------------------

    def unfenced(self, fences: FenceSet) -> list[int] | None:
        """The partitions this member owns that have not polled the run's fence (a partition
        it started past the fence counts as polled: a previous owner read it and committed
        beyond); [] when none (nothing assigned, after an assignment, too), None while a
        rebalance is under way (the next assignment decides)."""
        if not self.settled:
            return None
        at = fences.offsets.get(self.topic, {})
        out = []
        for p in sorted(self.assignment):
            if fences.nonce in self.fences_polled.get(p, ()):
                continue
            fence_offset = at.get(p)
            if fence_offset is None or self.started_at.get(p, -1) <= fence_offset:
                out.append(p)
        return out

    def group_behind(self, fences: FenceSet, timeout_s: float) -> list[int] | None:
        """The partitions of the topic whose group-committed offset is not yet past the fence
        ([]: some member read each partition through its fence and committed that); None when
        the ask got no answer (the drain asks again, until its deadline)."""
        at = fences.offsets.get(self.topic, {})
        consumer = self.consumer
        if consumer is None or not at:
            return None
        try:
            got = consumer.committed([TopicPartition(self.topic, p) for p in sorted(at)],
                                     timeout=timeout_s)  # fmt: skip
        except (KafkaException, RuntimeError):
            return None
        return partitions_behind(at, {tp.partition: tp.offset for tp in got
                                      if tp.error is None})  # fmt: skip

    def finish(self) -> None:
        """Final commit of everything processed (waits for its answer, at most
        FINAL_COMMIT_S), then close."""
        consumer = self.consumer
        if consumer is None:
            return
        with contextlib.suppress(KafkaException):
            consumer.pause(consumer.assignment())  # no new records while the commit settles
        deadline = time.monotonic() + FINAL_COMMIT_S
        self._commit_async(consumer)
        while time.monotonic() < deadline and (self.commits_answered < self.commits_asked
                                               or self.uncommitted):  # fmt: skip
            if self.uncommitted:
                self._commit_async(consumer)  # records that were already queued at the pause
            self.poll_batch()
            gevent.sleep(0.002)
        self.close()

    def on_stop(self) -> None:
        return None

    def close(self) -> None:
        if self.consumer is not None:
            self.closing = True  # on_revoke during close: the final commit is done already
            if self.ledger is not None:
                self.ledger.flush()  # close() can take CONSUMER_REQUEST_TIMEOUT_MS under a fault
            with contextlib.suppress(KafkaException, RuntimeError):
                self.consumer.close()
            self.consumer = None
        if self.ledger is not None:
            self.ledger.close()
            self.ledger = None


# Registered on Locust's global hooks at import, so a locustfile only has to import the users.
events.init_command_line_parser.add_listener(_add_options)  # type: ignore[no-untyped-call]
events.init.add_listener(_on_init)  # type: ignore[no-untyped-call]
events.test_start.add_listener(_on_test_start)  # type: ignore[no-untyped-call]
events.test_stop.add_listener(_on_test_stop)  # type: ignore[no-untyped-call]
events.quitting.add_listener(_on_quitting)  # type: ignore[no-untyped-call]
