"""`make bench`: every benchmark, each writing results/bench/<name>.json.

Benchmarks measure; tests assert. Goals are recorded next to the figures so a reader sees both.
`python -m riftdrill.bench [lab load verify drill]` runs a subset.
"""

from __future__ import annotations

import importlib
import json
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from riftdrill import inventory, paths
from riftdrill.deploy import ENGINES, DeploySpec, destroy, one_security
from riftdrill.deploy import deploy_lab as deploy
from riftdrill.host import host_facts
from riftdrill.lab import net


def lab_rss_bytes() -> int:
    """Resident memory of every process inside the lab's namespaces."""
    total = 0
    for ns in ("rd-aws", "rd-gcp", "rd-wan"):
        for pid in net.namespace_pids(ns):
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            except OSError:
                continue
    return total


class _PeakRss:
    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, lab_rss_bytes())
            self._stop.wait(0.5)

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, lab_rss_bytes())


def bench_lab(out: Path) -> dict[str, Any]:
    """Warm-cache deploy of the default lab until a round trip succeeds, then destroy."""
    from riftdrill.lab.health import round_trip
    from riftdrill.security.client import client_security

    destroy()
    runs = []
    for _ in range(2):
        with _PeakRss() as rss:
            started = time.monotonic()
            inv = deploy(DeploySpec())
            admin = client_security(inv.security, "broker")  # the lab's own check
            for cloud in inv.clouds:
                round_trip(inv.bootstrap(cloud.name), inv.replication_factor, security=admin)
            deploy_s = time.monotonic() - started
        started = time.monotonic()
        destroy()
        runs.append({"deploy_s": round(deploy_s, 1), "destroy_s": round(time.monotonic() - started, 1),
                     "peak_lab_rss_gib": round(rss.peak / 2**30, 2)})
    result = {
        "deploy_s": min(r["deploy_s"] for r in runs),
        "destroy_s": min(r["destroy_s"] for r in runs),
        "peak_lab_rss_gib": max(r["peak_lab_rss_gib"] for r in runs),
        "runs": runs,
        "goals": {"deploy_s": 60, "destroy_s": 15, "peak_lab_rss_gib": 6},
        "lab": "stretched kafka 4.4.0, 2 brokers per cloud (combined KRaft nodes), moto S3, fake-gcs",
        "wan": bench_wan(deploy(DeploySpec())),
    }
    return result


_SINK = """
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 19997)); s.listen(1); s.settimeout(30); print("ready", flush=True)
c, _ = s.accept(); c.settimeout(30); n = 0; b = bytearray(1 << 20); t = time.monotonic()
while True:
    k = c.recv_into(b)
    if not k: break
    n += k
print(n, time.monotonic() - t)
"""
_SOURCE = """
import socket, sys, time
c = socket.create_connection((sys.argv[1], 19997), timeout=30); b = b"x" * (1 << 16)
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end: c.sendall(b)
c.close()
"""


def _throughput_mbit_s(src_ns: str, dst_ns: str, dst_address: str, seconds: float = 3.0) -> float:
    """One TCP stream from one cloud to the other for `seconds`, as the receiver counted it."""
    import subprocess
    import sys

    sink = subprocess.Popen(["ip", "netns", "exec", dst_ns, sys.executable, "-c", _SINK,
                             dst_address], stdout=subprocess.PIPE, text=True)
    try:
        assert sink.stdout is not None
        assert sink.stdout.readline().strip() == "ready"
        subprocess.run(["ip", "netns", "exec", src_ns, sys.executable, "-c", _SOURCE, dst_address,
                        str(seconds)], check=True, timeout=seconds + 30)
        received, took_s = sink.communicate(timeout=30)[0].split()
    finally:
        if sink.poll() is None:
            sink.kill()
    return round(int(received) * 8 / float(took_s) / 1e6, 1)


def bench_wan(inv: inventory.Inventory, trials: int = 3) -> dict[str, Any]:
    """The link's emulator and what it costs: the measured round trip, and the throughput of
    one TCP stream aws -> gcp with the deployed weather, with the emulator in the path but no
    weather, and with the emulator bypassed (kernel forwarding only), `trials` times each."""
    import statistics

    from riftdrill.drivers.local import LocalDriver
    from riftdrill.lab import components, net, wan

    lk = inv.links[0]
    a, b = inv.cloud(lk.a), inv.cloud(lk.b)
    assert a.namespace is not None and b.namespace is not None
    dst = str(net.CloudNet(b.name, b.namespace, b.cidr, 2).gateway)
    sock = components.wan_socket(lk.name)
    # the two policy-routing rules of net.wan_tun_up: without them the kernel forwards directly
    rules = [("iif", net.CloudNet(c, "", "", 1).wan_veth, "lookup", table)
             for c, table in ((lk.a, "100"), (lk.b, "101"))]

    def series() -> list[float]:
        return [_throughput_mbit_s(a.namespace or "", b.namespace or "", dst)
                for _ in range(trials)]

    out: dict[str, Any] = {"profile": lk.wan, "weather": wan.from_json(lk.model_dump()).describe(),
                           "rtt_ms": LocalDriver().link_rtt(inv, lk.name)}
    with_weather = series()
    try:
        wan.set_weather(sock, wan.WanProfile().both())
        no_weather = series()
        for r in rules:
            net.run(["ip", "-n", net.WAN_NS, "rule", "del", *r])
        try:
            bypassed = series()
        finally:
            for r in rules:
                net.run(["ip", "-n", net.WAN_NS, "rule", "add", *r])
    finally:
        wan.reset_weather(sock)
    for name, values in (("deployed_weather", with_weather), ("emulator_no_weather", no_weather),
                         ("bypassed", bypassed)):
        out[f"{name}_mbit_s"] = statistics.median(values)
        out[f"{name}_runs_mbit_s"] = values
    out["emulator_cost_pct"] = round(
        100 * (1 - out["emulator_no_weather_mbit_s"] / out["bypassed_mbit_s"]), 1)
    out["how"] = (f"one TCP stream {lk.a} -> {lk.b} for 3 s, median of {trials}; the emulator "
                  "bypassed by deleting its two policy-routing rules for the measurement")
    return out


def _ensure_lab() -> inventory.Inventory:
    return deploy(DeploySpec())


def bench_load(out: Path) -> dict[str, Any]:
    """On a lab without WAN weather: it compares load generators, and across the emulated
    inter-region link the cluster acked ~2500 msgs/s for either tool, whatever it could send."""
    from riftdrill.load.bench import run_bench

    return run_bench(deploy(DeploySpec(wan="none")), out)


def bench_verify(out: Path) -> dict[str, Any]:
    """The checker alone, then end to end on the lab (both into one verify.json)."""
    from riftdrill.verify.bench import run_bench, run_end_to_end

    figures = dict(run_bench(out))
    figures.update(run_end_to_end(_ensure_lab()))
    out.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


def bench_drill(out: Path) -> dict[str, Any]:
    _ensure_lab()
    module = importlib.import_module("riftdrill.chaos.bench")
    return dict(module.run_bench(out))


WARMUP_S = 30


def bench_engines(out: Path, rate_per_s: float = 1000, duration_s: float = 30) -> dict[str, Any]:
    """The same open-model load (1 KiB, acks=all, 6 partitions) on each engine, plus the time
    to replace a broker with a fresh, empty one."""
    import tempfile

    from riftdrill.compare import replace_broker
    from riftdrill.load.runner import LoadSpec, run_load

    engines: dict[str, Any] = {}
    # Like with like: both engines in one security mode (off: Tansu cannot be secured).
    specs = one_security([DeploySpec(engine=engine) for engine in ENGINES])
    for engine, engine_spec in zip(ENGINES, specs, strict=True):
        # A fresh lab per engine, so neither inherits the other's backlog, and a warm-up on the
        # bench topic itself: fresh JVMs and a new topic's first leader elections held Kafka at
        # 3.1 s p50 over its first 20 s at 1000 rec/s here (the same load 20 s later: 9.5 ms);
        # with a 5 s warm-up this bench recorded 883 ms p50 for Kafka.
        destroy()
        inv = deploy(engine_spec)
        with tempfile.TemporaryDirectory(prefix="riftdrill-warmup-") as tmp:
            run_load(LoadSpec(rate_per_s=rate_per_s, duration_s=WARMUP_S, topic=f"bench-{engine}",
                              partitions=6, placement=["aws"], consumers=False),
                     Path(tmp), inv, progress=False)  # fmt: skip
        spec = LoadSpec(rate_per_s=rate_per_s, duration_s=duration_s, size_bytes=1024, acks="all",
                        partitions=6, topic=f"bench-{engine}", placement=["aws"], consumers=False)
        with tempfile.TemporaryDirectory(prefix="riftdrill-bench-") as tmp:
            result = run_load(spec, Path(tmp), inv, progress=False)
        replacement = replace_broker(inventory.load())
        engines[engine] = {
            "engine_version": inv.engine_version, "security": engine_spec.security,
            "target_rate_per_s": rate_per_s,
            "acked_per_s": round(result.acked_per_s, 1), "failed": result.failed,
            "ack_p50_ms": result.ack_latency_ms.get("p50"),
            "ack_p99_ms": result.ack_latency_ms.get("p99"),
            "broker_replacement_s": replacement.replacement_s,
            "broker_replacement_bytes_moved": replacement.bytes_moved,
        }
    deploy(DeploySpec())  # leave the default lab behind
    return {"load": f"{rate_per_s:.0f} rec/s x {duration_s:.0f} s, 1 KiB, acks=all, producers in aws",
            "warmup_s": WARMUP_S, "engines": engines}


def bench_scale(out: Path) -> dict[str, Any]:
    """How riftdrill's own cost grows with the work (scale.py); no lab needed."""
    from riftdrill import scale

    return scale.run(out)


def bench_memory(out: Path) -> dict[str, Any]:
    """The load's memory over the hour-long runs published in results/runs (the soaks): per
    process, its resident set first, last, highest and its growth in MiB per hour."""
    from riftdrill.load import memory

    runs = memory.long_runs(paths.results_dir() / "runs")
    if not runs:
        raise RuntimeError("no published run of an hour samples the load's memory: run "
                           "`make soak` and publish it (results/runs/<run>/load/memory.jsonl)")
    return {"method": f"VmRSS every {memory.SAMPLE_EVERY_S:g} s by the load's runner; slope = "
                      f"least squares after the first {memory.WARMUP_S:g} s; heap: every "
                      f"{memory.TRIM_EVERY_S:g} s each Locust process read its allocator's "
                      "figures and trimmed (glibc: mallinfo2, malloc_trim; jemalloc: mallctl "
                      "stats, arena purge); each run's heap block names the allocator",
            "flat_mib_per_h": memory.FLAT_MIB_PER_H, "runs": runs}


BENCHES = {"lab": bench_lab, "load": bench_load, "verify": bench_verify, "drill": bench_drill,
           "engines": bench_engines, "scale": bench_scale, "memory": bench_memory}


def main(names: list[str]) -> int:
    chosen = names or list(BENCHES)
    bench_dir = paths.results_dir() / "bench"
    bench_dir.mkdir(parents=True, exist_ok=True)
    failed = []
    for name in chosen:
        out = bench_dir / f"{name}.json"
        print(f"bench {name} ...", file=sys.stderr, flush=True)
        # Some benches write their own file: merge only what this run wrote, never a stale one
        # (a failed bench keeps the published figures untouched).
        started = time.time()
        try:
            figures = BENCHES[name](out)
        except ModuleNotFoundError as exc:
            print(f"bench {name}: skipped ({exc})", file=sys.stderr)
            continue
        except Exception as exc:
            print(f"bench {name}: failed: {exc}", file=sys.stderr)
            failed.append(name)
            continue
        # Each bench may write its own file; we add when and where it ran.
        record = {"bench": name, "measured_at": datetime.now(UTC).isoformat(), "host": host_facts(),
                  **(json.loads(out.read_text())
                     if out.exists() and out.stat().st_mtime >= started else {}),
                  **figures}
        out.write_text(json.dumps(record, indent=2, default=str) + "\n")
        print(f"bench {name}: {out}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
