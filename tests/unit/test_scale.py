"""The scale figures (scale.py) on small sizes: what they measure, not how fast."""

from __future__ import annotations

from pathlib import Path

from riftdrill import scale
from riftdrill.load.ledger import ENTRY_SIZE


def test_the_checker_is_timed_at_each_size_and_the_ratio_compares_per_record_cost() -> None:
    figures = scale.checker_scaling((2_000, 20_000))
    small, large = figures["runs"]
    assert (small["records"], large["records"]) == (2_000, 20_000)
    # the synthetic run loses about 0.1% and reads duplicates: what was read is near the count
    assert 0.99 * 20_000 < large["records_read"] < 1.01 * 20_000
    assert figures["per_record_ratio"] == round(
        large["cpu_us_per_record"] / small["cpu_us_per_record"], 3)


def test_ledger_bytes_are_the_real_writers_files_scaled_to_a_million(tmp_path: Path) -> None:
    sizes = scale.ledger_bytes_per_million(tmp_path, records=10_000)
    for name in ("producer_ledger", "consumer_ledger"):
        entries = ENTRY_SIZE * scale.MILLION
        # fixed-size entries plus a header (scaled up 100 times here, a few KiB each)
        assert entries < sizes[name] < entries + 100 * 4096, (name, sizes)
