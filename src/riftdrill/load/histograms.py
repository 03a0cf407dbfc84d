"""HDR histograms: the one way latencies are recorded, merged and summarised.

Values are recorded in microseconds (1 us .. 1 h, 3 significant digits) and reported in ms.
Encoded form is HdrHistogram's standard base64 compressed V2 encoding, so any HdrHistogram
implementation (Java, Go, Python) can re-read, merge or re-plot them.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Iterable

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000
SIGNIFICANT_DIGITS = 3
PERCENTILES = (50.0, 90.0, 99.0, 99.9, 99.99)


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def clear(hist: HdrHistogram) -> None:
    """HdrHistogram.reset without its Python loop over every count (23 552 of them here: ms
    of the load process's only thread, each second)."""
    ctypes.memset(ctypes.addressof(hist.counts), 0, hist.counts_len * hist.word_size)
    hist.total_count = 0
    hist.min_value = sys.maxsize
    hist.max_value = 0
    hist.start_time_stamp_msec = sys.maxsize
    hist.end_time_stamp_msec = 0


_SHAPE = new_histogram()
# The index arithmetic of hdrh's record_value for this module's one shape, inlined: its method
# chain (five calls, a bin() string per value) cost ~5 us per value on the load's only thread,
# two or three values per record. Counts, total, min and max end up exactly as hdrh's.
_UNIT = _SHAPE.unit_magnitude
_HALF_MAG = _SHAPE.sub_bucket_half_count_magnitude
_HALF = _SHAPE.sub_bucket_half_count
_MASK = _SHAPE.sub_bucket_mask


def record_us(hist: HdrHistogram, value_us: float) -> None:
    # Clamp: a negative latency (clock step) or a >1 h stall must not drop the sample.
    v = min(max(int(value_us), LOWEST_US), HIGHEST_US)
    bucket = (v | _MASK).bit_length() - _UNIT - (_HALF_MAG + 1)
    hist.counts[((bucket + 1) << _HALF_MAG) + (v >> (bucket + _UNIT)) - _HALF] += 1
    hist.total_count += 1
    if v < hist.min_value:
        hist.min_value = v
    if v > hist.max_value:
        hist.max_value = v


def encode(hist: HdrHistogram) -> str:
    return bytes(hist.encode()).decode("ascii")


def decode(encoded: str) -> HdrHistogram:
    hist = new_histogram()
    if encoded:
        hist.decode_and_add(encoded)
    return hist


def merge(encoded: Iterable[str]) -> HdrHistogram:
    """One histogram holding every sample of the given encoded histograms."""
    total = new_histogram()
    for enc in encoded:
        if enc:
            total.decode_and_add(enc)
    return total


def summary_ms(hist: HdrHistogram) -> dict[str, float | int | None]:
    """count + p50/p90/p99/p99.9/p99.99/max in ms (None when there are no samples)."""
    count = int(hist.get_total_count())
    out: dict[str, float | int | None] = {"count": count}
    for p in PERCENTILES:
        key = "p" + f"{p:g}".replace(".", "_")
        out[key] = round(hist.get_value_at_percentile(p) / 1000, 3) if count else None
    out["max"] = round(hist.get_max_value() / 1000, 3) if count else None
    out["mean"] = round(hist.get_mean_value() / 1000, 3) if count else None
    return out


def percentile_ms(hist: HdrHistogram, p: float) -> float | None:
    return round(hist.get_value_at_percentile(p) / 1000, 3) if hist.get_total_count() else None
