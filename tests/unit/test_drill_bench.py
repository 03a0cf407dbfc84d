"""The drill bench's wall time against hold (chaos/bench.py), the drills themselves faked:
what is under test is which runs are made and the fitted line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from riftdrill.chaos import bench
from riftdrill.errors import RiftdrillError
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


def _journal(run_dir: Any, hold: float) -> None:

    run_dir.mkdir(parents=True)
    act = [("start-background-load", 10.0), ("hold-fault", hold), ("restart-broker", 40.0),
           ("stop-background-load", 20 + 2 * hold)]
    run_dir.joinpath("journal.json").write_text(json.dumps({
        "steady_states": {"before": {"probes": [{"duration": 1.5}, {"duration": 2.0}]}},
        "run": [{"activity": {"name": n}, "duration": d} for n, d in act[:-1]],
        "rollbacks": [{"activity": {"name": act[-1][0]}, "duration": act[-1][1]}]}))


def test_the_steps_that_grow_with_the_hold_are_named_from_the_journals(tmp_path: Any) -> None:

    runs = []
    for hold in (10, 30, 60):
        _journal(tmp_path / "runs" / f"r{hold}", hold)
        runs.append({"hold_s": hold, "wall_s": 100 + 3 * hold, "run_id": f"r{hold}"})
    assert bench.journal_steps(tmp_path / "runs" / "r10") == {
        "steady-state before": 3.5, "start-background-load": 10.0, "hold-fault": 10.0,
        "restart-broker": 40.0, "stop-background-load": 40.0}
    assert bench.journal_steps(tmp_path / "none") == {}
    f = tmp_path / "drill.json"
    f.write_text(json.dumps({"wall_vs_hold": {"runs": runs}}))
    slopes = bench.fill_steps(f, tmp_path / "runs")["step_slopes"]
    assert slopes["hold-fault"] == pytest.approx(1.0) and slopes["restart-broker"] == 0.0
    assert slopes["stop-background-load"] == pytest.approx(2.0)
    assert json.loads(f.read_text())["wall_vs_hold"]["step_slopes"] == slopes
    text = figures._wall_vs_hold({"runs": runs, "step_slopes": slopes})
    assert "by step" in text and text.index("stop-background-load 2 s") < text.index("hold-fault 1 s")
    assert "restart-broker" not in text  # flat steps are left out
    runs.append({"hold_s": 90, "wall_s": 1, "run_id": "unpublished"})
    f.write_text(json.dumps({"wall_vs_hold": {"runs": runs}}))
    with pytest.raises(RiftdrillError, match="no journal for run unpublished"):
        bench.fill_steps(f, tmp_path / "runs")


def test_the_steps_command_says_what_is_wrong_in_one_line_and_exits_2(tmp_path: Path) -> None:
    f = tmp_path / "drill.json"
    f.write_text(json.dumps({"wall_vs_hold": {"runs": [{"hold_s": 10, "run_id": "unpublished"}]}}))
    for args, says in ((["steps", str(f)], "no journal for run unpublished"),
                       (["steps", str(tmp_path / "none.json")], "none.json"),
                       (["nope"], "usage:")):
        proc = subprocess.run([sys.executable, "-m", "riftdrill.chaos.bench", *args],
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert says in proc.stderr, proc.stderr
