"""native.c against record batches built here byte by byte (Kafka's v2 layout), and the fast
reader's classification (verify/fetch._apply) against what the librdkafka reader does."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from riftdrill import native
from riftdrill.load.fence import fence_value
from riftdrill.load.record import encode
from riftdrill.verify.check import PartitionRead
from riftdrill.verify.fetch import _apply

NONCE = b"n" * 16


def _varint(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        b = z & 0x7F
        z >>= 7
        if z:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _record(offset_delta: int, value: bytes | None, key: bytes | None = b"k") -> bytes:
    body = b"\x00" + _varint(0) + _varint(offset_delta)
    body += _varint(-1) if key is None else _varint(len(key)) + key
    body += _varint(-1) if value is None else _varint(len(value)) + value
    body += _varint(1) + _varint(1) + b"h" + _varint(1) + b"v"  # one header, skipped
    return _varint(len(body)) + body


def batch(base: int, values: list[bytes | None], attributes: int = 0,
          deltas: list[int] | None = None) -> bytes:
    deltas = deltas if deltas is not None else list(range(len(values)))
    records = b"".join(_record(d, v) for d, v in zip(deltas, values, strict=True))
    last = deltas[-1] if deltas else 0
    after_crc = (struct.pack(">hiqqqhii", attributes, last, 0, 0, -1, -1, -1, len(values))
                 + records)
    after_len = struct.pack(">ibI", 0, 2, 0) + after_crc  # epoch, magic, crc (not checked)
    return struct.pack(">qi", base, len(after_len)) + after_len


@pytest.fixture(scope="module")
def dec() -> native.Decoder:
    d = native.decoder()
    assert d is not None, "the native helpers must build on this machine (make setup)"
    return d


def _decode(dec: native.Decoder, data: bytes, pad: int = 3) -> native.Decoded:
    buf = bytearray(b"\xff" * pad + data)
    return dec.decode(buf, pad, len(data))


def test_records_come_out_as_columns(dec: native.Decoder) -> None:
    good = encode(7, 41, 1_000, b"payload" * 20)
    bad = bytearray(encode(7, 42, 2_000, b"payload" * 20))
    bad[-1] ^= 0x01
    d = _decode(dec, batch(100, [good, bytes(bad)]) + batch(102, [good], deltas=[3]))
    assert d.offsets.tolist() == [100, 101, 105]
    assert d.producer_ids.tolist() == [7, 7, 7] and d.seqs.tolist() == [41, 42, 41]
    assert d.send_ns.tolist() == [1_000, 2_000, 1_000]
    assert d.kinds.tolist() == [native.KIND_OK, native.KIND_BAD_CRC, native.KIND_OK]
    assert d.checksums.tolist()[0] == zlib.crc32(b"payload" * 20)
    assert d.next_offset == 106


def test_records_below_the_fetch_offset_are_left_out(dec: native.Decoder) -> None:
    """A fetch at offset 42 gets the whole batch holding it (after DeleteRecords, for one)."""
    rec = encode(1, 0, 1, b"z" * 10)
    data = batch(40, [rec, rec, rec, rec])
    d = dec.decode(bytearray(data), 0, len(data), min_offset=42)
    assert d.offsets.tolist() == [42, 43] and d.next_offset == 44


def test_others_are_located_for_python(dec: native.Decoder) -> None:
    fence, foreign = fence_value(NONCE, 0), b"not ours"
    data = batch(0, [fence, None, foreign])
    buf = bytearray(b"xx" + data)
    d = dec.decode(buf, 2, len(data))
    assert d.kinds.tolist() == [native.KIND_OTHER, native.KIND_NULL, native.KIND_OTHER]
    pos, size = int(d.value_pos[0]), int(d.value_len[0])
    assert bytes(buf[pos : pos + size]) == fence
    pos, size = int(d.value_pos[2]), int(d.value_len[2])
    assert bytes(buf[pos : pos + size]) == foreign and int(d.value_len[1]) == -1


def test_a_cut_last_batch_is_left_for_the_next_fetch(dec: native.Decoder) -> None:
    rec = encode(1, 0, 1, b"x" * 50)
    data = batch(0, [rec, rec]) + batch(2, [rec])
    d = _decode(dec, data[:-5])
    assert d.offsets.tolist() == [0, 1] and d.next_offset == 2
    assert _decode(dec, data[:30]).next_offset == -1  # not even one whole batch


def test_control_batches_hold_no_records_but_move_the_offset(dec: native.Decoder) -> None:
    marker = b"\x00\x00\x00\x00"  # a commit marker's key/value shape does not matter here
    d = _decode(dec, batch(0, [encode(1, 0, 1, b"y")]) + batch(1, [marker], attributes=0x30))
    assert d.offsets.tolist() == [0] and d.next_offset == 2


@pytest.mark.parametrize(("data", "problem"), [
    (batch(0, [b"v"], attributes=0x04), "compressed"),  # lz4
    (batch(0, [b"v"])[:16] + b"\x01" + batch(0, [b"v"])[17:], "v2"),  # magic 1
])
def test_what_it_cannot_read_is_an_error_not_a_guess(dec: native.Decoder, data: bytes,
                                                     problem: str) -> None:
    with pytest.raises(native.DecodeError, match=problem):
        _decode(dec, data)


def test_a_record_longer_than_its_batch_is_malformed(dec: native.Decoder) -> None:
    data = bytearray(batch(0, [b"value"]))
    data[61] = 0x7E  # the record's length varint: 63 bytes, more than the batch holds
    with pytest.raises(native.DecodeError, match="malformed"):
        _decode(dec, bytes(data))


def test_first_bad_ledger_entry(dec: native.Decoder) -> None:
    entries = [bytes([i]) * 60 for i in range(5)]
    data = b"".join(e + struct.pack("<I", zlib.crc32(e)) for e in entries)
    assert dec.first_bad_entry(data, 5, 64) == 5
    broken = bytearray(data)
    broken[3 * 64 + 10] ^= 0xFF
    assert dec.first_bad_entry(bytes(broken), 5, 64) == 3


def _read() -> PartitionRead:
    return PartitionRead(cluster="main", topic="t", partition=0)


def test_apply_classifies_like_the_librdkafka_reader(dec: native.Decoder) -> None:
    """Earlier runs counted, foreign and null records foreign, other fences skipped, and
    nothing after this verification's own fence."""
    early, ours = encode(1, 0, 10, b"a"), encode(1, 1, 5_000, b"b")
    values: list[bytes | None] = [early, fence_value(b"o" * 16, 0), ours, b"junk", None,
                                  fence_value(NONCE, 0), encode(1, 2, 6_000, b"c")]
    data = batch(10, values)
    buf = bytearray(data)
    read = _read()
    _apply(read, dec.decode(buf, 0, len(data)), buf, NONCE, since_ns=1_000)
    assert read.earlier_runs == 1
    assert (read.offsets, read.seqs, read.checksum_ok) == ([12], [1], [True])
    assert read.foreign == [13, 14]
    assert read.fenced and read.fence_offset == 15 and read.high_watermark == 16


def test_without_a_compiler_there_is_no_decoder(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    monkeypatch.setattr(native, "library_path", lambda: tmp_path / "none.so")
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    with pytest.raises(native.NativeBuildError):
        native.build()


def test_the_ledger_reader_checks_crcs_the_same_without_it(monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    from riftdrill.load import ledger

    path = tmp_path / "p.rdl"
    with ledger.LedgerWriter(path, 1, "aws", ["t"], "b:9092", 0) as w:
        for i in range(10):
            w.append_ack("t", 0, i, None, i, 0, 0, 1)
    whole = path.read_bytes()
    torn = bytearray(whole)
    for i in (1, 2, 3):  # the last three entries damaged: a torn tail, counted
        torn[-64 * i + 5] ^= 0xFF
    path.write_bytes(bytes(torn))
    with_native = ledger.valid_entries(path)
    assert len(with_native[1]) == 7 and with_native[2] == 3
    damaged = bytearray(whole)
    damaged[-64 * 5 + 5] ^= 0xFF  # good entries after a bad one: the file was damaged
    (tmp_path / "d.rdl").write_bytes(bytes(damaged))
    with pytest.raises(ledger.LedgerCorruptError, match="damaged"):
        ledger.valid_entries(tmp_path / "d.rdl")
    monkeypatch.setattr(native, "decoder", lambda: None)
    assert ledger.valid_entries(path) == with_native
    with pytest.raises(ledger.LedgerCorruptError, match="damaged"):
        ledger.valid_entries(tmp_path / "d.rdl")
