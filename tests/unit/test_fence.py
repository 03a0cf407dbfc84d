"""Fences: their value format, their file, and a cluster that will not take them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from riftdrill.load.fence import (
    FenceError,
    FenceSet,
    fence_nonce,
    fence_value,
    is_fence,
    write_fences,
)
from riftdrill.load.record import encode


def test_fence_value_round_trip_and_is_never_a_record() -> None:
    nonce = b"0123456789abcdef"
    v = fence_value(nonce, 3)
    assert is_fence(v) and fence_nonce(v) == nonce
    assert not is_fence(encode(1, 2, 3, b"x" * 64))
    assert not is_fence(None) and not is_fence(v + b"x")


def test_fence_set_file_round_trip(tmp_path: Path) -> None:
    fences = FenceSet(nonce=b"n" * 16, offsets={"t": {0: 5, 1: 9}}, written_ns=7)
    fences.write(tmp_path / "fences.json")
    assert FenceSet.read(tmp_path / "fences.json") == fences


def test_a_cluster_nobody_answers_for_is_a_fence_error_in_bounded_time() -> None:
    started = time.monotonic()
    with pytest.raises(FenceError, match=r"unreachable.*riftdrill heal"):
        write_fences("127.0.0.1:1", ["t"], timeout_s=3)
    assert time.monotonic() - started < 30
