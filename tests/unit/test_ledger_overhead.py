"""The ledger overhead is the median of each alternating pair's own overhead (issue 19)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from riftdrill.load.overhead import pair_overheads, paired_overhead

LOAD_JSON = Path(__file__).resolve().parents[2] / "results" / "bench" / "load.json"


# The pairs the issue was filed on (results/bench/load.json as of 2026-11-25, since re-measured)
ISSUE_PAIRS = {"with": [25295.9, 51447.0, 51921.6], "without": [36576.3, 49213.5, 54513.6]}


def test_the_issues_pairs_give_the_issues_overheads() -> None:
    pairs = ISSUE_PAIRS
    o = paired_overhead(pairs["with"], pairs["without"])
    assert o.pairs == [0.308, -0.045, 0.048]  # +30.8 %, -4.5 %, +4.8 %
    assert (o.median, o.min, o.max) == (0.048, -0.045, 0.308)
    # the old figure, 1 - median(with)/median(without), was one pair's value by accident
    with_, without = sorted(pairs["with"]), sorted(pairs["without"])
    assert round(1 - with_[1] / without[1], 3) == -0.045 != o.median


def test_committed_file_carries_what_its_pairs_give() -> None:
    bench = json.loads(LOAD_JSON.read_text())
    pairs = bench["runs"]["ledger_pairs"]
    assert bench["ledger_overhead_paired"] == paired_overhead(pairs["with"],
                                                              pairs["without"]).model_dump()
    assert bench["ledger_overhead"] == bench["ledger_overhead_paired"]["median"]


def test_pairs_are_taken_by_position_not_sorted() -> None:
    assert pair_overheads([90.0, 50.0], [100.0, 100.0]) == [pytest.approx(0.1),
                                                            pytest.approx(0.5)]
    assert paired_overhead([90.0, 50.0], [100.0, 100.0]).median == 0.3  # even: the mean of two


def test_unpaired_or_empty_runs_are_refused() -> None:
    with pytest.raises(ValueError, match="not pairs"):
        pair_overheads([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="acked nothing"):
        pair_overheads([1.0], [0.0])
    with pytest.raises(ValueError, match="no pairs"):
        paired_overhead([], [])
