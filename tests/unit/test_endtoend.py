"""End to end from the consumer ledgers (chaos/endtoend.py): true lag, e2e p99, time to zero lag."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from riftdrill.chaos.endtoend import (
    NEVER,
    EndToEnd,
    GroupHistory,
    PollLatencies,
    compute_end_to_end,
    e2e_by_second,
    end_to_end_from_run,
    first_consumed_ns,
    record_ids,
)
from riftdrill.chaos.summary import RunSummary
from riftdrill.load.consumer_ledger import (
    POLL_EARLIER_RUN,
    POLL_FENCE,
    POLL_FOREIGN,
    ConsumerLedgerWriter,
    consumer_ledger_path,
)
from riftdrill.load.ledger import Ack, ProducerLedger

NS = 1_000_000_000
MS = 1_000_000
T0 = 1_800_000_000 * NS  # run start
FAULT = T0 + 20 * NS
HEAL = T0 + 40 * NS
END = T0 + 60 * NS
AWS, GCP = 0, 1


def s(x: float) -> int:
    return T0 + round(x * NS)


def arr(values: list[int]) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def stretched(*, cut_until_s: float = 41.0, drop: tuple[int, ...] = (),
              dup: tuple[int, ...] = (), reassign_at_s: float | None = None,
              ) -> tuple[GroupHistory, PollLatencies]:
    """One group, two partitions: p0 read by aws, p1 by gcp. 10 records/s on each from 0 to 60 s,
    each read 5 ms before its ack reached the producer (never pending), except that p1's records
    acked in [20 s, cut_until_s) are read at cut_until_s + 0.5 s (gcp cut off). `drop`: indices of
    records never read; `dup`: read a second time 3 s later; `reassign_at_s`: p1 goes to aws."""
    ids, parts, acks, polls_id, polls_ts, polls_cloud, sends = [], [], [], [], [], [], []
    n = 0
    for k in range(600):
        for p in (0, 1):
            ack = s(k / 10 + 0.05)
            read = ack - 5 * MS
            if p == 1 and s(20) <= ack < s(cut_until_s):
                read = s(cut_until_s + 0.5)
            ids.append(n)
            parts.append(p)
            acks.append(ack)
            if n not in drop:
                cloud = AWS if p == 0 or (reassign_at_s is not None
                                          and read >= s(reassign_at_s)) else GCP
                for extra in ((0, 3 * NS) if n in dup else (0,)):
                    polls_id.append(n)
                    polls_ts.append(read + extra)
                    polls_cloud.append(cloud)
                    sends.append(ack - 20 * MS)
            n += 1
    a_part, a_ts, a_cloud = [0, 1], [s(-1), s(-1)], [AWS, GCP]
    if reassign_at_s is not None:
        a_part.append(1)
        a_ts.append(s(reassign_at_s))
        a_cloud.append(AWS)
    group = GroupHistory(
        n_partitions=2, acked_id=record_ids(np.zeros(n, dtype=np.int64), ids),
        acked_partition=arr(parts), acked_ts_ns=arr(acks),
        poll_id=record_ids(np.zeros(len(polls_id), dtype=np.int64), polls_id),
        poll_ts_ns=arr(polls_ts), assign_partition=arr(a_part), assign_ts_ns=arr(a_ts),
        assign_cloud=arr(a_cloud), fallback_cloud=AWS)
    latencies = PollLatencies(ts_ns=arr(polls_ts), send_ts_ns=arr(sends), cloud=arr(polls_cloud))
    return group, latencies


def run(group: GroupHistory, polls: PollLatencies) -> EndToEnd:
    return compute_end_to_end([group], polls, ["aws", "gcp"], FAULT, HEAL, T0, END)


def lag(e: EndToEnd, cloud: str, t_s: float) -> int:
    return next(p.lag_records for p in e.per_cloud[cloud].series if p.t_s == t_s)


def test_cut_off_consumer_lag_grows_then_drains() -> None:
    e = run(*stretched())
    # One point per second of the run, from run start (-20 s) to run end (+40 s).
    assert [p.t_s for p in e.per_cloud["gcp"].series] == [float(k) for k in range(-20, 41)]
    assert all(p.lag_records == 0 for p in e.per_cloud["aws"].series)
    gcp = [lag(e, "gcp", t) for t in (-1, 0, 1, 10, 19, 20, 21, 22)]
    assert gcp == [0, 0, 10, 100, 190, 200, 210, 0]  # 10 acked/s on p1 while gcp is cut off
    assert e.per_cloud["gcp"].max_lag_records == 210
    # Every record acked before 41.5 s (from run start) has been read at 41.5 s, not before.
    assert e.time_to_zero_lag_s == 21.5 and e.zero_lag_reason is None
    assert e.lag_settled_s == 21.5 and e.never_consumed == 0


def test_lag_moves_with_the_partition_when_the_group_reassigns_it() -> None:
    e = run(*stretched(reassign_at_s=30.0))
    assert [lag(e, "gcp", t) for t in (5, 9, 10, 15)] == [50, 90, 0, 0]
    assert [lag(e, "aws", t) for t in (5, 9, 10, 15, 21)] == [0, 0, 100, 150, 210]


def test_a_duplicate_consumes_once_and_counts_in_the_e2e_series() -> None:
    plain, dup = run(*stretched()), run(*stretched(dup=(0, 2, 4)))
    assert [p.lag_records for p in dup.per_cloud["aws"].series] == [
        p.lag_records for p in plain.per_cloud["aws"].series]
    assert dup.time_to_zero_lag_s == plain.time_to_zero_lag_s
    # records 0, 2, 4 (p0, read at 0.045, 0.145, 0.245 s) are read again 3 s later
    consumed = {p.t_s: p.consumed for p in dup.per_cloud["aws"].series}
    assert consumed[-17.0] == plain.per_cloud["aws"].series[3].consumed + 3
    assert next(p.e2e_p99_ms for p in dup.per_cloud["aws"].series if p.t_s == -17.0) == 3015.0


def test_a_record_never_consumed_keeps_lag_from_reaching_zero() -> None:
    victim = 2 * 300 + 1  # p1, acked at 30.05 s, while gcp is cut off
    e = run(*stretched(drop=(victim,)))
    assert e.time_to_zero_lag_s is None and e.never_consumed == 1
    assert e.zero_lag_reason == "1 acked records were still unconsumed at the run end (1 never consumed)"
    assert e.lag_settled_s is None and e.settled_reason == "1 acked records were never consumed"
    assert [lag(e, "gcp", t) for t in (10, 11, 22, 40)] == [100, 110, 1, 1]


def test_a_record_acked_after_the_zero_moment_does_not_move_it() -> None:
    victim = 2 * 500 + 1  # p1, acked at 50.05 s: after the backlog emptied at 41.5 s
    e = run(*stretched(drop=(victim,)))
    assert e.time_to_zero_lag_s == 21.5 and e.never_consumed == 1
    assert e.lag_settled_s is None  # but the lag never settled: that record is still waiting
    assert [lag(e, "gcp", t) for t in (29, 31, 40)] == [0, 1, 1]


def test_never_caught_up_before_the_run_ended() -> None:
    e = run(*stretched(cut_until_s=70.0))  # reads at 70.5 s, after the run end
    assert e.time_to_zero_lag_s is None
    assert e.zero_lag_reason == ("lag never reached 0 after the heal: 400 acked records "
                                 "unconsumed at the run end")
    assert e.per_cloud["gcp"].series[-1].lag_records == 400


def test_zero_lag_at_the_heal_when_nothing_lagged() -> None:
    e = run(*stretched(cut_until_s=20.0))
    assert e.time_to_zero_lag_s == 20.0 and e.lag_settled_s == 20.0
    assert e.per_cloud["gcp"].max_lag_records == 0


def test_first_consumed_takes_the_earliest_poll_of_each_record() -> None:
    acked = record_ids([1, 1, 2], [0, 1, 0])
    polls = record_ids([2, 1, 1, 9], [0, 0, 0, 0])
    got = first_consumed_ns(acked, polls, arr([50, 30, 10, 5]))
    assert got.tolist() == [10, NEVER, 50]


def test_e2e_p99_is_the_nearest_rank_per_cloud_and_second() -> None:
    ts = arr([s(0.5)] * 100 + [s(1.5)])
    send = ts - arr([*range(1, 101), 7]) * MS
    p99, n = e2e_by_second(PollLatencies(ts_ns=ts, send_ts_ns=send, cloud=arr([GCP] * 101)),
                           T0, 3, 2)
    assert n.tolist() == [[0, 0, 0], [100, 1, 0]]
    assert p99[GCP, 0] == 99.0 and p99[GCP, 1] == 7.0 and np.isnan(p99[GCP, 2])
    assert np.isnan(p99[AWS]).all()


def _write_consumer(run_dir: Path, cloud: str, index: int,
                    entries: list[tuple[str, int, int, int, int]]) -> None:
    """entries: ("poll", partition, seq, ts_ns, flags) or ("assign", partition, 0, ts_ns, 0)."""
    path = consumer_ledger_path(run_dir / "load", cloud, index, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    with ConsumerLedgerWriter(path, group="g", client_id=f"c{index}", cloud=cloud,
                              topics=["t"], run_start_ns=T0, bootstrap="b", cluster="main") as w:
        for kind, p, seq, ts, flags in entries:
            if kind == "assign":
                w.assign(0, p, 0, 1, f"m-{cloud}", ts)
            else:
                w.poll(0, p, seq, 1, 7, 0, seq, ts - 20 * MS, ts, flags)


def _producer(seqs_parts: list[tuple[int, int, int]]) -> ProducerLedger:
    acks = [Ack("t", p, seq, None, 7, seq, 0, ack - 20 * MS, ack) for seq, p, ack in seqs_parts]
    return ProducerLedger(Path("aws-p7.rdl"), {"cloud": "aws", "producer_id": 7}, list(acks), 0)


def test_from_run_reads_the_consumer_ledgers(tmp_path: Path) -> None:
    producer = _producer([(0, 0, s(19)), (1, 1, s(21)), (2, 1, s(22)), (3, 0, s(23))])
    _write_consumer(tmp_path, "aws", 0, [
        ("assign", 0, 0, s(0), 0), ("poll", 0, 0, s(19.01), 0), ("poll", 0, 3, s(23.01), 0),
        ("poll", 0, 99, s(23.5), POLL_FENCE), ("poll", 0, 98, s(23.6), POLL_FOREIGN),
        ("poll", 0, 97, s(23.7), POLL_EARLIER_RUN)])
    _write_consumer(tmp_path, "gcp", 1, [
        ("assign", 1, 0, s(0), 0), ("poll", 1, 1, s(45), 0), ("poll", 1, 2, s(45.5), 0),
        ("poll", 1, 2, s(46), 0)])
    e = end_to_end_from_run(tmp_path, [producer], FAULT, HEAL)
    assert e is not None and e.never_consumed == 0
    assert e.time_to_zero_lag_s == 25.5  # the last of gcp's backlog read at 45.5 s
    gcp = {p.t_s: p for p in e.per_cloud["gcp"].series}
    assert [gcp[t].lag_records for t in (0.0, 1.0, 2.0, 25.0, 26.0)] == [0, 1, 2, 1, 0]
    assert gcp[25.0].consumed == 2 and gcp[26.0].consumed == 1
    aws = {p.t_s: p for p in e.per_cloud["aws"].series}
    assert aws[3.0].consumed == 1 and aws[3.0].e2e_p99_ms == 20.0  # fence/foreign/earlier left out
    assert min(aws) == -20.0 and max(aws) == 26.0  # the run: first assignment .. last poll
    assert end_to_end_from_run(tmp_path / "none", [producer], FAULT, HEAL) is None


def test_from_run_matches_records_to_the_group_of_their_cluster(tmp_path: Path) -> None:
    """Per-cloud clusters: a group only expects the records acked on its own cluster."""
    producer = _producer([(0, 0, s(21))])
    _write_consumer(tmp_path, "gcp", 1, [("assign", 0, 0, s(0), 0)])
    e = end_to_end_from_run(tmp_path, [producer], FAULT, HEAL,
                            cluster_of=lambda h: "aws" if h["cloud"] == "aws" else "gcp")
    assert e is not None and e.never_consumed == 0 and e.time_to_zero_lag_s is None
    assert e.zero_lag_reason == "no acked record to consume"
    same = end_to_end_from_run(tmp_path, [producer], FAULT, HEAL)
    assert same is not None and same.never_consumed == 1


def test_the_block_round_trips_through_run_summary() -> None:
    e = run(*stretched())
    summary = RunSummary(run_id="r", experiment="x", engine="kafka", started_at="2026-01-01T00:00:00",
                         ended_at="2026-01-01T00:01:00", end_to_end=e)
    again = RunSummary.model_validate_json(summary.to_json())
    assert again.end_to_end == e


def test_the_true_figure_replaces_the_sampled_one_in_the_recovery() -> None:
    from riftdrill.chaos.endtoend import ZERO_LAG_TRUE, with_true_lag
    from riftdrill.chaos.recovery import ZERO_LAG_SAMPLED, compute_recovery

    rec = compute_recovery({}, [], FAULT, None, END, lag=([FAULT / NS, FAULT / NS + 10], [0, 0]))
    assert rec.time_to_zero_lag_s == 0.0 and rec.time_to_zero_lag_from is None
    with_true_lag(rec, None)  # no consumer ledgers: the sampled figure stays, labelled
    assert rec.time_to_zero_lag_s == 0.0 and rec.time_to_zero_lag_from == ZERO_LAG_SAMPLED
    with_true_lag(rec, run(*stretched()))
    assert rec.time_to_zero_lag_s == 21.5 and rec.time_to_zero_lag_from == ZERO_LAG_TRUE
    with_true_lag(rec, run(*stretched(cut_until_s=70.0)))
    assert rec.time_to_zero_lag_s is None
    assert rec.reasons["time_to_zero_lag_s"].startswith("lag never reached 0 after the heal")


def test_regression_compares_zero_lag_only_when_measured_the_same_way() -> None:
    from riftdrill.chaos.regression import compare
    from riftdrill.chaos.slo import Tolerance

    def summary(value: float, source: str | None) -> dict[str, object]:
        rec: dict[str, object] = {"time_to_zero_lag_s": value}
        if source:
            rec["time_to_zero_lag_from"] = source
        return {"run_id": "r", "recovery": rec}

    old_sampled, new_true = summary(0.0, None), summary(26.7, "consumer ledgers")
    compared, flags = compare(new_true, old_sampled, Tolerance())
    assert "time_to_zero_lag_s" not in compared and flags == []
    compared, flags = compare(new_true, summary(10.0, "consumer ledgers"), Tolerance())
    assert "time_to_zero_lag_s" in compared and [f.figure for f in flags] == ["time_to_zero_lag_s"]


def test_judge_writes_the_block_and_judges_the_true_figure(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The drill runner: the block comes out of judge(), and the recovery's time to zero lag
    (what slo.yaml and the regression check read) is the true one."""
    from riftdrill.chaos import windows
    from riftdrill.chaos.slo import ExperimentSlo
    from riftdrill.load.ledger import LedgerWriter
    from tests.unit.test_chaos_runner import JOURNAL_OK, _judge_with_clean_verify

    (tmp_path / "journal.json").write_text(json.dumps(JOURNAL_OK))
    windows.record_start("sever_link", "aws-gcp", run_dir=tmp_path, ts_ns=FAULT)
    windows.record_end("sever_link", "aws-gcp", run_dir=tmp_path, ts_ns=HEAL)
    with LedgerWriter(tmp_path / "load" / "ledgers" / "aws-p7.rdl", 7, "aws", ["t"]) as w:
        for seq, ack in enumerate((s(19), s(21), s(22))):
            w.append_ack("t", 1, seq, None, seq, 0, ack - 20 * MS, ack)
    _write_consumer(tmp_path, "gcp", 1, [
        ("assign", 1, 0, s(0), 0), ("poll", 1, 0, s(19.01), 0), ("poll", 1, 1, s(44), 0),
        ("poll", 1, 2, s(44.5), 0)])
    j = _judge_with_clean_verify(monkeypatch, tmp_path, ExperimentSlo(max_time_to_zero_lag_s=20.0))
    verdict, recovery, e2e = j.verdict, j.recovery, j.end_to_end
    assert e2e is not None and e2e.time_to_zero_lag_s == 24.5
    assert recovery.time_to_zero_lag_s == 24.5
    assert recovery.time_to_zero_lag_from == "consumer ledgers"
    assert [lag(e2e, "gcp", t) for t in (0, 1, 2, 24, 25)] == [0, 1, 2, 1, 0]
    assert not verdict.passed
    assert any("max_time_to_zero_lag_s" in r and "24.5" in r for r in verdict.reasons)


def test_a_million_records_are_sorted_and_counted_not_scanned() -> None:
    """1 M acked records, 1.05 M polls (5 % redelivered), 64 partitions, a 300 s run: 0.4-0.8 s
    on the shared 2-core dev machine under load. The bound only catches a per-second scan over
    every record (minutes), not noise."""
    import time

    rng = np.random.default_rng(1)
    n, run_s = 1_000_000, 300
    send = T0 + np.sort(rng.integers(0, run_s * NS, n))
    ack = send + rng.integers(MS, 50 * MS, n)
    read = send + rng.integers(MS, 60 * MS, n)
    ids = record_ids((np.arange(n) % 2) * 256, np.arange(n))
    again = rng.integers(0, n, n // 20)
    poll_id, poll_ts = np.r_[ids, ids[again]], np.r_[read, read[again] + NS]
    group = GroupHistory(
        n_partitions=64, acked_id=ids, acked_partition=rng.integers(0, 64, n).astype(np.int64),
        acked_ts_ns=ack, poll_id=poll_id, poll_ts_ns=poll_ts,
        assign_partition=np.arange(64, dtype=np.int64), assign_ts_ns=np.full(64, T0),
        assign_cloud=np.arange(64, dtype=np.int64) % 2, fallback_cloud=AWS)
    polls = PollLatencies(ts_ns=poll_ts, send_ts_ns=np.r_[send, send[again]],
                          cloud=(poll_id % np.uint64(2)).astype(np.int64))
    started = time.perf_counter()
    e = compute_end_to_end([group], polls, ["aws", "gcp"], s(100), s(130), T0, s(run_s))
    assert time.perf_counter() - started < 5.0
    assert len(e.per_cloud["aws"].series) == run_s + 1 and e.lag_settled_s == 30.0
    in_run = np.count_nonzero(poll_ts < s(run_s + 1))  # the last point covers [300 s, 301 s)
    assert sum(p.consumed for c in e.per_cloud.values() for p in c.series) == in_run
