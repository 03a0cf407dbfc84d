"""Native helpers (native.c): the replay's record-batch decoder and the ledger crc check.

Built once per source version into the checkout's state dir and loaded with ctypes. `make
setup` builds it (`python -m riftdrill.native`); `decoder()` builds it on first use if setup
has not, and returns None when there is no C compiler: the replay then reads with librdkafka
and the ledger reader checks crcs with Python's zlib (same results, slower; the verify report
names the reader of every partition).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from riftdrill.paths import state_dir

SOURCE = Path(__file__).with_name("native.c")

KIND_OK, KIND_BAD_CRC, KIND_OTHER, KIND_NULL = 0, 1, 2, 3
ERR_CAPACITY, ERR_MAGIC, ERR_COMPRESSED, ERR_MALFORMED = -1, -2, -3, -4
ERRORS = {ERR_CAPACITY: "capacity", ERR_MAGIC: "not a v2 record batch",
          ERR_COMPRESSED: "compressed batch", ERR_MALFORMED: "malformed record batch"}


class NativeBuildError(RuntimeError):
    """The decoder could not be compiled."""


def library_path() -> Path:
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:12]
    return state_dir() / "native" / f"native-{digest}.so"


class BuildFailed(RuntimeError):
    """A build command could not run, or failed (the message says which and why)."""


def build_versioned(out: Path, command: Callable[[Path], list[str]], stale: str, *,
                    cwd: Path | None = None, env: dict[str, str] | None = None,
                    timeout_s: float = 600) -> Path:
    """Build `out` (a path naming its source version) with `command(tmp)` into a temporary file
    beside it, move it in place, and delete earlier versions (`stale`, a glob in its folder).
    Shared by this module's C helpers and the lab's Go tools (lab/gotools.py)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    cmd = command(tmp)
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False,
                              timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildFailed(f"{cmd[0]} cannot be run ({exc})") from exc
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise BuildFailed(f"{' '.join(cmd)} failed: {proc.stderr.strip()[-400:]}")
    os.replace(tmp, out)
    for old in out.parent.glob(stale):  # builds of earlier versions
        if old != out:
            old.unlink(missing_ok=True)
    return out


def build(force: bool = False) -> Path:
    """Compile native.c into the checkout's state dir (atomic rename; a no-op when current)."""
    out = library_path()
    if out.exists() and not force:
        return out
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise NativeBuildError("no C compiler (cc/gcc) on PATH; `make setup` installs gcc")
    try:
        # libz.so.1 is there wherever Python's zlib is; linking it by soname needs no headers.
        return build_versioned(out, lambda tmp: [cc, "-O2", "-shared", "-fPIC", "-o", str(tmp),
                                                 str(SOURCE), "-l:libz.so.1"],
                               "*.so", timeout_s=120)
    except BuildFailed as exc:
        raise NativeBuildError(f"{exc}; `make setup` installs gcc") from exc


@dataclass(frozen=True, slots=True)
class Decoded:
    """One partition's records from one fetch, as columns (kinds: KIND_*)."""

    offsets: np.ndarray
    producer_ids: np.ndarray
    seqs: np.ndarray
    send_ns: np.ndarray
    checksums: np.ndarray
    kinds: np.ndarray
    value_pos: np.ndarray
    value_len: np.ndarray
    next_offset: int  # one past the last complete batch (-1: no complete batch)


class DecodeError(Exception):
    """The batches cannot be decoded here (compressed, malformed): read them another way."""


class Decoder:
    def __init__(self, lib: ctypes.CDLL) -> None:
        i64, p = ctypes.c_int64, ctypes.c_void_p
        self._count = lib.rd_count
        self._count.restype, self._count.argtypes = i64, [p, i64, p]
        self._decode = lib.rd_decode
        self._decode.restype = i64
        self._decode.argtypes = [p, i64, i64, i64, p, p, p, p, p, p, p, p, p]
        self._first_bad = lib.rd_first_bad_entry
        self._first_bad.restype, self._first_bad.argtypes = i64, [p, i64, i64]

    def first_bad_entry(self, data: bytes, count: int, size: int) -> int:
        """Index of the first of `count` ledger entries of `size` bytes in `data` whose crc32
        (its last 4 bytes, little-endian) does not match; `count` when all match."""
        assert len(data) >= count * size
        return int(self._first_bad(data, count, size))

    def decode(self, buf: bytearray, start: int, length: int, min_offset: int = 0) -> Decoded:
        """Decode the complete batches in buf[start:start+length] (positions are into buf),
        leaving out records below `min_offset` (the offset the fetch asked for)."""
        base = ctypes.addressof(ctypes.c_char.from_buffer(buf)) + start
        complete = ctypes.c_int64()
        cap = int(self._count(base, length, ctypes.byref(complete)))
        cols = (np.empty(cap, np.int64), np.empty(cap, np.uint64), np.empty(cap, np.uint64),
                np.empty(cap, np.uint64), np.empty(cap, np.uint32), np.empty(cap, np.uint8),
                np.empty(cap, np.int64), np.empty(cap, np.int32))
        next_offset = ctypes.c_int64()
        n = int(self._decode(base, complete.value, min_offset, cap, *(c.ctypes.data for c in cols),
                             ctypes.byref(next_offset)))
        if n < 0:
            raise DecodeError(ERRORS.get(n, f"error {n}"))
        offsets, pids, seqs, send_ns, checksums, kinds, pos, vlen = (c[:n] for c in cols)
        return Decoded(offsets, pids, seqs, send_ns, checksums, kinds, pos + start, vlen,
                       int(next_offset.value))


@cache
def decoder() -> Decoder | None:
    """The loaded decoder, or None when it cannot be built here (the replay then uses
    librdkafka, the ledger reader Python's zlib: the same results, slower)."""
    try:
        return Decoder(ctypes.CDLL(str(build())))
    except (NativeBuildError, OSError):
        return None


def main() -> int:
    try:
        print(build())
    except NativeBuildError as exc:
        print(f"riftdrill: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
