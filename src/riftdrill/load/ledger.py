"""The ledger: every acknowledged record and every delivery error, appended by the producer.

File layout (`load/ledgers/<cloud>-p<producer_id>.rdl`), documented in docs/load.md:

    b"RDL1" | header_len u32 (little-endian) | header JSON, space-padded so entries start at a
    multiple of 64 | entries, 64 bytes each, little-endian (see ENTRY below)

Each entry carries its own crc32, so a torn tail (a crash mid-write, or zeros from a lost page)
is recognised and ignored; a bad entry followed by good ones is corruption and raises.
Writes go to the OS every FLUSH_INTERVAL_S or FLUSH_ENTRIES (whichever first), so a crash of
the load process loses at most the acks of that last fraction of a second, never earlier ones;
fsync runs every FSYNC_INTERVAL_S so a machine crash loses at most that much.
The container (EntryWriter, valid_entries) takes its magic as a parameter: the consumer ledger
(consumer_ledger.py, b"RDC1") is the same file format with other entry kinds.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple, Self

if TYPE_CHECKING:  # numpy is imported when a ledger is read, not by the producers writing one
    import numpy as np

MAGIC = b"RDL1"
FORMAT_VERSION = 1
# kind u8, pad, topic_index u16, partition i32, offset i64, key i64, producer_id u32,
# checksum u32, seq u64, send_ts_ns i64, ts_ns i64 (ack or error time), error_code i32, crc u32
ENTRY = struct.Struct("<BxHiqqIIQqqiI")
ENTRY_SIZE = ENTRY.size  # 64
ENTRY_BODY = struct.Struct("<BxHiqqIIQqqi")  # ENTRY without the crc: what the crc covers
_CRC = struct.Struct("<I")
KIND_ACK = 1
KIND_ERROR = 2
NO_KEY = -1
FLUSH_INTERVAL_S = 0.05
FLUSH_ENTRIES = 1024
FSYNC_INTERVAL_S = 1.0


class LedgerCorruptError(ValueError):
    """A bad entry sits before good ones: not a torn tail, the file was damaged."""


class Ack(NamedTuple):
    """One acknowledged send. A NamedTuple, not a dataclass: a verify builds a million of these,
    and a tuple is built about twice as fast as a frozen dataclass (see verify/bench.py)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    producer_id: int
    seq: int
    checksum: int
    send_ts_ns: int  # intended send time
    ack_ts_ns: int


class DeliveryError(NamedTuple):
    topic: str
    producer_id: int
    seq: int
    error_code: int
    error_name: str
    send_ts_ns: int
    ts_ns: int
    # The partition the client had put the send on (its delivery report's), -1 when unknown:
    # ledgers written before it was recorded, or a send refused before a partition was chosen.
    partition: int = -1


def key_to_int(key: bytes | None) -> int:
    """Keys are generated as b"k-<n>"; the ledger stores n (NO_KEY for none)."""
    if key is None:
        return NO_KEY
    if not key.startswith(b"k-"):
        raise ValueError(f"ledger keys must look like b'k-<n>', got {key!r}")
    return int(key[2:])


def int_to_key(n: int) -> bytes | None:
    return None if n == NO_KEY else b"k-%d" % n


def error_name(code: int) -> str:
    from confluent_kafka import KafkaError  # librdkafka's names, same as the producer saw

    return str(KafkaError(code).name())


class EntryWriter:
    """The append-only container both ledgers share: `magic | header_len u32 | header JSON
    space-padded to a multiple of ENTRY_SIZE | entries`, each entry ENTRY_SIZE bytes ending in the
    crc32 of the bytes before it. Not thread-safe: one writer per file.
    """

    def __init__(self, path: Path, header: dict[str, Any], magic: bytes = MAGIC) -> None:
        self.path = path
        body = json.dumps(header).encode()
        body += b" " * ((-(8 + len(body))) % ENTRY_SIZE)
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two writers must never share a file (ids are unique per run).
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        os.write(self._fd, magic + struct.pack("<I", len(body)) + body)
        os.fsync(self._fd)
        self._buf = bytearray()
        self._pending = 0
        self._last_flush = time.monotonic()
        self._last_fsync = self._last_flush

    def append_body(self, body: bytes) -> None:
        """One entry from its first ENTRY_SIZE - 4 bytes (packed with ENTRY_BODY); adds the crc."""
        self._buf += body
        self._buf += _CRC.pack(zlib.crc32(body))
        self._pending += 1
        if self._pending >= FLUSH_ENTRIES:
            self.flush()

    def maybe_flush(self) -> None:
        """Called from the client's loop: bounds how much a crash can lose, in time."""
        if self._pending and time.monotonic() - self._last_flush >= FLUSH_INTERVAL_S:
            self.flush()

    def flush(self) -> None:
        now = time.monotonic()
        if self._buf:
            os.write(self._fd, self._buf)  # O_APPEND write: whole entries reach the OS at once
            self._buf.clear()
            self._pending = 0
        self._last_flush = now
        if now - self._last_fsync >= FSYNC_INTERVAL_S:
            os.fsync(self._fd)
            self._last_fsync = now

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def close(self) -> None:
        if self._fd < 0:
            return
        self.flush()
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class LedgerWriter(EntryWriter):
    """Append-only ledger of one producer."""

    def __init__(
        self,
        path: Path,
        producer_id: int,
        cloud: str,
        topics: list[str],
        bootstrap: str = "",
        schedule_start_ns: int = 0,
        producer: dict[str, Any] | None = None,
        cluster: str = "",
    ) -> None:
        self.producer_id = producer_id
        self._topic_index = {t: i for i, t in enumerate(topics)}
        header = {
            "format": FORMAT_VERSION,
            "entry_size": ENTRY_SIZE,
            "producer_id": producer_id,
            "cloud": cloud,
            "topics": list(topics),
            "bootstrap": bootstrap,  # which cluster, when `cloud` is not one of the inventory's
            # the cluster it wrote to ("" when the launcher did not say): a producer that failed
            # over writes another cluster than its cloud's
            "cluster": cluster,
            # Every record of this producer is intended at or after this: the verifier tells
            # this run's records from an earlier run's in the same topic by it.
            "schedule_start_ns": schedule_start_ns,
            # What the client was configured with (acks, idempotence, max_in_flight): the
            # verifier derives the run's delivery contract from it (verify/contract.py).
            "producer": dict(producer or {}),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": datetime.now(UTC).isoformat(),
        }
        super().__init__(path, header)
        self.acks = 0
        self.errors = 0

    def append_ack(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        seq: int,
        checksum: int,
        send_ts_ns: int,
        ack_ts_ns: int,
    ) -> None:
        body = ENTRY_BODY.pack(
            KIND_ACK, self._topic_index[topic], partition, offset, key_to_int(key),
            self.producer_id, checksum, seq, send_ts_ns, ack_ts_ns, 0,
        )  # fmt: skip
        self.acks += 1
        self.append_body(body)

    def append_error(
        self, topic: str, seq: int, error_code: int, send_ts_ns: int, ts_ns: int,
        partition: int = -1, key: bytes | None = None, checksum: int = 0,
    ) -> None:  # fmt: skip
        body = ENTRY_BODY.pack(
            KIND_ERROR, self._topic_index[topic], partition, -1, key_to_int(key),
            self.producer_id, checksum, seq, send_ts_ns, ts_ns, error_code,
        )  # fmt: skip
        self.errors += 1
        self.append_body(body)


def _read_raw_header(f: Any, path: Path, magic: bytes = MAGIC) -> tuple[dict[str, Any], int]:
    head = f.read(8)
    if len(head) < 8 or head[:4] != magic:
        raise ValueError(f"{path} is not a riftdrill ledger (missing {magic.decode()} header)")
    (length,) = struct.unpack("<I", head[4:])
    body = f.read(length)
    if len(body) < length:
        raise ValueError(f"{path}: ledger header is truncated")
    header: dict[str, Any] = json.loads(body)
    return header, 8 + length


def read_header(path: Path, magic: bytes = MAGIC) -> dict[str, Any]:
    with open(path, "rb") as f:
        return _read_raw_header(f, path, magic)[0]


def read_extent(path: Path) -> tuple[dict[str, Any], int, int]:
    """(header, the file's size in bytes now, how many whole entries that holds): what a reader
    that must not see later appends reads up to (`valid_entries(limit_bytes=...)`)."""
    with open(path, "rb") as f:
        header, start = _read_raw_header(f, path)
        size = os.fstat(f.fileno()).st_size
    return header, size, (size - start) // ENTRY_SIZE


def valid_entries(path: Path, magic: bytes = MAGIC, limit_bytes: int | None = None,
                  ) -> tuple[dict[str, Any], list[tuple[Any, ...]], int]:
    """(header, every whole entry's ENTRY fields, entries ignored at the tail).

    A torn tail (a partial entry, or whole entries failing their crc after the last good one) is
    counted, not fatal; a bad entry followed by good ones raises LedgerCorruptError. With
    `limit_bytes`, only the file's first `limit_bytes` are read (see read_extent).
    """
    header, good, torn = _valid_bytes(path, magic, limit_bytes)
    return header, list(ENTRY.iter_unpack(good)), torn


def _valid_bytes(path: Path, magic: bytes, limit_bytes: int | None,
                 ) -> tuple[dict[str, Any], memoryview, int]:
    """(header, the good entries' bytes, entries ignored at the tail): see valid_entries."""
    with open(path, "rb") as f:
        header, start = _read_raw_header(f, path, magic)
        data = f.read() if limit_bytes is None else f.read(max(0, limit_bytes - start))
    whole = len(data) - len(data) % ENTRY_SIZE
    count = whole // ENTRY_SIZE
    view = memoryview(data)[:whole]
    # The crcs in a C-level loop; the Python loop below only runs on a bad entry.
    bad_at = _first_bad_entry(data, count)
    if bad_at is None:
        return header, view, 1 if whole < len(data) else 0
    crc32, body = zlib.crc32, ENTRY_SIZE - 4
    tail = range(bad_at, count)
    good_after = next((i for i in tail
                       if _CRC.unpack_from(view, i * ENTRY_SIZE + body)[0]
                       == crc32(view[i * ENTRY_SIZE : i * ENTRY_SIZE + body])), None)
    if good_after is not None:
        raise LedgerCorruptError(
            f"{path}: entry at byte {start + bad_at * ENTRY_SIZE} is damaged but later entries "
            "are whole"
        )
    return header, view[: bad_at * ENTRY_SIZE], len(tail) + (1 if whole < len(data) else 0)


@cache
def entry_dtype() -> np.dtype[Any]:
    """ENTRY as a numpy record: a ledger's entries as columns without a Python object each."""
    import numpy as np

    return np.dtype({
        "names": ["kind", "topic_index", "partition", "offset", "key", "producer_id", "checksum",
                  "seq", "send_ts_ns", "ts_ns", "error_code", "crc"],
        "formats": ["u1", "<u2", "<i4", "<i8", "<i8", "<u4", "<u4", "<u8", "<i8", "<i8", "<i4",
                    "<u4"],
        "offsets": [0, 2, 4, 8, 16, 24, 28, 32, 40, 48, 56, 60],
        "itemsize": ENTRY_SIZE,
    })


def _first_bad_entry(data: bytes, count: int) -> int | None:
    """Index of the first of `count` entries whose crc does not match, None if all do."""
    from riftdrill.native import decoder

    native = decoder()
    if native is not None:
        bad = native.first_bad_entry(data, count, ENTRY_SIZE)
        return None if bad == count else bad
    crc32, body, view = zlib.crc32, ENTRY_SIZE - 4, memoryview(data)
    return next((i for i in range(count)
                 if crc32(view[i * ENTRY_SIZE : i * ENTRY_SIZE + body])
                 != _CRC.unpack_from(view, i * ENTRY_SIZE + body)[0]), None)


def _decode(header: dict[str, Any], entries: list[tuple[Any, ...]]) -> list[Ack | DeliveryError]:
    topics: list[str] = header["topics"]
    if all(e[0] == KIND_ACK for e in entries):  # the common case, as one comprehension
        return [Ack(topics[ti], part, off, None if key == NO_KEY else b"k-%d" % key, pid, seq,
                    crc, send, ts)
                for _, ti, part, off, key, pid, crc, seq, send, ts, _, _ in entries]
    names: dict[int, str] = {}
    out: list[Ack | DeliveryError] = []
    for kind, ti, part, off, key, pid, crc, seq, send, ts, code, _ in entries:
        if kind == KIND_ACK:
            out.append(Ack(topics[ti], part, off, int_to_key(key), pid, seq, crc, send, ts))
        else:
            if code not in names:
                names[code] = error_name(code)
            out.append(DeliveryError(topics[ti], pid, seq, code, names[code], send, ts, part))
    return out


def read_ledger_counted(path: Path) -> tuple[list[Ack | DeliveryError], int]:
    """Every entry in append order, and how many entries a torn tail cost (the verifier reports
    them as `ledger_truncated_lines`)."""
    header, entries, truncated = valid_entries(path)
    return _decode(header, entries), truncated


def read_ledger(path: Path) -> Iterator[Ack | DeliveryError]:
    """Every entry in append order; a truncated or torn tail entry is ignored."""
    yield from read_ledger_counted(path)[0]


class ProducerLedger(NamedTuple):
    """One producer ledger read whole. Verify, the send outcomes and the recovery figures of a
    drill judge the same entries: the drill runner reads them once and hands them to each."""

    path: Path
    header: dict[str, Any]
    entries: list[Ack | DeliveryError]  # append order, a torn tail left out
    torn: int  # entries the torn tail cost
    # The same entries as ENTRY_DTYPE records (None: built from objects, as tests do): the
    # checker's columns (verify/vectorized.py).
    columns: np.ndarray | None = None


def read_producer_ledger(path: Path, limit_bytes: int | None = None,
                         objects: bool = True) -> ProducerLedger:
    """Raises OSError (unreadable), ValueError (damaged: LedgerCorruptError, not a ledger).
    `limit_bytes`: read only that much of the file (see read_extent). `objects=False`: only the
    columns (`entries` left empty), for a reader that judges on columns (the verifier)."""
    import numpy as np

    header, good, torn = _valid_bytes(path, MAGIC, limit_bytes)
    columns = np.frombuffer(good, dtype=entry_dtype())
    if not objects:
        topics = header.get("topics")
        if not isinstance(topics, list) or (
                len(columns) and int(columns["topic_index"].max()) >= len(topics)):
            raise LedgerCorruptError(f"{path}: ledger header does not match its entries "
                                     "(topic index beyond its topics)")
        return ProducerLedger(path, header, [], torn, columns)
    entries = list(ENTRY.iter_unpack(good))
    try:
        return ProducerLedger(path, header, _decode(header, entries), torn, columns)
    except (KeyError, IndexError, TypeError) as exc:  # a header without its topics
        raise LedgerCorruptError(f"{path}: ledger header does not match its entries ({exc})") from exc


def read_run_ledgers(run_dir: Path) -> list[ProducerLedger]:
    """Every producer ledger of a run, read whole (see ProducerLedger)."""
    from riftdrill.gcpause import gc_paused

    with gc_paused():  # a million acks: see riftdrill.gcpause
        return [read_producer_ledger(path) for path in ledger_files(run_dir)]


def ledger_files(run_dir: Path) -> list[Path]:
    """Every ledger of a run (all clouds, all processes, distributed workers' included)."""
    return sorted((run_dir / "load" / "ledgers").glob("*.rdl"))
