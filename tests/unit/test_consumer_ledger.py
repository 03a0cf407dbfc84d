"""The consumer ledger: round trip of every entry kind, member ids, torn tail counted, damage."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from riftdrill.load.consumer_ledger import (
    KIND_ASSIGN,
    KIND_COMMIT,
    KIND_POLL,
    KIND_REVOKE,
    POLL_CORRUPT,
    POLL_FENCE,
    ConsumerEntry,
    ConsumerLedgerWriter,
    consumer_ledger_files,
    consumer_ledger_path,
    member_crc,
    members_path,
    read_consumer_ledger,
)
from riftdrill.load.ledger import ENTRY_SIZE, LedgerCorruptError, read_header


def _writer(path: Path) -> ConsumerLedgerWriter:
    return ConsumerLedgerWriter(path, group="g", client_id="riftdrill-c1-0", cloud="gcp",
                                topics=["t"], run_start_ns=123, bootstrap="b:9092",
                                cluster="main")  # fmt: skip


def _write(path: Path, polls: int) -> None:
    with _writer(path) as w:
        w.assign(0, 2, 40, 1, "member-a", 1_000)
        for i in range(polls):
            w.poll(0, 2, 40 + i, 1, 7, 0xC0FFEE, i, 500 + i, 2_000 + i, POLL_CORRUPT if i == 1 else 0)
        w.poll(0, 2, 40 + polls, 1, 0, 99, 0, 0, 3_000, POLL_FENCE)
        w.commit(0, 2, 41 + polls, 1, 0, 4_000)
        w.revoke(0, 2, 41 + polls, 2, 5_000)
        w.assign(0, 2, 41 + polls, 3, "member-b", 6_000)


def test_round_trip_of_every_kind(tmp_path: Path) -> None:
    load = tmp_path / "run" / "load"
    p = consumer_ledger_path(load, "gcp", 1, 0)
    _write(p, 3)
    log = read_consumer_ledger(p)
    assert [e.kind for e in log.entries] == [KIND_ASSIGN, KIND_POLL, KIND_POLL, KIND_POLL,
                                             KIND_POLL, KIND_COMMIT, KIND_REVOKE, KIND_ASSIGN]  # fmt: skip
    assert log.entries[2] == ConsumerEntry(KIND_POLL, "t", 2, 41, 1, 7, 1, 501, 2_001, POLL_CORRUPT)
    assert log.entries[2].checksum == 0xC0FFEE
    fence = log.entries[4]
    assert (fence.offset, fence.flags, fence.checksum) == (43, POLL_FENCE, 99)
    commit = log.entries[5]
    assert (commit.offset, commit.flags, commit.epoch, commit.ts_ns) == (44, 0, 1, 4_000)
    assert (log.entries[6].offset, log.entries[6].epoch) == (44, 2)
    assert [log.member_of(e) for e in log.entries if e.kind == KIND_ASSIGN] == ["member-a",
                                                                              "member-b"]  # fmt: skip
    assert log.member_ids == {member_crc("member-a"): "member-a", member_crc("member-b"): "member-b"}
    assert log.truncated_entries == 0
    h = log.header
    assert (h["kind"], h["group"], h["client_id"], h["cloud"], h["topics"], h["run_start_ns"],
            h["bootstrap"]) == ("consumer", "g", "riftdrill-c1-0", "gcp", ["t"], 123, "b:9092")  # fmt: skip
    assert {"host", "pid", "started_at", "format"} <= set(h)
    assert p.name == "gcp-c1-0.rdc"
    assert consumer_ledger_files(tmp_path / "run") == [p]  # the members sidecar is not a ledger


def test_members_sidecar_is_written_at_each_new_member(tmp_path: Path) -> None:
    p = tmp_path / "c.rdc"
    w = _writer(p)
    w.assign(0, 0, 0, 1, "m1", 0)
    assert json.loads(members_path(p).read_text()) == {str(member_crc("m1")): "m1"}
    w.assign(0, 1, 0, 1, "m1", 0)
    w.assign(0, 0, 5, 3, "m2", 0)
    assert set(json.loads(members_path(p).read_text()).values()) == {"m1", "m2"}
    assert not list(tmp_path.glob("*.tmp"))
    w.close()


def test_torn_tail_is_counted_never_earlier_entries(tmp_path: Path) -> None:
    p = tmp_path / "c.rdc"
    _write(p, 3)
    size = p.stat().st_size
    os.truncate(p, size - ENTRY_SIZE // 2)  # the last ASSIGN is torn
    log = read_consumer_ledger(p)
    assert (len(log.entries), log.truncated_entries) == (7, 1)
    with open(p, "ab") as f:  # zeros a lost page leaves behind, after the torn half
        f.write(b"\0" * ENTRY_SIZE * 2)
    log = read_consumer_ledger(p)
    assert (len(log.entries), log.truncated_entries) == (7, 3)


def test_damage_before_good_entries_raises(tmp_path: Path) -> None:
    p = tmp_path / "c.rdc"
    _write(p, 3)
    data = bytearray(p.read_bytes())
    data[len(data) - 7 * ENTRY_SIZE + 9] ^= 0xFF  # the first poll's offset, 6 good entries after
    p.write_bytes(bytes(data))
    with pytest.raises(LedgerCorruptError):
        read_consumer_ledger(p)


def test_readable_while_open_and_not_a_producer_ledger(tmp_path: Path) -> None:
    p = tmp_path / "c.rdc"
    w = _writer(p)
    w.poll(0, 0, 1, 0, 1, 2, 3, 4, 5, 0)
    w.flush()
    assert len(read_consumer_ledger(p).entries) == 1
    with pytest.raises(ValueError, match="RDL1"):
        read_header(p)  # the magic tells the two ledgers apart
    w.close()
