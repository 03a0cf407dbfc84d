"""The record value every riftdrill producer writes: a fixed header the verifier can trust.

Layout (big-endian, 32 bytes, then the payload):
    magic b"RDR1" | producer_id u64 | seq u64 | send_ts_ns u64 | crc32(payload) u32
`send_ts_ns` is the *intended* send time (open-model schedule), so end-to-end latency measured
from it includes any time the producer spent stalled, not only the time on the wire.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAGIC = b"RDR1"
HEADER = struct.Struct(">4sQQQI")
HEADER_SIZE = HEADER.size  # 32


@dataclass(frozen=True, slots=True)
class RecordMeta:
    producer_id: int
    seq: int
    send_ts_ns: int
    checksum: int  # zlib.crc32 of the payload as the producer wrote it


def encode(producer_id: int, seq: int, send_ts_ns: int, payload: bytes) -> bytes:
    return HEADER.pack(MAGIC, producer_id, seq, send_ts_ns, zlib.crc32(payload)) + payload


def encode_with_checksum(
    producer_id: int, seq: int, send_ts_ns: int, payload: bytes, checksum: int
) -> bytes:
    """Hot path: the producer precomputes payload checksums once instead of per record."""
    return HEADER.pack(MAGIC, producer_id, seq, send_ts_ns, checksum) + payload


def decode_header(value: bytes) -> RecordMeta:
    """The header alone (no checksum check): cheap enough for every delivery report."""
    if len(value) < HEADER_SIZE or value[:4] != MAGIC:
        raise ValueError("not a riftdrill record (missing RDR1 header)")
    _, producer_id, seq, send_ts_ns, checksum = HEADER.unpack_from(value)
    return RecordMeta(producer_id, seq, send_ts_ns, checksum)


def decode(value: bytes) -> tuple[RecordMeta, bool]:
    """(meta, checksum_ok); raises ValueError when the value is not a riftdrill record."""
    meta = decode_header(value)
    ok = zlib.crc32(memoryview(value)[HEADER_SIZE:]) == meta.checksum
    return meta, ok
