"""OpenMessaging Benchmark workload files in: `riftdrill load --workload file.yaml`.

The fields are OMB's (benchmark-framework `Workload.java`); each one is either mapped onto the
LoadSpec or refused in one line naming it and the fix, never silently ignored. Differences from
OMB, all on purpose:
- testDurationMinutes / warmupDurationMinutes may be fractional (OMB's are int), so a lab run can
  last seconds; warmupDurationMinutes defaults to 1 as in OMB. Warm-up runs as part of the load
  and is left out of the OMB result (as OMB resets its stats after warm-up).
- producersPerTopic / consumerPerSubscription are totals split evenly over the placement clouds.
- consumerBacklogSizeGB (fractions allowed) runs OMB's backlog build-and-drain, bounded in time
  (load/backlog.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

import yaml

from riftdrill.errors import ValidationError
from riftdrill.load import backlog
from riftdrill.load.spec import KeyMode

# OMB's KeyDistributorType -> riftdrill's key mode (RANDOM_NANO: a fresh key per message).
KEY_DISTRIBUTORS: dict[str, KeyMode] = {
    "NO_KEY": "none", "KEY_ROUND_ROBIN": "round-robin", "RANDOM_NANO": "per-key",
}  # fmt: skip
OMB_DEFAULT_WARMUP_MINUTES = 1.0

OmbField = Literal[
    "name", "topics", "partitionsPerTopic", "keyDistributor", "messageSize",
    "useRandomizedPayloads", "randomBytesRatio", "randomizedPayloadPoolSize", "payloadFile",
    "subscriptionsPerTopic", "producersPerTopic", "consumerPerSubscription", "producerRate",
    "consumerBacklogSizeGB", "backlogDrainRatio", "testDurationMinutes", "warmupDurationMinutes",
]  # fmt: skip

# LoadSpec fields a workload decides: a CLI flag for one of them next to --workload is refused.
WORKLOAD_OPTIONS = ("rate", "duration", "size", "partitions", "keys", "producers_per_cloud",
                    "consumers", "consumers_per_cloud")  # fmt: skip


class WorkloadError(ValidationError):
    """An OMB workload field riftdrill cannot honour, or a malformed workload file."""


def read_workload(path: Path) -> dict[str, Any]:
    """The workload file's mapping (YAML); unknown fields are refused here, by name."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise WorkloadError(f"cannot read workload {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise WorkloadError(f"workload {path} is not YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise WorkloadError(f"workload {path}: expected a mapping of OMB workload fields")
    unknown = sorted(set(map(str, data)) - set(get_args(OmbField)))
    if unknown:
        raise WorkloadError(f"workload {path}: unknown OMB field(s) {', '.join(unknown)}: "
                            "remove them (see docs/load.md)")  # fmt: skip
    return data


def _num(data: dict[str, Any], key: str, default: float | None = None) -> float:
    v = data.get(key, default)
    if v is None:
        raise WorkloadError(f"workload field {key} is missing: add it")
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise WorkloadError(f"workload field {key}: {v!r} is not a number")
    return float(v)


def _int(data: dict[str, Any], key: str, default: int | None = None) -> int:
    v = _num(data, key, default)
    if v != int(v):
        raise WorkloadError(f"workload field {key}: {v:g} must be a whole number")
    return int(v)


def _split(total: int, clouds: int, key: str) -> int:
    if total % clouds:
        raise WorkloadError(f"workload field {key}: {total} does not split evenly over {clouds} "
                            f"placement clouds: use a multiple of {clouds}, or --placement "
                            "fewer clouds")  # fmt: skip
    return total // clouds


def workload_spec(data: dict[str, Any], clouds: int) -> dict[str, Any]:
    """LoadSpec keyword arguments for an OMB workload placed over `clouds` clouds."""
    if _int(data, "topics", 1) != 1:
        raise WorkloadError("workload field topics: riftdrill loads one topic per run: set "
                            "topics: 1")  # fmt: skip
    if data.get("payloadFile") is not None:
        raise WorkloadError("workload field payloadFile: riftdrill writes its own checked record "
                            "of messageSize bytes: remove payloadFile")  # fmt: skip
    if data.get("useRandomizedPayloads"):
        raise WorkloadError("workload field useRandomizedPayloads: riftdrill writes its own "
                            "checked record (random body): remove useRandomizedPayloads, "
                            "randomBytesRatio, randomizedPayloadPoolSize")  # fmt: skip
    for key in ("randomBytesRatio", "randomizedPayloadPoolSize"):
        if key in data:
            raise WorkloadError(f"workload field {key} only applies with useRandomizedPayloads, "
                                f"which riftdrill refuses: remove {key}")  # fmt: skip
    backlog_gb = _num(data, "consumerBacklogSizeGB", 0)
    drain_ratio = _num(data, "backlogDrainRatio", 1.0)
    if backlog_gb < 0 or not 0 <= drain_ratio <= 1:
        raise WorkloadError("workload fields consumerBacklogSizeGB must be >= 0 (fractions "
                            "allowed) and backlogDrainRatio in [0, 1]")  # fmt: skip
    subs = _int(data, "subscriptionsPerTopic", 1)
    if subs not in (0, 1):
        raise WorkloadError(f"workload field subscriptionsPerTopic: {subs}; riftdrill runs one "
                            "consumer group: set 1 (or 0 for no consumers)")  # fmt: skip
    rate = _num(data, "producerRate")
    if rate <= 0:
        raise WorkloadError("workload field producerRate: 0 asks OMB to search for the maximum "
                            "sustainable rate, which riftdrill does not: set a rate in msg/s")
    key_type = str(data.get("keyDistributor", "NO_KEY"))
    if key_type not in KEY_DISTRIBUTORS:
        raise WorkloadError(f"workload field keyDistributor: {key_type!r} must be one of "
                            f"{', '.join(KEY_DISTRIBUTORS)}")  # fmt: skip
    # To the millisecond: 0.1 min is 6 s, not 6.000000000000001.
    test_s = round(_num(data, "testDurationMinutes") * 60, 3)
    warmup_s = round(_num(data, "warmupDurationMinutes", OMB_DEFAULT_WARMUP_MINUTES) * 60, 3)
    if test_s <= 0 or warmup_s < 0:
        raise WorkloadError("workload fields testDurationMinutes must be > 0 and "
                            "warmupDurationMinutes >= 0 (fractions allowed)")  # fmt: skip
    consumers = subs == 1 and _int(data, "consumerPerSubscription", 1) > 0
    backlog_bytes = int(backlog_gb * backlog.GIB)
    if backlog_bytes and not consumers:
        raise WorkloadError("workload field consumerBacklogSizeGB needs consumers to drain the "
                            "backlog: set subscriptionsPerTopic and consumerPerSubscription")
    size = _int(data, "messageSize")
    # OMB stretches the test until the backlog is drained; riftdrill stays bounded: the rate's
    # time to build the backlog is added to the test, which is the drain's window.
    build_s = round(backlog.build_s(backlog_bytes, rate, size), 3) if backlog_bytes else 0.0
    name = data.get("name")
    return {
        "workload_name": str(name) if name is not None else None,
        "rate_per_s": rate,
        "duration_s": warmup_s + build_s + test_s,
        "warmup_s": warmup_s,
        "backlog_bytes": backlog_bytes,
        "backlog_drain_ratio": drain_ratio,
        "size_bytes": size,
        "partitions": _int(data, "partitionsPerTopic"),
        "keys": KEY_DISTRIBUTORS[key_type],
        "producers_per_cloud": _split(_int(data, "producersPerTopic", 1), clouds,
                                      "producersPerTopic"),
        "consumers": consumers,
        "consumers_per_cloud": (_split(_int(data, "consumerPerSubscription", 1), clouds,
                                       "consumerPerSubscription") if consumers else 0),
    }  # fmt: skip
