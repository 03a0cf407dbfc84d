"""Across MirrorMaker 2: checkpoint records, replication lag, consumer failover figures, their
SLO bounds, the mirror contract, and the refusal of a mirror drill without a mirror.

Pure functions over plain maps (the ledgers and the lab are not the subject: the lab test
tests/lab/test_failover_drill.py drives them for real)."""

from __future__ import annotations

import struct

import pytest

from riftdrill.chaos.failover import CATCH_UP_S, compute_failover, producer_failover
from riftdrill.chaos.replication import SourceAck, Visible, checkpoint_gaps, compute_lag
from riftdrill.chaos.slo import ExperimentSlo, check
from riftdrill.errors import ValidationError
from riftdrill.load.mirrortail import decode_checkpoint, latest_checkpoints
from riftdrill.verify.contract import Contract, allowed_kinds

S = 1_000_000_000
CUT = 1000 * S


def _str(s: str) -> bytes:
    return struct.pack(">h", len(s)) + s.encode()


def checkpoint(group: str, topic: str, partition: int, up: int, down: int) -> tuple[bytes, bytes]:
    """As MirrorMaker 2's Checkpoint serializes (Kafka protocol STRING/INT32/INT16/INT64)."""
    key = _str(group) + _str(topic) + struct.pack(">i", partition)
    value = struct.pack(">hqq", 0, up, down) + _str("")
    return key, value


def test_checkpoints_decode_and_the_latest_per_partition_wins() -> None:
    k1, v1 = checkpoint("g", "aws.t", 0, 150, 100)
    k2, v2 = checkpoint("g", "aws.t", 0, 260, 201)
    k3, v3 = checkpoint("other", "aws.t", 1, 5, 5)
    k4, v4 = checkpoint("g", "aws.other", 2, 5, 5)
    cp = decode_checkpoint(k1, v1, 7)
    assert cp is not None and (cp.group, cp.topic, cp.partition, cp.upstream_offset,
                               cp.downstream_offset, cp.ts_ms) == ("g", "aws.t", 0, 150, 100, 7)
    got = latest_checkpoints([(k1, v1, 1), (k3, v3, 2), (k2, v2, 3), (k4, v4, 4)], "g", "aws.t")
    assert list(got) == [0] and got[0].upstream_offset == 260 and got[0].ts_ms == 3
    # anything else is not a checkpoint: no crash, no entry
    assert decode_checkpoint(b"\x00\x05ab", v1, 0) is None
    assert decode_checkpoint(k1, b"\x00", 0) is None
    assert decode_checkpoint(None, v1, 0) is None


def ack(p: int, off: int, t_s: float) -> SourceAck:
    return SourceAck(p, off, CUT + int(t_s * S))


def vis(p: int, off: int, t_s: float) -> Visible:
    return Visible(p, off, CUT + int(t_s * S))


def test_replication_lag_rises_over_the_fault_and_settles_after_the_heal() -> None:
    acks = {(1, i): ack(0, i, t) for i, t in enumerate([-4.0, -3.0, -0.1, 1.0, 2.0, 12.0])}
    visible = {(1, 0): vis(0, 0, -3.8), (1, 1): vis(0, 1, -2.7),  # 0.2, 0.3 s before the fault
               (1, 2): vis(0, 2, 11.0), (1, 3): vis(0, 3, 11.0), (1, 4): vis(0, 4, 11.5),
               (1, 5): vis(0, 5, 12.2)}
    lag = compute_lag(acks, visible, CUT, CUT + 10 * S, source="aws", target="gcp", topic="aws.t")
    # the record the kill caught in flight (acked -0.1, visible 11) is the fault's, not baseline
    assert lag.baseline_p99_s == 0.3
    assert lag.max_s == 11.1 and lag.never_mirrored == 0 and lag.mirrored == 6
    # settled: the last record visible after the heal with a lag over max(2 x 0.3, 1) s
    assert lag.settled_s == 11.5
    by_t = {p.t_s: p for p in lag.series}
    assert by_t[-1.0].max_lag_s == 11.1 and by_t[1.0].max_lag_s == 10.0
    assert by_t[5.0].acked == 0 and by_t[5.0].max_lag_s is None  # a gap is a gap, not a line
    # a record that never reached the mirror: no settle time, said why
    del visible[(1, 5)]
    lag = compute_lag(acks, visible, CUT, CUT + 10 * S, source="aws", target="gcp", topic="aws.t")
    assert lag.never_mirrored == 1 and lag.settled_s is None
    assert lag.settled_reason == "1 acked record(s) never reached the mirror tail"


def test_checkpoint_gaps_show_a_stopped_mirrormaker() -> None:
    lag = compute_lag({}, {}, CUT, None, source="a", target="b", topic="a.t")
    base_ms = CUT // 1_000_000
    checkpoint_gaps(lag, [base_ms - 10_000, base_ms - 5_000, base_ms - 5_000, base_ms + 37_000],
                    CUT)
    assert (lag.checkpoints, lag.checkpoint_max_gap_s, lag.checkpoint_gap_from_s) == (4, 42.0, -5.0)
    assert (lag.checkpoints_before_fault, lag.checkpoint_fault_gap_s) == (3, 42.0)
    # CI's shape: MirrorMaker 2 checkpointed the group only after its restart; its longest gap
    # (7 s, all after the fault) says nothing about the stop, and the gap across it is unknown
    late = compute_lag({}, {}, CUT, None, source="a", target="b", topic="a.t")
    checkpoint_gaps(late, [base_ms + 20_000, base_ms + 27_000, base_ms + 32_000], CUT)
    assert late.checkpoint_max_gap_s == 7.0
    assert (late.checkpoints_before_fault, late.checkpoint_fault_gap_s) == (0, None)
    none = compute_lag({}, {}, CUT, None, source="a", target="b", topic="a.t")
    checkpoint_gaps(none, [base_ms], CUT)
    assert none.checkpoints == 1 and none.checkpoint_max_gap_s is None


def failover(**over: object) -> object:
    """A failover of one partition: records 0..9 acked before the cut, the source group
    consumed 0..7, the mirror holds 0..8 (9 missed the cut), the checkpoint translated to 5."""
    acks = {(1, i): ack(0, i, -10 + i) for i in range(10)}
    source_polls = [((1, i), CUT - (8 - i) * S) for i in range(8)]
    mirror = {(1, i): vis(0, i, -9.5 + i) for i in range(9)}
    target = {(1, i): vis(0, i, 1.0 + (i - 5) / 10) for i in range(5, 9)}
    args: dict[str, object] = dict(
        acks=acks, source_polls=source_polls, mirror=mirror, target_polls=target, starts={0: 5},
        checkpoints={0: {"upstream_offset": 6, "downstream_offset": 5, "ts_ms": 997_000}},
        cut_ns=CUT, failover_ns=CUT + S // 2, failback_ns=CUT + 30 * S)
    args.update(over)
    return compute_failover(**args, source="aws", target="gcp", group="g",  # type: ignore[arg-type]
                            topic="aws.t")


def test_failover_figures_from_the_ledgers() -> None:
    f = failover()
    assert f.rto_s == 1.0 and f.failover_at_s == 0.5 and f.failback_at_s == 30.0
    # record 9 (acked 1 s before the cut) never reached the mirror: the RPO
    assert (f.rpo_records, f.rpo_s) == (1, 1.0)
    assert f.checkpoint_age_s == 3.0
    assert f.reconsumed == 3  # 5, 6, 7: read in the source, and again on the target
    assert f.skipped == 0 and f.unconsumed_on_target == 0
    assert f.never_delivered == 1  # record 9, until the source group reads it after the failback
    assert f.problems() == ["1 record(s) acked in the source before the cut were never "
                            "consumed by the group on either cluster"]
    after = [((1, i), CUT - (8 - i) * S) for i in range(8)] + [((1, 8), CUT + 40 * S),
                                                                 ((1, 9), CUT + 41 * S)]
    f = failover(source_polls=after)
    assert f.never_delivered == 0 and f.problems() == []
    assert f.failback_rto_s == 10.0 and f.failback_reconsumed == 1  # record 8, twice


def test_a_translation_ahead_of_delivery_skips_and_fails() -> None:
    """The group had consumed 0..7 in the source, the translation put it at 8 in the mirror...
    but source polls of 5..7 are missing: those three were never read by anyone."""
    polls = [((1, i), CUT - (8 - i) * S) for i in range(5)]
    f = failover(source_polls=polls, starts={0: 8},
                 target_polls={(1, 8): vis(0, 8, 1.0)})
    assert f.skipped == 3 and f.partitions[0].skipped == 3
    assert any("skipped 3 record(s)" in p for p in f.problems())


def test_records_left_in_the_mirror_unread_fail() -> None:
    f = failover(target_polls={(1, 5): vis(0, 5, 1.0)})
    # 8 was in the mirror long before the failback and nobody read it (6 and 7 the source group
    # had delivered before the cut: not left undelivered)
    assert f.unconsumed_on_target == 1
    assert any("left 1 record(s) in the mirror unread" in p for p in f.problems())
    # one that arrived in the last CATCH_UP_S is not held against it
    late = {(1, i): vis(0, i, -9.5 + i) for i in range(8)} | {(1, 8): vis(0, 8, 30 - CATCH_UP_S
                                                                           + 1)}
    assert failover(mirror=late, target_polls={(1, 5): vis(0, 5, 1.0)}).unconsumed_on_target == 0
    nothing = failover(target_polls={})
    assert nothing.rto_s is None and nothing.rto_reason is not None


def test_mirror_slo_bounds_break_without_their_figure() -> None:
    bounds = ExperimentSlo(max_replication_lag_s="hold_s + 5", max_failover_rto_s=0.5,
                           max_rpo_s=0.5)
    out = check(bounds, None, None, 10.0, replication={}, failover=None)
    assert {v.bound for v in out} >= {"max_replication_lag_s", "max_failover_rto_s", "max_rpo_s"}
    acks = {(1, 0): ack(0, 0, 1.0)}
    lag = compute_lag(acks, {(1, 0): vis(0, 0, 21.0)}, CUT, CUT + 2 * S, source="a", target="b",
                      topic="a.t")
    f = failover()
    out = check(bounds, None, None, 10.0, replication={"a-to-b": lag}, failover=f)
    msgs = {v.bound: v.message for v in out}
    assert "measured 20 (a-to-b), over by 5" in msgs["max_replication_lag_s"]
    assert "measured 1" in msgs["max_failover_rto_s"] and "measured 1" in msgs["max_rpo_s"]


def test_a_mirror_contract_decides_mirror_duplicates() -> None:
    base = dict(profile="idempotent", producers=1, acks=["all"], idempotence=True,
                max_in_flight=5)
    assert "mirror_duplicates" in allowed_kinds(Contract(**base, mirror_delivery="at-least-once"))
    assert "mirror_duplicates" not in allowed_kinds(Contract(**base,
                                                             mirror_delivery="exactly-once"))
    assert "mirror_duplicates" not in allowed_kinds(Contract(**base))
    assert "duplicates" not in allowed_kinds(Contract(**base, mirror_delivery="at-least-once"))


def test_a_mirror_drill_without_a_mirror_is_refused_naming_the_fix() -> None:
    from riftdrill.chaos.runner import check_drill_fits
    from tests.unit.test_chaos_targets import inv

    stretched = inv()
    assert not stretched.mirrors
    with pytest.raises(ValidationError, match=r"consumer-failover needs MirrorMaker 2 between two "
                       r"clusters: .*TOPOLOGY=per-cloud"):
        check_drill_fits("consumer-failover", {"tags": ["mirror"]}, {"source": "aws"},
                            stretched)
    with pytest.raises(ValidationError, match="mirror-kill needs MirrorMaker 2"):
        check_drill_fits("mirror-kill", {"tags": ["mirror"]}, {"mirror": ""}, stretched)
    check_drill_fits("broker-kill", {"tags": ["broker"]}, {}, stretched)  # not a mirror drill


def test_producer_failover_figures_from_acks_and_switches() -> None:
    events = [{"cloud": "gcp", "cluster": "aws", "ts_ns": CUT},  # another cloud's: ignored
              {"cloud": "aws", "cluster": "gcp", "ts_ns": CUT + S // 2},
              {"cloud": "aws", "cluster": "aws", "ts_ns": CUT + 40 * S}]
    acks = {"aws": [CUT - S, CUT + 43 * S, CUT + 44 * S], "gcp": [CUT + 2 * S, CUT + 3 * S]}
    p = producer_failover(acks, events, "aws", "aws", "gcp", CUT)
    assert p is not None
    assert (p.switched_at_s, p.rto_s, p.acked_on_target) == (0.5, 2.0, 2)
    assert (p.switched_back_at_s, p.failback_rto_s) == (40.0, 3.0)
    # never switched: no producer figures (the drill moved consumers only)
    assert producer_failover(acks, events[:1], "aws", "aws", "gcp", CUT) is None
    # switched, never acked there: no RTO
    p = producer_failover({"aws": [CUT - S]}, events[1:2], "aws", "aws", "gcp", CUT)
    assert p is not None and p.rto_s is None and p.acked_on_target == 0


def test_a_ledger_that_names_its_cluster_is_judged_there() -> None:
    """A producer placed in aws that failed over writes gcp's cluster: its header says so."""
    from riftdrill.inventory import Cluster
    from riftdrill.verify.verifier import ledger_cluster
    from tests.unit.test_chaos_targets import inv

    lab = inv()
    lab.clusters = [Cluster(name="aws", clouds=["aws"], brokers=[], bootstrap={"aws": "a:9092"}),
                    Cluster(name="gcp", clouds=["gcp"], brokers=[], bootstrap={"gcp": "g:9092"})]
    assert ledger_cluster({"cloud": "aws", "cluster": "gcp"}, lab) == "gcp"
    assert ledger_cluster({"cloud": "aws", "cluster": ""}, lab) == "aws"
    assert ledger_cluster({"cloud": "aws"}, lab) == "aws"
    assert ledger_cluster({"cloud": "aws", "cluster": "gone"}, lab) == "aws"
