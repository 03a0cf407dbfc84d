"""Every anomaly the verifier can report, defined once: a name and what it means.

Whether a kind fails a run is not decided here but by the run's contract
(`riftdrill.verify.contract.allowed_kinds`): everything not allowed there fails.
"""

from __future__ import annotations

from typing import Literal, get_args

# The integration hub's kinds (riftdrill.verify.hub): a row-change ledger checked against the
# source table, the Debezium CDC topic and the sink's table, row by row.
HubKind = Literal[
    "source_lost",
    "source_unexpected",
    "row_missing",
    "row_extra",
    "row_corrupt",
    "row_stale",
    "row_ahead",
    "change_missing",
    "change_duplicate",
    "change_reordered",
    "change_unexpected",
    "hub_unreadable",
]

AnomalyKind = Literal[
    "lost",
    "inconsistent_offset",
    "unreadable",
    "duplicates",
    "reordered",
    "corrupt",
    "unexpected",
    "failed_present",
    "unacknowledged",
    "missing_in_mirror",
    "mirror_duplicates",
    "poll_skip",
    "nonmonotonic_poll",
    "undelivered",
    "unconsumed",
    HubKind,
]

# What each kind means; docs/verify.md and `riftdrill verify --help` quote this table. Which
# kinds fail a run is decided in one place: `riftdrill.verify.contract.allowed_kinds`.
ANOMALY_KINDS: dict[AnomalyKind, str] = {
    "lost": "acked, and not read anywhere in the partition although the replay read it up to a "
    "fence written after the load stopped (or every broker of the cluster that answered agreed "
    "the partition/topic is gone)",
    "inconsistent_offset": "acked at offset o, but the record read at o is another one, or the "
    "acked record was read only at other offsets",
    "unreadable": "the replay could not read the partition up to its fence within the deadline: "
    "acked records at or after the last offset read could not be judged; or the replay did not "
    "find the partition and the brokers disagreed whether it exists, or none answered: none of "
    "its acks could be judged",
    "duplicates": "a (producer, seq) read again after its first copy; offsets of the extra copies",
    "reordered": "a producer's seq read after a higher seq of the same producer in the partition",
    "corrupt": "payload checksum does not match its header, or differs from the acked checksum",
    "unexpected": "not a riftdrill record, or written by a producer no ledger belongs to",
    "failed_present": "the producer was told the send failed, yet it is in the log (a failed "
    "send is indeterminate)",
    "unacknowledged": "from a known producer but its ledger has no outcome for it (in flight "
    "when the producer stopped)",
    "missing_in_mirror": "read in the source partition up to its fence, absent from the mirror "
    "although the mirror was read up to the mirrored fence; offsets are source offsets",
    "mirror_duplicates": "a (producer, seq) copied into the mirror again after its first copy "
    "(MirrorMaker 2 restarted from its last committed source offsets); mirror offsets of the "
    "extra copies",
    "poll_skip": "a consumer's consecutive polls of a partition, with no rebalance or seek "
    "between, jumped over offsets that hold records; offsets of the skipped records",
    "nonmonotonic_poll": "a consumer polled an offset at or below the one it polled before on "
    "that partition, with no rebalance or seek between",
    "undelivered": "acked and in the log, received by no member of the group, although the "
    "group committed past it (breaks at-least-once)",
    "unconsumed": "acked and in the log, received by no member of the group, and the group "
    "never committed past it: the consumers stopped before reaching the fence",
    "source_lost": "the source table does not hold a change the ledger says committed: an older "
    "version, no row where the last committed change left one, or a row it deleted",
    "source_unexpected": "the source table holds a row state no change of the ledger explains: a "
    "failed change, a version never attempted, an id never written, or a payload that does not "
    "match its version",
    "row_missing": "in the source table, not in the sink's table",
    "row_extra": "in the sink's table, not in the source table (a delete that never reached the "
    "sink, or a row nobody wrote)",
    "row_corrupt": "the sink's row has another payload than its version has (the source's row of "
    "the same version, or the ledger's checksum)",
    "row_stale": "the sink's row is an older version than the source's",
    "row_ahead": "the sink's row is a newer version than the source's (the source lost a change "
    "the sink had applied)",
    "change_missing": "committed in the source (the ledger's ok, or an unknown outcome whose state "
    "the source holds) and absent from the CDC topic read up to the fence",
    "change_duplicate": "a change read again from the CDC topic after its first copy (a source "
    "connector restarted from its last committed offset); positions of the extra copies",
    "change_reordered": "a change read from the CDC topic after a higher version of the same row",
    "change_unexpected": "a change in the CDC topic no ledger entry explains: a failed change, "
    "another operation than the ledger's, or a version never attempted",
    "hub_unreadable": "the fence row was not seen in the CDC topic or in the sink's table within "
    "the deadline: what may still have been on its way there is not judged, only counted",
}

KINDS: tuple[AnomalyKind, ...] = get_args(AnomalyKind)
# Kinds only consumer ledgers can show: unmeasured (not 0) in a run without them.
CONSUMER_KINDS: tuple[AnomalyKind, ...] = ("poll_skip", "nonmonotonic_poll", "undelivered",
                                           "unconsumed")
# Kinds only a checked integration hub can show: unmeasured (not 0) in a run without one.
HUB_KINDS: tuple[HubKind, ...] = get_args(HubKind)
assert set(KINDS) == set(ANOMALY_KINDS), "every kind has exactly one definition"
