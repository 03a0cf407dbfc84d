"""Chaos Toolkit probes (python provider, module `riftdrill.chaos.probes`).

Numbers (`p99_ack_latency_ms`, `consumer_lag`, `under_replicated_partitions`,
`offline_partitions`, `reachable_from`) for the journal, and booleans for steady-state
hypotheses (`tolerance: true`): `produce_succeeds`, `p99_ack_latency_within`,
`consumer_lag_within`, `no_offline_partitions`, `cluster_reachable`.

Latency and lag come from the drill's running load (its per-second metrics under
`<run dir>/load/workers`; the run dir comes from the run context in the experiment's
configuration, which Chaos Toolkit passes as the last argument `configuration`). Before the load
starts (the first hypothesis) there is no load: latency is then measured directly with
`DIRECT_SAMPLES` acks=all produces, and lag is 0.
Produce and reachability probes run from inside each cloud (its network namespace on the lab),
so a partition shows up as what a client in that cloud sees.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from riftdrill import inventory
from riftdrill.context import RunContext
from riftdrill.inventory import Inventory
from riftdrill.security.client import ClientSecurity, client_security

__all__ = [  # the probes `chaos discover riftdrill` lists
    "cluster_reachable", "consumer_lag", "consumer_lag_within", "no_offline_partitions",
    "offline_partitions", "p99_ack_latency_ms", "p99_ack_latency_within", "produce_succeeds",
    "reachable_from", "under_replicated_partitions", "verify_ledger",
]

PROBE_TOPIC = "riftdrill-probe"  # never the load's topic: verify would see foreign records
DIRECT_SAMPLES = 20


def _clouds(inv: Inventory, cloud: str | None) -> list[str]:
    return [inv.cloud(cloud).name] if cloud else [c.name for c in inv.clouds]


def _in_cloud(inv: Inventory, cloud: str, args: list[str], timeout_s: float,
              security: ClientSecurity) -> bool:
    """A client step inside `cloud` as `security`'s principal (given its client file's path:
    the child reads the password from it)."""
    ns = inv.cloud(cloud).namespace
    cmd = [sys.executable, "-m", "riftdrill.chaos._client", *args,
           *([security.file] if security.enabled else [])]
    if ns:
        cmd = ["ip", "netns", "exec", ns, *cmd]
    try:
        return subprocess.run(cmd, capture_output=True, timeout=timeout_s + 10).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _ensure_probe_topic(inv: Inventory, security: ClientSecurity) -> None:
    from riftdrill.load.kafka import ensure_topic

    for cluster in inv.clusters:
        first = cluster.clouds[0]
        ensure_topic(inv.bootstrap(first, cluster.name), PROBE_TOPIC, 1,
                     min(inv.replication_factor, len(cluster.brokers)), security=security)


def produce_succeeds(cloud: str | None = None, deadline_s: float | str = 10) -> bool:
    """One acks=all record is acknowledged within `deadline_s`, from each cloud (or `cloud`)."""
    inv = inventory.load()
    security = client_security(inv.security, "load")  # the application's view
    deadline = float(deadline_s)
    _ensure_probe_topic(inv, security)
    return all(_in_cloud(inv, c, ["produce", inv.bootstrap(c), PROBE_TOPIC, str(deadline)],
                         deadline, security) for c in _clouds(inv, cloud))


def reachable_from(cloud: str | None = None, timeout_s: float | str = 5) -> dict[str, bool]:
    """{cloud: the cluster answers a metadata request from inside that cloud}."""
    inv = inventory.load()
    security = client_security(inv.security, "load")
    t = float(timeout_s)
    return {c: _in_cloud(inv, c, ["reach", inv.bootstrap(c), str(t)], t, security)
            for c in _clouds(inv, cloud)}


def cluster_reachable(cloud: str | None = None, timeout_s: float | str = 5) -> bool:
    return all(reachable_from(cloud, timeout_s).values())


# ---- from the running load ---------------------------------------------------------------

_TAILS: dict[Path, Any] = {}  # run dir -> MetricsTail: probes poll once a second while settling


def _run_dir(configuration: dict[str, Any] | None) -> Path | None:
    ctx = RunContext.from_configuration(configuration)
    return ctx.run_dir if ctx is not None else None


def _load_seconds(window_s: float, run_dir: Path | None) -> list[dict[str, Any]]:
    """Per-process metric lines of the last `window_s` complete seconds of the drill's load."""
    from riftdrill.load import aggregate

    if run_dir is None or not (run_dir / "load" / "workers").is_dir():
        return []
    tail = _TAILS.setdefault(run_dir, aggregate.MetricsTail(run_dir / "load"))
    tail.poll()  # only what was written since the last call is read
    lines = tail.lines
    if not lines:
        return []
    last = max(int(d["t"]) for d in lines)
    return [d for d in lines if int(d["t"]) > last - window_s]


def _direct_p99_ms(samples: int = DIRECT_SAMPLES) -> float | None:
    from confluent_kafka import Producer

    inv = inventory.load()
    security = client_security(inv.security, "load")
    _ensure_probe_topic(inv, security)
    latencies: list[float] = []
    p = Producer({"bootstrap.servers": inv.bootstrap(inv.clouds[0].name), "acks": "all",
                  "linger.ms": 0, "message.timeout.ms": 10000, **security.librdkafka()})
    out: list[Any] = []
    for _ in range(samples):
        t0 = time.perf_counter()
        out.clear()
        p.produce(PROBE_TOPIC, b"p", on_delivery=lambda err, msg: out.append(err))
        p.flush(10)
        if out and out[0] is None:
            latencies.append((time.perf_counter() - t0) * 1000)
    if not latencies:
        return None
    latencies.sort()
    return round(latencies[max(0, -(-99 * len(latencies) // 100) - 1)], 3)


def p99_ack_latency_ms(window_s: float | str = 10,
                       configuration: dict[str, Any] | None = None) -> float | None:
    """p99 ack latency (ms) of the drill's load over its last `window_s` seconds; without a
    load, of DIRECT_SAMPLES sequential produces; None when nothing was acked."""
    lines = _load_seconds(float(window_s), _run_dir(configuration))
    return _p99_of(lines) if lines else _direct_p99_ms()


def _p99_of(lines: list[dict[str, Any]]) -> float | None:
    from riftdrill.load import histograms

    hist = histograms.merge(d["hist_us"]["ack_latency"] for d in lines)
    return histograms.percentile_ms(hist, 99)


def _eventually(check: Callable[[], bool], settle_s: float) -> bool:
    """True as soon as `check` holds, re-checked every second for up to `settle_s` seconds."""
    deadline = time.monotonic() + settle_s
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(1.0)


def silent_clouds(lines: list[dict[str, Any]]) -> list[str]:
    """Clouds whose load processes sent in these seconds and got no ack at all: a merged p99
    would be the other clouds' alone (Tansu's gcp half under the inter-region link)."""
    from riftdrill.load.aggregate import acked_clouds, line_cloud

    acked = acked_clouds(lines)
    return sorted({line_cloud(d) for d in lines if int(d.get("sent", 0))} - acked)


def p99_ack_latency_within(max_ms: float | str = 1000, window_s: float | str = 10,
                           settle_s: float | str = 0,
                           configuration: dict[str, Any] | None = None) -> bool:
    """p99 over the last `window_s` s is <= max_ms, and every cloud that sent got acks, now or
    within `settle_s` s (a backlog drained after a heal reads as seconds of latency until it is
    acked)."""
    def ok() -> bool:
        lines = _load_seconds(float(window_s), _run_dir(configuration))
        if silent_clouds(lines):
            return False
        p99 = _p99_of(lines) if lines else _direct_p99_ms()
        return p99 is not None and p99 <= float(max_ms)

    return _eventually(ok, float(settle_s))


def consumer_lag(window_s: float | str = 3,
                 configuration: dict[str, Any] | None = None) -> int:
    """The drill's consumer lag (records), latest report in the last seconds; 0 without a load."""
    lines = _load_seconds(float(window_s), _run_dir(configuration))
    if not lines:
        return 0
    last = max(int(d["t"]) for d in lines)
    return sum(int(d["lag"]) for d in lines if int(d["t"]) == last and d.get("lag") is not None)


def consumer_lag_within(max_records: int | str = 2000, window_s: float | str = 3,
                        settle_s: float | str = 0,
                        configuration: dict[str, Any] | None = None) -> bool:
    """Consumer lag <= max_records, now or within `settle_s` seconds."""
    return _eventually(lambda: consumer_lag(window_s, configuration) <= int(max_records),
                       float(settle_s))


# ---- partitions ------------------------------------------------------------------------

def _partitions(topic: str | None) -> list[Any]:
    from confluent_kafka.admin import AdminClient

    inv = inventory.load()
    security = client_security(inv.security, "verifier")  # describes, never writes
    parts: list[Any] = []
    for cluster in inv.clusters:
        admin = AdminClient({"bootstrap.servers": inv.bootstrap(cluster.clouds[0], cluster.name),
                             "socket.connection.setup.timeout.ms": 5000,
                             **security.librdkafka()})
        md = admin.list_topics(topic, timeout=10) if topic else admin.list_topics(timeout=10)
        for name, t in md.topics.items():
            if name.startswith("__"):
                continue
            parts.extend(t.partitions.values())
    return parts


# Engines whose brokers keep no replicas: the log is in object storage, so there is no ISR.
STATELESS_ENGINES = ("tansu",)


def under_replicated_partitions(topic: str | None = None) -> int | str:
    """Partitions whose ISR is smaller than their replica set (every topic, or `topic`).

    On a stateless engine the answer would be a constant 0 that looks like a healthy ISR: it
    says so instead.
    """
    engine = inventory.load().engine
    if engine in STATELESS_ENGINES:
        return f"not applicable: {engine} brokers keep no replicas (the log is in object storage)"
    return sum(1 for p in _partitions(topic or None) if len(p.isrs) < len(p.replicas))


def offline_partitions(topic: str | None = None) -> int:
    """Partitions without a leader."""
    return sum(1 for p in _partitions(topic or None) if p.leader < 0)


def no_offline_partitions(topic: str | None = None) -> bool:
    return offline_partitions(topic) == 0


def verify_ledger(configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Replay the drill's topics against its ledgers (after stop_load); counts per anomaly."""
    from riftdrill.drivers import redactor_for
    from riftdrill.load.remote import is_remote
    from riftdrill.verify.remote import verify_on_vms
    from riftdrill.verify.verifier import verify_run

    run_dir = _run_dir(configuration)
    if run_dir is None:
        return {"passed": False, "reason": "no drill run directory (configuration run_dir; "
                "declare the riftdrill control or run it with `riftdrill drill`)"}
    inv = inventory.load()
    report = verify_on_vms(run_dir, inv) if is_remote(inv) else verify_run(run_dir, inv)
    report.write(run_dir, redactor_for(inv))
    return {"passed": report.passed, "counts": report.totals}
