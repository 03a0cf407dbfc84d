"""OpenMetrics export of the run's timeline: `load/timeline.om`, one series per cloud.

    promtool tsdb create-blocks-from openmetrics load/timeline.om <prometheus data dir>

loads it into Prometheus (then Grafana). Built from the same per-process metrics as
timeline.json (aggregate.py), grouped by the cloud of the process that wrote them, so the clouds'
counters add up to timeline.json's totals. Per second t of the run, stamped t+1 (the end of the
second, when its counts are complete):
- counters `riftdrill_load_<counter>_total{cloud}`: cumulative sent, acked, failed, consumed, ...;
- gauges `riftdrill_load_<hist>_p50_seconds` / `_p99_seconds` / `_max_seconds`{cloud} for ack
  latency, end-to-end latency and publish delay, from that second's histograms (absent in a
  second without samples);
- gauge `riftdrill_load_consumer_lag_messages{cloud}` when the consumers reported their lag.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Literal

from riftdrill.load import aggregate
from riftdrill.load.metrics import HIST_NAMES, read_metrics

OPENMETRICS_FILE = "timeline.om"
PREFIX = "riftdrill_load"
Quantile = Literal["p50", "p99", "max"]
QUANTILES: dict[Quantile, float] = {"p50": 50.0, "p99": 99.0, "max": 100.0}


def per_cloud_seconds(load_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """cloud -> its processes' metrics merged by second (aggregate.merge_seconds)."""
    by_cloud: dict[str, list[list[dict[str, Any]]]] = defaultdict(list)
    for path in aggregate.metrics_files(load_dir):
        by_cloud[aggregate.line_cloud({"worker": path.parent.name})].append(read_metrics(path))
    return {c: aggregate.merge_seconds(lines) for c, lines in sorted(by_cloud.items())}


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def openmetrics_text(per_cloud: dict[str, list[dict[str, Any]]]) -> str:
    """The OpenMetrics exposition: each family's samples together, each cloud's in time order."""
    out: list[str] = []
    for counter in aggregate.COUNTERS:
        name = f"{PREFIX}_{counter}"
        out += [f"# TYPE {name} counter",
                f"# HELP {name} Messages (or events) {counter} by the load's processes."]
        for cloud, seconds in per_cloud.items():
            total = 0
            for m in seconds:
                total += int(m[counter])
                out.append(f'{name}_total{{cloud="{cloud}"}} {total} {int(m["t"]) + 1}')
    for field, what in (("main_cpu_ms", "on a CPU"), ("main_wait_ms", "waiting for a CPU")):
        name = f"{PREFIX}_{field.removesuffix('_ms')}_seconds"  # load/schedstat.py
        out += [f"# TYPE {name} counter", f"# UNIT {name} seconds",
                f"# HELP {name} Time the load processes' main threads spent {what}."]
        for cloud, seconds in per_cloud.items():
            total_s = 0.0
            for m in seconds:
                if m.get(field) is not None:
                    total_s += float(m[field]) / 1000
                    out.append(f'{name}_total{{cloud="{cloud}"}} {_num(round(total_s, 6))} '
                               f'{int(m["t"]) + 1}')
    for hist in HIST_NAMES:
        for q, p in QUANTILES.items():
            name = f"{PREFIX}_{hist}_{q}_seconds"
            out += [f"# TYPE {name} gauge", f"# UNIT {name} seconds",
                    f"# HELP {name} {q} of {hist.replace('_', ' ')} in that second."]
            for cloud, seconds in per_cloud.items():
                for m in seconds:
                    h = m["hists"][hist]
                    if h.get_total_count():
                        v = h.get_value_at_percentile(p) / 1e6  # us -> s
                        out.append(f'{name}{{cloud="{cloud}"}} {_num(v)} {int(m["t"]) + 1}')
    name = f"{PREFIX}_consumer_lag_messages"
    out += [f"# TYPE {name} gauge", f"# HELP {name} Consumer group lag the consumers reported."]
    for cloud, seconds in per_cloud.items():
        for m in seconds:
            if m["lag"] is not None:
                out.append(f'{name}{{cloud="{cloud}"}} {int(m["lag"])} {int(m["t"]) + 1}')
    out.append("# EOF")
    return "\n".join(out) + "\n"


def write_openmetrics(load_dir: Path) -> Path:
    path = load_dir / OPENMETRICS_FILE
    path.write_text(openmetrics_text(per_cloud_seconds(load_dir)))
    return path
