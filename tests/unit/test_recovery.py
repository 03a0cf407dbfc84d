"""Recovery-time math on crafted timelines: an aws outage of 5 s with a 1 s backlog drain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from riftdrill.chaos.recovery import (
    NS,
    AckSeries,
    baseline_problems,
    compute_recovery,
    figures_from_run,
    time_to_zero_lag_s,
    unavailability_s,
)
from riftdrill.errors import RiftdrillError
from riftdrill.load.ledger import LedgerWriter

MS = 1_000_000
FAULT = 100 * NS
FAULT_END = 106 * NS
RUN_END = 120 * NS


def steady(series: AckSeries, from_ns: int, to_ns: int, latency_ns: int = 5 * MS) -> None:
    for send in range(from_ns, to_ns, 10 * MS):
        series.send_ts_ns.append(send)
        series.ack_ts_ns.append(send + latency_ns)


def outage_run() -> dict[str, AckSeries]:
    aws, gcp = AckSeries(), AckSeries()
    steady(aws, 40 * NS, FAULT)
    # Sends during 100..106 s all wait; acked evenly over 105..106 s (latency 5 s down to 8 ms).
    for i in range(600):
        aws.send_ts_ns.append(FAULT + i * 10 * MS)
        aws.ack_ts_ns.append(105 * NS + i * NS // 600)
    steady(aws, 106 * NS, RUN_END)
    steady(gcp, 40 * NS, RUN_END)  # the other cloud never noticed
    return {"aws": aws, "gcp": gcp}


def test_outage_figures() -> None:
    errors = [(99 * NS, "_MSG_TIMED_OUT")] + [(102 * NS, "_MSG_TIMED_OUT")] * 3
    fig = compute_recovery(outage_run(), errors, FAULT, FAULT_END, RUN_END)
    assert fig.time_to_first_ack_s == {"aws": 5.0, "gcp": 0.005}
    assert fig.worst_time_to_first_ack_s == 5.0
    assert fig.unavailability_s["aws"] == 5.0
    assert fig.unavailability_s["gcp"] == pytest.approx(0.01, abs=0.001)
    assert fig.worst_unavailability_s == 5.0
    assert fig.baseline_p99_ms == 5.0
    assert fig.time_to_p99_baseline_s == 6.0  # the backlog drains until 106 s
    assert fig.errors_by_code == {"_MSG_TIMED_OUT": 3}
    assert fig.acked_during_fault == 600 + 600  # aws backlog + gcp steady in [100, 106)
    assert fig.reasons == {"time_to_zero_lag_s": "no consumer lag series"}


def test_never_recovered_gives_none_with_reasons() -> None:
    aws = AckSeries()
    steady(aws, 40 * NS, FAULT)
    fig = compute_recovery({"aws": aws}, [], FAULT, None, RUN_END)
    assert fig.time_to_first_ack_s == {"aws": None}
    assert fig.worst_time_to_first_ack_s is None
    assert fig.worst_unavailability_s == 20.0
    assert fig.time_to_p99_baseline_s is None
    assert "never came back" in fig.reasons["time_to_p99_baseline_s"]
    assert "time_to_first_ack_s.aws" in fig.reasons


def test_no_baseline_and_no_fault_effect() -> None:
    aws = AckSeries()
    steady(aws, FAULT, RUN_END)
    fig = compute_recovery({"aws": aws}, [], FAULT, None, RUN_END)
    assert fig.time_to_p99_baseline_s is None
    assert fig.reasons["time_to_p99_baseline_s"] == "no acks in the baseline before the fault"
    healthy = AckSeries()
    steady(healthy, 40 * NS, RUN_END)
    fig = compute_recovery({"aws": healthy}, [], FAULT, None, RUN_END)
    assert fig.time_to_p99_baseline_s == 0.0


def test_unavailability_counts_the_edges() -> None:
    acks = [int(t * NS) for t in (101.0, 101.5, 107.0)]
    assert unavailability_s(acks, FAULT, 110 * NS) == 5.5
    assert unavailability_s([], FAULT, 110 * NS) == 10.0


def test_time_to_zero_lag() -> None:
    t = [99.0, 100.0, 101.0, 102.0, 103.0, 104.0, 105.0]
    assert time_to_zero_lag_s(t, [0, 0, 50, 80, 10, 0, 0], 100.0) == 4.0
    assert time_to_zero_lag_s(t, [0, 0, 50, 80, 10, 0, 5], 100.0) is None
    assert time_to_zero_lag_s(t, [0] * 7, 100.0) == 0.0
    assert time_to_zero_lag_s(t, [0, 0, 50, 80, 10, 0, 5], 100.0, max_lag=10) == 3.0


def test_run_end_before_fault_is_an_error() -> None:
    with pytest.raises(RiftdrillError):
        compute_recovery({}, [], FAULT, None, FAULT)


def test_figures_from_run_reads_ledgers_and_timeline(tmp_path: Path) -> None:
    runs = outage_run()
    for pid, (cloud, series) in enumerate(sorted(runs.items()), start=1):
        path = tmp_path / "load" / "ledgers" / f"{cloud}-p{pid}.rdl"
        with LedgerWriter(path, pid, cloud, ["t"]) as w:
            for seq, (ack_ns, send_ns) in enumerate(
                    zip(series.ack_ts_ns, series.send_ts_ns, strict=True)):
                w.append_ack("t", 0, seq, None, seq, 0, send_ns, ack_ns)
            w.append_error("t", 10**6, 7, 101 * NS, 102 * NS)
    rows = [{"t": t, "consumer_lag": lag}
            for t, lag in [(100, 0), (101, 30), (102, 0), (103, 0)]]
    (tmp_path / "load" / "timeline.json").write_text(json.dumps(rows))
    fig = figures_from_run(tmp_path, FAULT, FAULT_END)
    assert fig.run_end_ns == max(runs["aws"].ack_ts_ns[-1], runs["gcp"].ack_ts_ns[-1])
    assert fig.time_to_first_ack_s["aws"] == 5.0
    assert fig.time_to_p99_baseline_s == 6.0
    assert fig.time_to_zero_lag_s == 2.0
    assert sum(fig.errors_by_code.values()) == 2


def _ledger(path: Path, pid: int, cloud: str, acks: list[tuple[int, int]],
            errors: tuple[tuple[int, int], ...] | list[tuple[int, int]] = ()) -> None:
    """acks: (send, ack) ns; errors: (send, failed at) ns."""
    with LedgerWriter(path, pid, cloud, ["t"]) as w:
        for seq, (send_ns, ack_ns) in enumerate(acks):
            w.append_ack("t", 0, seq, None, seq, 0, send_ns, ack_ns)
        for seq, (send_ns, at_ns) in enumerate(errors, start=len(acks)):
            w.append_error("t", seq, -192, send_ns, at_ns)


def test_the_baseline_is_judged_per_cloud(tmp_path: Path) -> None:
    """gcp sent all through the baseline and got its first ack only after the fault began
    (Tansu under the inter-region link): the run fails on its baseline, not on the fault."""
    ledgers = tmp_path / "load" / "ledgers"
    _ledger(ledgers / "aws-p0.rdl", 0, "aws",
            [(t * NS, t * NS + 5 * MS) for t in range(90, 110)])
    _ledger(ledgers / "gcp-p256.rdl", 256, "gcp",
            [(t * NS, 106 * NS) for t in range(90, 110)], errors=[(95 * NS, 125 * NS)])
    fig = figures_from_run(tmp_path, FAULT, FAULT_END)
    aws, gcp = fig.baseline["aws"], fig.baseline["gcp"]
    assert (aws.sent, aws.acked_before_fault, aws.failed_before_fault) == (10, 10, 0)
    assert (gcp.sent, gcp.acked_before_fault, gcp.failed_before_fault) == (11, 0, 0)
    [problem] = baseline_problems(fig.baseline)
    assert problem.startswith("baseline: gcp producers sent 11 records before the fault, "
                              "0 were acknowledged and 0 failed before it began")


def test_a_send_that_failed_before_the_fault_is_an_unhealthy_baseline(tmp_path: Path) -> None:
    ledgers = tmp_path / "load" / "ledgers"
    _ledger(ledgers / "aws-p0.rdl", 0, "aws", [(t * NS, t * NS + 5 * MS) for t in range(90, 110)],
            errors=[(91 * NS, 99 * NS)])
    fig = figures_from_run(tmp_path, FAULT, FAULT_END)
    assert fig.baseline["aws"].failed_before_fault == 1
    assert len(baseline_problems(fig.baseline)) == 1
    healthy = {"aws": fig.baseline["aws"].model_copy(update={"failed_before_fault": 0})}
    assert baseline_problems(healthy) == []
