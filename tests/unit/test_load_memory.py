"""The load's memory over a run: sampled from /proc, fitted per process, long runs found."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from riftdrill.load import memory


def test_the_resident_set_is_read_from_proc_and_a_gone_process_has_none() -> None:
    kib = memory.rss_kib(os.getpid())
    assert kib is not None and kib > 1024  # a Python with pytest loaded: over a MiB
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert memory.rss_kib(gone.pid) is None


def test_the_sampler_writes_one_line_per_interval_with_only_live_processes(tmp_path: Path) -> None:
    path = tmp_path / memory.MEMORY_FILE
    s = memory.Sampler(path, started=100.0, every_s=10.0)
    pids = {"runner": os.getpid(), "gone": 2**22 + 7}  # above pid_max's default: never a process
    assert [s.maybe_sample(pids, now=t) for t in (100.0, 105.0, 110.0, 119.9, 120.0)] == [
        True, False, True, False, True]
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [d["t_s"] for d in lines] == [0.0, 10.0, 20.0]
    assert all(set(d["rss_kib"]) == {"runner"} for d in lines)


def test_figures_fit_the_growth_after_the_warmup_and_report_the_spread(tmp_path: Path) -> None:
    path = tmp_path / memory.MEMORY_FILE
    with open(path, "w") as f:
        for t in range(0, 3601, 10):
            # the runner: 50 MiB at start, +100 MiB in its first 2 minutes, then flat +-1 MiB;
            # a worker growing 36 MiB per hour all along
            runner = 50 + (100 * t / 120 if t < 120 else 100) + (1 if t % 20 else -1)
            f.write(json.dumps({"t_s": t, "rss_kib": {"runner": runner * 1024,
                                                      "aws": (80 + t / 100) * 1024}}) + "\n")
        f.write('{"t_s": 3610, "rss_k')  # cut by a crash
    figs = memory.figures(path)
    r, w = figs["runner"], figs["aws"]
    assert r.samples == 361 and r.span_s == 3600 and r.first_mib == 49.0 and r.max_mib == 151.0
    assert r.slope_mib_per_h is not None and abs(r.slope_mib_per_h) < 0.5
    assert r.residual_mib is not None and 0.9 < r.residual_mib < 1.1
    assert w.slope_mib_per_h == 36.0 and w.residual_mib == 0.0
    assert w.last_half_slope_mib_per_h == 36.0
    assert w.flat is False and r.flat is True  # 36 MiB/h against the 2 MiB/h bound; noise only
    assert r.last_half_slope_mib_per_h is not None and abs(r.last_half_slope_mib_per_h) < 1
    assert memory.figures(tmp_path / "none.jsonl") == {}


def test_only_runs_of_an_hour_count_as_long(tmp_path: Path) -> None:
    for name, span in (("long", 3600), ("short", 600)):
        load = tmp_path / name / "load"
        load.mkdir(parents=True)
        (tmp_path / name / "summary.json").write_text(json.dumps({"engine": "tansu"}))
        (load / memory.MEMORY_FILE).write_text("".join(
            json.dumps({"t_s": t, "rss_kib": {"runner": 1024}}) + "\n" for t in range(0, span + 1, 60)))
    runs = memory.long_runs(tmp_path)
    assert list(runs) == ["long"] and runs["long"]["engine"] == "tansu"
    assert runs["long"]["processes"]["runner"]["slope_mib_per_h"] == 0.0


def test_the_progress_tail_keeps_only_its_newest_seconds_and_the_first(tmp_path: Path) -> None:
    """An hour's soak must not keep every second's histograms in the load's runner."""
    from riftdrill.load.aggregate import MetricsTail

    worker = tmp_path / "workers" / "aws-0-1"
    worker.mkdir(parents=True)
    tail = MetricsTail(tmp_path, keep_s=3.0)
    with open(worker / "metrics.jsonl", "w") as f:
        for t in range(1000, 4600):
            f.write(json.dumps({"t": t, "acked": 1}) + "\n")
            if t % 600 == 0:
                f.flush()
                tail.poll()
    tail.poll()
    assert tail.first_t == 1000 and [d["t"] for d in tail.lines] == [4597, 4598, 4599]
    assert MetricsTail(tmp_path).poll() and len(MetricsTail(tmp_path).poll()) == 3600
