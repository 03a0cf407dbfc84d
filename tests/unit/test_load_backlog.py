"""Backlog build-and-drain (OMB's consumerBacklogSizeGB): the runner pauses the consumers after
the warm-up, resumes them at the backlog size, times the drain to OMB's level, and never leaves
a consumer paused; consumers follow the pause file until their producers are done.

riftdrill.load.users imports Locust, which monkey-patches the standard library (gevent): the
consumers' side runs in a child process, as tests/unit/test_load_drain.py does, so the patching
cannot reach the tests that run after these.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from riftdrill.load import backlog

SIZE = 1000  # bytes a message


def phase(tmp_path: Path, ratio: float = 1.0) -> backlog.BacklogPhase:
    return backlog.BacklogPhase(tmp_path, 5_000_000, ratio, SIZE, warmup_s=10)


def test_build_then_drain_as_omb(tmp_path: Path) -> None:
    b = phase(tmp_path)
    paused = backlog.pause_path(tmp_path)
    b.update(5, sent=5000, consumed=5000, producers_done=False)
    assert b.out.phase == "warmup" and not paused.exists()
    b.update(10, sent=10_000, consumed=10_000, producers_done=False)
    assert b.out.phase == "build" and paused.exists()
    b.update(14, sent=14_000, consumed=10_000, producers_done=False)
    assert b.out.phase == "build"  # 4 MB of 5
    b.update(15, sent=15_000, consumed=10_000, producers_done=False)
    assert b.out.phase == "drain" and not paused.exists()
    assert (b.out.build_s, b.out.backlog_reached_messages) == (5, 5000)
    b.update(17, sent=17_000, consumed=15_500, producers_done=False)
    assert b.out.phase == "drain"  # 1500 left: above OMB's floor of 1000 messages
    b.update(18, sent=18_000, consumed=17_000, producers_done=False)
    out = b.release()
    assert out.phase == "drained" and out.drain_s == 3 and out.drained_messages == 7000
    assert out.drain_rate_per_s == 7000 / 3
    assert backlog.BacklogOutcome.read(tmp_path / backlog.BACKLOG_FILE) == out


def test_drain_ratio_sets_the_drained_level(tmp_path: Path) -> None:
    assert phase(tmp_path, ratio=0.5).out.drained_level_messages == 2500
    assert phase(tmp_path, ratio=1.0).out.drained_level_messages == 1000  # OMB's floor


def test_producers_done_resumes_and_release_never_leaves_a_pause(tmp_path: Path) -> None:
    b = phase(tmp_path)
    b.update(10, sent=10_000, consumed=10_000, producers_done=False)
    b.update(12, sent=11_000, consumed=10_000, producers_done=True)  # backlog never reached
    assert b.out.phase == "drain" and not backlog.pause_path(tmp_path).exists()
    other = tmp_path / "interrupted"
    other.mkdir()
    stuck = phase(other)
    stuck.update(10, sent=1, consumed=1, producers_done=False)
    assert backlog.pause_path(other).exists()
    out = stuck.release()  # the run ended during the build (Ctrl-C)
    assert out.phase == "build" and not backlog.pause_path(other).exists()


_FOLLOW = """
import sys
from pathlib import Path

import gevent.event

from riftdrill.load import backlog
from riftdrill.load.metrics import ProcessMetrics
from riftdrill.load.users import LoadContext, consumers_paused

root = Path(sys.argv[1])
ctx = LoadContext(opts=None, load_dir=root, metrics=ProcessMetrics(root / "m.jsonl"),
                  run_start_ns=0)
assert not consumers_paused(ctx)
backlog.pause_path(root).write_text("paused\\n")
ctx.backlog_checked_at = 0.0  # the next call reads the file again
assert consumers_paused(ctx)
ctx.draining = gevent.event.Event()  # the process's producers stopped: read to the fences
assert not consumers_paused(ctx)
ctx.metrics.close()
"""


def test_consumers_follow_the_pause_file_until_their_producers_are_done(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", _FOLLOW, str(tmp_path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
