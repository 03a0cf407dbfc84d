"""Locust's own bookkeeping, kept to a window so a load process holds nothing that grows with
the run.

Locust 2.x keeps, for every stats entry (each request name, and the total), a count per second
of the whole run (`num_reqs_per_sec`, `num_fail_per_sec`) and, for its web charts, a snapshot
every 5 s (`RequestStats.history`). Over an hour that is 3600 dict entries per counter and 720
snapshots per process: a line that rises under any load. riftdrill reads neither (its figures
come from its own per-second metrics and ledgers); Locust itself reads only the last
CURRENT_RESPONSE_TIME_PERCENTILE_WINDOW + 2 seconds of the counters (current RPS), and the
history only for the web UI and --html, which a riftdrill run does not use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importing Locust monkey-patches the standard library (gevent)
    from locust.stats import RequestStats

KEEP_S = 60  # seconds of per-second counters kept: Locust's current RPS reads the last 12
HISTORY_KEEP = 12  # chart snapshots kept (one minute at Locust's 5 s)


def prune(stats: RequestStats, now_s: float, keep_s: int = KEEP_S,
          history_keep: int = HISTORY_KEEP) -> int:
    """Drop per-second counts older than `keep_s` and all but the last `history_keep` chart
    snapshots; returns how many items were dropped."""
    oldest = int(now_s) - keep_s
    dropped = 0
    for entry in [*stats.entries.values(), stats.total]:
        for counts in (entry.num_reqs_per_sec, entry.num_fail_per_sec):
            old = [t for t in counts if t < oldest]
            for t in old:
                del counts[t]
            dropped += len(old)
    extra = len(stats.history) - history_keep
    if extra > 0:
        del stats.history[:extra]
        dropped += extra
    return dropped
