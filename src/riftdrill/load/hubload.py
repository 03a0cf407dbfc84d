"""The hub's row workload run beside a load: `riftdrill hub load` in the foreground, and the
drills' background load on a hub lab (load/runner.py), one way.

`start` creates the run's table and starts the workload in a thread, with a tail on the sink's
table; `stop` ends the workload at once (the drill's producers stop at the same moment);
`finish` waits until the sink shows every change's final state or the drain deadline, and
writes `<run>/load/hub/change-lag.json` (hub/lag.py's figures, `drain_s`, the series).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from riftdrill.errors import RiftdrillError, ValidationError
from riftdrill.hub.lag import ChangeLag, ChangeLagFile, change_lag_path, compute_change_lag
from riftdrill.hub.pipeline import DatabaseRef
from riftdrill.hub.rows import read_rows, rows_path
from riftdrill.hub.sinktail import POLL_INTERVAL_S, SinkTail, seen_path
from riftdrill.inventory import Hub
from riftdrill.load.rows import RowsResult, RowsSpec, run_rows, table_for

DEFAULT_DRAIN_S = 60.0
MAX_DRAIN_S = 3600.0
START_TIMEOUT_S = 15.0  # the source answers and the table exists, or the start fails


def rows_spec(hub: Hub, run_dir: Path, rate_per_s: float, duration_s: float,
              seed: int = 0) -> RowsSpec:
    src = hub.database("source")
    spec = RowsSpec(table=table_for(run_dir.name), source=DatabaseRef(src.address, src.port),
                    source_cloud=src.cloud, rate_per_s=rate_per_s, duration_s=duration_s,
                    seed=seed)
    spec.validate()
    return spec


def check_drain(drain_s: float) -> None:
    if not 0 <= drain_s <= MAX_DRAIN_S:
        raise ValidationError(f"hub drain {drain_s} s out of range: 0 <= drain <= "
                              f"{MAX_DRAIN_S:.0f} s")


@dataclass
class HubOutcome:
    table: str
    result: RowsResult
    lag: ChangeLag
    drain_s: float | None  # None: the sink never showed every final state within the drain
    error: str | None = None  # the workload thread's failure, if it failed

    def summary(self) -> dict[str, Any]:
        lag = ChangeLagFile.of(self.lag, self.drain_s).model_dump(
            exclude={"series", "workload_error"})
        return {"table": self.table, "attempted": self.result.attempted,
                "outcomes": self.result.outcomes,
                "behind_max_s": round(self.result.behind_max_s, 3),
                "change_lag": lag, "error": self.error}


@dataclass
class HubLoad:
    spec: RowsSpec
    run_dir: Path
    sink: DatabaseRef
    drain_s: float
    progress: Callable[[str], None] | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _result: RowsResult | None = None
    _error: str | None = None
    _thread: threading.Thread | None = None
    _tail: SinkTail | None = None

    def _work(self) -> None:
        try:
            self._result = run_rows(self.spec, self.run_dir, self.progress, stop=self._stop)
        except Exception as exc:  # recorded, judged by the caller: a thread cannot raise
            self._error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}"

    def start(self) -> HubLoad:
        """Start the tail and the workload; raise once if the workload cannot begin (the source
        unreachable, the table not created), leaving nothing running."""
        if rows_path(self.run_dir).exists():
            raise ValidationError(f"{rows_path(self.run_dir)} exists: a run's workload runs once; "
                                  "name a new run")
        self._tail = SinkTail(self.sink, self.spec.table, seen_path(self.run_dir)).start()
        self._thread = threading.Thread(target=self._work, name="rd-hub-rows", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not rows_path(self.run_dir).exists() and self._thread.is_alive():
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if not rows_path(self.run_dir).exists():
            self.stop()
            self._thread.join(timeout=START_TIMEOUT_S)
            self._tail.stop()
            why = self._error or f"no ledger after {START_TIMEOUT_S:.0f} s"
            raise RiftdrillError(f"the hub's row workload did not start on the source database "
                                 f"{self.spec.source.address}:{self.spec.source.port}: {why}; "
                                 "check `riftdrill status` and the database's log")
        return self

    def stop(self) -> None:
        """End the workload now (idempotent); `finish` drains and writes the figures."""
        self._stop.set()

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def finish(self) -> HubOutcome:
        """Stop, wait for the sink to show every change's final state (at most `drain_s`),
        write change-lag.json; the workload's own error, if any, is in the outcome."""
        assert self._thread is not None and self._tail is not None, "finish before start"
        self.stop()
        self._thread.join()
        ledger = read_rows(rows_path(self.run_dir))
        t0_ns = ledger.header.start_ns
        ended = time.monotonic()
        try:
            while time.monotonic() - ended < self.drain_s:
                lag = compute_change_lag(ledger.changes, list(self._tail.sights), t0_ns,
                                         POLL_INTERVAL_S)
                if lag.never_visible == 0:
                    break
                time.sleep(POLL_INTERVAL_S)
            drained_s = time.monotonic() - ended
        finally:
            self._tail.stop()
        lag = compute_change_lag(ledger.changes, list(self._tail.sights), t0_ns, POLL_INTERVAL_S)
        out = HubOutcome(table=self.spec.table, result=self._result or RowsResult(), lag=lag,
                         drain_s=round(drained_s, 3) if lag.never_visible == 0 else None,
                         error=self._error)
        write_change_lag(self.run_dir, lag, out.drain_s, self._error)
        return out


def write_change_lag(run_dir: Path, lag: ChangeLag, drain_s: float | None,
                     workload_error: str | None = None) -> Path:
    """`<run>/load/hub/change-lag.json`, in the model its readers use (hub/lag.py)."""
    path = change_lag_path(run_dir)
    path.write_text(ChangeLagFile.of(lag, drain_s, workload_error).model_dump_json(indent=2) + "\n")
    return path


def start_hub_load(hub: Hub, run_dir: Path, rate_per_s: float, duration_s: float,
                   drain_s: float = DEFAULT_DRAIN_S, seed: int = 0,
                   progress: Callable[[str], None] | None = None) -> HubLoad:
    check_drain(drain_s)
    spec = rows_spec(hub, run_dir, rate_per_s, duration_s, seed)
    dst = hub.database("sink")
    return HubLoad(spec, run_dir, DatabaseRef(dst.address, dst.port), drain_s,
                   progress).start()
