"""The hub's workload: inserts, updates and deletes on the source database at an open-model
rate, every attempt in the row-change ledger (hub/rows.py) with its outcome.

One run owns one table, `rd_rows_<run>`, created here (so its history starts empty) with
REPLICA IDENTITY FULL (a delete's CDC event then carries the row's last version). Every
statement is its own transaction and is conditional on the version the workload knows (see
hub/rows.py), so the ledger's versions are the truth: a change that touched no row failed. A
connection lost during a statement leaves its outcome `unknown`; the workload reads such rows
back before it touches them again, so it never builds on a guess.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from riftdrill.errors import ValidationError
from riftdrill.hub import pipeline, postgres
from riftdrill.hub.rows import (
    Op,
    RowChange,
    RowsHeader,
    RowsWriter,
    fence_id,
    payload,
    payload_crc,
    rows_path,
)

# The mix, once the table has MIN_LIVE rows: an insert of a new id (or a re-insert of a
# deleted one), an update or a delete of a random live row.
INSERT_SHARE = 0.4
DELETE_SHARE = 0.15
MIN_LIVE = 20
MAX_RATE_PER_S = 2000.0
MAX_DURATION_S = 24 * 3600.0
CONNECT_TIMEOUT_S = 3
RECONNECT_S = 1.0  # one reconnect attempt's budget while the source is away
RETRY_S = 0.5  # between such attempts


@dataclass
class RowsSpec:
    table: str
    source: pipeline.DatabaseRef
    source_cloud: str
    rate_per_s: float
    duration_s: float
    seed: int = 0

    def validate(self) -> None:
        if not self.table.startswith(pipeline.TABLE_PREFIX) or not self.table.replace("_", "").isalnum():
            raise ValidationError(f"table {self.table!r}: the hub captures tables named "
                                  f"{pipeline.TABLE_PREFIX}<letters/digits> only")
        if not 0 < self.rate_per_s <= MAX_RATE_PER_S:
            raise ValidationError(f"rate {self.rate_per_s}/s out of range: 0 < rate <= "
                                  f"{MAX_RATE_PER_S:.0f} changes/s")
        if not 0 < self.duration_s <= MAX_DURATION_S:
            raise ValidationError(f"duration {self.duration_s} s out of range: 0 < duration <= "
                                  f"{MAX_DURATION_S:.0f} s")


@dataclass
class RowsResult:
    attempted: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: {"ok": 0, "failed": 0, "unknown": 0})
    behind_max_s: float = 0.0  # the worst lateness of a start against its intended time


def table_for(run_id: str, now_ns: int | None = None) -> str:
    """The run's table: `rd_rows_`, the run id's letters and digits (lower case, at most 40),
    and the start in ms (hex): a run id used twice still gets a table of its own."""
    ms = (now_ns or time.time_ns()) // 1_000_000
    name = "".join(c for c in run_id.lower() if c.isalnum())[:40]
    return f"{pipeline.TABLE_PREFIX}{name}_{ms:x}"


def create_table(conn: Any, table: str) -> None:
    execute = conn.execute
    execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, version bigint NOT NULL, "
            "payload text NOT NULL)")
    execute(f"ALTER TABLE {table} REPLICA IDENTITY FULL")


def run_rows(spec: RowsSpec, run_dir: Path,
             progress: Callable[[str], None] | None = None,
             stop: threading.Event | None = None) -> RowsResult:
    """Create the table, run the schedule, record every change; bounded by `duration_s`, ended
    early when `stop` is set (the drill's load stops)."""
    import psycopg

    spec.validate()
    rng = random.Random(spec.seed)
    conninfo = postgres.conninfo(spec.source.address, spec.source.port, spec.source.dbname,
                                 connect_timeout_s=CONNECT_TIMEOUT_S)
    conn: Any = psycopg.connect(conninfo, autocommit=True)
    create_table(conn, spec.table)
    start_ns = time.time_ns()
    header = RowsHeader(table=spec.table, source_cloud=spec.source_cloud, start_ns=start_ns,
                        fence_id=fence_id(start_ns))
    live: dict[int, int] = {}  # id -> version of the row as the workload knows it
    dead: dict[int, int] = {}  # deleted id -> the delete's version
    uncertain: set[int] = set()  # ids whose last change is `unknown`
    next_id = 0
    result = RowsResult()
    interval_ns = int(1e9 / spec.rate_per_s)
    end_ns = start_ns + int(spec.duration_s * 1e9)
    last_progress = time.monotonic()
    retry_ns = 0
    with RowsWriter(rows_path(run_dir), header) as ledger:
        n = 0
        while True:
            intended_ns = start_ns + n * interval_ns
            if intended_ns >= end_ns or (stop is not None and stop.is_set()):
                break
            n += 1
            wait_s = (intended_ns - time.time_ns()) / 1e9
            if wait_s > 0 and stop is not None and stop.wait(wait_s):
                break
            if wait_s > 0 and stop is None:
                time.sleep(wait_s)
            unreachable = False
            if conn is None or conn.closed:
                # Tried at most every RETRY_S: the changes due meanwhile fail at once, so the
                # schedule keeps its times through an outage instead of bunching up after it.
                if time.time_ns() >= retry_ns:
                    conn = _reconnect(conninfo, time.time_ns() + int(RECONNECT_S * 1e9))
                    retry_ns = time.time_ns() + int(RETRY_S * 1e9)
                unreachable = conn is None
            if not unreachable and uncertain and not _settle(conn, spec.table, uncertain, live,
                                                             dead):
                conn.close()
                unreachable = True
            op, row_id, version = _choose(rng, live, dead, next_id)
            if op == "insert" and row_id == next_id:
                next_id += 1
            text = payload(row_id, version)
            begin_ns = time.time_ns()
            result.behind_max_s = max(result.behind_max_s, (begin_ns - intended_ns) / 1e9)
            error: str | None = None
            if unreachable:
                # Not attempted, still in the history: an outage shows as failed changes, not
                # as a quiet gap in the schedule.
                ledger.append(RowChange(op=op, id=row_id, version=version,
                                        payload_crc=None if op == "delete" else payload_crc(text),
                                        intended_ns=intended_ns, start_ns=begin_ns,
                                        done_ns=time.time_ns(), outcome="failed",
                                        error="not attempted: the source is unreachable"))
                result.attempted += 1
                result.outcomes["failed"] += 1
                continue
            try:
                if op == "insert":
                    cur = conn.execute(f"INSERT INTO {spec.table} (id, version, payload) VALUES "
                                       "(%s, %s, %s) ON CONFLICT (id) DO NOTHING",
                                       (row_id, version, text))
                elif op == "update":
                    cur = conn.execute(f"UPDATE {spec.table} SET version = %s, payload = %s "
                                       "WHERE id = %s AND version = %s",
                                       (version, text, row_id, version - 1))
                else:
                    cur = conn.execute(f"DELETE FROM {spec.table} WHERE id = %s AND version = %s",
                                       (row_id, version - 1))
                outcome = "ok" if cur.rowcount == 1 else "failed"
                if outcome == "failed":
                    error = "touched no row"
            except psycopg.OperationalError as exc:
                outcome, error = "unknown", str(exc).strip().splitlines()[0][:200]
                conn.close()
            except psycopg.Error as exc:
                outcome, error = "failed", str(exc).strip().splitlines()[0][:200]
            done_ns = time.time_ns()
            ledger.append(RowChange(op=op, id=row_id, version=version,
                                    payload_crc=None if op == "delete" else payload_crc(text),
                                    intended_ns=intended_ns, start_ns=begin_ns, done_ns=done_ns,
                                    outcome=outcome, error=error))  # type: ignore[arg-type]
            result.attempted += 1
            result.outcomes[outcome] += 1
            if outcome == "ok":
                _apply(op, row_id, version, live, dead)
            elif outcome == "unknown":
                uncertain.add(row_id)
                # Until read back: assume applied, the settle corrects it.
                _apply(op, row_id, version, live, dead)
            if progress is not None and time.monotonic() - last_progress >= 5:
                last_progress = time.monotonic()
                progress(f"rows: {result.attempted} changes, {result.outcomes}")
    if conn is not None and not conn.closed:
        conn.close()
    return result


def _choose(rng: random.Random, live: dict[int, int], dead: dict[int, int],
            next_id: int) -> tuple[Op, int, int]:
    roll = rng.random()
    if len(live) < MIN_LIVE or roll < INSERT_SHARE:
        if dead and rng.random() < 0.25:
            row_id = rng.choice(list(dead))
            return "insert", row_id, dead[row_id] + 1
        return "insert", next_id, 1
    row_id = rng.choice(list(live))
    op: Op = "delete" if roll < INSERT_SHARE + DELETE_SHARE else "update"
    return op, row_id, live[row_id] + 1


def _apply(op: Op, row_id: int, version: int, live: dict[int, int], dead: dict[int, int]) -> None:
    if op == "delete":
        live.pop(row_id, None)
        dead[row_id] = version
    else:
        dead.pop(row_id, None)
        live[row_id] = version


def _settle(conn: Any, table: str, uncertain: set[int], live: dict[int, int],
            dead: dict[int, int]) -> bool:
    """Read back the rows whose last change is unknown; False when the source is unreachable."""
    import psycopg

    try:
        for row_id in sorted(uncertain):
            row = conn.execute(f"SELECT version FROM {table} WHERE id = %s",
                               (row_id,)).fetchone()
            if row is None:
                # Absent: deleted (the unknown delete applied, or the unknown insert did not).
                version = max(live.pop(row_id, 0), dead.get(row_id, 0))
                dead[row_id] = version
            else:
                dead.pop(row_id, None)
                live[row_id] = int(row[0])
        uncertain.clear()
        return True
    except psycopg.Error:
        return False


def _reconnect(conninfo: str, deadline_ns: int) -> Any:
    import psycopg

    while time.time_ns() < deadline_ns:
        try:
            return psycopg.connect(conninfo, autocommit=True)
        except psycopg.Error:
            time.sleep(0.5)
    return None
