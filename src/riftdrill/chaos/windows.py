"""Fault-window bookkeeping: when each fault of a drill started and when it was healed.

Every fault action appends a `start` line, every heal action an `end` line, to
`<run dir>/faults.jsonl` (one JSON object per line, appended with O_APPEND so a crash never
leaves more than a torn last line). The run dir is passed explicitly: actions take it from the
run context in their Chaos Toolkit configuration (`riftdrill.context.RunContext`). The runner
pairs the lines into windows for the recovery math: an `end` closes the earliest open window of
the same target whose kind it heals.

    {"event": "start", "kind": "kill_broker", "target": "aws-1", "direction": "both", "ts_ns": ...,
     "requested_ns": ..., "confirmed_by": "pid gone"}
    {"event": "end",   "kind": "kill_broker", "target": "aws-1", "ts_ns": ...,
     "requested_ns": ..., "confirmed_by": "broker listening"}

`ts_ns` is the instant the fault (or its heal) was seen in effect by the driver
(`drivers.base.Effect`): every recovery figure counts from it. `requested_ns` is when it was
asked for, `confirmed_by` what was observed. Lines written before these existed have neither;
their `ts_ns` is when the call returned.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FILE = "faults.jsonl"


@dataclass
class FaultWindow:
    kind: str
    target: str
    start_ns: int
    end_ns: int | None  # None: never healed inside the drill (the runner's final heal closes it)
    direction: str = "both"
    # "drill" (a method action) or "runner" (the end-of-run heal: the runner's or the control's)
    healed_by: str = "drill"
    requested_ns: int | None = None  # the fault was asked for (start_ns: seen in effect)
    confirmed_by: str | None = None
    end_requested_ns: int | None = None  # the heal was asked for (end_ns: seen healed)
    end_confirmed_by: str | None = None

    def to_summary(self) -> dict[str, Any]:
        """The summary.json shape: epoch seconds (the effect fields only when recorded)."""
        out: dict[str, Any] = {
            "kind": self.kind, "target": self.target, "direction": self.direction,
            "start_s": round(self.start_ns / 1e9, 3),
            "end_s": None if self.end_ns is None else round(self.end_ns / 1e9, 3),
            "healed_by": self.healed_by}
        if self.requested_ns is not None:
            out["requested_s"] = round(self.requested_ns / 1e9, 3)
        if self.confirmed_by is not None:
            out["confirmed_by"] = self.confirmed_by
        if self.end_requested_ns is not None:
            out["end_requested_s"] = round(self.end_requested_ns / 1e9, 3)
        if self.end_confirmed_by is not None:
            out["end_confirmed_by"] = self.end_confirmed_by
        return out


def _append(run_dir: Path | None, record: dict[str, Any]) -> None:
    if run_dir is None:
        return  # no run context (an experiment without the riftdrill control): no recovery math
    run_dir.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, sort_keys=True) + "\n").encode()
    fd = os.open(run_dir / FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def _effect(requested_ns: int | None, confirmed_by: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if requested_ns is not None:
        out["requested_ns"] = requested_ns
    if confirmed_by is not None:
        out["confirmed_by"] = confirmed_by
    return out


def record_start(kind: str, target: str, direction: str = "both", *,
                 run_dir: Path | None, ts_ns: int | None = None,
                 requested_ns: int | None = None, confirmed_by: str | None = None) -> None:
    """`ts_ns`: when the fault was seen in effect (default now)."""
    _append(run_dir,
            {"event": "start", "kind": kind, "target": target, "direction": direction,
             "ts_ns": ts_ns or time.time_ns(), **_effect(requested_ns, confirmed_by),
             "at": datetime.now(UTC).isoformat()})


def record_end(kind: str, target: str, *, run_dir: Path | None,
               ts_ns: int | None = None, by: str = "drill",
               requested_ns: int | None = None, confirmed_by: str | None = None) -> None:
    """`ts_ns`: when the heal was seen in effect (default now)."""
    _append(run_dir,
            {"event": "end", "kind": kind, "target": target, "ts_ns": ts_ns or time.time_ns(),
             "by": by, **_effect(requested_ns, confirmed_by),
             "at": datetime.now(UTC).isoformat()})


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def read_events(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / FILE
    if not path.exists():
        return []
    events = []
    for line in path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a torn last line from a killed action
    return events


def pair(events: list[dict[str, Any]]) -> list[FaultWindow]:
    """Windows in start order; an end closes the earliest open window of its kind and target."""
    windows: list[FaultWindow] = []
    for ev in sorted(events, key=lambda e: int(e.get("ts_ns", 0))):
        if ev.get("event") == "start":
            windows.append(FaultWindow(kind=str(ev["kind"]), target=str(ev["target"]),
                                       start_ns=int(ev["ts_ns"]), end_ns=None,
                                       direction=str(ev.get("direction", "both")),
                                       requested_ns=_opt_int(ev.get("requested_ns")),
                                       confirmed_by=_opt_str(ev.get("confirmed_by"))))
        elif ev.get("event") == "end":
            for w in windows:
                if w.end_ns is None and w.kind == ev["kind"] and w.target == ev["target"]:
                    w.end_ns = int(ev["ts_ns"])
                    w.healed_by = str(ev.get("by", "drill"))
                    w.end_requested_ns = _opt_int(ev.get("requested_ns"))
                    w.end_confirmed_by = _opt_str(ev.get("confirmed_by"))
                    break
    return windows


def fault_windows(run_dir: Path) -> list[FaultWindow]:
    return pair(read_events(run_dir))


def close_open(run_dir: Path, ts_ns: int | None = None) -> list[FaultWindow]:
    """Record an end (by the runner) for every window still open; returns what it closed."""
    closed = [w for w in fault_windows(run_dir) if w.end_ns is None]
    now = ts_ns or time.time_ns()
    for w in closed:
        record_end(w.kind, w.target, run_dir=run_dir, ts_ns=now, by="runner")
        w.end_ns, w.healed_by = now, "runner"
    return closed


def span(windows: list[FaultWindow]) -> tuple[int, int | None] | None:
    """(first start, last end) over all windows: the drill's whole disruption; None if none."""
    if not windows:
        return None
    start = min(w.start_ns for w in windows)
    ends = [w.end_ns for w in windows]
    end = None if any(e is None for e in ends) else max(e for e in ends if e is not None)
    return start, end

