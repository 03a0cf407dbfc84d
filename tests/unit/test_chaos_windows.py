"""Fault-window bookkeeping: actions append start/end events, the runner pairs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from riftdrill.chaos import windows


def test_start_and_end_pair_into_one_window(tmp_path: Path) -> None:
    windows.record_start("kill_broker", "aws-1", run_dir=tmp_path, ts_ns=1_500_000_000)
    windows.record_end("kill_broker", "aws-1", run_dir=tmp_path, ts_ns=5_250_000_000)
    [w] = windows.fault_windows(tmp_path)
    assert (w.kind, w.target, w.start_ns, w.end_ns, w.healed_by) == (
        "kill_broker", "aws-1", 1_500_000_000, 5_250_000_000, "drill")
    assert w.to_summary()["start_s"] == 1.5 and w.to_summary()["end_s"] == 5.25


def test_flap_cycles_give_one_window_each_and_span_covers_them(tmp_path: Path) -> None:
    for i in range(3):
        windows.record_start("sever_link", "aws-gcp", run_dir=tmp_path, ts_ns=10 * i + 1)
        windows.record_end("sever_link", "aws-gcp", run_dir=tmp_path, ts_ns=10 * i + 5)
    ws = windows.fault_windows(tmp_path)
    assert [(w.start_ns, w.end_ns) for w in ws] == [(1, 5), (11, 15), (21, 25)]
    assert windows.span(ws) == (1, 25)


def test_end_only_closes_its_own_kind_and_target(tmp_path: Path) -> None:
    windows.record_start("kill_broker", "gcp-1", run_dir=tmp_path, ts_ns=1)
    windows.record_start("kill_broker", "gcp-2", run_dir=tmp_path, ts_ns=2)
    windows.record_end("kill_broker", "gcp-2", run_dir=tmp_path, ts_ns=9)
    windows.record_end("pause_broker", "gcp-1", run_dir=tmp_path, ts_ns=9)  # not its kind
    ws = {w.target: w.end_ns for w in windows.fault_windows(tmp_path)}
    assert ws == {"gcp-1": None, "gcp-2": 9}
    assert windows.span(windows.fault_windows(tmp_path)) == (1, None)


def test_runner_closes_windows_left_open(tmp_path: Path) -> None:
    windows.record_start("sever_link", "aws-gcp", "a-to-b", run_dir=tmp_path, ts_ns=1)
    closed = windows.close_open(tmp_path, ts_ns=7)
    assert [(w.target, w.end_ns, w.healed_by) for w in closed] == [("aws-gcp", 7, "runner")]
    [w] = windows.fault_windows(tmp_path)
    assert (w.direction, w.end_ns, w.healed_by) == ("a-to-b", 7, "runner")
    assert windows.close_open(tmp_path) == []


def test_torn_last_line_is_ignored(tmp_path: Path) -> None:
    windows.record_start("kill_broker", "aws-1", run_dir=tmp_path, ts_ns=1)
    with open(tmp_path / windows.FILE, "a") as f:
        f.write('{"event": "end", "kind": "kill_br')
    assert len(windows.fault_windows(tmp_path)) == 1


def test_without_a_run_dir_nothing_is_written(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    windows.record_start("kill_broker", "aws-1", run_dir=None)
    assert not list(tmp_path.iterdir())
    assert windows.span([]) is None
