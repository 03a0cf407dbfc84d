"""How much CPU a load process's main thread got each second, and how long it waited for one.

Every send, callback and ledger write of a load process runs on its main thread (gevent), so a
second in which that thread sat runnable on a run queue is a second in which records went out
late for a reason outside the code: a 2-core lab host shares its CPUs with the brokers. The
kernel counts both per thread in /proc/<pid>/task/<tid>/schedstat (time on a CPU, time waiting
on a run queue, in ns); each process writes its main thread's per-second deltas into its metrics
lines (`main_cpu_ms`, `main_wait_ms`), and the load summary's `generator` block says how much
of the run the generator itself was starved.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ThreadTimes:
    cpu_ns: int  # on a CPU
    wait_ns: int  # runnable, waiting on a run queue


def read(pid: int, tid: int | None = None, proc: Path = Path("/proc")) -> ThreadTimes | None:
    """A thread's times so far (the main thread's by default); None where the kernel does not
    keep them (no CONFIG_SCHED_INFO, not Linux)."""
    try:
        fields = (proc / str(pid) / "task" / str(tid or pid) / "schedstat").read_text().split()
        return ThreadTimes(int(fields[0]), int(fields[1]))
    except (OSError, IndexError, ValueError):
        return None


def delta_ms(before: ThreadTimes, after: ThreadTimes) -> tuple[float, float]:
    """(cpu_ms, wait_ms) between two readings."""
    return (after.cpu_ns - before.cpu_ns) / 1e6, (after.wait_ns - before.wait_ns) / 1e6
