"""The consumer ledger: what one consumer-group member polled, committed, was assigned and lost.

File `load/consumers/<cloud>-c<process_index>-<user_index>.rdc`, the producer ledger's container
(ledger.py: magic, JSON header padded to 64 bytes, 64-byte entries each with its own crc32, torn
tail ignored and counted, damage before good entries raises, flushed every 50 ms / 1024 entries,
fsynced every second) with magic b"RDC1". Entries reuse ledger.ENTRY field for field:

    kind u8 | topic_index u16 | partition i32 | offset i64 | epoch i64 (the `key` slot) |
    producer_id u32 | checksum u32 | seq u64 | send_ts_ns i64 | ts_ns i64 |
    flags i32 (the `error_code` slot) | crc u32

- KIND_POLL: one per polled record. offset = the record's offset; producer_id, seq, send_ts_ns,
  checksum from its riftdrill header (0 when it has none; a fence's checksum is crc32 of its
  nonce); ts_ns = receive time; flags = POLL_* bits.
- KIND_COMMIT: one per partition of each commit result. offset = the committed offset (the next
  offset to read); flags = the Kafka error code, 0 when committed.
- KIND_ASSIGN: one per partition assigned. offset = the position it starts from (-1 unknown);
  checksum = crc32 of the member id (`member_ids` maps it back; sidecar `<file>.members.json`).
- KIND_REVOKE: one per partition revoked or lost. offset = the next offset this member would
  have read (-1 if it read nothing there).

`epoch` is this member's local assignment epoch: 0 at start, +1 on every assign, revoke or lost
callback. It is not Kafka's group generation id, which librdkafka's Python binding does not
expose; it only orders one member's assignments.
"""

from __future__ import annotations

import json
import os
import socket
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from riftdrill.load.ledger import (
    ENTRY_BODY,
    ENTRY_SIZE,
    FORMAT_VERSION,
    EntryWriter,
    valid_entries,
)

CONSUMER_MAGIC = b"RDC1"
KIND_POLL = 3
KIND_COMMIT = 4
KIND_ASSIGN = 5
KIND_REVOKE = 6
POLL_FOREIGN = 1  # not a riftdrill record
POLL_FENCE = 2  # an RDF1 fence (load/fence.py)
POLL_CORRUPT = 4  # payload crc32 differs from the one in the riftdrill header
POLL_EARLIER_RUN = 8  # intended before the run started: an earlier run's record
UNKNOWN_POSITION = -1
MEMBERS_SUFFIX = ".members.json"


def consumer_ledger_path(load_dir: Path, cloud: str, process_index: int, user_index: int) -> Path:
    return load_dir / "consumers" / f"{cloud}-c{process_index}-{user_index}.rdc"


def members_path(path: Path) -> Path:
    return path.with_name(path.name + MEMBERS_SUFFIX)


def member_crc(member_id: str) -> int:
    return zlib.crc32(member_id.encode())


class ConsumerLedgerWriter(EntryWriter):
    """Append-only ledger of one consumer. The poll path is one prebound pack per record."""

    def __init__(
        self,
        path: Path,
        *,
        group: str,
        client_id: str,
        cloud: str,
        topics: list[str],
        run_start_ns: int,
        bootstrap: str,
        cluster: str = "",
    ) -> None:
        header = {
            "format": FORMAT_VERSION,
            "kind": "consumer",
            "entry_size": ENTRY_SIZE,
            "group": group,
            "client_id": client_id,
            "cloud": cloud,
            "cluster": cluster,  # "" when the launcher did not say (plain locust)
            "topics": list(topics),
            "run_start_ns": run_start_ns,
            "bootstrap": bootstrap,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": datetime.now(UTC).isoformat(),
        }
        super().__init__(path, header, CONSUMER_MAGIC)
        self.member_ids: dict[int, str] = {}
        self._pack = ENTRY_BODY.pack

    def poll(
        self, topic_index: int, partition: int, offset: int, epoch: int, producer_id: int,
        checksum: int, seq: int, send_ts_ns: int, ts_ns: int, flags: int,
    ) -> None:  # fmt: skip
        self.append_body(self._pack(KIND_POLL, topic_index, partition, offset, epoch, producer_id,
                                    checksum, seq, send_ts_ns, ts_ns, flags))  # fmt: skip

    def commit(self, topic_index: int, partition: int, offset: int, epoch: int, error_code: int,
               ts_ns: int) -> None:  # fmt: skip
        self.append_body(self._pack(KIND_COMMIT, topic_index, partition, offset, epoch, 0, 0, 0,
                                    0, ts_ns, error_code))  # fmt: skip

    def assign(self, topic_index: int, partition: int, position: int, epoch: int, member_id: str,
               ts_ns: int) -> None:  # fmt: skip
        crc = self.note_member(member_id)
        self.append_body(self._pack(KIND_ASSIGN, topic_index, partition, position, epoch, 0, crc,
                                    0, 0, ts_ns, 0))  # fmt: skip

    def revoke(self, topic_index: int, partition: int, position: int, epoch: int,
               ts_ns: int) -> None:  # fmt: skip
        self.append_body(self._pack(KIND_REVOKE, topic_index, partition, position, epoch, 0, 0, 0,
                                    0, ts_ns, 0))  # fmt: skip

    def note_member(self, member_id: str) -> int:
        """crc32 of the member id; a new id is written to the sidecar at once (atomic replace)."""
        crc = member_crc(member_id)
        if self.member_ids.get(crc) != member_id:
            self.member_ids[crc] = member_id
            side = members_path(self.path)
            tmp = side.with_name(side.name + ".tmp")
            tmp.write_text(json.dumps({str(k): v for k, v in self.member_ids.items()}) + "\n")
            os.replace(tmp, side)
        return crc


@dataclass(frozen=True, slots=True)
class ConsumerEntry:
    kind: int
    topic: str
    partition: int
    offset: int
    epoch: int
    producer_id: int
    seq: int
    send_ts_ns: int
    ts_ns: int
    flags: int
    # Payload crc32 (POLL), crc32 of the nonce (fence POLL), crc32 of the member id (ASSIGN).
    # Not part of equality, so an entry can be written from the ten fields above.
    checksum: int = field(default=0, compare=False)


@dataclass
class ConsumerLog:
    path: Path
    header: dict[str, Any]
    entries: list[ConsumerEntry]
    member_ids: dict[int, str]
    truncated_entries: int  # whole or torn entries ignored at the tail

    def member_of(self, entry: ConsumerEntry) -> str | None:
        """The member id an ASSIGN entry was made under (None for other kinds or unknown)."""
        return self.member_ids.get(entry.checksum) if entry.kind == KIND_ASSIGN else None


def _read_members(path: Path) -> dict[int, str]:
    try:
        data = json.loads(members_path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return {int(k): str(v) for k, v in data.items()}


def read_consumer_ledger(path: Path) -> ConsumerLog:
    """Every whole entry in append order; a torn tail is counted in `truncated_entries`."""
    header, raw, truncated = valid_entries(path, CONSUMER_MAGIC)
    topics: list[str] = header["topics"]
    entries = [
        ConsumerEntry(kind, topics[ti], part, off, epoch, pid, seq, send, ts, flags, crc)
        for kind, ti, part, off, epoch, pid, crc, seq, send, ts, flags, _ in raw
    ]
    return ConsumerLog(path, header, entries, _read_members(path), truncated)


def consumer_ledger_files(run_dir: Path) -> list[Path]:
    """Every consumer ledger of a run (all clouds, processes and users)."""
    return sorted((run_dir / "load" / "consumers").glob("*.rdc"))
