"""The tracemalloc diagnostic: a baseline after warm-up, then the lines that grew most."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from riftdrill.load import tracemem

_HOARD: list[bytes] = []


def _grow() -> None:
    _HOARD.extend(bytes(1000) + bytes([i % 256]) for i in range(2000))  # ~2 MB on this line


def test_the_tracer_names_the_line_that_grew(tmp_path: Path) -> None:
    was_tracing = tracemalloc.is_tracing()
    tracer = tracemem.Tracer.start(tmp_path, now_s=0.0)
    try:
        assert not tracer.maybe_compare(now_s=tracemem.WARMUP_S - 1)  # still warming up
        assert tracer.maybe_compare(now_s=tracemem.WARMUP_S) and tracer.base is not None
        assert not (tmp_path / tracemem.TRACE_FILE).exists()  # the baseline writes nothing
        _grow()
        assert not tracer.maybe_compare(now_s=tracemem.WARMUP_S + 1)  # not due yet
        assert tracer.maybe_compare(now_s=tracemem.WARMUP_S + tracemem.EVERY_S, wall_s=0.0)
    finally:
        if not was_tracing:
            tracemalloc.stop()
        _HOARD.clear()
    text = (tmp_path / tracemem.TRACE_FILE).read_text()
    head, first = text.splitlines()[:2]
    assert head.startswith("== 1970-01-01T00:00:00Z (600 s in)")
    assert "test_load_tracemem.py" in first and "size=" in first  # _grow's line leads
