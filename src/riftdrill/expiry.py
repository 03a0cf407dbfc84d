"""When a fault expires by itself: the deadline rule every cloud fault carries.

A drill holds a fault `hold_s`, then heals it. Should the runner die, the clouds heal it anyway:
each cloud object a fault changes carries the fault's deadline (a tag, a bucket policy Sid, a
label, a marker object: `riftdrill.cloud.reaper`), and a reaper inside each cloud undoes what is
past its deadline. The deadline is `injected + hold_s + MARGIN_S`; the reaper runs every
`REAPER_PERIOD_S`, so a dead runner leaves a cloud broken for at most
`hold_s + MARGIN_S + REAPER_PERIOD_S` plus one heal's API calls: under `hold_s + 300`.

A fault injected by hand (`riftdrill fault ...`) has no hold: it gets `UNTIMED_HOLD_S`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime

from riftdrill.inventory import Fault

MARGIN_S = 180  # room for a slow heal by the runner before the reaper steps in
REAPER_PERIOD_S = 60  # the reapers' schedule (EventBridge / Cloud Scheduler, every minute)
MAX_OVERRUN_S = 300  # the promise: broken for at most hold + 5 minutes
UNTIMED_HOLD_S = 900  # a fault injected by hand: 15 minutes, then the reaper heals it


def deadline_s(injected_s: float, hold_s: float | None) -> int:
    """Epoch second after which a fault injected at `injected_s` and held `hold_s` (None: by
    hand) may be undone by a reaper."""
    hold = UNTIMED_HOLD_S if hold_s is None else max(0.0, hold_s)
    return int(injected_s + hold + MARGIN_S) + 1


def fault_deadline_s(fault: Fault) -> int:
    """The fault's recorded deadline; one recorded before deadlines existed gets the by-hand
    one, counted from its start."""
    if fault.expires_at is not None:
        return fault.expires_at
    return deadline_s(datetime.fromisoformat(fault.started_at).timestamp(), None)


def live(faults: Iterable[Fault], now_s: float | None = None) -> list[Fault]:
    """The faults whose deadline is still ahead: what a cloud should hold. A recorded fault past
    its deadline is one a reaper may already have undone; applying it again would break the
    promise, so the drivers leave it out (`riftdrill heal` still forgets it)."""
    now = time.time() if now_s is None else now_s
    return [f for f in faults if fault_deadline_s(f) > now]
