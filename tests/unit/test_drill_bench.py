"""The drill bench's wall time against hold (chaos/bench.py), the drills themselves faked:
what is under test is which runs are made and the fitted line."""

from __future__ import annotations

from typing import Any

import pytest

from riftdrill.chaos import bench
from riftdrill.report import figures


def test_line_fit_is_least_squares_and_refuses_one_x() -> None:
    assert bench.line_fit([(10, 80), (30, 100), (60, 130)]) == pytest.approx((70.0, 1.0))
    with pytest.raises(ValueError, match="two distinct x"):
        bench.line_fit([(30, 1), (30, 2)])


def test_each_other_hold_is_run_once_keeping_the_other_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[list[str]] = []

    def fake(experiment: str, var_items: list[str] | None) -> dict[str, Any]:
        made.append(list(var_items or []))
        hold = float(next(v for v in var_items or [] if v.startswith("hold_s=")).split("=")[1])
        return {"wall_s": 50 + 1.1 * hold, "chaos_s": 40 + hold, "passed": True,
                "run_id": f"r{hold:g}"}

    monkeypatch.setattr(bench, "_run", fake)
    first = {"params": {"hold_s": 30}, "vars": ["rate=100", "hold_s=30"], "wall_s": 83.0,
             "chaos_s": 70.0, "passed": True, "run_id": "r30"}
    w = bench.wall_vs_hold(first, holds_s=(10, 30, 60))
    assert made == [["rate=100", "hold_s=10"], ["rate=100", "hold_s=60"]]
    assert [r["hold_s"] for r in w["runs"]] == [10, 30, 60]
    assert w["slope"] == pytest.approx(1.1, abs=0.05) and 45 < w["fixed_s"] < 60
    text = figures._wall_vs_hold(w)
    assert "hold 10 s: 61 s, hold 30 s: 83 s, hold 60 s: 116 s" in text
    assert f"wall = {figures._g(w['fixed_s'], ' s')} + " in text and "times the hold" in text
    assert figures._wall_vs_hold({}) == ""
