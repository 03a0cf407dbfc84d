"""The hub's row-change ledger: what the workload writes, what a crash leaves, what is read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from riftdrill.hub.rows import (
    RowChange,
    RowsHeader,
    RowsLedgerError,
    RowsWriter,
    fence_id,
    payload,
    payload_crc,
    read_rows,
    row_crc,
    rows_path,
)

START_NS = 1_764_633_600_000_000_000


def header() -> RowsHeader:
    return RowsHeader(source_cloud="aws", start_ns=START_NS, fence_id=fence_id(START_NS))


def change(op: str = "insert", row_id: int = 7, version: int = 1, outcome: str = "ok",
           **kw: object) -> RowChange:
    crc = None if op == "delete" else row_crc(row_id, version)
    t = START_NS + version * 1_000_000
    return RowChange.model_validate({"op": op, "id": row_id, "version": version,
                                     "payload_crc": crc, "intended_ns": t, "start_ns": t + 10,
                                     "done_ns": t + 500, "outcome": outcome, **kw})


def written(tmp_path: Path, changes: list[RowChange]) -> Path:
    path = rows_path(tmp_path)
    with RowsWriter(path, header()) as w:
        for c in changes:
            w.append(c)
    return path


def test_the_ledger_lives_under_the_runs_load_directory(tmp_path: Path) -> None:
    assert rows_path(tmp_path) == tmp_path / "load" / "hub" / "rows.jsonl"


def test_what_is_written_is_read_back_in_order(tmp_path: Path) -> None:
    changes = [change(), change("update", version=2), change("delete", version=3),
               change("insert", version=4, outcome="unknown", error="connection lost"),
               change("update", row_id=8, version=2, outcome="failed", error="0 rows")]
    ledger = read_rows(written(tmp_path, changes))
    assert ledger.header == header() and ledger.changes == changes and ledger.torn_lines == 0


def test_the_format_is_one_json_object_per_line_with_a_header_first(tmp_path: Path) -> None:
    lines = written(tmp_path, [change(), change("delete", version=2)]).read_text().splitlines()
    assert json.loads(lines[0]) == {
        "kind": "riftdrill-hub-rows", "schema_version": 1, "table": "rd_rows",
        "source_cloud": "aws", "start_ns": START_NS, "fence_id": -START_NS, "payload_bytes": 64}
    t = START_NS + 1_000_000
    assert json.loads(lines[1]) == {"op": "insert", "id": 7, "version": 1,
                                    "payload_crc": row_crc(7, 1), "intended_ns": t,
                                    "start_ns": t + 10, "done_ns": t + 500, "outcome": "ok"}
    assert "payload_crc" not in json.loads(lines[2])  # a delete has no payload


def test_a_torn_last_line_is_counted_and_skipped(tmp_path: Path) -> None:
    path = written(tmp_path, [change(), change("update", version=2)])
    whole = path.read_bytes()
    line = change("update", version=3).model_dump_json(exclude_none=True).encode()
    path.write_bytes(whole + line[:40])  # the process died mid-write
    ledger = read_rows(path)
    assert [c.version for c in ledger.changes] == [1, 2] and ledger.torn_lines == 1
    path.write_bytes(whole + b"\0" * 300)  # a machine crash lost the last page
    assert read_rows(path).torn_lines == 1
    path.write_bytes(whole + b"\0" * 100 + b"\n" + line[:10])  # zeros, then a torn line
    ledger = read_rows(path)
    assert len(ledger.changes) == 2 and ledger.torn_lines == 2


def test_a_damaged_line_before_good_ones_raises(tmp_path: Path) -> None:
    path = written(tmp_path, [change(), change("update", version=2)])
    lines = path.read_bytes().split(b"\n")
    lines[1] = lines[1][:20]
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(RowsLedgerError, match=r"rows.jsonl:2: damaged change line"):
        read_rows(path)


def test_an_unreadable_header_says_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    with pytest.raises(RowsLedgerError, match="no hub row ledger"):
        read_rows(path)
    path.write_bytes(b"")
    with pytest.raises(RowsLedgerError, match="empty"):
        read_rows(path)
    path.write_text('{"kind": "riftdrill-hub-rows", "schema_version": 2}\n')
    with pytest.raises(RowsLedgerError, match="not a schema-1 hub row ledger header"):
        read_rows(path)


def test_a_writer_never_appends_to_an_earlier_ledger(tmp_path: Path) -> None:
    path = written(tmp_path, [change()])
    with pytest.raises(FileExistsError):
        RowsWriter(path, header())
    assert len(read_rows(path).changes) == 1


def test_a_reader_sees_every_line_appended_so_far(tmp_path: Path) -> None:
    path = rows_path(tmp_path)
    with RowsWriter(path, header()) as w:
        w.append(change())
        assert len(read_rows(path).changes) == 1  # unbuffered: no flush needed
        w.append(change("update", version=2))
        assert len(read_rows(path).changes) == 2


def test_changes_are_validated() -> None:
    with pytest.raises(ValidationError, match="payload_crc is None exactly for a delete"):
        RowChange.model_validate(change().model_dump() | {"op": "delete"})
    with pytest.raises(ValidationError, match="payload_crc is None exactly for a delete"):
        RowChange.model_validate(change().model_dump() | {"payload_crc": None})
    with pytest.raises(ValidationError):  # negative ids are fences, never the workload's
        change(row_id=-1)
    with pytest.raises(ValidationError):
        change(version=0)
    with pytest.raises(ValidationError):
        change(outcome="maybe")
    with pytest.raises(ValidationError):
        RowsHeader(source_cloud="aws", start_ns=START_NS, fence_id=5)


def test_the_payload_is_a_function_of_id_and_version() -> None:
    assert payload(7, 1) == payload(7, 1) != payload(7, 2) != payload(8, 1)
    assert payload(7, 1).startswith("7/1/") and len(payload(7, 1)) == 64
    assert len(payload(7, 1, size_bytes=1000)) == 1000
    assert payload(123456789, 42, size_bytes=4) == "123456789/42/"  # never shorter than its key
    assert row_crc(7, 1) == payload_crc(payload(7, 1)) != row_crc(7, 2)
    assert fence_id(START_NS) < 0
