"""The checker on crafted ledgers and logs: one test per anomaly, each with its offsets."""

from __future__ import annotations

from riftdrill.load.ledger import Ack
from riftdrill.verify.anomalies import ANOMALY_KINDS
from riftdrill.verify.check import (
    NOT_ASKED,
    Absence,
    ClusterLedger,
    PartitionRead,
    check_cluster,
    check_mirror,
    check_partition,
    missing_partitions,
)
from riftdrill.verify.contract import Contract
from riftdrill.verify.report import PartitionResult, VerifyReport, anomaly_from_offsets, expand

PID = 7
CK = 0xC0FFEE


def ack(offset: int, seq: int, pid: int = PID, partition: int = 0, topic: str = "t",
        checksum: int = CK) -> Ack:
    return Ack(topic, partition, offset, None, pid, seq, checksum, 0, 0)


IDEMPOTENT = Contract(profile="idempotent")
LEGACY = Contract(profile="legacy")


def log(*records: tuple[int, int, int] | tuple[int, int, int, bool], low: int = 0,
        topic: str = "t", partition: int = 0, cluster: str = "main",
        fenced: bool = True) -> PartitionRead:
    """records: (offset, producer_id, seq[, checksum_ok]); fenced: the replay met its fence."""
    read = PartitionRead(cluster=cluster, topic=topic, partition=partition, low_watermark=low,
                         fenced=fenced)
    for rec in records:
        off, pid, seq = rec[:3]
        ok = bool(rec[3]) if len(rec) == 4 else True
        read.append(off, pid, seq, CK, ok)
    read.high_watermark = (read.offsets[-1] + 1) if read.offsets else low
    return read


def offsets(result: PartitionResult, kind: str) -> list[int]:
    a = result.anomalies.get(kind)
    return expand(a) if a else []


def check(read: PartitionRead, acks: list[Ack], failed: set[tuple[int, int]] | None = None,
          producers: set[int] | None = None) -> PartitionResult:
    return check_partition(read, acks, failed or set(), producers or {PID})


def test_clean_partition_has_no_anomalies() -> None:
    r = check(log((0, PID, 0), (1, PID, 1), (2, PID, 2)), [ack(0, 0), ack(1, 1), ack(2, 2)])
    assert r.anomalies == {}
    assert (r.read, r.acked) == (3, 3)


def test_lost_when_a_higher_offset_was_read() -> None:
    r = check(log((0, PID, 0), (2, PID, 2)), [ack(0, 0), ack(1, 1), ack(2, 2)])
    assert offsets(r, "lost") == [1]
    assert "inconsistent_offset" not in r.anomalies  # nothing else sits at offset 1


def test_acked_offsets_below_low_watermark_are_lost_even_with_nothing_read() -> None:
    # DeleteRecords up to offset 5 on a partition that held 0..4: low = high = 5, nothing read.
    r = check(log(low=5), [ack(o, o) for o in range(5)])
    assert offsets(r, "lost") == [0, 1, 2, 3, 4]
    assert r.anomalies["lost"].offsets == [(0, 4)]  # reported as one range


def test_acks_past_the_end_of_a_fenced_log_are_lost() -> None:
    # The replay met the fence after offset 1: acks at 2 and 3 can only have vanished.
    r = check(log((0, PID, 0), (1, PID, 1)), [ack(0, 0), ack(1, 1), ack(2, 2), ack(3, 3)])
    assert offsets(r, "lost") == [2, 3]


def test_acks_past_where_an_unfenced_replay_stopped_are_unreadable_not_lost() -> None:
    read = log((0, PID, 0), (2, PID, 2), fenced=False)
    r = check(read, [ack(0, 0), ack(1, 1), ack(2, 2), ack(3, 3), ack(4, 4)])
    assert offsets(r, "lost") == [1]  # the replay read past offset 1
    assert offsets(r, "unreadable") == [3, 4]
    report = VerifyReport(run_dir="x", partitions=[r]).finish(LEGACY)
    assert "unreadable" in report.failing_kinds and not report.passed


def test_record_read_at_another_offset_than_acked_is_inconsistent() -> None:
    r = check(log((0, PID, 0), (1, PID, 1), (2, PID, 2)), [ack(0, 0), ack(1, 1), ack(7, 2)])
    assert offsets(r, "inconsistent_offset") == [7]
    assert "lost" not in r.anomalies


def test_acked_offset_holding_another_record_is_inconsistent() -> None:
    # seq 1 acked at 1 is read at 2; offset 1 holds seq 2, acked at 2: both acks are wrong.
    r = check(log((0, PID, 0), (1, PID, 2), (2, PID, 1)), [ack(0, 0), ack(1, 1), ack(2, 2)])
    assert offsets(r, "inconsistent_offset") == [1, 2]


def test_ack_without_an_offset_is_checked_by_identity_only() -> None:
    r = check(log((0, PID, 0), (1, PID, 1)), [ack(0, 0), ack(-1, 1)])
    assert r.anomalies == {}


def test_retried_duplicate_acked_at_its_second_copy_is_consistent() -> None:
    r = check(log((0, PID, 0), (1, PID, 0)), [ack(1, 0)])
    assert offsets(r, "duplicates") == [1]
    assert "inconsistent_offset" not in r.anomalies


def test_record_overwritten_at_its_acked_offset_is_lost() -> None:
    # Truncation + new writes reuse the offset: identity decides, not the offset.
    r = check(log((0, PID, 0), (1, PID, 9), (2, PID, 10)), [ack(0, 0), ack(1, 1)],
              producers={PID})
    assert offsets(r, "lost") == [1]
    assert offsets(r, "inconsistent_offset") == [1]  # offset 1 holds another record
    assert offsets(r, "unacknowledged") == [1, 2]


def test_duplicates_report_the_extra_copies_and_are_not_reorders() -> None:
    r = check(log((0, PID, 0), (1, PID, 1), (2, PID, 0), (3, PID, 2)),
              [ack(0, 0), ack(1, 1), ack(3, 2)])
    assert offsets(r, "duplicates") == [2]
    assert "reordered" not in r.anomalies


def test_reordered_when_a_lower_seq_follows_a_higher_one() -> None:
    r = check(log((0, PID, 1), (1, PID, 0), (2, PID, 2)), [ack(0, 1), ack(1, 0), ack(2, 2)])
    assert offsets(r, "reordered") == [1]


def test_reorder_is_per_producer() -> None:
    other = PID + 1
    r = check(log((0, PID, 5), (1, other, 0), (2, PID, 6)),
              [ack(0, 5), ack(1, 0, pid=other), ack(2, 6)], producers={PID, other})
    assert r.anomalies == {}


def test_corrupt_payload_and_checksum_differing_from_the_ack() -> None:
    read = log((0, PID, 0, False), (1, PID, 1))
    r = check(read, [ack(0, 0), ack(1, 1, checksum=CK + 1)])
    assert offsets(r, "corrupt") == [0, 1]


def test_unexpected_foreign_and_unknown_producer_records() -> None:
    read = log((0, PID, 0), (1, 99, 0))
    read.foreign.append(2)
    r = check(read, [ack(0, 0)])
    assert offsets(r, "unexpected") == [1, 2]


def test_failed_send_present_and_unacknowledged_are_reported_not_unexpected() -> None:
    r = check(log((0, PID, 0), (1, PID, 1), (2, PID, 2)), [ack(0, 0)], failed={(PID, 1)})
    assert offsets(r, "failed_present") == [1]
    assert offsets(r, "unacknowledged") == [2]
    assert "unexpected" not in r.anomalies


def test_acks_into_a_partition_the_cluster_lost_are_lost() -> None:
    ledger = ClusterLedger(producers={PID})
    for a in (ack(0, 0), ack(1, 1, partition=1), ack(0, 2, partition=1)):
        ledger.add_ack(a)
    assert missing_partitions([log((0, PID, 0))], ledger) == [("t", 1)]
    agreed = Absence(gone=True, reason="every broker that answered said so")
    results = check_cluster("main", [log((0, PID, 0))], ledger, {("t", 1): agreed})
    gone = next(r for r in results if r.partition == 1)
    assert offsets(gone, "lost") == [0, 1]
    assert gone.not_found == agreed.reason
    assert next(r for r in results if r.partition == 0).not_found is None
    report = VerifyReport(run_dir="x", partitions=results).finish(LEGACY)
    assert report.totals["lost"] == 2
    assert not report.passed


def test_a_partition_not_found_without_agreement_is_unreadable_not_lost() -> None:
    """The replay's metadata is one broker's: without every broker agreeing the partition is
    gone (disputed, unanswered, or nobody asked), no ack is judged, not even an acks=0 one."""
    ledger = ClusterLedger(producers={PID})
    for a in (ack(0, 0, partition=1), ack(5, 1, partition=1), ack(-1, 2, partition=1)):
        ledger.add_ack(a)
    disputed = Absence(gone=False, reason="brokers disagree whether t[1] exists")
    for absent in ({("t", 1): disputed}, None):
        results = check_cluster("main", [], ledger, absent)
        (r,) = results
        assert "lost" not in r.anomalies
        assert offsets(r, "unreadable") == [-1, 0, 5]
        assert r.not_found == (disputed if absent else NOT_ASKED).reason
        report = VerifyReport(run_dir="x", partitions=results).finish(LEGACY)
        assert not report.passed and "unreadable" in report.failing_kinds


def test_duplicates_and_reorders_fail_under_the_idempotent_contract_only() -> None:
    r = check(log((0, PID, 1), (1, PID, 0), (2, PID, 0), (3, PID, 2)),
              [ack(0, 1), ack(1, 0), ack(3, 2)], failed={(PID, 9)})
    assert offsets(r, "duplicates") == [2] and offsets(r, "reordered") == [1]
    strict = VerifyReport(run_dir="x", partitions=[r]).finish(IDEMPOTENT)
    assert not strict.passed
    assert {"duplicates", "reordered"} <= set(strict.failing_kinds)
    legacy = VerifyReport(run_dir="x", partitions=[r]).finish(LEGACY)
    assert legacy.passed
    assert legacy.allowed_kinds == ["duplicates", "reordered", "failed_present", "unacknowledged"]
    again = VerifyReport.model_validate_json(legacy.model_dump_json())
    assert again.totals == legacy.totals and again.contract == LEGACY


def test_every_kind_but_the_allowed_ones_fails() -> None:
    for contract in (IDEMPOTENT, LEGACY):
        for kind in ANOMALY_KINDS:
            part = PartitionResult(cluster="main", topic="t", partition=0, low_watermark=0,
                                   high_watermark=1, read=1, acked=1,
                                   anomalies={kind: anomaly_from_offsets([0])})
            report = VerifyReport(run_dir="x", partitions=[part]).finish(contract)
            assert report.passed == (kind in report.allowed_kinds), (contract.profile, kind)


def test_an_unfinished_report_never_passes() -> None:
    assert not VerifyReport(run_dir="x").passed


def test_mirror_missing_unreadable_and_duplicates_by_identity() -> None:
    source = log(*[(o, PID, o) for o in range(6)])
    acks = [ack(o, o) for o in range(6)]
    # Mirror holds source seqs 0, 2, 3 (3 twice) at its own offsets; 1 missing, 4-5 not there.
    records = ((10, PID, 0), (11, PID, 2), (12, PID, 3), (13, PID, 3))
    lagging = log(*records, topic="main.t", cluster="gcp", fenced=False)
    m = check_mirror(source, lagging, acks, set(), {PID})
    assert expand(m.anomalies["missing_in_mirror"]) == [1]  # source offsets
    assert expand(m.anomalies["unreadable"]) == [4, 5]  # the mirror never showed the fence
    assert expand(m.anomalies["mirror_duplicates"]) == [13]  # mirror offsets
    assert m.expected == 6 and m.read == 4
    # Once the mirror was read up to the copied fence, whatever it lacks is missing.
    fenced = check_mirror(source, log(*records, topic="main.t", cluster="gcp"), acks, set(),
                          {PID})
    assert expand(fenced.anomalies["missing_in_mirror"]) == [1, 4, 5]
    assert "unreadable" not in fenced.anomalies



def test_a_record_the_source_holds_twice_is_not_the_mirrors_duplicate() -> None:
    """The producer wrote seq 1 twice in the source: the mirror copying both is faithful; a
    third copy is the mirror's own."""
    source = log((0, PID, 0), (1, PID, 1), (2, PID, 1), (3, PID, 2))
    acks = [ack(0, 0), ack(1, 1), ack(3, 2)]
    faithful = log((10, PID, 0), (11, PID, 1), (12, PID, 1), (13, PID, 2), topic="main.t",
                   cluster="gcp")
    assert "mirror_duplicates" not in check_mirror(source, faithful, acks, set(), {PID}).anomalies
    again = log((10, PID, 0), (11, PID, 1), (12, PID, 1), (13, PID, 2), (14, PID, 1),
                (15, PID, 0), topic="main.t", cluster="gcp")
    m = check_mirror(source, again, acks, set(), {PID})
    assert expand(m.anomalies["mirror_duplicates"]) == [14, 15]


def test_mirror_keeps_acked_record_the_source_lost_and_flags_strangers() -> None:
    source = log((1, PID, 1), low=1)  # offset 0 deleted in the source
    mirror = log((0, PID, 0), (1, PID, 1), (2, 99, 0), topic="main.t", cluster="gcp")
    m = check_mirror(source, mirror, [ack(0, 0), ack(1, 1)], set(), {PID})
    assert expand(m.anomalies["unexpected"]) == [2]
    assert "missing_in_mirror" not in m.anomalies
