"""Stopping a drill early: one event, set by the riftdrill control when the run is interrupted
(Ctrl-C, SIGTERM) or ends, and a sleep that ends as soon as it is set.

A signal interrupts only the main thread's sleep (its handler raises there). A wait in another
thread (a background activity) sleeps on this event instead, so it ends within the same second.
"""

from __future__ import annotations

import threading

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
