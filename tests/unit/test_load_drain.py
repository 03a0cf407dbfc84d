"""The end of a consumer group's run: when a draining process lets its consumers go.

riftdrill.load.users imports Locust, which monkey-patches the standard library (gevent): it is
imported in a child process, as tests/unit/test_partition_availability.py does, so the patching
cannot reach the tests that run after these.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_DRAIN = r'''
import json, sys, time
from pathlib import Path
from types import SimpleNamespace
from riftdrill.load import endrun, users
from riftdrill.load.fence import FenceSet
from riftdrill.load.users import LoadContext, partitions_behind

# the group's committed offset (the next one to read) must lie past each partition's fence
assert partitions_behind({0: 10, 1: 20}, {0: 11, 1: 25}) == []
assert partitions_behind({0: 10, 1: 20}, {0: 11, 1: 20}) == [1]  # the fence itself is unread
assert partitions_behind({0: 10, 1: 20}, {0: 11}) == [1]  # nobody committed partition 1

FENCES = FenceSet(nonce=b"n" * 16, offsets={"t": {0: 10, 1: 20}})


class FakeMember:
    """A member that owns nothing short of its fence; the group answers `group` in turn
    (None: no answer; else the partitions behind their fence), then [1] for ever."""

    def __init__(self, group):
        self.consumer = object()
        self.group = group
        self.asked = 0
        self.finished = False

    def poll_batch(self):
        return 0

    def unfenced(self, fences):
        return []

    def group_behind(self, fences, timeout_s):
        self.asked += 1
        return self.group.pop(0) if self.group else [1]

    def finish(self):
        self.finished = True


def context(load_dir, member, fences=True):
    opts = SimpleNamespace(rd_cluster="", rd_await_fences=True, rd_fence_wait_s=5.0)
    ctx = LoadContext(opts=opts, load_dir=load_dir, metrics=None, run_start_ns=0, worker="aws-0-1")
    ctx.consumers.append(member)
    if fences:
        endrun.save_fences(load_dir / endrun.FENCES_FILE, {endrun.SINGLE: FENCES})
    return ctx


users.GROUP_CHECK_S = 0.01
root = Path(sys.argv[1])
# Members past their own fences read on until the group's commits are past every fence: a
# member elsewhere may still be waiting for partitions nobody was handed yet.
(root / "a").mkdir()
member = FakeMember([[0, 1], None, []])
users._drain_consumers(context(root / "a", member), 5.0, fences_by=time.monotonic())
assert member.asked == 3 and member.finished, (member.asked, member.finished)
# ... and each process says how its drain went: what came when, and why it ended
rec = endrun.read_drains(root / "a")["aws-0-1"]
assert rec["ended"] == "group-fenced" and rec["members"] == 1, rec
assert rec["group_checks"] == 3 and rec["group_unanswered"] == 1 and rec["group_behind"] == []
assert 0 <= rec["fences_s"] <= rec["members_fenced_s"] <= rec["group_fenced_s"] <= rec["read_s"]
assert rec["finish_s"] >= 0 and rec["members_unfenced"] == []
# A group that never completes ends its fence wait after the fences, and says which partitions
# were behind.
(root / "b").mkdir()
member = FakeMember([])
start = time.monotonic()
users._drain_consumers(context(root / "b", member), 0.3, fences_by=start)
took = time.monotonic() - start
assert member.finished and 0.3 <= took < 2, took
rec = endrun.read_drains(root / "b")["aws-0-1"]
assert rec["ended"] == "deadline" and rec["group_behind"] == [1] and rec["group_fenced_s"] is None
assert rec["members_unfenced"] == [[]], rec
# Fences that come after this process's own fence wait (a peer's producers drained for their
# whole delivery timeout), but by `fences_by`: the wait runs from them, the group completes.
import threading
(root / "c").mkdir()
member = FakeMember([[]])
start = time.monotonic()
threading.Timer(0.6, lambda: endrun.save_fences(root / "c" / endrun.FENCES_FILE,
                                                {endrun.SINGLE: FENCES})).start()
users._drain_consumers(context(root / "c", member, fences=False), 0.3, fences_by=start + 2.0)
rec = endrun.read_drains(root / "c")["aws-0-1"]
assert rec["ended"] == "group-fenced" and 0.6 <= rec["fences_s"] < 1.5, rec
# ... and fences that never come end the drain at `fences_by`
(root / "d").mkdir()
member = FakeMember([])
start = time.monotonic()
users._drain_consumers(context(root / "d", member, fences=False), 0.1, fences_by=start + 0.5)
took = time.monotonic() - start
rec = endrun.read_drains(root / "d")["aws-0-1"]
assert rec["ended"] == "deadline" and rec["fences_s"] is None and 0.5 <= took < 2, (rec, took)
# A member never given partitions (subscribed before its broker knew the topic) or between
# assignments owns none short of a fence: the group's commits decide, not its fence wait.
class Unassigned(FakeMember):
    def unfenced(self, fences):
        return None


(root / "e").mkdir()
member = Unassigned([[3], []])
start = time.monotonic()
users._drain_consumers(context(root / "e", member), 5.0, fences_by=start)
rec = endrun.read_drains(root / "e")["aws-0-1"]
assert rec["ended"] == "group-fenced" and member.asked == 2 and time.monotonic() - start < 2, rec
assert rec["members_fenced_s"] is None  # it never polled a fence: it had none to poll
'''


def test_members_drain_until_the_group_committed_past_every_fence(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", _DRAIN, str(tmp_path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the worker's log gets the drain's one line
    assert "riftdrill: consumers drained: group-fenced after" in proc.stderr
    assert "riftdrill: consumers drained: deadline after" in proc.stderr
