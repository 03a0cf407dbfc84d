"""The end of a consumer group's run: when a draining process lets its consumers go."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from riftdrill.load import endrun, users
from riftdrill.load.fence import FenceSet
from riftdrill.load.users import LoadContext, group_past_fences

FENCES = FenceSet(nonce=b"n" * 16, offsets={"t": {0: 10, 1: 20}})


def test_a_partition_is_done_when_the_group_committed_past_its_fence() -> None:
    assert group_past_fences({0: 10, 1: 20}, {0: 11, 1: 25})
    assert not group_past_fences({0: 10, 1: 20}, {0: 11, 1: 20})  # the fence itself is unread
    assert not group_past_fences({0: 10, 1: 20}, {0: 11})  # nobody committed partition 1


class FakeMember:
    """A member that owns nothing short of its fence; the group answers `group` in turn."""

    def __init__(self, group: list[bool]) -> None:
        self.consumer = object()
        self.group = group
        self.asked = 0
        self.finished = False

    def poll_batch(self) -> int:
        return 0

    def fenced(self, fences: FenceSet) -> bool:
        return True

    def group_fenced(self, fences: FenceSet, timeout_s: float) -> bool:
        self.asked += 1
        return self.group.pop(0) if self.group else False

    def finish(self) -> None:
        self.finished = True


def context(tmp_path: Path, member: FakeMember) -> LoadContext:
    opts = SimpleNamespace(rd_cluster="", rd_await_fences=True, rd_fence_wait_s=5.0)
    ctx = LoadContext(opts=opts, load_dir=tmp_path, metrics=None,  # type: ignore[arg-type]
                      run_start_ns=0)
    ctx.consumers.append(member)  # type: ignore[arg-type]
    endrun.save_fences(tmp_path / endrun.FENCES_FILE, {endrun.SINGLE: FENCES})
    return ctx


def test_members_past_their_own_fences_wait_for_the_group(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A member elsewhere may still be waiting for partitions nobody was handed: the members
    here read on (and so can be given them) until the group's commits are past every fence."""
    monkeypatch.setattr(users, "GROUP_CHECK_S", 0.01)
    member = FakeMember([False, False, True])
    users._drain_consumers(context(tmp_path, member), time.monotonic() + 5)
    assert member.asked == 3 and member.finished


def test_a_group_that_never_completes_ends_at_the_deadline(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users, "GROUP_CHECK_S", 0.01)
    member = FakeMember([])
    start = time.monotonic()
    users._drain_consumers(context(tmp_path, member), start + 0.3)
    assert member.finished and 0.3 <= time.monotonic() - start < 2
