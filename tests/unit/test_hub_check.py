"""The hub's row-by-row checker on forged histories: each kind with exact counts and keys."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from riftdrill.hub.observed import CdcEvent, FenceSeen, RowState
from riftdrill.hub.rows import RowChange, RowsLedgerError, row_crc
from riftdrill.verify.anomalies import ANOMALY_KINDS, HUB_KINDS
from riftdrill.verify.contract import Contract, allowed_kinds
from riftdrill.verify.hub import MAX_EXAMPLES, HubReport, check_hub

FENCE_ID = -42
TOPIC = "rd.public.rd_rows"
SEEN = FenceSeen(FENCE_ID, in_cdc=True, in_target=True)


@dataclass
class World:
    """A forged hub run: the ledger, and what a correct pipeline would leave everywhere."""

    changes: list[RowChange] = field(default_factory=list)
    source: dict[int, RowState] = field(default_factory=dict)
    target: dict[int, RowState] = field(default_factory=dict)
    cdc: dict[int, list[CdcEvent]] = field(default_factory=dict)
    fence: FenceSeen = SEEN
    now_ns: int = 1_000_000_000
    offset: int = 0

    def do(self, op: str, row_id: int, version: int, outcome: str = "ok",
           applied: bool | None = None) -> World:
        """Record an attempt; apply it everywhere when it committed (`applied` decides for an
        unknown outcome, default: not applied)."""
        crc = None if op == "delete" else row_crc(row_id, version)
        t = self.now_ns
        self.now_ns += 1_000
        self.changes.append(RowChange.model_validate({
            "op": op, "id": row_id, "version": version, "payload_crc": crc,
            "intended_ns": t, "start_ns": t + 100, "done_ns": t + 500, "outcome": outcome}))
        if outcome == "ok" or (outcome == "unknown" and applied):
            self.apply(op, row_id, version)
        return self

    def apply(self, op: str, row_id: int, version: int) -> None:
        if op == "delete":
            self.source.pop(row_id, None)
            self.target.pop(row_id, None)
        else:
            self.source[row_id] = self.target[row_id] = RowState(version, row_crc(row_id, version))
        self.emit(row_id, version, op)

    def emit(self, row_id: int, version: int, op: str, partition: int = 0) -> CdcEvent:
        e = CdcEvent(version, op, TOPIC, partition, self.offset)
        self.offset += 1
        self.cdc.setdefault(row_id, []).append(e)
        return e

    def check(self) -> HubReport:
        return check_hub(self.changes, self.source, self.target, self.cdc, self.fence)


def found(report: HubReport) -> dict[str, int]:
    return {k: n for k, n in report.counts.items() if n}


def keys(report: HubReport, kind: str) -> list[tuple[int, int | None]]:
    return [(e.id, e.version) for e in report.anomalies[kind].examples]


def busy() -> World:
    """Three rows through inserts, updates, a delete and a re-insert; one failed update."""
    w = World()
    w.do("insert", 1, 1).do("insert", 2, 1).do("update", 1, 2).do("insert", 3, 1)
    w.do("update", 2, 2, outcome="failed").do("update", 2, 2).do("delete", 3, 2)
    w.do("update", 1, 3).do("insert", 3, 3)
    return w


def test_a_clean_history_passes() -> None:
    r = busy().check()
    assert found(r) == {} and r.anomalies == {}
    assert set(r.counts) == set(HUB_KINDS)
    assert r.changes == 9 and r.outcomes == {"ok": 8, "failed": 1, "unknown": 0}
    assert (r.rows_source, r.rows_target, r.cdc_events) == (3, 3, 8)
    assert (r.unjudged_changes, r.unjudged_rows, r.unknown_resolved) == (0, 0, 0)
    assert not [k for k, n in r.counts.items()
                if n and k not in allowed_kinds(Contract(profile="idempotent",
                                                         connector_delivery="exactly-once"))]


def test_the_fence_row_is_left_out_of_every_comparison() -> None:
    w = busy()
    fence = RowState(1, row_crc(FENCE_ID, 1))
    w.source[FENCE_ID] = w.target[FENCE_ID] = fence
    w.emit(FENCE_ID, 1, "insert")
    r = w.check()
    assert found(r) == {} and (r.rows_source, r.cdc_events) == (3, 8)


# --- the source table against the ledger ---------------------------------------------------

def test_source_lost_a_committed_update_a_row_and_a_delete() -> None:
    w = busy()
    w.source[1] = RowState(2, row_crc(1, 2))  # the update to v3 is gone
    del w.source[2]  # the row is gone
    w.do("delete", 4, 2)  # (id 4 never inserted: forged) the delete of a row...
    w.source[4] = RowState(1, row_crc(4, 1))  # ...that the source still holds
    r = w.check()
    assert found(r) == {"source_lost": 3, "row_missing": 1, "row_extra": 1, "row_ahead": 1}
    assert keys(r, "source_lost") == [(1, 3), (2, 2), (4, 2)]
    assert "the last committed change is update v3" in r.anomalies["source_lost"].examples[0].detail


def test_source_unexpected_a_failed_change_an_unknown_id_and_a_wrong_payload() -> None:
    w = busy()
    w.do("update", 1, 4, outcome="failed")
    w.source[1] = RowState(4, row_crc(1, 4))  # the failed update applied
    w.source[9] = RowState(1, row_crc(9, 1))  # nobody wrote id 9
    w.source[2] = RowState(2, 12345)  # v2 with another payload
    r = w.check()
    # the sink mirrors what the source held: behind on id 1, without id 9, other bytes on id 2
    assert found(r) == {"source_unexpected": 3, "row_stale": 1, "row_missing": 1,
                        "row_corrupt": 1}
    assert keys(r, "source_unexpected") == [(1, 4), (2, 2), (9, 1)]
    details = [e.detail for e in r.anomalies["source_unexpected"].examples]
    assert "a failed update" in details[0] and "another payload" in details[1]
    assert "an id never written" in details[2]


# --- the sink's table against the source's ------------------------------------------------

def test_row_missing_extra_corrupt_stale_and_ahead() -> None:
    w = busy()
    w.do("insert", 5, 1).do("delete", 5, 2)
    del w.target[1]  # missing
    w.target[5] = RowState(1, row_crc(5, 1))  # the delete never reached the sink
    w.target[2] = RowState(2, 999)  # same version, another payload
    w.target[3] = RowState(1, row_crc(3, 1))  # stale: the delete and re-insert never arrived
    r = w.check()
    assert found(r) == {"row_missing": 1, "row_extra": 1, "row_corrupt": 1, "row_stale": 1}
    assert keys(r, "row_missing") == [(1, None)] and keys(r, "row_extra") == [(5, 1)]
    assert keys(r, "row_corrupt") == [(2, 2)] and keys(r, "row_stale") == [(3, 1)]
    assert r.anomalies["row_stale"].examples[0].detail.startswith("sink v1")


def test_a_stale_row_with_a_wrong_payload_is_stale_and_corrupt() -> None:
    w = busy()
    w.target[1] = RowState(2, row_crc(1, 1))  # v2 with v1's payload
    r = w.check()
    assert found(r) == {"row_stale": 1, "row_corrupt": 1}
    assert keys(r, "row_corrupt") == [(1, 2)]


def test_row_ahead_when_the_source_lost_what_the_sink_applied() -> None:
    w = busy()
    w.source[1] = RowState(2, row_crc(1, 2))
    r = w.check()
    assert found(r) == {"source_lost": 1, "row_ahead": 1} and keys(r, "row_ahead") == [(1, 3)]


# --- the CDC topic against the ledger -------------------------------------------------------

def test_change_missing_per_id_in_version_order() -> None:
    w = busy()
    w.cdc[1] = [e for e in w.cdc[1] if e.version != 2]
    w.cdc[3] = [e for e in w.cdc[3] if e.op != "delete"]
    r = w.check()
    assert found(r) == {"change_missing": 2}
    assert keys(r, "change_missing") == [(1, 2), (3, 2)]
    assert r.anomalies["change_missing"].examples[1].detail == "delete v2 committed, never read"


def test_a_redelivered_suffix_is_duplicates_not_reorders() -> None:
    w = busy()
    for e in list(w.cdc[1][1:]):  # a worker restarted: v2 and v3 of id 1 sent again
        w.emit(1, e.version, e.op)
    r = w.check()
    assert found(r) == {"change_duplicate": 2}
    assert keys(r, "change_duplicate") == [(1, 2), (1, 3)]
    first, copy = r.anomalies["change_duplicate"].examples[0].at
    assert first.startswith(f"{TOPIC}[0]@") and first != copy


def test_change_reordered_is_a_lower_version_read_after_a_higher() -> None:
    w = busy()
    w.cdc[1] = [w.cdc[1][0], w.cdc[1][2], w.cdc[1][1]]  # v1, v3, v2
    r = w.check()
    assert found(r) == {"change_reordered": 1} and keys(r, "change_reordered") == [(1, 2)]
    assert r.anomalies["change_reordered"].examples[0].detail == "update v2 read after update v3"


def test_change_unexpected_failed_unattempted_and_another_op() -> None:
    w = busy()
    w.emit(2, 2, "update")  # the failed attempt: a duplicate of the ok one, not unexpected
    w.do("update", 2, 3, outcome="failed")
    w.emit(2, 3, "update")  # a failed change in the topic
    w.emit(7, 1, "insert")  # an id never written
    w.cdc[1][1] = w.cdc[1][1]._replace(op="insert")  # v2 of id 1 was an update
    r = w.check()
    assert found(r) == {"change_unexpected": 3, "change_duplicate": 1, "change_missing": 1}
    assert keys(r, "change_unexpected") == [(1, 2), (2, 3), (7, 1)]
    details = [e.detail for e in r.anomalies["change_unexpected"].examples]
    assert details == ["insert v2: the ledger committed update v2",
                       "update v3: the ledger says it failed", "insert v1: an id never written"]
    assert keys(r, "change_missing") == [(1, 2)]


def test_snapshot_reads_are_counted_not_judged() -> None:
    w = busy()
    w.cdc[1].insert(0, CdcEvent(9, "read", TOPIC, 0, 999))
    r = w.check()
    assert found(r) == {} and r.snapshot_reads == 1 and r.cdc_events == 8


# --- unknown outcomes: either way is legal, the observations decide ---------------------------

def test_an_unknown_change_that_applied_is_clean_and_then_required() -> None:
    w = busy().do("update", 2, 3, outcome="unknown", applied=True)
    r = w.check()
    assert found(r) == {} and r.unknown_resolved == 1 and r.outcomes["unknown"] == 1
    w.cdc[2] = [e for e in w.cdc[2] if e.version != 3]  # the source holds it: it committed
    assert found(w.check()) == {"change_missing": 1}


def test_an_unknown_change_that_did_not_apply_is_clean() -> None:
    r = busy().do("update", 2, 3, outcome="unknown", applied=False).check()
    assert found(r) == {} and r.unknown_resolved == 0


def test_an_unknown_delete_both_ways() -> None:
    applied = busy().do("delete", 2, 3, outcome="unknown", applied=True)
    assert found(applied.check()) == {} and 2 not in applied.source
    assert found(busy().do("delete", 2, 3, outcome="unknown").check()) == {}


def test_an_unknown_the_topic_carries_must_be_in_the_source() -> None:
    w = busy().do("update", 2, 3, outcome="unknown", applied=True)
    w.source[2] = w.target[2] = RowState(2, row_crc(2, 2))  # the source lost it
    r = w.check()
    assert found(r) == {"source_lost": 1} and keys(r, "source_lost") == [(2, 3)]


def test_an_unknown_later_overwritten_is_judged_by_the_last_committed_change() -> None:
    w = busy().do("update", 1, 4, outcome="unknown", applied=True).do("update", 1, 5)
    r = w.check()
    assert found(r) == {} and r.unknown_resolved == 1  # the topic carried v4


# --- delete, then re-insert the same id ------------------------------------------------------

def test_delete_then_reinsert_continues_the_version() -> None:
    w = World().do("insert", 1, 1).do("delete", 1, 2).do("insert", 1, 3)
    assert found(w.check()) == {}
    w.target[1] = RowState(1, row_crc(1, 1))  # neither the delete nor the re-insert arrived
    w.cdc[1] = w.cdc[1][:1]
    r = w.check()
    assert found(r) == {"row_stale": 1, "change_missing": 2}
    assert keys(r, "change_missing") == [(1, 2), (1, 3)]


def test_a_reinsert_missing_from_the_sink_is_a_missing_row() -> None:
    w = World().do("insert", 1, 1).do("delete", 1, 2).do("insert", 1, 3)
    del w.target[1]
    assert found(w.check()) == {"row_missing": 1}


# --- the fence -------------------------------------------------------------------------------

def test_fence_not_seen_in_the_topic_judges_only_what_committed_before_a_read_change() -> None:
    w = World()
    for i in range(1, 6):
        w.do("insert", i, 1)
    w.fence = FenceSeen(FENCE_ID, in_cdc=False, in_target=True)
    del w.cdc[2]  # committed before id 4's insert began: must precede it in the topic
    del w.cdc[5]  # the last: the reader may just not have got there
    r = w.check()
    assert found(r) == {"hub_unreadable": 1, "change_missing": 1}
    assert keys(r, "change_missing") == [(2, 1)] and r.unjudged_changes == 1
    assert r.anomalies["hub_unreadable"].examples[0].detail == (
        "the fence row was not seen in the CDC topic within the deadline")
    assert r.anomalies["hub_unreadable"].examples[0].id == FENCE_ID


def test_fence_not_seen_with_several_partitions_judges_nothing_missing() -> None:
    w = World()
    for i in range(1, 5):
        w.do("insert", i, 1)
    w.cdc[1] = [w.cdc[1][0]._replace(partition=1)]
    w.fence = FenceSeen(FENCE_ID, in_cdc=False, in_target=True)
    del w.cdc[2]
    r = w.check()
    assert found(r) == {"hub_unreadable": 1} and r.unjudged_changes == 1


def test_fence_not_seen_in_the_sink_leaves_lag_unjudged_but_not_corruption() -> None:
    w = busy()
    w.fence = FenceSeen(FENCE_ID, in_cdc=True, in_target=False)
    del w.target[1]
    w.target[3] = RowState(1, row_crc(3, 1))
    w.target[2] = RowState(2, 999)
    r = w.check()
    assert found(r) == {"hub_unreadable": 1, "row_corrupt": 1}
    assert r.unjudged_rows == 2 and not r.fence_in_target and r.fence_in_cdc


def test_fence_seen_nowhere_is_two_unreadable_places() -> None:
    w = busy()
    w.fence = FenceSeen(FENCE_ID, in_cdc=False, in_target=False)
    assert found(w.check()) == {"hub_unreadable": 2}


# --- the contract decides ----------------------------------------------------------------------

def failing(report: HubReport, contract: Contract) -> list[str]:
    allowed = allowed_kinds(contract)
    return [k for k, n in report.counts.items() if n and k not in allowed]


def test_duplicates_pass_at_least_once_and_fail_exactly_once() -> None:
    w = busy()
    w.emit(2, 2, "update")
    r = w.check()
    assert found(r) == {"change_duplicate": 1}
    assert failing(r, Contract(profile="idempotent", connector_delivery="at-least-once")) == []
    assert failing(r, Contract(profile="idempotent", connector_delivery="exactly-once")) == [
        "change_duplicate"]


def test_at_least_once_allows_nothing_else() -> None:
    w = busy()
    w.emit(2, 2, "update")
    del w.target[1]
    r = w.check()
    assert failing(r, Contract(profile="legacy", connector_delivery="at-least-once")) == [
        "row_missing"]


# --- the report --------------------------------------------------------------------------------

def test_examples_are_capped_sorted_and_defined_but_counts_exact() -> None:
    w = World()
    for i in range(30, 0, -1):
        w.do("insert", i, 1)
        del w.target[i]
    r = w.check()
    a = r.anomalies["row_missing"]
    assert a.count == 30 == r.counts["row_missing"] and a.truncated
    assert [e.id for e in a.examples] == list(range(1, MAX_EXAMPLES + 1))
    assert a.definition == ANOMALY_KINDS["row_missing"]
    assert HubReport.model_validate_json(r.model_dump_json()) == r


def test_two_ops_committed_at_one_version_is_a_broken_ledger() -> None:
    w = World().do("insert", 1, 1).do("update", 1, 2).do("delete", 1, 2)
    with pytest.raises(RowsLedgerError, match="id 1 version 2 committed as delete and update"):
        w.check()


# --- random histories ---------------------------------------------------------------------------

def random_world(seed: int) -> World:
    """Interleaved changes on 20 ids by the workload's rules: each conditional on the version it
    expects, unknown outcomes applied or not at random, failed ones never."""
    rng = random.Random(seed)
    w = World()
    version: dict[int, int] = {}
    present: dict[int, bool] = {}
    for _ in range(400):
        i = rng.randrange(20)
        v = version.get(i, 0) + 1
        op = ("insert" if not present.get(i) else rng.choice(["update", "update", "delete"]))
        outcome = rng.choices(["ok", "failed", "unknown"], [8, 1, 1])[0]
        applied = outcome == "ok" or (outcome == "unknown" and rng.random() < 0.5)
        w.do(op, i, v, outcome=outcome, applied=applied)
        if applied:  # after an unknown the workload reads the row back to learn which
            version[i], present[i] = v, op != "delete"
    return w


@pytest.mark.parametrize("seed", range(20))
def test_random_clean_histories_pass_and_one_forged_fault_is_found(seed: int) -> None:
    w = random_world(seed)
    r = w.check()
    assert found(r) == {}, (seed, r.anomalies)
    rng = random.Random(seed)
    row_id = rng.choice(sorted(w.cdc))
    w.cdc[row_id] = w.cdc[row_id][:-1]  # the last change of a row never reached the topic
    assert found(w.check()) == {"change_missing": 1}
