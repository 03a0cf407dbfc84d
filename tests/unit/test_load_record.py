"""The record header the verifier relies on: encode/decode round-trip and corruption detection."""

import zlib

import pytest

from riftdrill.load.record import HEADER_SIZE, RecordMeta, decode, encode


def test_round_trip_carries_identity_and_checksum() -> None:
    value = encode(7, 123456789, 1_700_000_000_123_456_789, b"hello")
    meta, ok = decode(value)
    assert ok
    assert meta == RecordMeta(7, 123456789, 1_700_000_000_123_456_789, zlib.crc32(b"hello"))
    assert len(value) == HEADER_SIZE + 5 and value[:4] == b"RDR1"


def test_flipped_payload_byte_fails_the_checksum() -> None:
    value = bytearray(encode(1, 2, 3, b"payload"))
    value[-1] ^= 0x01
    meta, ok = decode(bytes(value))
    assert meta.seq == 2 and not ok


def test_empty_payload_is_a_record() -> None:
    assert decode(encode(1, 0, 5, b""))[1]


@pytest.mark.parametrize("value", [b"", b"RDR", b"XXXX" + b"\0" * 40])
def test_foreign_values_are_rejected(value: bytes) -> None:
    with pytest.raises(ValueError):
        decode(value)
