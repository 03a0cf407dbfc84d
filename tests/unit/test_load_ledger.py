"""The ledger: append/read round-trip, crash tolerance (torn tail), corruption detection."""

import os
from pathlib import Path

import pytest

from riftdrill.load.ledger import (
    ENTRY_SIZE,
    Ack,
    DeliveryError,
    LedgerCorruptError,
    LedgerWriter,
    ledger_files,
    read_header,
    read_ledger,
    read_ledger_counted,
)
from riftdrill.load.spec import producer_settings
from riftdrill.verify.contract import producer_contract


def _write(path: Path, n: int) -> None:
    with LedgerWriter(path, 3, "aws", ["t1", "t2"]) as w:
        for i in range(n):
            w.append_ack("t2" if i % 2 else "t1", i % 6, 100 + i, b"k-%d" % i if i % 3 else None,
                         i, 0xDEADBEEF, 1_000 + i, 2_000 + i)  # fmt: skip
        w.append_error("t1", n, -192, 5_000, 6_000)


def test_round_trip(tmp_path: Path) -> None:
    p = tmp_path / "load" / "ledgers" / "aws-p3.rdl"
    _write(p, 10)
    entries = list(read_ledger(p))
    assert len(entries) == 11
    assert entries[1] == Ack("t2", 1, 101, b"k-1", 3, 1, 0xDEADBEEF, 1_001, 2_001)
    assert entries[0].key is None  # type: ignore[union-attr]
    err = entries[-1]
    assert isinstance(err, DeliveryError)
    assert (err.error_code, err.error_name, err.seq, err.ts_ns) == (-192, "_MSG_TIMED_OUT", 10, 6000)
    h = read_header(p)
    assert h["producer_id"] == 3 and h["cloud"] == "aws" and h["topics"] == ["t1", "t2"]
    assert ledger_files(tmp_path) == [p]


def test_truncated_tail_entry_is_ignored_never_earlier_ones(tmp_path: Path) -> None:
    p = tmp_path / "l.rdl"
    _write(p, 10)
    size = p.stat().st_size
    for cut in (1, ENTRY_SIZE // 2, ENTRY_SIZE - 1):
        os.truncate(p, size - cut)
        assert len(list(read_ledger(p))) == 10  # the error entry is torn, every ack survives
    # A crash can also leave zeros (allocated, never written): treated as a torn tail too.
    with open(p, "ab") as f:
        f.write(b"\0" * ENTRY_SIZE * 3)
    assert len(list(read_ledger(p))) == 10


def test_damage_before_good_entries_raises(tmp_path: Path) -> None:
    p = tmp_path / "l.rdl"
    _write(p, 10)
    data = bytearray(p.read_bytes())
    start = len(data) - 11 * ENTRY_SIZE
    data[start + 20] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(LedgerCorruptError):
        list(read_ledger(p))


def test_entries_reach_the_os_before_close(tmp_path: Path) -> None:
    """What a crash (no close) keeps: everything flushed, i.e. all but the last fraction of a second."""
    p = tmp_path / "l.rdl"
    w = LedgerWriter(p, 1, "gcp", ["t"])
    for i in range(5):
        w.append_ack("t", 0, i, None, i, 0, 0, 0)
    w.flush()
    assert len(list(read_ledger(p))) == 5  # readable while the writer is still open


def test_two_producers_never_share_a_ledger(tmp_path: Path) -> None:
    p = tmp_path / "l.rdl"
    LedgerWriter(p, 1, "aws", ["t"]).close()
    with pytest.raises(FileExistsError):
        LedgerWriter(p, 1, "aws", ["t"])


def test_foreign_keys_are_refused(tmp_path: Path) -> None:
    with LedgerWriter(tmp_path / "l.rdl", 1, "aws", ["t"]) as w, pytest.raises(ValueError):
        w.append_ack("t", 0, 0, b"user-key", 0, 0, 0, 0)


def test_torn_tail_is_counted(tmp_path: Path) -> None:
    p = tmp_path / "l.rdl"
    _write(p, 10)
    assert read_ledger_counted(p)[1] == 0
    os.truncate(p, p.stat().st_size - 3)
    entries, torn = read_ledger_counted(p)
    assert (len(entries), torn) == (10, 1)
    with open(p, "ab") as f:
        f.write(b"\0" * ENTRY_SIZE * 2)
    assert read_ledger_counted(p)[1] == 3  # the torn entry plus two zeroed ones


def test_header_records_the_producer_contract(tmp_path: Path) -> None:
    p = tmp_path / "l.rdl"
    LedgerWriter(p, 1, "aws", ["t"], producer=producer_settings("all", True, 5)).close()
    header = read_header(p)
    assert header["producer"] == {"acks": "all", "idempotence": True, "max_in_flight": 5}
    assert producer_contract(header).idempotent
    q = tmp_path / "legacy.rdl"
    LedgerWriter(q, 2, "aws", ["t"], producer=producer_settings("1", False, 1_000_000)).close()
    assert not producer_contract(read_header(q)).idempotent
