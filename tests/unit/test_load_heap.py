"""A load process's C heap: malloc's figures read, the heap trimmed, the log read per cloud."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from riftdrill.load import heap, memory


@pytest.mark.skipif(heap._LIBC is None, reason="no glibc malloc on this machine")
def test_a_trim_gives_back_freed_memory_and_reads_what_malloc_holds(tmp_path: Path) -> None:
    # Many mid-sized blocks (below the mmap threshold: they live in the heap), then all but
    # the last freed: the last pins the heap's top, so only a trim inside the heap returns them.
    blocks = [bytearray(64 * 1024) for _ in range(800)]  # 50 MiB
    for b in blocks:
        b[::4096] = b"x" * len(b[::4096])  # touch every page: resident
    pin = blocks[-1]
    del blocks
    sample = heap.trim_and_sample(os.getpid(), now=1000.0)
    assert sample is not None and pin
    assert sample.t == 1000.0 and sample.py_blocks > 0
    assert sample.rss_before_kib is not None and sample.rss_after_kib is not None
    assert sample.rss_before_kib - sample.rss_after_kib > 30 * 1024  # most of the 50 MiB
    assert sample.free_kib > 30 * 1024 and sample.in_use_kib > 0
    heap.append(tmp_path, sample)
    heap.append(tmp_path, sample)
    lines = [json.loads(x) for x in (tmp_path / memory.HEAP_FILE).read_text().splitlines()]
    assert len(lines) == 2 and lines[0]["in_use_kib"] == sample.in_use_kib


def test_heap_figures_fit_the_in_use_growth_per_cloud_and_what_trims_returned(
        tmp_path: Path) -> None:
    load = tmp_path / "load"
    for worker, growth_kib_per_s in (("aws-0-11", 0.0), ("gcp-0-12", 10.0)):
        d = load / "workers" / worker
        d.mkdir(parents=True)
        with open(d / memory.HEAP_FILE, "w") as f:
            for i in range(1, 121):  # an hour of trims, one every TRIM_EVERY_S
                t = 5000.0 + i * memory.TRIM_EVERY_S
                in_use = 40 * 1024 + growth_kib_per_s * (t - 5000.0)
                f.write(json.dumps({"t": t, "rss_before_kib": 90_000 + i % 3 * 1024,
                                    "rss_after_kib": 90_000, "in_use_kib": int(in_use),
                                    "free_kib": 1, "mmap_kib": 0, "py_blocks": 1}) + "\n")
            f.write('{"t": 9999, "in_use')  # cut by a crash
    figs = memory.heap_figures(load)
    assert set(figs) == {"aws", "gcp"}
    assert figs["aws"].trims == 120 and figs["aws"].in_use_slope_mib_per_h == 0.0
    assert figs["gcp"].in_use_slope_mib_per_h == pytest.approx(10 * 3600 / 1024, abs=0.05)
    assert figs["aws"].returned_median_mib == 1.0 and figs["aws"].returned_max_mib == 2.0
    assert memory.heap_figures(tmp_path / "nothing") == {}


_MAPPED = """
import sys
from riftdrill.load import heap
big = bytearray(1 << 20)
del big  # a mapped chunk freed: glibc raises its threshold past 1 MiB (dynamic)
if sys.argv[1] == "pin":
    assert heap.fix_mmap_threshold()
before = heap._LIBC.mallinfo2().hblkhd
held = [bytearray(200 * 1024) for _ in range(10)]
print((heap._LIBC.mallinfo2().hblkhd - before) // 1024)
"""


@pytest.mark.skipif(heap._LIBC is None, reason="no glibc malloc on this machine")
def test_a_pinned_mmap_threshold_maps_large_buffers_the_heap_would_grow_for() -> None:
    # In a fresh interpreter each: after a freed 1 MiB buffer, 2 MiB of 200 KiB buffers grow
    # the heap (none mapped) unless the threshold is pinned (those the heap's top cannot hold
    # are mapped, and unmapped when freed).
    def mapped_kib(mode: str) -> int:
        proc = subprocess.run([sys.executable, "-c", _MAPPED, mode], capture_output=True,
                              text=True, timeout=60, check=True)  # fmt: skip
        return int(proc.stdout.strip())

    assert mapped_kib("dynamic") == 0
    assert mapped_kib("pin") >= 5 * 200


def test_the_metrics_reuse_written_seconds_histograms_cleared(tmp_path: Path) -> None:
    from riftdrill.load import histograms
    from riftdrill.load.metrics import ProcessMetrics

    m = ProcessMetrics(tmp_path / "metrics.jsonl")
    first = m._new(100)
    for v in (5, 50, 5000):
        histograms.record_us(first.hists["ack_latency"], v)
    first.acked = 3
    m.write_completed(final=True)
    again = m._new(101)
    assert again.hists is first.hists  # the same arrays, cleared
    fresh = histograms.new_histogram()
    assert histograms.encode(again.hists["ack_latency"]) == histograms.encode(fresh)
    assert again.hists["ack_latency"].get_total_count() == 0
    histograms.record_us(again.hists["ack_latency"], 7)
    histograms.record_us(fresh, 7)
    assert histograms.encode(again.hists["ack_latency"]) == histograms.encode(fresh)
    m.write_completed(final=True)
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [d["t"] for d in lines] == [100, 101] and lines[0]["acked"] == 3
    assert histograms.decode(lines[1]["hist_us"]["ack_latency"]).get_total_count() == 1
    assert histograms.decode(lines[0]["hist_us"]["ack_latency"]).get_total_count() == 3


_JEMALLOC = """
import os
from riftdrill.load import heap
assert not heap.fix_mmap_threshold()  # glibc's knob: nothing to pin under jemalloc
blocks = [bytearray(64 * 1024) for _ in range(800)]  # 50 MiB, every page touched
for b in blocks:
    b[::4096] = b"x" * len(b[::4096])
held = heap.trim_and_sample(os.getpid())
del blocks
freed = heap.trim_and_sample(os.getpid())
print(held.allocator, held.in_use_kib, freed.in_use_kib, freed.free_kib,
      freed.rss_before_kib - freed.rss_after_kib)
"""


def test_under_jemalloc_the_log_reads_jemallocs_figures_and_the_trim_purges() -> None:
    # `make setup` installs libjemalloc2; the load processes run with it preloaded
    from riftdrill.load import allocator

    jemalloc = allocator.resolve("jemalloc")
    proc = subprocess.run([sys.executable, "-c", _JEMALLOC], capture_output=True, text=True,
                          timeout=60, check=True, env=jemalloc.env(os.environ))  # fmt: skip
    name, held_kib, in_use_kib, free_kib, returned_kib = proc.stdout.split()
    assert name == "jemalloc"
    assert int(held_kib) - int(in_use_kib) > 40 * 1024  # what the program freed left "in use"
    assert int(free_kib) > 30 * 1024  # freed, still resident until the purge
    assert int(returned_kib) > 30 * 1024  # the purge gave it back
