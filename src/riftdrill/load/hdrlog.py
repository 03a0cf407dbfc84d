"""HdrHistogram interval logs: `load/hdr/<name>.hlog` for ack latency, end-to-end latency and
publish delay, in the standard log format (HdrHistogram's HistogramLogWriter, version 1.2):

    #[Histogram log format version 1.2]
    #[StartTime: 1764759600.000 (seconds since epoch), 2025-12-03T11:00:00+00:00]
    #[BaseTime: 1764759600.000 (seconds since epoch)]
    "StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
    0.000,1.000,12.345,HISTFAAAA...

so HistogramLogProcessor, hdrh's HistogramLogReader or any HdrHistogram tool reads them. Values
are microseconds (as recorded, histograms.py); Interval_Max is in milliseconds. One interval
per `interval_s` seconds, from the run's per-second histograms (load/histograms.json).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

from riftdrill.load import histograms

HdrLogName = Literal["ack_latency", "e2e_latency", "publish_delay"]
HDR_LOG_NAMES: tuple[HdrLogName, ...] = get_args(HdrLogName)
HDR_DIR = "hdr"
LOG_FORMAT_VERSION = "1.2"
MAX_VALUE_UNIT_RATIO = 1000.0  # us recorded -> Interval_Max in ms
LEGEND = '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"'


def log_path(load_dir: Path, name: HdrLogName) -> Path:
    return load_dir / HDR_DIR / f"{name}.hlog"


def log_text(per_second: list[dict[str, Any]], name: HdrLogName, interval_s: int = 1) -> str:
    """One log: per_second rows ({"t": epoch s, "<name>_us": encoded}) merged into intervals of
    `interval_s`, timestamps relative to the first second (BaseTime)."""
    base = int(per_second[0]["t"]) if per_second else 0
    stamp = datetime.fromtimestamp(base, UTC).isoformat()
    lines = [f"#[Histogram log format version {LOG_FORMAT_VERSION}]",
             f"#[StartTime: {base:.3f} (seconds since epoch), {stamp}]",
             f"#[BaseTime: {base:.3f} (seconds since epoch)]", LEGEND]  # fmt: skip
    buckets: dict[int, list[str]] = {}
    for row in per_second:
        enc = row.get(f"{name}_us", "")
        buckets.setdefault((int(row["t"]) - base) // interval_s, []).append(enc)
    for i in sorted(buckets):
        h = histograms.merge(buckets[i])
        if h.get_total_count() == 0:
            continue  # an empty interval carries nothing; readers skip gaps fine
        lines.append(f"{i * interval_s:.3f},{interval_s:.3f},"
                     f"{h.get_max_value() / MAX_VALUE_UNIT_RATIO:.3f},{histograms.encode(h)}")
    return "\n".join(lines) + "\n"


def write_logs(load_dir: Path, interval_s: int = 1) -> list[Path]:
    """Write load/hdr/*.hlog from load/histograms.json (aggregate.finalize's)."""
    per_second = json.loads((load_dir / "histograms.json").read_text())["per_second"]
    (load_dir / HDR_DIR).mkdir(parents=True, exist_ok=True)
    out = []
    for name in HDR_LOG_NAMES:
        path = log_path(load_dir, name)
        path.write_text(log_text(per_second, name, interval_s))
        out.append(path)
    return out
