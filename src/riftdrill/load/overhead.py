"""The ledger's overhead: how much slower one producer is with its ledger than without.

The bench runs the producer with and without its ledger in alternating pairs (on/off, then
off/on, ...). Each pair is measured at the same moment on the same busy machine, so its own
overhead (1 - with/without) cancels what changed between pairs (a backlog draining, another
process); the published figure is the median of those per-pair overheads, with their spread.
Comparing the median of the "with" runs to the median of the "without" runs instead mixes
runs of different pairs (issue 19: it gave -4.5 % where the pairs said +30.8, -4.5, +4.8 %).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel

OverheadMethod = Literal["median_of_paired"]


class LedgerOverhead(BaseModel):
    """results/bench/load.json's `ledger_overhead_paired` (fractions: 0.048 is 4.8 %)."""

    method: OverheadMethod = "median_of_paired"
    median: float
    min: float
    max: float
    pairs: list[float]  # each pair's 1 - with/without, in the order the pairs ran


def pair_overheads(with_msgs_per_s: Sequence[float],
                   without_msgs_per_s: Sequence[float]) -> list[float]:
    """1 - with/without of each pair (the i-th run with the ledger and the i-th without)."""
    if len(with_msgs_per_s) != len(without_msgs_per_s):
        raise ValueError(f"{len(with_msgs_per_s)} runs with the ledger and "
                         f"{len(without_msgs_per_s)} without: not pairs")
    if any(wo <= 0 for wo in without_msgs_per_s):
        raise ValueError("a run without the ledger acked nothing: no overhead to compute")
    return [1 - w / wo for w, wo in zip(with_msgs_per_s, without_msgs_per_s, strict=True)]


def paired_overhead(with_msgs_per_s: Sequence[float],
                    without_msgs_per_s: Sequence[float]) -> LedgerOverhead:
    """The median of the pairs' own overheads and their spread, rounded to 0.1 %."""
    pairs = [round(p, 3) for p in pair_overheads(with_msgs_per_s, without_msgs_per_s)]
    if not pairs:
        raise ValueError("no pairs")
    return LedgerOverhead(median=round(statistics.median(pairs), 3), min=min(pairs),
                          max=max(pairs), pairs=pairs)
