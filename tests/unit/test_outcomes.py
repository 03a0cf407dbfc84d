"""send_outcomes: every send's outcome over a run, from hand-made producer ledgers."""

from __future__ import annotations

from pathlib import Path

import pytest

from riftdrill.load.ledger import ENTRY_SIZE, LedgerCorruptError, LedgerWriter
from riftdrill.load.outcomes import SendOutcomes, send_outcomes

TIMED_OUT, NOT_ENOUGH_REPLICAS, UNKNOWN = -192, 19, -1


def ledger(run: Path, cloud: str, pid: int, acks: int, errors: list[int]) -> Path:
    path = run / "load" / "ledgers" / f"{cloud}-p{pid}.rdl"
    with LedgerWriter(path, pid, cloud, ["t1", "t2"]) as w:
        for seq in range(acks):
            w.append_ack("t1" if seq % 2 else "t2", seq % 3, seq, b"k-%d" % seq, seq, 0,
                         1_000 + seq, 2_000 + seq)
        for i, code in enumerate(errors):
            w.append_error("t1", acks + i, code, 5_000 + i, 6_000 + i)
    return path


def test_counts_acks_and_errors_of_every_ledger(tmp_path: Path) -> None:
    ledger(tmp_path, "aws", 0, acks=60, errors=[TIMED_OUT] * 3)
    ledger(tmp_path, "gcp", 256, acks=25, errors=[TIMED_OUT] * 10 + [NOT_ENOUGH_REPLICAS, UNKNOWN])
    out = send_outcomes(tmp_path)
    assert out == SendOutcomes(attempted=100, acked=85, failed=15, failed_ratio=0.15,
                               errors_by_code={"NOT_ENOUGH_REPLICAS": 1, "UNKNOWN": 1,
                                               "_MSG_TIMED_OUT": 13})
    assert list(out.errors_by_code) == sorted(out.errors_by_code)  # stable in summary.json
    assert out.model_dump() == {"attempted": 100, "acked": 85, "failed": 15,
                                "failed_ratio": 0.15, "errors_by_code": out.errors_by_code}


def test_no_sends_is_a_zero_ratio_not_a_division_error(tmp_path: Path) -> None:
    assert send_outcomes(tmp_path) == SendOutcomes(attempted=0, acked=0, failed=0,
                                                   failed_ratio=0.0)
    ledger(tmp_path, "aws", 0, acks=0, errors=[])
    assert send_outcomes(tmp_path).failed_ratio == 0.0


def test_all_failed(tmp_path: Path) -> None:
    ledger(tmp_path, "gcp", 256, acks=0, errors=[TIMED_OUT] * 4)
    out = send_outcomes(tmp_path)
    assert (out.attempted, out.failed, out.failed_ratio) == (4, 4, 1.0)


def test_torn_tail_is_ignored_damage_raises(tmp_path: Path) -> None:
    path = ledger(tmp_path, "aws", 0, acks=10, errors=[TIMED_OUT])
    whole = path.read_bytes()
    path.write_bytes(whole[:-ENTRY_SIZE // 2])  # the error entry torn mid-write
    assert send_outcomes(tmp_path).model_dump()["attempted"] == 10
    header_end = len(whole) - 11 * ENTRY_SIZE
    damaged = bytearray(whole)
    damaged[header_end + 5] ^= 0xFF  # the first entry, with good ones after it
    path.write_bytes(bytes(damaged))
    with pytest.raises(LedgerCorruptError):
        send_outcomes(tmp_path)
