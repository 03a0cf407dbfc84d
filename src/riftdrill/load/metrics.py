"""Per-process metrics: counters and HDR histograms bucketed by wall-clock second.

Each load process writes `load/workers/<worker>/metrics.jsonl`, one JSON line per completed
second (counters + encoded histograms), so the runner can show live progress and merge every
process (and distributed Locust workers) into one timeline afterwards.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from riftdrill.load import histograms

HIST_NAMES = ("ack_latency", "e2e_latency", "publish_delay")
SPARE_HISTOGRAM_SETS = 4  # written seconds' histograms kept for reuse (one or two are open)


@dataclass
class SecondBucket:
    second: int
    sent: int = 0
    acked: int = 0
    failed: int = 0
    consumed: int = 0
    corrupt: int = 0
    rebalances: int = 0
    producer_restarts: int = 0  # producers recreated after a fatal client error
    # the process's main thread in this second (load/schedstat.py): on a CPU, waiting for one
    main_cpu_ms: float | None = None
    main_wait_ms: float | None = None
    hists: dict[str, HdrHistogram] = field(
        default_factory=lambda: {n: histograms.new_histogram() for n in HIST_NAMES}
    )

    def to_json(self, lag: int | None) -> dict[str, Any]:
        return {
            "t": self.second,
            "sent": self.sent,
            "acked": self.acked,
            "failed": self.failed,
            "consumed": self.consumed,
            "corrupt": self.corrupt,
            "rebalances": self.rebalances,
            "producer_restarts": self.producer_restarts,
            "lag": lag,
            **({"main_cpu_ms": round(self.main_cpu_ms, 2), "main_wait_ms": round(self.main_wait_ms, 2)}
               if self.main_cpu_ms is not None and self.main_wait_ms is not None else {}),
            "hist_us": {n: histograms.encode(h) for n, h in self.hists.items()},
        }


class ProcessMetrics:
    """Samples from every user of one process; `write_completed` appends finished seconds."""

    def __init__(self, out_path: Path) -> None:
        self.out_path = out_path
        out_path.parent.mkdir(parents=True, exist_ok=True)
        self._out = open(out_path, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
        self._buckets: dict[int, SecondBucket] = {}
        self._lag_by_consumer: dict[int, int] = {}
        self.totals = SecondBucket(0)
        # the histograms of written seconds, cleared for the next ones: three 184 KiB arrays a
        # second allocated and freed fragmented the process's heap over an hour
        self._spare: list[dict[str, HdrHistogram]] = []

    def _new(self, sec: int) -> SecondBucket:
        b = self._buckets[sec] = (SecondBucket(sec, hists=self._spare.pop()) if self._spare
                                  else SecondBucket(sec))  # fmt: skip
        return b

    def _bucket(self) -> SecondBucket:
        sec = int(time.time())
        b = self._buckets.get(sec)
        if b is None:
            b = self._new(sec)
        return b

    def sent(self, publish_delay_us: float) -> None:
        b = self._bucket()
        b.sent += 1
        self.totals.sent += 1
        histograms.record_us(b.hists["publish_delay"], publish_delay_us)

    def acked(self, ack_latency_us: float) -> None:
        b = self._bucket()
        b.acked += 1
        self.totals.acked += 1
        histograms.record_us(b.hists["ack_latency"], ack_latency_us)

    def failed(self) -> None:
        self._bucket().failed += 1
        self.totals.failed += 1

    def consumed(self, e2e_latency_us: float, checksum_ok: bool = True) -> None:
        b = self._bucket()
        b.consumed += 1
        self.totals.consumed += 1
        if not checksum_ok:
            b.corrupt += 1
            self.totals.corrupt += 1
        histograms.record_us(b.hists["e2e_latency"], e2e_latency_us)

    def rebalanced(self) -> None:
        self._bucket().rebalances += 1
        self.totals.rebalances += 1

    def producer_restarted(self) -> None:
        self._bucket().producer_restarts += 1
        self.totals.producer_restarts += 1

    def thread_times(self, second: int, cpu_ms: float, wait_ms: float) -> None:
        """The main thread's CPU and run-queue wait over `second` (one that has ended)."""
        b = self._buckets.get(second)
        if b is None:
            b = self._new(second)
        b.main_cpu_ms, b.main_wait_ms = cpu_ms, wait_ms

    def set_lag(self, consumer_id: int, lag: int) -> None:
        self._lag_by_consumer[consumer_id] = lag

    def lag(self) -> int | None:
        return sum(self._lag_by_consumer.values()) if self._lag_by_consumer else None

    def write_completed(self, final: bool = False) -> None:
        """Append every second that has ended (all of them when `final`)."""
        now = int(time.time())
        lag = self.lag()
        for sec in sorted(self._buckets):
            if sec < now or final:
                b = self._buckets.pop(sec)
                self._out.write(json.dumps(b.to_json(lag)) + "\n")
                if len(self._spare) < SPARE_HISTOGRAM_SETS:
                    for h in b.hists.values():
                        histograms.clear(h)
                    self._spare.append(b.hists)
        self._out.flush()

    def close(self) -> None:
        if not self._out.closed:
            self.write_completed(final=True)
            self._out.close()


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Lines of one metrics.jsonl; a half-written last line (crash, live read) is skipped."""
    out: list[dict[str, Any]] = []
    try:
        text = path.read_text()
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out
