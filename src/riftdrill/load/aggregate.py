"""Merge every load process's per-second metrics into the run's timeline, summary and histograms.

Inputs: `load/workers/*/metrics.jsonl` (one per process, distributed workers included).
Outputs: `load/timeline.json`, `load/summary.json`, `load/histograms.json` (encoded HDR, us).
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from riftdrill.load import histograms
from riftdrill.load.metrics import HIST_NAMES, read_metrics

COUNTERS = ("sent", "acked", "failed", "consumed", "corrupt", "rebalances", "producer_restarts")
# the load processes' main threads per second (load/schedstat.py), summed over processes; absent
# from lines written before they were kept, or where the kernel does not keep them
THREAD_MS = ("main_cpu_ms", "main_wait_ms")
STARVED_MS = 5.0  # a process-second whose main thread waited this long for a CPU: sends went late


def metrics_files(load_dir: Path) -> list[Path]:
    return sorted((load_dir / "workers").glob("*/metrics.jsonl"))


def line_cloud(line: dict[str, Any]) -> str:
    """The cloud of the process that wrote a metrics line (MetricsTail tags it with its worker
    directory, <cloud>-<index>-<pid>)."""
    return str(line.get("worker", "")).split("-", 1)[0]


def acked_clouds(lines: list[dict[str, Any]]) -> set[str]:
    """Clouds whose load processes got at least one ack in these lines."""
    return {line_cloud(d) for d in lines if int(d.get("acked", 0)) > 0}


@dataclass
class MetricsTail:
    """Incremental reader for live progress: only new complete lines are parsed each time.
    With `keep_s`, `lines` holds only the newest keep_s seconds (an hour's soak would otherwise
    keep every second's histograms in the load's runner); `first_t` is the first second seen."""

    load_dir: Path
    keep_s: float | None = None
    offsets: dict[Path, int] = field(default_factory=dict)
    lines: list[dict[str, Any]] = field(default_factory=list)
    first_t: float | None = None

    def poll(self) -> list[dict[str, Any]]:
        new: list[dict[str, Any]] = []
        for path in metrics_files(self.load_dir):
            start = self.offsets.get(path, 0)
            with open(path, "rb") as f:
                f.seek(start)
                chunk = f.read()
            end = chunk.rfind(b"\n") + 1
            for line in chunk[:end].splitlines():
                d = json.loads(line)
                d.setdefault("worker", path.parent.name)  # <cloud>-<index>-<pid>: whose line
                new.append(d)
            self.offsets[path] = start + end
        self.lines.extend(new)
        if new:
            low = min(d["t"] for d in new)
            self.first_t = low if self.first_t is None else min(self.first_t, low)
        if self.keep_s is not None and new:
            newest = max(d["t"] for d in self.lines)
            self.lines = [d for d in self.lines if d["t"] > newest - self.keep_s]
        return new


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


def merge_seconds(per_worker: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Sum counters and merge histograms of the same wall-clock second across processes."""
    by_sec: dict[int, dict[str, Any]] = {}
    lags: dict[int, list[int]] = defaultdict(list)
    for lines in per_worker:
        for d in lines:
            t = int(d["t"])
            m = by_sec.setdefault(
                t, {"t": t, **dict.fromkeys(COUNTERS, 0), "hists": defaultdict(list)}
            )
            for c in COUNTERS:
                m[c] += int(d.get(c, 0))
            for c in THREAD_MS:
                if d.get(c) is not None:
                    m[c] = round(float(m.get(c) or 0.0) + float(d[c]), 2)
            for name, enc in d.get("hist_us", {}).items():
                m["hists"][name].append(enc)
            if d.get("lag") is not None:
                lags[t].append(int(d["lag"]))
    out = []
    for t in sorted(by_sec):
        m = by_sec[t]
        m["lag"] = sum(lags[t]) if lags[t] else None
        for c in THREAD_MS:
            m.setdefault(c, None)
        m["hists"] = {n: histograms.merge(m["hists"].get(n, [])) for n in HIST_NAMES}
        out.append(m)
    return out


def generator_figures(per_worker: list[list[dict[str, Any]]]) -> dict[str, Any] | None:
    """How much CPU the load's main threads used and how long they waited for one, over each
    process's own seconds (a sum over processes could exceed a second; None: no line carries
    the figures)."""
    lines = [d for lines in per_worker for d in lines
             if d.get("main_wait_ms") is not None and d.get("main_cpu_ms") is not None]
    if not lines:
        return None
    waits = sorted(float(d["main_wait_ms"]) for d in lines)
    return {
        "process_seconds": len(waits),
        "main_cpu_s": round(sum(float(d["main_cpu_ms"]) for d in lines) / 1000, 3),
        "main_wait_s": round(sum(waits) / 1000, 3),
        "wait_p99_ms_per_s": waits[max(0, math.ceil(0.99 * len(waits)) - 1)],
        "wait_max_ms_per_s": waits[-1],
        "starved_seconds": sum(1 for w in waits if w >= STARVED_MS),
        "starved_ms": STARVED_MS,
    }


def finalize(load_dir: Path, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write timeline.json, histograms.json and summary.json; return the summary."""
    per_worker = [read_metrics(p) for p in metrics_files(load_dir)]
    seconds = merge_seconds(per_worker)
    t0 = seconds[0]["t"] if seconds else 0
    timeline = []
    per_second_hists = []
    whole = {n: histograms.new_histogram() for n in HIST_NAMES}
    for m in seconds:
        h = m["hists"]
        for n in HIST_NAMES:
            whole[n].add(h[n])
        ack, e2e, delay = h["ack_latency"], h["e2e_latency"], h["publish_delay"]
        timeline.append(
            {
                "t": m["t"],
                "elapsed_s": m["t"] - t0,
                **{c: m[c] for c in COUNTERS},
                "ack_latency_p50_ms": histograms.percentile_ms(ack, 50),
                "ack_latency_p99_ms": histograms.percentile_ms(ack, 99),
                "ack_latency_max_ms": histograms.percentile_ms(ack, 100),
                "e2e_latency_p50_ms": histograms.percentile_ms(e2e, 50),
                "e2e_latency_p99_ms": histograms.percentile_ms(e2e, 99),
                "publish_delay_p99_ms": histograms.percentile_ms(delay, 99),
                "consumer_lag": m["lag"],
                **{c: m[c] for c in THREAD_MS},
            }
        )
        per_second_hists.append(
            {"t": m["t"], **{f"{n}_us": histograms.encode(h[n]) for n in HIST_NAMES}}
        )
    totals = {c: sum(m[c] for m in seconds) for c in COUNTERS}
    span_s = (seconds[-1]["t"] - t0 + 1) if seconds else 0
    summary: dict[str, Any] = {
        **totals,
        "seconds": span_s,
        "processes": len(per_worker),
        "ack_latency_ms": histograms.summary_ms(whole["ack_latency"]),
        "e2e_latency_ms": histograms.summary_ms(whole["e2e_latency"]),
        "publish_delay_ms": histograms.summary_ms(whole["publish_delay"]),
        "generator": generator_figures(per_worker),
        **(extra or {}),
    }
    _write_json(load_dir / "timeline.json", timeline)
    _write_json(
        load_dir / "histograms.json",
        {
            "unit": "us",
            "encoding": "HdrHistogram V2 compressed, base64",
            "whole_run": {f"{n}_us": histograms.encode(whole[n]) for n in HIST_NAMES},
            "per_second": per_second_hists,
        },
    )
    _write_json(load_dir / "summary.json", summary)
    return summary
