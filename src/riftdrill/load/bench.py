"""`make bench` for the load side: riftdrill's producer against Kafka's own perf tool.

Same topic and producer settings for both (1 KiB records, acks=all, idempotence on, 6
partitions, linger 5 ms, batch 64 KiB), one after the other, from the same place (the first
cloud's namespace), measured the same way (load/likeforlike.py): the highest rate each sustains
with p99 publish delay under 5 ms, and acks/s at saturation over the same kind of window, in
rounds whose order alternates. Writes results/bench/load.json: those figures per round, their
ratios with the spread, and the ledger's paired overhead.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from riftdrill import paths
from riftdrill.errors import SetupError
from riftdrill.inventory import Inventory
from riftdrill.load import kafka
from riftdrill.load import likeforlike as lff
from riftdrill.load.overhead import paired_overhead
from riftdrill.load.runner import run_load
from riftdrill.load.spec import LoadSpec
from riftdrill.security.client import ClientSecurity, client_security
from riftdrill.security.diagnose import security_failure

TOPIC = "riftdrill-bench"
SIZE_BYTES = 1024
PARTITIONS = 6
THROUGHPUT_S = 10.0
TRIAL_S = 8.0  # one like-for-like trial at a fixed rate (the first second not judged)
SATURATION_S = 12.0  # riftdrill flat out; ProducerPerformance gets records for about as long
SATURATION_RECORDS = 300_000
FLAT_OUT_PER_S = 1_000_000.0  # far above capacity: the process sends as fast as it can
LFL_ROUNDS = 3
LFL_STEPS = 5
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


def _perf_argv(inv: Inventory, cloud: str, security: ClientSecurity, records: int,
               throughput: float) -> list[str]:
    """ProducerPerformance with riftdrill's idempotent profile: acks=all, idempotence on (its
    default too, written out), linger 5 ms, batch 64 KiB; a report line every second."""
    config = ["--producer.config", str(security.java_config_file())] if security.enabled else []
    return _in_cloud(inv, cloud, [
        "java", "-Xmx512m", "-cp", f"{kafka_libs()}/*",
        "-Dlog4j2.configurationFile=" + str(paths.project_root() / "infra/templates/kafka/log4j2.properties"),
        "org.apache.kafka.tools.ProducerPerformance", "--topic", TOPIC,
        "--num-records", str(records), "--record-size", str(SIZE_BYTES),
        "--throughput", str(int(throughput)), "--reporting-interval", "1000",
        "--producer-props", f"bootstrap.servers={inv.bootstrap(cloud)}", "acks=all",
        "enable.idempotence=true", "linger.ms=5", "batch.size=65536", *config,
    ])  # fmt: skip


def _run_perf(inv: Inventory, cloud: str, security: ClientSecurity, records: int,
              throughput: float) -> list[str]:
    """Its output lines; the whole-run summary line is the last that matches."""
    proc = subprocess.run(_perf_argv(inv, cloud, security, records, throughput),
                          capture_output=True, text=True, timeout=300)
    lines = [ln for ln in proc.stdout.splitlines() if _PERF_LINE.search(ln)]
    if proc.returncode != 0 or not lines:
        refused = security_failure([proc.stdout + proc.stderr], security, inv.bootstrap(cloud))
        if refused is not None:
            raise refused
        raise SetupError(f"kafka-producer-perf-test failed: {(proc.stderr or proc.stdout)[-400:]}")
    return lines


def _window_rates(lines: list[str]) -> list[float]:
    """ProducerPerformance's per-interval lines (acks counted in their callbacks), without its
    final whole-run line."""
    return [float(m.group(2)) for ln in lines[:-1] if (m := _PERF_LINE.search(ln))]


def _reader(bootstrap: str, security: ClientSecurity) -> Any:
    from confluent_kafka import Consumer

    return Consumer({"bootstrap.servers": bootstrap, "group.id": "riftdrill-bench-readback",
                     "enable.auto.commit": False, "fetch.max.bytes": 64 << 20,
                     **security.librdkafka()})


def _ends(c: Any, timeout_s: float = 30.0) -> dict[int, int]:
    """Each partition's end offset. A broker whose metadata lags the topic's creation answers
    "unknown partition" for a moment, the client's own (_UNKNOWN_PARTITION) or the leader's
    (UNKNOWN_TOPIC_OR_PART: CI's like-for-like met it after ensure_topic saw every leader):
    asked again until `timeout_s`."""
    from confluent_kafka import KafkaError, KafkaException, TopicPartition

    not_yet = (KafkaError._UNKNOWN_PARTITION, KafkaError.UNKNOWN_TOPIC_OR_PART)
    deadline = time.monotonic() + timeout_s
    ends: dict[int, int] = {}
    for p in range(PARTITIONS):
        while True:
            try:
                ends[p] = c.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10.0)[1]
                break
            except KafkaException as exc:
                if exc.args[0].code() not in not_yet or time.monotonic() >= deadline:
                    raise
                time.sleep(0.5)
    return ends


def _end_offsets(bootstrap: str, security: ClientSecurity) -> dict[int, int]:
    c = _reader(bootstrap, security)
    try:
        return _ends(c)
    finally:
        c.close()


def _create_times_ms(bootstrap: str, security: ClientSecurity, since: dict[int, int],
                     timeout_s: float = 120.0) -> list[int]:
    """The CreateTime of every record written after `since` (per-partition offsets), read back
    up to the partitions' current ends: when each one's send call took it."""
    from confluent_kafka import TopicPartition

    c = _reader(bootstrap, security)
    out: list[int] = []
    try:
        until = _ends(c)
        todo = {p for p in range(PARTITIONS) if until[p] > since.get(p, 0)}
        c.assign([TopicPartition(TOPIC, p, since.get(p, 0)) for p in todo])
        deadline = time.monotonic() + timeout_s
        while todo and time.monotonic() < deadline:
            for m in c.consume(num_messages=10_000, timeout=1.0):
                if m.error():
                    continue
                p, off = m.partition(), m.offset()
                if off is None or p is None or off >= until[p]:
                    continue
                out.append(m.timestamp()[1])
                if off + 1 >= until[p]:
                    todo.discard(p)
    finally:
        c.close()
    return out


def children_cpu_s() -> float:
    """CPU seconds of every child process this one has waited for (user + system)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _trial(tool: lff.Tool, rate: float, duration_s: float, times_ms: list[int],
           acked_per_s: float | None, own_ack_p99_ms: float | None,
           own_delay_p99_ms: float | None = None,
           own_delay_max_ms: float | None = None, cpu_s: float | None = None,
           generator: dict[str, Any] | None = None) -> lff.Trial:
    due = int(rate * duration_s)
    # riftdrill ends a run with a fence record per partition (load/fence.py), after the last
    # scheduled one: not part of the schedule
    delays = lff.publish_delays_ms(sorted(times_ms)[:due], rate, early_ms=lff.EARLY_MS[tool])
    return lff.Trial(tool=tool, target_rate_per_s=rate, duration_s=duration_s,
                     due=due, read_back=len(times_ms),
                     publish_delay_p99_ms=lff.quantile(delays, 0.99),
                     publish_delay_max_ms=max(delays) if delays else None,
                     acked_per_s=acked_per_s, own_publish_delay_p99_ms=own_delay_p99_ms,
                     own_publish_delay_max_ms=own_delay_max_ms,
                     own_ack_latency_p99_ms=own_ack_p99_ms,
                     tool_cpu_s=None if cpu_s is None else round(cpu_s, 3),
                     generator_wait_s=(generator or {}).get("main_wait_s"),
                     generator_starved_seconds=(generator or {}).get("starved_seconds"))


def perf_trial(inv: Inventory, cloud: str, security: ClientSecurity, rate: float,
               duration_s: float) -> lff.Trial:
    """ProducerPerformance at `rate` for `duration_s`, judged from the topic."""
    bootstrap = inv.bootstrap(cloud)
    since = _end_offsets(bootstrap, security)
    cpu0 = children_cpu_s()
    lines = _run_perf(inv, cloud, security, int(rate * duration_s), rate)
    cpu_s = children_cpu_s() - cpu0
    pct = _PERF_PCT.search(lines[-1])
    return _trial("kafka_perf", rate, duration_s, _create_times_ms(bootstrap, security, since),
                  lff.steady_rate(_window_rates(lines)), float(pct.group(3)) if pct else None,
                  cpu_s=cpu_s)


def riftdrill_trial(inv: Inventory, cloud: str, security: ClientSecurity, work: Path,
                    name: str, rate: float, duration_s: float) -> lff.Trial:
    """One riftdrill producer at `rate` for `duration_s`, judged from the topic; its own p99
    publish delay beside (the same quantity from its ledger's clock, to the microsecond)."""
    bootstrap = inv.bootstrap(cloud)
    since = _end_offsets(bootstrap, security)
    cpu0 = children_cpu_s()
    r = _riftdrill_run(inv, cloud, work, name, rate, duration_s, ledger=False)
    cpu_s = children_cpu_s() - cpu0
    return _trial("riftdrill", rate, duration_s, _create_times_ms(bootstrap, security, since),
                  lff.steady_rate(_acks_per_second(work / name)), r["ack_latency_p99_ms"],
                  r["publish_delay_p99_ms"], r["publish_delay_max_ms"], cpu_s=cpu_s,
                  generator=r["generator"])


def perf_saturation(inv: Inventory, cloud: str, security: ClientSecurity) -> float | None:
    return lff.steady_rate(_window_rates(_run_perf(inv, cloud, security, SATURATION_RECORDS, -1)))


def riftdrill_saturation(inv: Inventory, cloud: str, work: Path, name: str) -> float | None:
    _riftdrill_run(inv, cloud, work, name, FLAT_OUT_PER_S, SATURATION_S, ledger=False)
    return lff.steady_rate(_acks_per_second(work / name))


def like_for_like(inv: Inventory, cloud: str, security: ClientSecurity, work: Path,
                  rounds: int, steps: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """`rounds` rounds, the tools' order alternating: each round measures both tools'
    saturation, then bisects each one's highest rate with p99 publish delay under 5 ms."""
    saturation: dict[str, list[float]] = {t: [] for t in lff.TOOLS}
    best: dict[str, list[float]] = {t: [] for t in lff.TOOLS}
    searches: list[dict[str, Any]] = []
    found_all: list[lff.Search] = []
    for k in range(rounds):
        order = lff.TOOLS if k % 2 == 0 else lff.TOOLS[::-1]
        for tool in order:
            progress(f"round {k + 1}/{rounds}: {tool} at saturation")
            sat = (riftdrill_saturation(inv, cloud, work, f"sat-{k}") if tool == "riftdrill"
                   else perf_saturation(inv, cloud, security))
            saturation[tool].append(sat or 0.0)
        for tool in order:
            ceiling = max(round((saturation[tool][-1] or 1000.0) / 100) * 100, 100.0)

            def run(rate: float, tool: lff.Tool = tool, k: int = k) -> lff.Trial:
                progress(f"round {k + 1}/{rounds}: {tool} at {rate:g}/s")
                if tool == "riftdrill":
                    return riftdrill_trial(inv, cloud, security, work, f"lfl-{k}-{rate:g}",
                                           rate, TRIAL_S)
                return perf_trial(inv, cloud, security, rate, TRIAL_S)

            found = lff.search_max_rate(tool, run, ceiling, steps)
            found_all.append(found)
            best[tool].append(found.best_per_s)
            searches.append({"round": k + 1, **asdict(found)})
    return {
        "method": ("both tools in turn on the same topic, order alternating by round; publish "
                   "delay = each record's CreateTime (its send call) minus its due time on the "
                   "uniform schedule, read back from the topic; the schedule starts at the "
                   "latest time the records allow (riftdrill never sends early, "
                   f"ProducerPerformance's throttler up to {lff.EARLY_MS['kafka_perf']:g} ms); "
                   f"records due in the first {lff.WARMUP_S:g} s after a tool's first send not "
                   "judged; a rate passes with p99 under "
                   f"{lff.PUBLISH_DELAY_GOAL_MS:g} ms and at least {lff.DELIVERED_MIN:.1%} of "
                   "its records in the topic; saturation = mean acks/s of the 1-s windows, "
                   "first and last left out, for both"),
        "trial_s": TRIAL_S, "saturation_s": SATURATION_S, "rounds": rounds, "steps": steps,
        "max_sustainable_rate": {"riftdrill": best["riftdrill"], "kafka_perf": best["kafka_perf"],
                                 "ratio": asdict(lff.ratios(best["riftdrill"],
                                                                 best["kafka_perf"]))},
        "saturation": {"riftdrill": saturation["riftdrill"],
                       "kafka_perf": saturation["kafka_perf"],
                       "ratio": asdict(lff.ratios(saturation["riftdrill"],
                                                       saturation["kafka_perf"]))},
        "ratio_goal": 1.0,
        # each tool's process CPU per record over its trials (start-up included; the same
        # records, the same cluster): where a tool's send loop is late under the shared CPU
        "cpu_us_per_record": lff.cpu_per_record(found_all),
        "searches": searches,
    }


def _acks_per_second(run_dir: Path) -> list[float]:
    timeline = json.loads((run_dir / "load" / "timeline.json").read_text())
    return [float(r["acked"]) for r in timeline if r["sent"] or r["acked"]]


def _steady_acks_per_s(run_dir: Path) -> float:
    """Mean acks/s over whole seconds (first and last, partial, seconds left out; all of them
    in a run too short for that)."""
    acked = _acks_per_second(run_dir)
    steady = lff.steady_rate(acked)
    return steady if steady is not None else (sum(acked) / len(acked) if acked else 0.0)


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
        "publish_delay_max_ms": res.publish_delay_ms.get("max"),
        "generator": res.generator,
    }


LEDGER_PAIRS = 3


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return sorted(runs, key=lambda r: float(r["msgs_per_s"]))[len(runs) // 2]


def run_bench(inv: Inventory, out_path: Path, cloud: str | None = None,
              rounds: int = LFL_ROUNDS, steps: int = LFL_STEPS,
              progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the load benchmark and write `out_path` (results/bench/load.json)."""
    cloud = cloud or inv.clouds[0].name
    say = progress or (lambda line: print(f"bench load: {line}", file=sys.stderr, flush=True))
    security = client_security(inv.security, "load")
    kafka.check_reachable(inv.bootstrap(cloud), security=security)
    kafka.ensure_topic(inv.bootstrap(cloud), TOPIC, PARTITIONS, inv.replication_factor,
                       security=security)
    runs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="riftdrill-bench-") as tmp:
        work = Path(tmp)
        lfl = like_for_like(inv, cloud, security, work, rounds, steps, say)
        # Ledger on/off in alternating pairs, each pair's own overhead (load/overhead.py): a
        # single pair on a busy 2-core machine mostly measured which run came first.
        with_ledger: list[dict[str, Any]] = []
        without: list[dict[str, Any]] = []
        for i in range(LEDGER_PAIRS):
            order = [True, False] if i % 2 == 0 else [False, True]
            for ledger in order:
                say(f"ledger pair {i + 1}/{LEDGER_PAIRS}: ledger {'on' if ledger else 'off'}")
                r = _riftdrill_run(inv, cloud, work, f"{'max' if ledger else 'noledger'}-{i}",
                                   FLAT_OUT_PER_S, THROUGHPUT_S, ledger=ledger)
                (with_ledger if ledger else without).append(r)
        runs["riftdrill"] = _median_run(with_ledger)
        runs["riftdrill_no_ledger"] = _median_run(without)
        runs["ledger_pairs"] = {"with": [r["msgs_per_s"] for r in with_ledger],
                                "without": [r["msgs_per_s"] for r in without]}
    pairs = runs["ledger_pairs"]
    overhead = paired_overhead(pairs["with"], pairs["without"]) if all(pairs["without"]) else None
    result = {
        "bench": "load",
        "at": datetime.now(UTC).isoformat(),
        "cloud": cloud,
        "bootstrap": inv.bootstrap(cloud),
        "lab": {"engine": inv.engine, "topology": inv.topology,
                "wan": [lk.wan for lk in inv.links],
                "security": inv.security.mode},
        "settings": {"size_bytes": SIZE_BYTES, "acks": "all", "idempotence": True,
                     "partitions": PARTITIONS, "replication_factor": inv.replication_factor,
                     "linger_ms": 5, "batch_size": 65536},
        # riftdrill / ProducerPerformance, like for like (load/likeforlike.py): the median of
        # the rounds' ratios; the rounds, the spread and every trial in like_for_like
        "max_rate_ratio": lfl["max_sustainable_rate"]["ratio"]["median"],
        "saturation_ratio": lfl["saturation"]["ratio"]["median"],
        "ratio_goal": 1.0,
        "like_for_like": lfl,
        "riftdrill_msgs_per_s": runs["riftdrill"]["msgs_per_s"],  # flat out, ledger on
        # the median of the pairs' own overheads; the pairs and their spread beside it
        "ledger_overhead": overhead.median if overhead else None,
        "ledger_overhead_paired": overhead.model_dump() if overhead else None,
        "ledger_overhead_goal": 0.05,
        "runs": runs,
        "note": "one tool after the other on a shared 2-core machine; see docs/load.md",
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=1) + "\n")
    return result


def main() -> None:
    from riftdrill import inventory

    res = run_bench(inventory.load(), paths.results_dir() / "bench" / "load.json")
    print(json.dumps({k: v for k, v in res.items() if k not in ("runs", "like_for_like")},
                     indent=1))


if __name__ == "__main__":
    main()
