"""The C heap of a load process: what it holds, and giving back what it only keeps.

An hour's soak grew each Locust process's resident set by 27-36 MiB/h (docs/findings.md) while
its Python side keeps no per-record state. glibc's malloc keeps freed memory in its arenas
(one per thread that allocates: librdkafka's broker threads among them) and gives it back
only from the top of a heap, so the peaks of a fault (sends queued while a partition has no
leader, fetch buffers after a rebalance) stay resident. A load process therefore trims its
heap every memory.TRIM_EVERY_S (`malloc_trim(0)`: every arena, also free pages inside a
heap) and logs, each time, what malloc holds in use (a leak grows this) and what the trim
returned (retention grows this) to `load/workers/<worker>/heap.jsonl` (memory.HEAP_FILE).
Without glibc (musl) there is nothing to read or trim: the log stays empty.

Trimming alone left the resident set rising while malloc's in-use figure stayed flat: the
growth was free chunks between live ones in the main heap. glibc raises its mmap threshold
each time a mapped chunk is freed (the "dynamic threshold"), so after the first few a load
process's large transient buffers (a per-second HDR histogram is 184 KiB, its encoding as
much again) grow the heap and fragment it. `fix_mmap_threshold` pins the threshold at
MMAP_THRESHOLD_BYTES once, at the process's start: a large buffer the heap's free space cannot
hold is mapped (and unmapped when freed) instead of growing the heap. The per-second
histograms themselves are reused, cleared (load/metrics.py), not allocated anew.

With jemalloc preloaded (load/allocator.py) the same log reads jemalloc's own statistics
(`mallctl`): in use is what the program holds allocated, free what jemalloc keeps resident beyond
that (partly used pages, dirty pages before their decay, its metadata), and the trim purges every
arena's dirty pages. Each sample names the allocator it read.
"""

from __future__ import annotations

import ctypes
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from riftdrill.load.memory import HEAP_FILE, rss_kib


class _Mallinfo2(ctypes.Structure):
    # glibc >= 2.33, struct mallinfo2: every field a size_t
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]  # fmt: skip


def _own_symbols() -> ctypes.CDLL | None:
    """The process's own symbols: its malloc's among them (jemalloc's when it was preloaded)."""
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def _jemalloc(lib: ctypes.CDLL | None) -> ctypes.CDLL | None:
    """jemalloc when it is this process's malloc (preloaded: its `mallctl` is a global symbol)."""
    if lib is None or not hasattr(lib, "mallctl"):
        return None
    lib.mallctl.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t),
                            ctypes.c_void_p, ctypes.c_size_t]  # fmt: skip
    lib.mallctl.restype = ctypes.c_int
    return lib


def _libc(lib: ctypes.CDLL | None) -> ctypes.CDLL | None:
    """glibc's malloc, when the process has its mallinfo2 and malloc_trim."""
    if lib is None or not (hasattr(lib, "mallinfo2") and hasattr(lib, "malloc_trim")):
        return None
    lib.mallinfo2.restype = _Mallinfo2
    lib.malloc_trim.argtypes = [ctypes.c_size_t]
    lib.malloc_trim.restype = ctypes.c_int
    lib.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.mallopt.restype = ctypes.c_int
    return lib


_SELF = _own_symbols()
_JEMALLOC = _jemalloc(_SELF)
# glibc's figures say nothing under jemalloc
_LIBC = None if _JEMALLOC is not None else _libc(_SELF)
_ARENAS_ALL = 4096  # jemalloc's MALLCTL_ARENAS_ALL: "arena.4096.purge" purges every arena
_M_MMAP_THRESHOLD = -3  # glibc's malloc.h
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's default start, pinned: no dynamic raise


def fix_mmap_threshold(threshold_bytes: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Pin glibc's mmap threshold (setting it turns the dynamic adjustment off); False
    without glibc's malloc (jemalloc has no such threshold)."""
    return _LIBC is not None and _LIBC.mallopt(_M_MMAP_THRESHOLD, threshold_bytes) == 1


@dataclass(frozen=True)
class HeapSample:
    t: float  # wall clock, seconds
    rss_before_kib: int | None
    rss_after_kib: int | None  # after the trim
    in_use_kib: int  # malloc'd and not freed: arenas' chunks in use + mmapped chunks
    # before the trim: glibc's free chunks in its arenas; jemalloc's resident beyond allocated
    free_kib: int
    mmap_kib: int  # glibc's chunks of their own mapping (large allocations); 0 under jemalloc
    py_blocks: int  # Python's small-object blocks in use (sys.getallocatedblocks)
    allocator: str = "glibc"  # whose figures these are: "glibc" or "jemalloc"


def _mallctl_size(lib: ctypes.CDLL, name: str) -> int:
    value = ctypes.c_size_t(0)
    size = ctypes.c_size_t(ctypes.sizeof(value))
    if lib.mallctl(name.encode(), ctypes.byref(value), ctypes.byref(size), None, 0) != 0:
        return 0  # a build without statistics: the figure reads 0, the log says jemalloc
    return int(value.value)


def _jemalloc_sample(lib: ctypes.CDLL, pid: int, now: float | None) -> HeapSample:
    epoch = ctypes.c_uint64(1)
    size = ctypes.c_size_t(ctypes.sizeof(epoch))
    # statistics are a snapshot taken when the epoch advances
    lib.mallctl(b"epoch", ctypes.byref(epoch), ctypes.byref(size), ctypes.byref(epoch),
                ctypes.sizeof(epoch))  # fmt: skip
    allocated = _mallctl_size(lib, "stats.allocated")
    resident = _mallctl_size(lib, "stats.resident")
    before = rss_kib(pid)
    lib.mallctl(f"arena.{_ARENAS_ALL}.purge".encode(), None, None, None, 0)
    return HeapSample(
        t=round(time.time() if now is None else now, 3), rss_before_kib=before,
        rss_after_kib=rss_kib(pid), in_use_kib=allocated // 1024,
        free_kib=max(0, resident - allocated) // 1024, mmap_kib=0,
        py_blocks=sys.getallocatedblocks(), allocator="jemalloc")  # fmt: skip


def trim_and_sample(pid: int, now: float | None = None) -> HeapSample | None:
    """Read malloc's figures, trim every arena, and say what that returned (None without
    glibc's malloc or jemalloc)."""
    if _JEMALLOC is not None:
        return _jemalloc_sample(_JEMALLOC, pid, now)
    if _LIBC is None:
        return None
    before = rss_kib(pid)
    info = _LIBC.mallinfo2()
    _LIBC.malloc_trim(0)
    return HeapSample(
        t=round(time.time() if now is None else now, 3), rss_before_kib=before,
        rss_after_kib=rss_kib(pid), in_use_kib=(info.uordblks + info.hblkhd) // 1024,
        free_kib=info.fordblks // 1024, mmap_kib=info.hblkhd // 1024,
        py_blocks=sys.getallocatedblocks())  # fmt: skip


def append(worker_dir: Path, sample: HeapSample) -> None:
    with open(worker_dir / HEAP_FILE, "a", encoding="utf-8") as f:
        f.write(json.dumps(asdict(sample)) + "\n")
