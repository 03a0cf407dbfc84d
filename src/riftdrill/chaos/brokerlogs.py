"""The log lines of each broker, mirror, and the hub's Connect workers and databases for a
run's time span, copied into `<run>/logs/`.

Where the logs are is the target's business (`Driver.log_files`: the lab's files under
.riftdrill/lab/logs/, nothing on a cloud target, which says so in a note). A line belongs to
the span by its own timestamp (log4j's `[2026-12-02 00:06:03,123]`, local time, or an ISO
stamp as Tansu writes it); a line without one (a stack trace) goes with the line before. The
files grow for the lab's whole life, so the start of the span is found by bisection, not by
reading the file from the beginning; the span's lines are redacted as they are copied, one at a
time (`redact.Redactor.copy_lines`: a broker may log a password, and a log can be large). A
copy larger than GZIP_ABOVE_BYTES is kept gzipped (`logs/<name>.log.gz`): a broker that logs an
error per request wrote 185 MB in an hour's soak, and results/ is published in git.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from riftdrill.redact import Redactor

SLACK_S = 1.0  # log stamps have ms resolution and the clocks are one: a second either side
_ANSI = re.compile(rb"\x1b\[[0-9;]*m")
_STAMP = re.compile(rb"^\W{0,3}(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:[.,](\d{1,9}))?"
                    rb"(Z|[+-]\d{2}:?\d{2})?")
_PROBE_BYTES = 4096  # bytes read after a bisection point to find a stamped line
GZIP_ABOVE_BYTES = 4 << 20  # a copied log larger than this is kept as <name>.log.gz


@dataclass
class CopiedLogs:
    files: list[str] = field(default_factory=list)  # relative to the run dir: "logs/aws-1.log"
    note: str | None = None  # why some or all logs were not copied


def line_ts(line: bytes) -> float | None:
    """The epoch seconds a log line was written at; None for a line without a stamp."""
    m = _STAMP.match(_ANSI.sub(b"", line[:80]))
    if m is None:
        return None
    day, clock, frac, zone = (g.decode() if g else "" for g in m.groups())
    text = f"{day}T{clock}" + (f".{frac[:6]}" if frac else "")
    if zone:
        text += "+00:00" if zone == "Z" else zone
    try:
        return datetime.fromisoformat(text).timestamp()  # naive: local time, as log4j writes
    except ValueError:
        return None


def _first_stamp_after(f: BinaryIO, offset: int) -> float | None:
    f.seek(offset)
    chunk = f.read(_PROBE_BYTES)
    lines = chunk.split(b"\n")
    for line in lines[1:] if offset else lines:  # after a seek, the first piece is partial
        ts = line_ts(line)
        if ts is not None:
            return ts
    return None


def _span_start_offset(f: BinaryIO, size: int, since_s: float) -> int:
    """A byte offset at or before the first line stamped >= since_s (bisection)."""
    lo, hi = 0, size
    while hi - lo > _PROBE_BYTES:
        mid = (lo + hi) // 2
        ts = _first_stamp_after(f, mid)
        if ts is not None and ts < since_s:
            lo = mid
        else:
            hi = mid
    return lo


def span_lines(path: Path, since_s: float, until_s: float) -> bytes:
    """The lines of `path` stamped within [since_s, until_s] (with their unstamped followers)."""
    return b"".join(iter_span_lines(path, since_s, until_s))


def iter_span_lines(path: Path, since_s: float, until_s: float) -> Iterator[bytes]:
    """`span_lines` one line at a time, read as they are taken."""
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        start = _span_start_offset(f, size, since_s)
        f.seek(start)
        if start:
            f.readline()  # the partial line at the bisection point
        inside = False
        for line in f:
            ts = line_ts(line)
            if ts is not None:
                if ts > until_s:
                    break
                inside = ts >= since_s
            if inside:
                yield line


def copy_logs(sources: dict[str, Path], run_dir: Path, since_s: float,
              until_s: float, redactor: Redactor) -> CopiedLogs:
    """`<run>/logs/<name>.log` for each source, its lines in the span redacted as they are
    copied; never raises."""
    if not sources:
        return CopiedLogs(note="the target keeps no broker or mirror logs on this machine: "
                               "none copied")
    copied = CopiedLogs()
    problems: list[str] = []
    dest = run_dir / "logs"
    for name, path in sorted(sources.items()):
        try:
            dest.mkdir(exist_ok=True)
            out = dest / f"{name}.log"
            redactor.copy_lines(iter_span_lines(path, since_s - SLACK_S, until_s + SLACK_S), out)
            if out.stat().st_size > GZIP_ABOVE_BYTES:
                out = gzip_in_place(out)
            copied.files.append(f"logs/{out.name}")
        except OSError as exc:
            problems.append(f"{name}: {exc}")
    if problems:
        copied.note = "not copied: " + "; ".join(problems)
    return copied


def gzip_in_place(path: Path) -> Path:
    """`path` replaced by `<path>.gz` (tmp + rename, the plain file removed once it is there)."""
    gz = path.with_name(path.name + ".gz")
    tmp = gz.with_name(gz.name + ".tmp")
    try:
        with open(path, "rb") as src, gzip.open(tmp, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(tmp, gz)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    path.unlink()
    return gz
