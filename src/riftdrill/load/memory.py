"""The load's own memory over a run: is riftdrill's load flat over an hour, or does it grow?

While the load runs, its runner samples the resident set (VmRSS of /proc/<pid>/status) of
itself, each cloud's Locust process and each mirror tail every SAMPLE_EVERY_S into
`load/memory.jsonl`: one line {"t_s": seconds since the load started, "rss_kib": {process:
KiB}}. `figures` reads it back per process: first, last, highest, and the growth as a
least-squares slope in MiB per hour over the samples after WARMUP_S (clients fill their
buffers and caches first), with the spread of the samples around that line, and the slope
over the second half of the samples alone.

Each Locust process also trims its C heap every TRIM_EVERY_S (load/heap.py) and logs what malloc held
in use and what the trim gave back to `load/workers/<worker>/heap.jsonl`; `heap_figures`
reads those per cloud: a leak grows the in-use figure, retention only the returned one.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from riftdrill.fit import line_fit, residual_sd

MEMORY_FILE = "memory.jsonl"
HEAP_FILE = "heap.jsonl"  # per load worker, written by load/heap.py
TRIM_EVERY_S = 30.0
SAMPLE_EVERY_S = 10.0
WARMUP_S = 120.0
# "Flat" for a load process over an hour (issue 20): growth after warm-up of at most this, about
# 2 % of a Locust process's ~100 MiB per hour. Declared here once; memory.json and README say it.
FLAT_MIB_PER_H = 2.0


def rss_kib(pid: int) -> int | None:
    """The process's resident set in KiB, None when it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None  # a zombie has no VmRSS


@dataclass
class Sampler:
    """Samples the named pids every `every_s` into `path` (appending: one run, one file)."""

    path: Path
    started: float  # time.monotonic() at the load's start
    every_s: float = SAMPLE_EVERY_S
    _next: float = field(default=0.0, init=False)

    def maybe_sample(self, pids: Mapping[str, int], now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if now < self._next:
            return False
        self._next = now + self.every_s
        rss = {name: kib for name, pid in pids.items() if (kib := rss_kib(pid)) is not None}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"t_s": round(now - self.started, 1), "rss_kib": rss}) + "\n")
        return True


class ProcessMemory(BaseModel):
    samples: int
    span_s: float
    first_mib: float
    last_mib: float
    max_mib: float
    # least-squares slope over the samples after WARMUP_S, and the samples' spread around it
    slope_mib_per_h: float | None
    residual_mib: float | None
    # the same fit over the second half of the samples alone: growth that slows (buffers and
    # the allocator reaching their high-water marks) shows here as a smaller slope
    last_half_slope_mib_per_h: float | None
    # the slope after warm-up at most FLAT_MIB_PER_H (None: too few samples to fit)
    flat: bool | None = None


def _fit(points: list[tuple[float, float]]) -> tuple[float, float] | None:
    """Slope (per second) and the residuals' standard deviation, or None under 3 points."""
    if len(points) < 3 or len({x for x, _ in points}) < 2:
        return None
    intercept, slope = line_fit(points)
    return slope, residual_sd(points, intercept, slope)


def figures(path: Path, warmup_s: float = WARMUP_S) -> dict[str, ProcessMemory]:
    """Per process: the memory figures of a run's memory.jsonl ({} when there is none)."""
    series: dict[str, list[tuple[float, float]]] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}
    for line in text.splitlines():
        try:
            d = json.loads(line)
            t = float(d["t_s"])
            for name, kib in d["rss_kib"].items():
                series.setdefault(str(name), []).append((t, int(kib) / 1024))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue  # a line cut by a crash
    out: dict[str, ProcessMemory] = {}
    for name, pts in sorted(series.items()):
        fit = _fit([p for p in pts if p[0] >= warmup_s])
        half = _fit(pts[len(pts) // 2:])
        out[name] = ProcessMemory(
            samples=len(pts), span_s=round(pts[-1][0] - pts[0][0], 1),
            first_mib=round(pts[0][1], 1), last_mib=round(pts[-1][1], 1),
            max_mib=round(max(y for _, y in pts), 1),
            slope_mib_per_h=None if fit is None else round(fit[0] * 3600, 2),
            residual_mib=None if fit is None else round(fit[1], 2),
            last_half_slope_mib_per_h=None if half is None else round(half[0] * 3600, 2),
            flat=None if fit is None else fit[0] * 3600 <= FLAT_MIB_PER_H)
    return out


class HeapFigures(BaseModel):
    allocator: str = "glibc"  # whose figures: glibc's malloc or jemalloc (load/allocator.py)
    trims: int
    in_use_first_mib: float
    in_use_last_mib: float
    # least-squares slope of malloc's in-use bytes after WARMUP_S: a leak in C or in Python's
    # large objects grows it
    in_use_slope_mib_per_h: float | None
    returned_median_mib: float  # what one trim gave back to the system
    returned_max_mib: float


def heap_figures(load_dir: Path, warmup_s: float = WARMUP_S) -> dict[str, HeapFigures]:
    """Per cloud (the workers' name prefix), the figures of its workers' heap.jsonl ({} when
    no worker wrote one: a run before the heap log, or a libc without glibc's malloc)."""
    series: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(load_dir.glob(f"workers/*/{HEAP_FILE}")):
        cloud = path.parent.name.split("-")[0]
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            with contextlib.suppress(ValueError, TypeError):
                d = json.loads(line)
                if isinstance(d, dict) and {"t", "in_use_kib"} <= d.keys():
                    series.setdefault(cloud, []).append(d)
    out: dict[str, HeapFigures] = {}
    for cloud, rows in sorted(series.items()):
        rows.sort(key=lambda d: float(d["t"]))
        t0 = float(rows[0]["t"]) - TRIM_EVERY_S  # the first trim: TRIM_EVERY_S after the start
        fit = _fit([(float(d["t"]) - t0, int(d["in_use_kib"]) / 1024) for d in rows
                    if float(d["t"]) - t0 >= warmup_s])  # fmt: skip
        returned = sorted(max(0, int(d.get("rss_before_kib") or 0) - int(d.get("rss_after_kib")
                                                                          or 0)) / 1024
                          for d in rows)  # fmt: skip
        out[cloud] = HeapFigures(
            allocator=str(rows[-1].get("allocator", "glibc")), trims=len(rows),
            in_use_first_mib=round(int(rows[0]["in_use_kib"]) / 1024, 1),
            in_use_last_mib=round(int(rows[-1]["in_use_kib"]) / 1024, 1),
            in_use_slope_mib_per_h=None if fit is None else round(fit[0] * 3600, 2),
            returned_median_mib=round(returned[len(returned) // 2], 1),
            returned_max_mib=round(returned[-1], 1))
    return out


LONG_RUN_S = 3000.0  # a run this long (its samples' span) counts as "over an hour" here


def long_runs(runs_dir: Path, min_span_s: float = LONG_RUN_S) -> dict[str, Any]:
    """The memory figures of every run under `runs_dir` whose samples span at least
    `min_span_s` (the soaks of an hour): per run, its engine, and per process its figures."""
    out: dict[str, Any] = {}
    for path in sorted(runs_dir.glob(f"*/load/{MEMORY_FILE}")):
        figs = figures(path)
        if not figs or max(f.span_s for f in figs.values()) < min_span_s:
            continue
        run_dir = path.parent.parent
        engine = None
        with contextlib.suppress(OSError, ValueError, AttributeError):
            engine = json.loads((run_dir / "summary.json").read_text()).get("engine")
        out[run_dir.name] = {
            "engine": engine, "warmup_s": WARMUP_S,
            "processes": {n: f.model_dump() for n, f in figs.items()},
            "heap": {c: h.model_dump() for c, h in heap_figures(path.parent).items()}}
    return out
