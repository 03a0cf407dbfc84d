"""Where a load process's Python memory grows, line by line: a diagnostic for a soak.

With `trace_memory` (`make soak TRACE_MEMORY=1`, `riftdrill load --trace-memory`) each Locust
process starts tracemalloc, keeps a snapshot once WARMUP_S has passed, and every EVERY_S
appends to `load/workers/<worker>/tracemalloc.txt` the TOP source lines whose Python
allocations grew most since it. It sees only Python's allocators (objects, their buffers);
what librdkafka or OpenSSL hold shows in heap.jsonl's malloc figures instead. It costs: every
allocation is traced (slower sends, more memory) and a snapshot stalls the process for a
moment, so a run with it is for finding a leak, not for figures.
"""

from __future__ import annotations

import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

TRACE_FILE = "tracemalloc.txt"
WARMUP_S = 300.0  # clients fill their buffers, Locust its stats: the baseline snapshot after it
EVERY_S = 300.0
TOP = 25
_IGNORE = (tracemalloc.Filter(False, tracemalloc.__file__),
           tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
           tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
           tracemalloc.Filter(False, "<unknown>"))  # fmt: skip


@dataclass
class Tracer:
    """The baseline snapshot and when the next comparison is due (time.monotonic())."""

    out: Path
    started_s: float
    base: tracemalloc.Snapshot | None = None
    next_s: float = 0.0

    @classmethod
    def start(cls, worker_dir: Path, now_s: float | None = None) -> Tracer:
        tracemalloc.start(1)
        t = time.monotonic() if now_s is None else now_s
        return cls(out=worker_dir / TRACE_FILE, started_s=t, next_s=t + WARMUP_S)

    def maybe_compare(self, now_s: float | None = None, wall_s: float | None = None) -> bool:
        """Take the baseline, or append the top growth since it, when due; True if it did."""
        now = time.monotonic() if now_s is None else now_s
        if now < self.next_s or not tracemalloc.is_tracing():
            return False
        self.next_s = now + EVERY_S
        snap = tracemalloc.take_snapshot().filter_traces(_IGNORE)
        if self.base is None:
            self.base = snap
            return True
        stats = snap.compare_to(self.base, "lineno")[:TOP]
        at = round(now - self.started_s)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall_s))
        lines = [f"== {stamp} ({at} s in): the {TOP} lines that grew most since {WARMUP_S:g} s"]
        lines += [str(s) for s in stats]
        with open(self.out, "a", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        return True
