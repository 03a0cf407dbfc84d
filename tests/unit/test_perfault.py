"""Recovery per fault window (chaos/perfault.py) on synthetic ack series."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from riftdrill.chaos import perfault
from riftdrill.chaos.recovery import NS, AckSeries

MS = 1_000_000


def _series(gaps: list[tuple[float, float]], end_s: float, latency_ms: float = 10.0,
            slow: tuple[float, float, float] | None = None) -> AckSeries:
    """An ack every 10 ms from 0 to end_s, none inside the (start, end) gaps; latency_ms each,
    or slow[2] ms for acks in [slow[0], slow[1])."""
    s = AckSeries()
    t = 0
    while t < end_s * NS:
        sec = t / NS
        if not any(a <= sec < b for a, b in gaps):
            lat = slow[2] if slow and slow[0] <= sec < slow[1] else latency_ms
            s.ack_ts_ns.append(t)
            s.send_ts_ns.append(t - int(lat * MS))
        t += 10 * MS
    return s


def test_each_fault_gets_its_own_span_gap_first_ack_and_p99_back() -> None:
    # fault 1 at 10 s, healed at 15 s: no acks in aws 10-14 s; p99 slow (100 ms) until 17 s
    # fault 2 at 25 s, healed at 28 s: no acks in gcp 25-26 s
    acks = {"aws": _series([(10, 14)], 40, slow=(14, 17, 100)),
            "gcp": _series([(25, 26)], 40)}
    wins = [perfault.Window("kill_broker", "aws-1", 10 * NS, 15 * NS),
            perfault.Window("sever_link", "aws-gcp", 25 * NS, 28 * NS)]
    pf = perfault.per_fault(acks, wins, baseline_p99_ms=10.0, run_end_ns=40 * NS)
    f1, f2 = pf.faults
    assert (f1.start_s, f1.held_s, f1.span_s, f1.overlapped) == (0.0, 5.0, 15.0, False)
    assert f1.unavailability_s["aws"] == pytest.approx(4.0, abs=0.02)
    assert f1.unavailability_s["gcp"] < 0.02
    assert f1.time_to_first_ack_s["aws"] == pytest.approx(4.0, abs=0.11)  # sent after 10 s
    assert f1.p99_back_s == pytest.approx(2.0, abs=0.11)  # heal 15 s -> slow acks end at 17 s
    assert f2.start_s == 15.0 and f2.span_s == 15.0  # the last fault's span runs to the run end
    assert f2.unavailability_s["gcp"] == pytest.approx(1.0, abs=0.02)
    assert f2.p99_back_s == 0.0  # healed with p99 already at the baseline
    kinds = {k.kind: k for k in pf.kinds}
    assert kinds["kill_broker"].faults == 1 and kinds["kill_broker"].p99_back == 1
    assert kinds["kill_broker"].worst_unavailability_max_s == pytest.approx(4.0, abs=0.02)


def test_a_fault_the_next_one_began_inside_is_overlapped_and_p99_never_back_is_none() -> None:
    acks = {"aws": _series([], 30, slow=(5, 30, 500))}
    wins = [perfault.Window("pause_broker", "aws-1", 5 * NS, 12 * NS),
            perfault.Window("kill_broker", "aws-2", 10 * NS, 15 * NS)]
    f1, f2 = perfault.fault_impacts(acks, wins, baseline_p99_ms=10.0, run_end_ns=30 * NS)
    assert f1.overlapped and f1.span_s == 7.0 and f1.p99_back_s is None  # span ends at its heal
    assert not f2.overlapped and f2.p99_back_s is None  # slow to the run's end
    assert perfault.fault_impacts(acks, wins, None, 30 * NS)[1].p99_back_s is None  # no baseline
    assert perfault.fault_impacts(acks, [], 10.0, 30 * NS) == []


def test_the_nemesis_record_gives_the_faults_on_the_wall_clock(tmp_path: Path) -> None:
    record = tmp_path / "nemesis.json"
    faults = [{"index": 0, "at_s": 15.0, "kind": "link-flap", "target": "aws-gcp", "hold_s": 5},
              {"index": 1, "at_s": 30.0, "kind": "leader-kill", "target": "*", "hold_s": 5},
              {"index": 2, "at_s": 45.0, "kind": "broker-kill", "target": "aws-1", "hold_s": 5}]
    outcomes = [{"index": 0, "injected_at_s": 15.0, "healed_at_s": 20.5, "error": None},
                {"index": 1, "injected_at_s": 30.1, "healed_at_s": None, "error": "x"},
                {"index": 2, "injected_at_s": None, "healed_at_s": None, "error": "late"}]
    record.write_text(json.dumps({"started_epoch_s": 1000.0, "faults": faults,
                                  "outcomes": outcomes}))
    got = perfault.nemesis_faults(record)
    assert got == [perfault.Window("link-flap", "aws-gcp", 1015 * NS, int(1020.5 * NS)),
                   perfault.Window("leader-kill", "*", int(1030.1 * NS), None)]
    # a record from before the wall-clock start, or none at all: the fault windows are used
    record.write_text(json.dumps({"faults": faults, "outcomes": outcomes}))
    assert perfault.nemesis_faults(record) is None
    assert perfault.nemesis_faults(tmp_path / "none.json") is None
