"""Where and when each change became visible in the sink's table: the end-to-end change lag.

A tail polls the target table (`SELECT id, version`) every `interval_s` and records the first
time it saw each (id, version) present, and each delete (a row it had seen, gone: the delete's
ledger version is one past the row's). File `<run>/load/hub/sink-seen.jsonl`, one line per
first sight: {"id": .., "version": .., "op": "upsert"|"delete", "seen_ns": ..}. A sight is the
poll that found it, so it is late by up to `interval_s` (the figure says so), never early.
The tail may miss an intermediate version the sink overwrote between two polls: the lag of such
a change is unknown (not counted), not zero.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, NamedTuple

from riftdrill.hub import postgres
from riftdrill.hub.pipeline import DatabaseRef

POLL_INTERVAL_S = 0.2


def seen_path(run_dir: Path) -> Path:
    return run_dir / "load" / "hub" / "sink-seen.jsonl"


class Sight(NamedTuple):
    id: int
    version: int
    op: str  # "upsert" | "delete"
    seen_ns: int


class SinkTail:
    """Polls the sink's table in a thread until stopped; `sights` in the order seen."""

    def __init__(self, sink: DatabaseRef, table: str, out: Path,
                 interval_s: float = POLL_INTERVAL_S) -> None:
        self.sink, self.table, self.out, self.interval_s = sink, table, out, interval_s
        self.sights: list[Sight] = []
        self.polls = 0
        self.failed_polls = 0
        self._known: dict[int, int] = {}  # id -> version last seen present
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rd-sink-tail", daemon=True)

    def start(self) -> SinkTail:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        import psycopg

        conn: Any = None
        with self.out.open("a") as f:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    if conn is None or conn.closed:
                        conn = psycopg.connect(postgres.conninfo(
                            self.sink.address, self.sink.port, self.sink.dbname,
                            connect_timeout_s=2), autocommit=True)
                    rows = conn.execute(f"SELECT id, version FROM {self.table} WHERE id >= 0"
                                        ).fetchall()
                    now_ns = time.time_ns()
                    self.polls += 1
                    for sight in self.observe({int(i): int(v) for i, v in rows}, now_ns):
                        f.write(json.dumps(sight._asdict()) + "\n")
                    f.flush()
                except psycopg.Error:
                    # The table may not exist yet (the sink creates it with the first change),
                    # or the sink is cut off: a gap in the sights, not an error.
                    self.failed_polls += 1
                    if conn is not None:
                        conn.close()
                    conn = None
                self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))
        if conn is not None:
            conn.close()

    def observe(self, present: dict[int, int], now_ns: int) -> list[Sight]:
        """The new sights of one poll (also the unit tests' entry point)."""
        out: list[Sight] = []
        for row_id, version in present.items():
            if self._known.get(row_id) != version:
                out.append(Sight(row_id, version, "upsert", now_ns))
        for row_id, version in self._known.items():
            if row_id not in present:
                out.append(Sight(row_id, version + 1, "delete", now_ns))
        self._known = present
        self.sights += out
        return out


def read_sights(path: Path) -> list[Sight]:
    if not path.is_file():
        return []
    out: list[Sight] = []
    for line in path.read_text().splitlines():
        try:
            d = json.loads(line)
            out.append(Sight(int(d["id"]), int(d["version"]), str(d["op"]), int(d["seen_ns"])))
        except (ValueError, KeyError):
            continue  # a torn last line
    return out
