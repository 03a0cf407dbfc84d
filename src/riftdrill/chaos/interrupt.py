"""Stopping a drill early: one event, set by the riftdrill control when the run is interrupted
(Ctrl-C, SIGTERM) or ends, and a sleep that ends as soon as it is set.

A signal interrupts only the main thread's sleep (its handler raises there). A wait in another
thread (a background activity) sleeps on this event instead, so it ends within the same second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

STOP = threading.Event()


def request_stop() -> None:
    STOP.set()


def stop_requested() -> bool:
    return STOP.is_set()


def reset() -> None:
    """A new run in this process (tests, or a second experiment) starts un-interrupted."""
    STOP.clear()


def sleep_s(seconds: float) -> bool:
    """Sleep `seconds`; False as soon as a stop is requested (True: slept the whole time)."""
    return not STOP.wait(timeout=max(0.0, seconds))


def sleep_while(alive: Callable[[], bool], check_every_s: float = 1.0) -> Callable[[float], bool]:
    """A `sleep_s` that also ends (False) once `alive()` turns false, checked every
    `check_every_s`: a soak's nemesis stops when the runner that owns the run is gone."""
    def sleep(seconds: float) -> bool:
        deadline = time.monotonic() + max(0.0, seconds)
        while True:
            if not alive():
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            if not sleep_s(min(left, check_every_s)):
                return False
    return sleep
