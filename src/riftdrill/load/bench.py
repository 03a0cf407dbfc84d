"""`make bench` for the load side: riftdrill's producer against Kafka's own perf tool.

Same topic settings for both (1 KiB records, acks=all, 6 partitions, linger 5 ms, batch 64 KiB),
one after the other, from the same place (the first cloud's namespace). Writes
results/bench/load.json: msgs/s of each and their ratio, the ledger's overhead, and the highest
rate one riftdrill process sustains with p99 publish delay under 5 ms.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from riftdrill import paths
from riftdrill.errors import SetupError
from riftdrill.inventory import Inventory
from riftdrill.load import kafka
from riftdrill.load.overhead import paired_overhead
from riftdrill.load.runner import run_load
from riftdrill.load.spec import LoadSpec
from riftdrill.security.client import OFF, ClientSecurity, client_security
from riftdrill.security.diagnose import security_failure

TOPIC = "riftdrill-bench"
SIZE_BYTES = 1024
PARTITIONS = 6
PERF_RECORDS = 300_000
THROUGHPUT_S = 10.0
SEARCH_S = 6.0
PUBLISH_DELAY_GOAL_MS = 5.0
_PERF_LINE = re.compile(r"(\d+) records sent, ([\d.]+) records/sec .*?([\d.]+) ms avg latency, "
                        r"([\d.]+) ms max latency")  # fmt: skip
_PERF_PCT = re.compile(r"([\d.]+) ms 50th, ([\d.]+) ms 95th, ([\d.]+) ms 99th, ([\d.]+) ms 99.9th")


def kafka_libs() -> Path:
    """Kafka's jars: RIFTDRILL_KAFKA_LIBS, else the newest kafka-*/libs in the riftdrill cache."""
    env = os.environ.get("RIFTDRILL_KAFKA_LIBS")
    candidates = [Path(env)] if env else sorted(paths.cache_dir().glob("kafka-*/libs"))
    for c in reversed(candidates):
        if any(c.glob("kafka-tools-*.jar")):
            return c
    raise SetupError("Kafka jars not found (kafka-tools-*.jar); run `make setup` "
                     "or set RIFTDRILL_KAFKA_LIBS")  # fmt: skip


def _in_cloud(inv: Inventory, cloud: str, cmd: list[str]) -> list[str]:
    ns = inv.cloud(cloud).namespace
    return ["ip", "netns", "exec", ns, *cmd] if ns else cmd


def run_kafka_perf(inv: Inventory, cloud: str, records: int = PERF_RECORDS,
                   security: ClientSecurity = OFF) -> dict[str, Any]:
    """org.apache.kafka.tools.ProducerPerformance, as fast as it goes, same producer settings
    (and principal: its settings in a 0600 file, never on the command line)."""
    config = ["--producer.config", str(security.java_config_file())] if security.enabled else []
    cmd = _in_cloud(inv, cloud, [
        "java", "-Xmx512m", "-cp", f"{kafka_libs()}/*",
        "-Dlog4j2.configurationFile=" + str(paths.project_root() / "infra/templates/kafka/log4j2.properties"),
        "org.apache.kafka.tools.ProducerPerformance", "--topic", TOPIC,
        "--num-records", str(records), "--record-size", str(SIZE_BYTES), "--throughput", "-1",
        "--producer-props", f"bootstrap.servers={inv.bootstrap(cloud)}", "acks=all",
        "linger.ms=5", "batch.size=65536", *config,
    ])  # fmt: skip
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    last = [ln for ln in proc.stdout.splitlines() if _PERF_LINE.search(ln)]
    if proc.returncode != 0 or not last:
        refused = security_failure([proc.stdout + proc.stderr], security, inv.bootstrap(cloud))
        if refused is not None:
            raise refused
        raise SetupError(f"kafka-producer-perf-test failed: {(proc.stderr or proc.stdout)[-400:]}")
    m = _PERF_LINE.search(last[-1])
    pct = _PERF_PCT.search(last[-1])
    assert m is not None
    return {
        "records": int(m.group(1)),
        "msgs_per_s": float(m.group(2)),
        "latency_avg_ms": float(m.group(3)),
        "latency_max_ms": float(m.group(4)),
        "latency_p99_ms": float(pct.group(3)) if pct else None,
        "wall_s": round(time.monotonic() - t0, 1),
        "summary_line": last[-1].strip(),
    }


def _steady_acks_per_s(run_dir: Path) -> float:
    """Mean acks/s over whole seconds (first and last, partial, seconds left out)."""
    timeline = json.loads((run_dir / "load" / "timeline.json").read_text())
    acked = [r["acked"] for r in timeline if r["sent"] or r["acked"]]
    inner = acked[1:-1] if len(acked) >= 3 else acked
    return sum(inner) / len(inner) if inner else 0.0


def _riftdrill_run(inv: Inventory, cloud: str, work: Path, name: str, rate: float,
                   duration_s: float, ledger: bool = True) -> dict[str, Any]:  # fmt: skip
    spec = LoadSpec(
        rate_per_s=rate, duration_s=duration_s, size_bytes=SIZE_BYTES, topic=TOPIC,
        partitions=PARTITIONS, acks="all", linger_ms=5, batch_size=65536, keys="none",
        placement=[cloud], consumers=False, ledger=ledger,
    )  # fmt: skip
    res = run_load(spec, work / name, inv, progress=False)
    return {
        "target_rate_per_s": rate,
        "duration_s": duration_s,
        "ledger": ledger,
        "acked": res.acked,
        "failed": res.failed,
        "msgs_per_s": round(_steady_acks_per_s(work / name), 1),
        "ack_latency_p99_ms": res.ack_latency_ms["p99"],
        "publish_delay_p99_ms": res.publish_delay_ms["p99"],
    }


LEDGER_PAIRS = 3


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return sorted(runs, key=lambda r: float(r["msgs_per_s"]))[len(runs) // 2]


def run_bench(inv: Inventory, out_path: Path, cloud: str | None = None) -> dict[str, Any]:
    """Run the load benchmark and write `out_path` (results/bench/load.json)."""
    cloud = cloud or inv.clouds[0].name
    security = client_security(inv.security, "load")
    kafka.check_reachable(inv.bootstrap(cloud), security=security)
    kafka.ensure_topic(inv.bootstrap(cloud), TOPIC, PARTITIONS, inv.replication_factor,
                       security=security)
    runs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="riftdrill-bench-") as tmp:
        work = Path(tmp)
        runs["kafka_perf"] = run_kafka_perf(inv, cloud, security=security)
        flat_out = 1_000_000.0  # far above capacity: the process sends as fast as it can
        # Ledger on/off in alternating pairs, each pair's own overhead (load/overhead.py): a
        # single pair on a busy 2-core machine mostly measured which run came first.
        with_ledger: list[dict[str, Any]] = []
        without: list[dict[str, Any]] = []
        for i in range(LEDGER_PAIRS):
            order = [True, False] if i % 2 == 0 else [False, True]
            for ledger in order:
                r = _riftdrill_run(inv, cloud, work, f"{'max' if ledger else 'noledger'}-{i}",
                                   flat_out, THROUGHPUT_S, ledger=ledger)
                (with_ledger if ledger else without).append(r)
        runs["riftdrill"] = _median_run(with_ledger)
        runs["riftdrill_no_ledger"] = _median_run(without)
        runs["ledger_pairs"] = {"with": [r["msgs_per_s"] for r in with_ledger],
                                "without": [r["msgs_per_s"] for r in without]}
        # Highest rate with p99 publish delay < 5 ms: bisect between 0 and the flat-out rate.
        lo, hi = 0.0, max(runs["riftdrill"]["msgs_per_s"], 100.0)
        search = []
        for i in range(4):
            rate = round(hi if i == 0 else (lo + hi) / 2, -1)
            r = _riftdrill_run(inv, cloud, work, f"search-{i}", rate, SEARCH_S)
            ok = (r["publish_delay_p99_ms"] is not None
                  and r["publish_delay_p99_ms"] < PUBLISH_DELAY_GOAL_MS
                  and r["acked"] >= 0.99 * rate * SEARCH_S)  # fmt: skip
            search.append({**r, "ok": ok})
            if ok:
                lo = rate
                if i == 0:
                    break
            else:
                hi = rate
    ours = runs["riftdrill"]["msgs_per_s"]
    theirs = runs["kafka_perf"]["msgs_per_s"]
    pairs = runs["ledger_pairs"]
    overhead = paired_overhead(pairs["with"], pairs["without"]) if all(pairs["without"]) else None
    result = {
        "bench": "load",
        "at": datetime.now(UTC).isoformat(),
        "cloud": cloud,
        "bootstrap": inv.bootstrap(cloud),
        "settings": {"size_bytes": SIZE_BYTES, "acks": "all", "partitions": PARTITIONS,
                     "replication_factor": inv.replication_factor, "linger_ms": 5,
                     "batch_size": 65536},
        "riftdrill_msgs_per_s": ours,
        "kafka_perf_msgs_per_s": theirs,
        "ratio": round(ours / theirs, 3) if theirs else None,
        "ratio_goal": 0.5,
        # the median of the pairs' own overheads; the pairs and their spread beside it
        "ledger_overhead": overhead.median if overhead else None,
        "ledger_overhead_paired": overhead.model_dump() if overhead else None,
        "ledger_overhead_goal": 0.10,
        "max_rate_p99_publish_delay_under_5ms": lo,
        "runs": runs,
        "search": search,
        "note": "one after the other on a shared machine; see docs/load.md",
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=1) + "\n")
    return result


def main() -> None:
    from riftdrill import inventory

    res = run_bench(inventory.load(), paths.results_dir() / "bench" / "load.json")
    print(json.dumps({k: v for k, v in res.items() if k not in ("runs", "search")}, indent=1))


if __name__ == "__main__":
    main()
