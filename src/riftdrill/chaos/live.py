"""The live line of a running drill: once a second, per cloud, acks/s, errors/s and ack p99.

`riftdrill drill` (and so `make drill` / `make drills`) shows it on the terminal while chaos runs,
so a 60 s hold is not a silent "Action: hold-fault". It reads what the load already writes:
each load process's `load/workers/<cloud>-<n>-<pid>/metrics.jsonl`, one line per completed
second (`load/metrics.py`), only the bytes appended since the last read, and keeps only the
last few seconds (bounded however long the drill). One updating line (rich Live, on stderr,
gone when the run ends); nothing when stderr is not a terminal or with `--json`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.text import Text

from riftdrill.chaos import windows
from riftdrill.load import histograms

INTERVAL_S = 1.0
KEEP_SECONDS = 5  # per cloud: the newest seconds kept (a second's processes may lag each other)
_WORKER = re.compile(r"^(?P<cloud>.+)-\d+-\d+$")  # load/workers/<cloud>-<n>-<pid>


@dataclass
class CloudSecond:
    acked: int = 0
    failed: int = 0
    hists: list[str] = field(default_factory=list)  # encoded ack latency histograms


@dataclass
class LoadTail:
    """The per-second metrics of a run's load processes, read incrementally, per cloud."""

    load_dir: Path
    offsets: dict[Path, int] = field(default_factory=dict)
    seconds: dict[str, dict[int, CloudSecond]] = field(default_factory=dict)

    def poll(self) -> None:
        for path in sorted((self.load_dir / "workers").glob("*/metrics.jsonl")):
            m = _WORKER.match(path.parent.name)
            if m is None:
                continue
            start = self.offsets.get(path, 0)
            try:
                with open(path, "rb") as f:
                    f.seek(start)
                    chunk = f.read()
            except OSError:
                continue
            end = chunk.rfind(b"\n") + 1  # a half-written last line waits for the next poll
            self.offsets[path] = start + end
            for raw in chunk[:end].splitlines():
                try:
                    d = json.loads(raw)
                except json.JSONDecodeError:
                    continue
                if isinstance(d, dict) and "t" in d:
                    self._add(m.group("cloud"), d)

    def _add(self, cloud: str, d: dict[str, Any]) -> None:
        per = self.seconds.setdefault(cloud, {})
        sec = per.setdefault(int(d["t"]), CloudSecond())
        sec.acked += int(d.get("acked") or 0)
        sec.failed += int(d.get("failed") or 0)
        sec.hists.append(str((d.get("hist_us") or {}).get("ack_latency", "")))
        for old in sorted(per)[:-KEEP_SECONDS]:
            del per[old]

    def latest(self) -> dict[str, tuple[int, CloudSecond]]:
        """Per cloud, its newest complete second."""
        return {cloud: (t, per[t]) for cloud, per in sorted(self.seconds.items())
                if per and (t := max(per)) is not None}


def fault_state(run_dir: Path, now_s: float) -> str:
    """'fault +12 s' while a fault window is open, 'healed +3 s' after, '' before any."""
    try:
        wins = windows.fault_windows(run_dir)
    except (OSError, ValueError):
        return ""
    if not wins:
        return "before the fault"
    open_ = [w for w in wins if w.end_ns is None]
    if open_:
        return f"fault +{now_s - min(w.start_ns for w in open_) / 1e9:.0f} s"
    return f"healed +{now_s - max(w.end_ns or 0 for w in wins) / 1e9:.0f} s"


def line(tail: LoadTail, state: str, now_s: float) -> str:
    """The live line: `aws 98 acks/s 0 err/s p99 12 ms | gcp ... | fault +12 s`."""
    parts = []
    for cloud, (t, sec) in tail.latest().items():
        p99 = histograms.percentile_ms(histograms.merge(sec.hists), 99)
        age = now_s - (t + 1)
        stale = f" ({age:.0f} s ago)" if age > 3 else ""
        shown = "—" if p99 is None else f"{p99:.0f} ms" if p99 >= 10 else f"{p99:.1f} ms"
        parts.append(f"{cloud} {sec.acked} acks/s {sec.failed} err/s p99 {shown}{stale}")
    if not parts:
        parts.append("waiting for the load's first second")
    return " | ".join([*parts, *([state] if state else [])])


class Ticker:
    """A thread that updates the live line once a second until `stop`."""

    def __init__(self, run_dir: Path, console: Console, interval_s: float = INTERVAL_S) -> None:
        self.run_dir = run_dir
        self.tail = LoadTail(run_dir / "load")
        self.console = console
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="riftdrill-live", daemon=True)
        self.last = ""

    def tick(self) -> str:
        self.tail.poll()
        now = time.time()
        self.last = line(self.tail, fault_state(self.run_dir, now), now)
        return self.last

    def _run(self) -> None:
        # transient: the line goes when the drill ends; chaos's own lines print above it
        with Live(Text(""), console=self.console, transient=True, auto_refresh=False,
                  redirect_stdout=False, redirect_stderr=True) as live:
            while not self._stop.wait(self.interval_s):
                try:
                    live.update(Text("  live: " + self.tick(), overflow="ellipsis",
                                     no_wrap=True), refresh=True)
                except Exception:  # a display problem must never disturb the drill
                    continue

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@contextmanager
def ticker(run_dir: Path, enabled: bool, console: Console | None = None) -> Iterator[None]:
    """The live line for the duration of the block, when `enabled` and on a terminal."""
    con = console or Console(stderr=True)
    if not enabled or not con.is_terminal:
        yield
        return
    t = Ticker(run_dir, con)
    t.start()
    try:
        yield
    finally:
        t.stop()
