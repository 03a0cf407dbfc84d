"""Locust's per-second counters and chart history, bounded to a window over a simulated hour.

Locust monkey-patches the standard library when imported (gevent), so the hour runs in a child
interpreter, as tests/unit/test_load_drain.py does; the clock is Locust's, faked.
"""

from __future__ import annotations

import json
import subprocess
import sys

from riftdrill.load import locuststats

_HOUR = """
import json, sys
from locust import stats as locust_stats
from locust.stats import RequestStats
from riftdrill.load import locuststats

prune_every_s = int(sys.argv[1])
clock = [1_800_000_000.0]
locust_stats.time.time = lambda: clock[0]
rs = RequestStats()

class Runner:  # what update_stats_history reads of a runner
    stats, user_count = rs, 2

for second in range(3600):
    clock[0] = 1_800_000_000.0 + second
    rs.log_request("produce", "t", 3, 100)
    rs.log_request("consume", "t", 5, 100)
    if second % 7 == 0:
        rs.log_error("produce", "t", "boom")
    if second % 5 == 0:
        locust_stats.update_stats_history(Runner)
    if prune_every_s and second % prune_every_s == 0:
        locuststats.prune(rs, clock[0])
entries = [*rs.entries.values(), rs.total]
out = {
    "reqs_per_sec_max": max(len(e.num_reqs_per_sec) for e in entries),
    "fail_per_sec_max": max(len(e.num_fail_per_sec) for e in entries),
    "history": len(rs.history), "requests": rs.total.num_requests,
    "failures": rs.total.num_failures, "current_rps": rs.total.current_rps,
}
out["dropped_idle"] = locuststats.prune(rs, clock[0] + 3600)  # an idle hour later: all old
out["reqs_per_sec_after_idle"] = len(rs.total.num_reqs_per_sec)
out["history_after_idle"] = len(rs.history)
print(json.dumps(out))
"""


def _hour(prune_every_s: int) -> dict[str, float]:
    proc = subprocess.run([sys.executable, "-c", _HOUR, str(prune_every_s)],
                          capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    out: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def test_unpruned_locust_grows_with_the_run() -> None:
    # The premise: without pruning, every counter holds the whole hour.
    out = _hour(0)
    assert out["reqs_per_sec_max"] == 3600 and out["history"] == 720


def test_pruning_keeps_a_window_and_locust_still_reports() -> None:
    out = _hour(30)
    assert out["reqs_per_sec_max"] <= locuststats.KEEP_S + 30
    assert out["fail_per_sec_max"] <= (locuststats.KEEP_S + 30) // 7 + 1
    assert out["history"] <= locuststats.HISTORY_KEEP + 6
    # What Locust still reads: totals for the whole run, the current rate from the window.
    assert out["requests"] == 7200 and out["failures"] == 515
    assert abs(out["current_rps"] - 2.0) < 1e-9
    assert out["dropped_idle"] > 0 and out["reqs_per_sec_after_idle"] == 0
    assert out["history_after_idle"] == locuststats.HISTORY_KEEP
