"""The live line of a drill (chaos/live.py) and the report rendered at the end of each drill."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from riftdrill.chaos import live, runner, windows
from riftdrill.load import histograms
from riftdrill.load.metrics import SecondBucket


def _append(run_dir: Path, worker: str, t: int, acked: int, failed: int, ack_ms: float,
            newline: bool = True) -> None:
    b = SecondBucket(t)
    for _ in range(acked):
        b.acked += 1
        histograms.record_us(b.hists["ack_latency"], ack_ms * 1000)
    b.failed = failed
    path = run_dir / "load" / "workers" / worker / "metrics.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(b.to_json(None)) + ("\n" if newline else ""))


def test_the_line_is_per_cloud_newest_second_and_bounded(tmp_path: Path) -> None:
    now = 1_800_000_100
    for t in range(now - 20, now):
        _append(tmp_path, "aws-0-10", t, 90, 0, 5.0)
        _append(tmp_path, "aws-2-12", t, 10, 0, 5.0)
        _append(tmp_path, "gcp-1-11", t, 0, 4, 0.0) if t >= now - 5 else _append(
            tmp_path, "gcp-1-11", t, 50, 0, 20.0)
    tail = live.LoadTail(tmp_path / "load")
    tail.poll()
    assert line_for(tail, now) == ("aws 100 acks/s 0 err/s p99 5.0 ms | gcp 0 acks/s 4 err/s p99 — "
                                   "| fault +3 s")
    assert all(len(per) <= live.KEEP_SECONDS for per in tail.seconds.values())
    # only what was appended since is read; a half-written line waits
    _append(tmp_path, "gcp-1-11", now, 60, 0, 30.0, newline=False)
    tail.poll()
    assert max(tail.seconds["gcp"]) == now - 1
    with open(tmp_path / "load/workers/gcp-1-11/metrics.jsonl", "a") as f:
        f.write("\n")
    tail.poll()
    assert max(tail.seconds["gcp"]) == now
    assert "gcp 60 acks/s 0 err/s p99 30 ms" in live.line(tail, "", now + 1)
    assert "(9 s ago)" in live.line(tail, "", now + 10)


def line_for(tail: live.LoadTail, now: int) -> str:
    return live.line(tail, f"fault +{3} s", now)


def test_fault_state_follows_the_fault_windows(tmp_path: Path) -> None:
    assert live.fault_state(tmp_path, time.time()) == "before the fault"
    start = time.time_ns()
    windows.record_start("kill_broker", "aws-1", run_dir=tmp_path, ts_ns=start)
    assert live.fault_state(tmp_path, start / 1e9 + 12.2) == "fault +12 s"
    windows.record_end("kill_broker", "aws-1", run_dir=tmp_path, ts_ns=start + 20 * 10**9)
    assert live.fault_state(tmp_path, start / 1e9 + 23) == "healed +3 s"


def test_the_ticker_updates_on_a_terminal_and_stays_silent_otherwise(tmp_path: Path) -> None:
    now = int(time.time())
    for t in range(now - 3, now):
        _append(tmp_path, "aws-0-10", t, 42, 1, 3.0)
    buf = io.StringIO()
    term = Console(file=buf, force_terminal=True, width=200)
    t = live.Ticker(tmp_path, term, interval_s=0.05)
    t.start()
    time.sleep(0.4)
    t.stop()
    assert "aws 42 acks/s 1 err/s p99 3.0 ms" in buf.getvalue()
    assert not t._thread.is_alive()  # stops with the run
    quiet = io.StringIO()
    with live.ticker(tmp_path, enabled=True, console=Console(file=quiet, force_terminal=False)):
        time.sleep(0.2)
    with live.ticker(tmp_path, enabled=False, console=Console(file=quiet, force_terminal=True)):
        time.sleep(0.2)
    assert quiet.getvalue() == ""


def test_every_drill_renders_its_report_and_the_index(monkeypatch: pytest.MonkeyPatch) -> None:
    from riftdrill import cli

    app = cli.mounted_app()
    rendered: list[Path] = []

    def fake_drill(plan: runner.DrillPlan, *_: Any, **__: Any) -> Any:
        return SimpleNamespace(summary={"experiment": plan.name, "run_id": f"r-{plan.name}"},
                               verdict=SimpleNamespace(passed=True, reasons=[]), regressions=[],
                               regressed=False, exit_code=runner.EXIT_PASS,
                               run_dir=Path("results/runs") / f"r-{plan.name}",
                               stop_requested=False)

    def fake_render(run_dir: Path) -> runner.ReportOutcome:
        rendered.append(run_dir)
        return runner.ReportOutcome(True, str(run_dir / "report.html"))

    monkeypatch.setattr(runner, "run_drill", fake_drill)
    monkeypatch.setattr(runner, "render_report", fake_render)
    out = CliRunner().invoke(app, ["drill", "--suite", "--json"])
    assert out.exit_code == 0, out.output
    assert [d.name for d in rendered] == [f"r-{n}" for n in runner.SUITE]
    rendered.clear()
    out = CliRunner().invoke(app, ["drill", "broker-kill"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert [d.name for d in rendered] == ["r-broker-kill"]
    assert "report: results/runs/r-broker-kill/report.html" in out.output


def test_render_report_is_one_subprocess_naming_the_run(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    import subprocess

    calls: list[list[str]] = []

    def fake_run(cmd: list[str], **_: Any) -> Any:
        calls.append(cmd)
        return SimpleNamespace(returncode=2, stderr="riftdrill: error: no run 'x'\n")

    monkeypatch.setattr(subprocess, "run", fake_run)
    run_dir = tmp_path / "results" / "runs" / "x"
    out = runner.render_report(run_dir)
    assert calls[0][-5:] == ["report", "--results", str(tmp_path / "results"), "--run", "x"]
    assert not out.ok and out.message == "the report was not rendered: riftdrill: error: no run 'x'"
