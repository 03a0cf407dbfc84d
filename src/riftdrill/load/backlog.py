"""Backlog build-and-drain (OMB's consumerBacklogSizeGB), bounded in time.

As OMB's WorkloadGenerator.buildAndDrainBacklog: after the warm-up the consumers pause while the
producers go on at their rate; once (sent - consumed) x messageSize reaches the backlog size
they resume and drain it; the drain is done when the backlog is down to
max(1000, (1 - backlogDrainRatio) x backlog capacity) messages. Unlike OMB, which stretches the
test until the drain ends, a riftdrill run keeps its duration (LoadSpec: warm-up + the time the
rate needs to build the backlog + the test): a drain not done by the end is reported as such.

The runner (the only writer) says "paused" with the file `load/consumers-paused`; consumer users
(users.py) pause their assignment while it exists and never once their producers are done, so
a run always ends reading up to its fences. The outcome is `load/backlog.json` (BacklogOutcome).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

PAUSE_FILE = "consumers-paused"
BACKLOG_FILE = "backlog.json"
OMB_MIN_BACKLOG_MESSAGES = 1000  # OMB's floor for "drained"
GIB = 1024**3

Phase = Literal["warmup", "build", "drain", "drained"]


class BacklogOutcome(BaseModel):
    """load/backlog.json: what the build and the drain came to (seconds from the run start)."""

    backlog_bytes: int
    backlog_messages: int  # the backlog asked for, in messages of the run's size
    drained_level_messages: int  # drained at or below this backlog
    phase: Phase  # where the run ended: "drained" when the drain completed
    build_started_s: float | None = None
    build_ended_s: float | None = None  # consumers resumed
    backlog_reached_messages: int | None = None  # the backlog when they resumed
    drain_ended_s: float | None = None
    build_s: float | None = None
    drain_s: float | None = None
    drained_messages: int | None = None  # consumed during the drain
    drain_rate_per_s: float | None = None

    @classmethod
    def read(cls, path: Path) -> BacklogOutcome:
        return cls.model_validate_json(path.read_text())


def pause_path(load_dir: Path) -> Path:
    return load_dir / PAUSE_FILE


def build_s(backlog_bytes: int, rate_per_s: float, size_bytes: int) -> float:
    """The time the producers' rate needs to build the backlog (no consumer reading)."""
    return backlog_bytes / (rate_per_s * size_bytes)


class BacklogPhase:
    """The runner's state machine: `update` with the run's counts every poll, `release` at the
    end (whatever happened, no consumer stays paused)."""

    def __init__(self, load_dir: Path, backlog_bytes: int, drain_ratio: float, size_bytes: int,
                 warmup_s: float) -> None:
        self.load_dir = load_dir
        self.warmup_s = warmup_s
        capacity = backlog_bytes // size_bytes
        self.out = BacklogOutcome(
            backlog_bytes=backlog_bytes, backlog_messages=capacity,
            drained_level_messages=max(OMB_MIN_BACKLOG_MESSAGES,
                                       int((1.0 - drain_ratio) * capacity)),
            phase="warmup",
        )  # fmt: skip
        self.backlog_bytes = backlog_bytes
        self.size_bytes = size_bytes
        self._consumed_at_resume = 0

    def update(self, elapsed_s: float, sent: int, consumed: int, producers_done: bool) -> None:
        o = self.out
        backlog = max(0, sent - consumed)
        if o.phase == "warmup" and elapsed_s >= self.warmup_s and not producers_done:
            self._pause(True)
            o.phase, o.build_started_s = "build", elapsed_s
        elif o.phase == "build" and (backlog * self.size_bytes >= self.backlog_bytes
                                     or producers_done):  # fmt: skip
            self._pause(False)
            o.phase, o.build_ended_s, o.backlog_reached_messages = "drain", elapsed_s, backlog
            o.build_s = elapsed_s - (o.build_started_s or 0.0)
            self._consumed_at_resume = consumed
        elif o.phase == "drain" and backlog <= o.drained_level_messages:
            o.phase, o.drain_ended_s = "drained", elapsed_s
            o.drain_s = elapsed_s - (o.build_ended_s or 0.0)
            o.drained_messages = consumed - self._consumed_at_resume
            o.drain_rate_per_s = o.drained_messages / o.drain_s if o.drain_s > 0 else None

    def _pause(self, on: bool) -> None:
        path = pause_path(self.load_dir)
        if on:
            path.write_text("paused by the backlog phase (load/backlog.py)\n")
        else:
            path.unlink(missing_ok=True)

    def release(self) -> BacklogOutcome:
        """Resume every consumer and write load/backlog.json."""
        self._pause(False)
        path = self.load_dir / BACKLOG_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(self.out.model_dump_json(indent=1) + "\n")
        os.replace(tmp, path)
        return self.out
