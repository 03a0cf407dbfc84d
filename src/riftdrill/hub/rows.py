"""The row-change ledger: every change the hub's workload attempted on the source table.

The workload owns one table, `rd_rows(id bigint primary key, version bigint not null,
payload text not null)`. Every change bumps the row's version, deletes and re-inserts
included, so (id, version) names exactly one change: the first insert of an id is version 1, a
re-insert after a delete continues from the delete's version. A change is conditional on the
version the workload expects (`... WHERE id = $1 AND version = $2`; an insert only where the
id is absent), so one that touches no row is `failed`, and the ledger's versions are the truth.
The payload is a function of (id, version) (`payload`), so a corrupt row is detectable from its
crc32 alone. Ids below 0 are reserved for fences (`fence_id`).

File `<run>/load/hub/rows.jsonl`, JSON lines: a header line (RowsHeader), then one line per
attempted change (RowChange), written when its outcome is known:

    {"kind": "riftdrill-hub-rows", "schema_version": 1, "table": "rd_rows",
     "source_cloud": "aws", "start_ns": 1764633600000000000, "fence_id": -1764633600000000000,
     "payload_bytes": 64}
    {"op": "insert", "id": 7, "version": 1, "payload_crc": 2493049365,
     "intended_ns": ..., "start_ns": ..., "done_ns": ..., "outcome": "ok"}
    {"op": "delete", "id": 7, "version": 2, "intended_ns": ..., "start_ns": ...,
     "done_ns": ..., "outcome": "unknown", "error": "server closed the connection"}

Each line goes to the OS in one write as soon as it is known, so a killed workload loses at
most the change it was recording; torn lines at the end (a crash mid-write) are counted and
skipped on read, a damaged line before good ones raises.
"""

from __future__ import annotations

import hashlib
import os
import time
import zlib
from pathlib import Path
from types import TracebackType
from typing import Literal, NamedTuple, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from riftdrill.errors import RiftdrillError, first_error

Op = Literal["insert", "update", "delete"]
# ok: COMMIT returned. failed: rolled back, refused, or touched no row: not applied.
# unknown: the connection was lost during COMMIT: applied or not (Jepsen's :info).
Outcome = Literal["ok", "failed", "unknown"]

SCHEMA_VERSION: Literal[1] = 1
LEDGER_KIND: Literal["riftdrill-hub-rows"] = "riftdrill-hub-rows"
TABLE = "rd_rows"
PAYLOAD_BYTES = 64
FSYNC_INTERVAL_S = 1.0  # a machine crash loses at most this much; a killed process nothing


def rows_path(run_dir: Path) -> Path:
    return run_dir / "load" / "hub" / "rows.jsonl"


def fence_id(start_ns: int) -> int:
    """The run's fence row: negative (never a workload id) and unique to the run."""
    return -start_ns


def payload(row_id: int, version: int, size_bytes: int = PAYLOAD_BYTES) -> str:
    """The payload every row (id, version) holds: ASCII, `size_bytes` long (at least its
    "id/version/" prefix), the same in the source, the CDC topic and the sink."""
    head = f"{row_id}/{version}/"
    digest = hashlib.blake2b(head.encode(), digest_size=32).hexdigest()
    body = digest * (size_bytes // len(digest) + 1)
    return (head + body)[:max(size_bytes, len(head))]


def payload_crc(text: str) -> int:
    """crc32 of a payload as stored (UTF-8): what the ledger and the snapshots compare."""
    return zlib.crc32(text.encode())


def row_crc(row_id: int, version: int, size_bytes: int = PAYLOAD_BYTES) -> int:
    return payload_crc(payload(row_id, version, size_bytes))


class RowsLedgerError(RiftdrillError):
    """The ledger cannot be read: no header, another format, or a damaged line before good ones."""


class RowsHeader(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["riftdrill-hub-rows"] = LEDGER_KIND
    schema_version: Literal[1] = SCHEMA_VERSION
    table: str = TABLE
    source_cloud: str
    start_ns: int  # wall clock (time.time_ns) when the workload started
    fence_id: int = Field(lt=0)  # the row the runner commits after the load stopped
    payload_bytes: int = Field(default=PAYLOAD_BYTES, gt=0)


class RowChange(BaseModel):
    """One attempted change. Times are wall-clock ns (time.time_ns): `intended_ns` when the
    open-model schedule wanted it (so a stalled workload shows as latency, not as a lower
    rate), `start_ns` when its transaction began, `done_ns` when its outcome was known."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    op: Op
    id: int = Field(ge=0)
    version: int = Field(ge=1)
    payload_crc: int | None = None  # crc32 of payload(id, version); None for a delete
    intended_ns: int
    start_ns: int
    done_ns: int
    outcome: Outcome
    error: str | None = None  # what the driver said, for failed and unknown outcomes

    @model_validator(mode="after")
    def _payload_matches_op(self) -> Self:
        if (self.op == "delete") != (self.payload_crc is None):
            raise ValueError("payload_crc is None exactly for a delete")
        return self


class RowsLedger(NamedTuple):
    header: RowsHeader
    changes: list[RowChange]
    torn_lines: int  # an unterminated last line (a crash mid-write): counted, skipped


class RowsWriter:
    """Appends one line per change, each in one write to an unbuffered file, so a reader (and a
    crash) sees whole lines only, but for the one being written."""

    def __init__(self, path: Path, header: RowsHeader) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._f = path.open("xb", buffering=0)  # never append to an earlier run's ledger
        self._synced_s = time.monotonic()
        self._write(header.model_dump_json())
        os.fsync(self._f.fileno())

    def _write(self, line: str) -> None:
        self._f.write(line.encode() + b"\n")

    def append(self, change: RowChange) -> None:
        self._write(change.model_dump_json(exclude_none=True))
        if time.monotonic() - self._synced_s >= FSYNC_INTERVAL_S:
            os.fsync(self._f.fileno())
            self._synced_s = time.monotonic()

    def close(self) -> None:
        if not self._f.closed:
            os.fsync(self._f.fileno())
            self._f.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def read_rows(path: Path) -> RowsLedger:
    """The header and every whole change line, in the order written. Lines that do not parse
    at the end of the file are torn (a crash mid-write, or zeros where a machine crash lost a
    page): counted and skipped. One that does not parse before a good one raises."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as e:
        raise RowsLedgerError(f"{path}: no hub row ledger (was the hub workload run?)") from e
    lines = data.split(b"\n")
    if not lines[-1]:
        lines.pop()  # the file ends with a whole line
    if not lines:
        raise RowsLedgerError(f"{path}: empty (the workload died before writing its header)")
    try:
        header = RowsHeader.model_validate_json(lines[0])
    except ValidationError as e:
        raise RowsLedgerError(f"{path}: not a schema-{SCHEMA_VERSION} hub row ledger header: "
                              f"{_first_error(e)}") from e
    changes: list[RowChange] = []
    bad: tuple[int, ValidationError] | None = None  # the first line that did not parse
    for n, line in enumerate(lines[1:], start=2):
        try:
            change = RowChange.model_validate_json(line)
        except ValidationError as e:
            bad = bad or (n, e)
            continue
        if bad is not None:
            raise RowsLedgerError(f"{path}:{bad[0]}: damaged change line before good ones: "
                                  f"{_first_error(bad[1])}")
        changes.append(change)
    torn = len(lines) - 1 - len(changes)
    return RowsLedger(header, changes, torn)


def read_rows_header(path: Path) -> RowsHeader:
    """The ledger's header alone (its first line): when the workload started, without reading
    every change."""
    try:
        with path.open("rb") as f:
            first = f.readline()
    except FileNotFoundError as e:
        raise RowsLedgerError(f"{path}: no hub row ledger (was the hub workload run?)") from e
    except OSError as e:
        raise RowsLedgerError(f"{path}: unreadable: {e}") from e
    try:
        return RowsHeader.model_validate_json(first)
    except ValidationError as e:
        raise RowsLedgerError(f"{path}: not a schema-{SCHEMA_VERSION} hub row ledger header: "
                              f"{_first_error(e)}") from e


def _first_error(e: ValidationError) -> str:
    return first_error(e, top="")
