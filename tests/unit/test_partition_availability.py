"""Per-partition availability as the client saw it: a partition is unavailable from the first
send to it that is not acked until its next ack (chaos/recovery.py)."""

from __future__ import annotations

from pathlib import Path

from riftdrill.chaos import slo, windows
from riftdrill.chaos.recovery import (
    NS,
    AckSeries,
    PartitionSends,
    compute_recovery,
    figures_from_run,
    partition_figures,
    partition_unavailability_s,
    sends_by_partition,
)
from riftdrill.load.ledger import LedgerWriter, read_producer_ledger
from riftdrill.verify.report import VerifyReport

ROOT = Path(__file__).resolve().parents[2]
MS = 1_000_000
FAULT = 100 * NS
RUN_END = 130 * NS


def steady(ps: PartitionSends, from_ns: int, to_ns: int, *, step_ns: int = 30 * MS,
           latency_ns: int = 5 * MS) -> None:
    for send in range(from_ns, to_ns, step_ns):
        ps.send_ts_ns.append(send)
        ps.ack_ts_ns.append(send + latency_ns)


def election_run() -> dict[tuple[str, str, int], PartitionSends]:
    """aws: partition 0 healthy, partition 1's leader dies at the fault: its sends of 100..108 s
    wait for the election and are acked together at 108 s; gcp: healthy throughout."""
    p0, p1, g0 = PartitionSends(), PartitionSends(), PartitionSends()
    steady(p0, 40 * NS, RUN_END)
    steady(g0, 40 * NS, RUN_END)
    steady(p1, 40 * NS, FAULT)
    for send in range(FAULT, 108 * NS, 30 * MS):
        p1.send_ts_ns.append(send)
        p1.ack_ts_ns.append(108 * NS)
    steady(p1, 108 * NS, RUN_END)
    return {("aws", "t", 0): p0, ("aws", "t", 1): p1, ("gcp", "t", 0): g0}


def cloud_series(sends: dict[tuple[str, str, int], PartitionSends]) -> dict[str, AckSeries]:
    out: dict[str, AckSeries] = {}
    for (cloud, _, _), ps in sends.items():
        s = out.setdefault(cloud, AckSeries())
        s.ack_ts_ns += ps.ack_ts_ns
        s.send_ts_ns += ps.send_ts_ns
    return out


def test_a_dead_leader_shows_on_its_partition_not_cloud_wide() -> None:
    sends = election_run()
    fig = compute_recovery(cloud_series(sends), [], FAULT, 110 * NS, RUN_END,
                           partitions=(sends, {}), clusters={"aws": "main", "gcp": "main"})
    # cloud-wide, partition 0's acks keep aws "available": the figure the issue called blind
    assert fig.worst_unavailability_s < 0.1
    assert fig.worst_partition_unavailability_s == 8.0
    assert fig.worst_partition == "t[1]@aws"
    assert fig.partitions_affected == 1
    row = next(r for r in fig.partitions if (r.cloud, r.partition) == ("aws", 1))
    assert (row.cluster, row.time_to_first_ack_s) == ("main", 8.0)
    assert row.sends == row.acked == len([s for s in sends["aws", "t", 1].send_ts_ns
                                          if s >= FAULT])
    assert fig.per_cloud["aws"].worst_partition_unavailability_s == 8.0
    assert fig.per_cloud["aws"].partitions_affected == 1
    assert fig.per_cloud["aws"].time_to_first_ack_s == 8.0
    assert fig.per_cloud["gcp"].partitions_affected == 0
    assert fig.per_cloud["gcp"].worst_partition_unavailability_s is not None
    assert fig.per_cloud["gcp"].worst_partition_unavailability_s < 0.1
    assert "partitions" not in fig.reasons


def test_an_idle_partition_is_not_unavailable() -> None:
    """No send after the last ack: nobody wanted the partition (an unkeyed producer that chose
    others), so no row and no unavailability."""
    ps = PartitionSends()
    steady(ps, 40 * NS, 90 * NS)
    assert partition_figures({("aws", "t", 3): ps}, {}, FAULT, RUN_END) == []
    assert partition_unavailability_s(ps.ack_ts_ns, ps.send_ts_ns, FAULT, RUN_END) == 0.0


def test_failed_sends_count_and_a_partition_never_acked_again_counts_to_run_end() -> None:
    ps = PartitionSends()
    steady(ps, 40 * NS, FAULT)
    ps.failed_send_ts_ns += [FAULT + 2 * NS, FAULT + 3 * NS]
    [row] = partition_figures({("gcp", "t", 2): ps}, {}, FAULT, RUN_END)
    assert row.unavailability_s == 28.0  # first failed send at 102 s -> run end at 130 s
    assert row.time_to_first_ack_s is None
    assert (row.sends, row.acked) == (2, 0)


def test_failed_sends_of_unknown_partition_count_for_every_partition_and_say_so() -> None:
    """An old ledger: errors carry no partition. Acks alone would start partition 1's outage at
    the first send that was eventually acked (105 s); the failed sends show the client wanted it
    from 101 s."""
    p0, p1 = PartitionSends(), PartitionSends()
    steady(p0, 40 * NS, RUN_END)
    steady(p1, 40 * NS, FAULT)
    for send in range(105 * NS, 108 * NS, 30 * MS):
        p1.send_ts_ns.append(send)
        p1.ack_ts_ns.append(108 * NS)
    steady(p1, 108 * NS, RUN_END)
    sends = {("aws", "t", 0): p0, ("aws", "t", 1): p1}
    acks_only = compute_recovery(cloud_series(sends), [], FAULT, None, RUN_END,
                                 partitions=(sends, {}))
    assert acks_only.worst_partition_unavailability_s == 3.0
    unknown = {("aws", "t"): [101 * NS, 102 * NS]}
    fig = compute_recovery(cloud_series(sends), [], FAULT, None, RUN_END,
                           partitions=(sends, unknown))
    assert fig.worst_partition_unavailability_s == 7.0
    assert fig.worst_partition == "t[1]@aws"
    assert fig.partitions_affected == 1  # partition 0 kept acking: the failures add ~nothing
    assert "2 failed sends after the fault record no partition" in fig.reasons["partitions"]


def test_ledger_errors_keep_their_partition_and_old_ones_read_as_unknown(tmp_path: Path) -> None:
    path = tmp_path / "load" / "ledgers" / "aws-p1.rdl"
    with LedgerWriter(path, 1, "aws", ["t"]) as w:
        w.append_ack("t", 4, 0, b"k-1", 0, 0, 1 * NS, 2 * NS)
        w.append_error("t", 1, 7, 3 * NS, 4 * NS, partition=4)
        w.append_error("t", 2, 7, 5 * NS, 6 * NS)  # as every ledger before partitions were kept
    ledger = read_producer_ledger(path)
    assert [getattr(e, "partition", None) for e in ledger.entries] == [4, 4, -1]
    sends, unknown = sends_by_partition([ledger])
    assert sends["aws", "t", 4].failed_send_ts_ns == [3 * NS]
    assert unknown == {("aws", "t"): [5 * NS]}


def test_no_partition_data_leaves_the_headline_none_with_a_reason() -> None:
    sends = election_run()
    fig = compute_recovery(cloud_series(sends), [], FAULT, None, RUN_END)
    assert fig.worst_partition_unavailability_s is None and fig.partitions == []
    assert set(fig.model_dump()).isdisjoint({"partitions", "per_cloud", "worst_partition"})
    rows = compute_recovery(cloud_series(sends), [], FAULT, None, RUN_END, partitions=({}, {}))
    assert rows.model_dump()["partitions"] == [] and rows.partitions_affected == 0
    assert "worst_partition_unavailability_s" in rows.reasons


CLEAN = VerifyReport(run_dir="x", totals={"lost": 0})


def _bounds(limit: float | str) -> slo.ExperimentSlo:
    return slo.ExperimentSlo(max_worst_partition_unavailability_s=limit)


def test_the_worst_partition_bound_fails_above_and_holds_at_or_below() -> None:
    sends = election_run()
    fig = compute_recovery(cloud_series(sends), [], FAULT, None, RUN_END,
                           partitions=(sends, {}))
    [v] = slo.check(_bounds(5), fig, CLEAN, 0)
    assert v.bound == "max_worst_partition_unavailability_s"
    assert (v.measured, v.over_by) == (8.0, 3.0)
    assert "t[1]@aws" in v.message
    assert slo.check(_bounds(8), fig, CLEAN, 0) == []
    assert slo.check(_bounds("hold_s + 3"), fig, CLEAN, 5) == []
    [v] = slo.check(_bounds("hold_s + 3"), fig, CLEAN, 4)
    assert v.over_by == 1.0
    # ...while the cloud-wide bound of the same value cannot see it
    assert slo.check(slo.ExperimentSlo(max_unavailability_s=5), fig, CLEAN, 0) == []


def test_the_worst_partition_bound_fails_when_never_measured() -> None:
    fig = compute_recovery(cloud_series(election_run()), [], FAULT, None, RUN_END)
    [v] = slo.check(_bounds(20), fig, CLEAN, 0)
    assert v.measured is None and "no per-partition figures" in v.message


def test_the_repo_binds_the_worst_partition_of_the_fault_drills() -> None:
    parsed = slo.load(ROOT / "slo.yaml")
    for name in ("broker-kill", "leader-kill", "broker-pause", "link-sever", "cloud-outage",
                 "object-store-outage"):
        assert slo.bounds_for(parsed, name).max_worst_partition_unavailability_s is not None


def test_the_captured_broker_kill_shows_the_election_and_meets_its_bound() -> None:
    """Committed with its ledgers: Kafka's broker-kill. Cloud-wide it reads 0.14 s; the
    partitions whose leader died waited seconds for the election."""
    run = ROOT / "tests" / "fixtures" / "runs" / "20261124T225246Z-broker-kill"
    span = windows.span(windows.fault_windows(run))
    assert span is not None
    fig = figures_from_run(run, span[0], span[1])
    assert fig.worst_unavailability_s < 1.0
    assert fig.worst_partition_unavailability_s is not None
    assert 5.0 < fig.worst_partition_unavailability_s < 10.0  # measured 7.2 s
    assert fig.partitions_affected == 6  # 3 partitions led by the dead broker, seen from 2 clouds
    bound = slo.bounds_for(slo.load(ROOT / "slo.yaml"), "broker-kill")
    limit = bound.max_worst_partition_unavailability_s
    assert slo.check(slo.ExperimentSlo(max_worst_partition_unavailability_s=limit),
                     fig, CLEAN, 8) == []
    [v] = slo.check(_bounds(fig.worst_partition_unavailability_s - 1), fig, CLEAN, 8)
    assert v.bound == "max_worst_partition_unavailability_s"


_DELIVERY = r'''
import sys, types
from pathlib import Path
from confluent_kafka import KafkaError
from riftdrill.load.users import KafkaProducerUser
from riftdrill.load.ledger import LedgerWriter
from riftdrill.load.record import HEADER, MAGIC

class Msg:
    def __init__(self, partition):
        self._p = partition
    def value(self):
        return HEADER.pack(MAGIC, 1, 7, 123, 0) + b"x" * 8
    def key(self):
        return b"k-3"
    def partition(self):
        return self._p
    def offset(self):
        return -1

class Sink:
    def fire(self, **_):
        pass

user = types.SimpleNamespace(topic="t", sending=True, fatal=None, report_each=False)
user.ledger = LedgerWriter(Path(sys.argv[1]), 1, "aws", ["t"])
user.ctx = types.SimpleNamespace(metrics=types.SimpleNamespace(failed=lambda: None))
user.environment = types.SimpleNamespace(events=types.SimpleNamespace(request=Sink()))
user._record_error = lambda *a: KafkaProducerUser._record_error(user, *a)
timed_out = KafkaError(KafkaError._MSG_TIMED_OUT)
KafkaProducerUser._on_delivery(user, timed_out, Msg(4))   # queued on partition 4
KafkaProducerUser._on_delivery(user, timed_out, Msg(-1))  # failed before partitioning
user.ledger.close()
'''


def test_the_producer_records_the_partition_of_a_failed_send(tmp_path: Path) -> None:
    """The delivery report's partition goes into the ledger (a subprocess: locust patches the
    interpreter it is imported in)."""
    import subprocess
    import sys

    path = tmp_path / "aws-p1.rdl"
    subprocess.run([sys.executable, "-c", _DELIVERY, str(path)], check=True, timeout=60)
    errors = read_producer_ledger(path).entries
    assert [(e.partition, e.error_name) for e in errors] == [(4, "_MSG_TIMED_OUT"),
                                                            (-1, "_MSG_TIMED_OUT")]
