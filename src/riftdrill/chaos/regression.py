"""Did this drill get worse than the previous run of the same drill?

The previous run is the newest run under results/runs (by `started_at`, then run id) with the
same experiment, engine, topology, target and security mode (`params.security`; "off" in runs
from before it was recorded: a TLS + SASL reconnect takes longer) whose summary.json is
readable and that was not interrupted. Directories without a summary.json (a drill still
running, a runner SIGKILLed) are ignored; ones whose summary.json cannot be read are listed
in `skipped_runs` and ignored.
Summaries are read as plain JSON, not through `chaos.summary.RunSummary`, on purpose: a figure
missing or odd in an old run is "not measured", never a reason to skip the whole run (the field
names are the model's: tests/unit/test_summary.py).

Figures compared (recovery figures are seconds from the fault start, docs/verify.md):

    worst_partition_unavailability_s,                     new > old * (1 + relative) + absolute_s
    worst_unavailability_s, worst_time_to_first_ack_s,
    time_to_p99_baseline_s, time_to_zero_lag_s
      (the worst partition only between runs that both measured it: summaries written before
       the per-partition figures have no baseline)
      (time_to_zero_lag_s only between runs that measured it the same way,
       `recovery.time_to_zero_lag_from`: true lag from the consumer ledgers, or sampled)
    ack_p99_ms (when both runs have it)                  new > old * (1 + relative) + absolute_s * 1000
    lost                                                  old == 0 and new > 0
    duplicates                                            new > old * (1 + relative)
    any of the above                                      measured before, None now ("never recovered")

A flag does not fail a drill (`riftdrill drill --fail-on-regression` makes it fail the command).
The parameters that shape the figures (hold_s, rate, baseline_s, recovery_s, ...) are not part of
the match; when they differ, `params_changed` says so next to the flags.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from riftdrill.chaos.slo import Tolerance

__all__ = ["MATCH_KEYS", "Flag", "RegressionReport", "Tolerance", "compare",
           "compare_with_previous", "find_previous"]

MATCH_KEYS = ("experiment", "engine", "topology", "target")
TIME_FIGURES_S = ("worst_partition_unavailability_s", "worst_unavailability_s",
                  "worst_time_to_first_ack_s", "time_to_p99_baseline_s", "time_to_zero_lag_s")
# Parameters whose change makes the figures incomparable-ish: reported, not matched on.
SHAPING_PARAMS = ("hold_s", "rate", "baseline_s", "recovery_s", "cycles", "down_s", "up_s",
                  "broker", "cloud", "store", "direction", "wan",
                  # the soak's: an hour's soak flagged against a 3-minute one must say so
                  "soak_s", "interval_s", "fault_hold_s", "kinds", "max_concurrent", "seed",
                  "schedule")
_INTERRUPTED = ("SIGINT", "SIGTERM", "timeout")


class Flag(BaseModel):
    figure: str  # "time_to_zero_lag_s", "ack_p99_ms", "lost", ...
    old: float | None
    new: float | None  # None: never recovered / not measured this time
    limit: float | None  # the largest value that would not have been flagged
    message: str


class RegressionReport(BaseModel):
    previous_run_id: str | None = None
    tolerance: Tolerance = Tolerance()
    compared: list[str] = []  # figures present in both runs
    flags: list[Flag] = []
    params_changed: dict[str, list[Any]] = {}  # name -> [old, new]
    skipped_runs: list[str] = []  # "<dir>: why" for unreadable previous runs

    @property
    def regressed(self) -> bool:
        return bool(self.flags)

    def to_summary(self) -> dict[str, Any]:
        """The `regressions` block of summary.json."""
        return {"previous_run_id": self.previous_run_id, "regressed": self.regressed,
                **self.model_dump(exclude={"previous_run_id"})}


def _order(summary: dict[str, Any], fallback: str) -> tuple[str, str]:
    return (str(summary.get("started_at") or ""), str(summary.get("run_id") or fallback))


def _read(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError("summary.json is not an object")
    return data


def find_previous(summary: dict[str, Any], runs_dir: Path) -> tuple[dict[str, Any] | None,
                                                                      list[str]]:
    """(the previous comparable run's summary or None, unreadable run dirs with why)."""
    skipped: list[str] = []
    me = _order(summary, str(summary.get("run_id", "")))
    best: dict[str, Any] | None = None
    best_key: tuple[str, str] | None = None
    try:
        dirs = sorted(p for p in runs_dir.iterdir() if p.is_dir())
    except OSError:
        return None, skipped
    for d in dirs:
        if d.name == summary.get("run_id"):
            continue
        path = d / "summary.json"
        try:
            if not path.exists():
                continue
            other = _read(path)
        except (OSError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
            skipped.append(f"{d.name}: {exc}")
            continue
        if other.get("run_id", d.name) == summary.get("run_id"):
            continue
        if any(other.get(k) != summary.get(k) for k in MATCH_KEYS) or \
                _security(other) != _security(summary):
            continue
        if (other.get("chaos") or {}).get("interrupted_by") in _INTERRUPTED:
            continue
        key = _order(other, d.name)
        if me[0] and key >= me:
            continue  # not earlier than this run
        if best_key is None or key > best_key:
            best, best_key = {**other, "run_id": other.get("run_id", d.name)}, key
    return best, skipped


def _figures(summary: dict[str, Any]) -> dict[str, float | None]:
    """Every comparable figure the summary has; None = the figure exists but was not measured."""
    rec = summary.get("recovery")
    out: dict[str, float | None] = {}
    for name in TIME_FIGURES_S:
        value = rec.get(name) if isinstance(rec, dict) else None
        out[name] = float(value) if isinstance(value, int | float) else None
    if "ack_p99_ms" in summary:
        value = summary["ack_p99_ms"]
        out["ack_p99_ms"] = float(value) if isinstance(value, int | float) else None
    verify = summary.get("verify") or {}
    counts = verify.get("counts") if isinstance(verify, dict) else None
    for kind in ("lost", "duplicates"):
        value = counts.get(kind) if isinstance(counts, dict) else None
        out[kind] = float(value) if isinstance(value, int | float) else None
    return out


def _zero_lag_from(summary: dict[str, Any]) -> str:
    """How the run measured time_to_zero_lag_s (`recovery.time_to_zero_lag_from`); runs written
    before the label sampled the committed-offset lag."""
    rec = summary.get("recovery")
    value = rec.get("time_to_zero_lag_from") if isinstance(rec, dict) else None
    return str(value or "sampled committed lag")


def _g(v: float) -> str:
    return f"{v:g}"


def compare(new: dict[str, Any], old: dict[str, Any], tolerance: Tolerance) -> tuple[
        list[str], list[Flag]]:
    """(figures compared, flags) of `new` against `old`."""
    before, after = _figures(old), _figures(new)
    prev = str(old.get("run_id", "the previous run"))
    compared: list[str] = []
    flags: list[Flag] = []
    for name, was in before.items():
        if was is None or name not in after:
            continue  # not measured before (or a figure this run does not report): no baseline
        if name == "time_to_zero_lag_s" and _zero_lag_from(old) != _zero_lag_from(new):
            continue  # true lag (consumer ledgers) vs sampled committed lag: not the same figure
        compared.append(name)
        now = after[name]
        unit = " ms" if name.endswith("_ms") else (" s" if name.endswith("_s") else "")
        if now is None:
            flags.append(Flag(figure=name, old=was, new=None, limit=None,
                              message=f"regression {name}: never recovered / not measured "
                                      f"(was {_g(was)}{unit} in {prev})"))
            continue
        if name == "lost":
            limit = 0.0 if was == 0 else None
        elif name == "duplicates":
            limit = round(was * (1 + tolerance.relative), 3)
        elif name.endswith("_ms"):
            limit = round(was * (1 + tolerance.relative) + tolerance.absolute_s * 1000, 3)
        else:
            limit = round(tolerance.limit_s(was), 3)
        if limit is not None and now > limit:
            flags.append(Flag(figure=name, old=was, new=now, limit=limit,
                              message=f"regression {name}: {_g(now)}{unit}, was {_g(was)}{unit} "
                                      f"in {prev} (limit {_g(limit)}{unit})"))
    return compared, flags


def _security(summary: dict[str, Any]) -> str:
    return str((summary.get("params") or {}).get("security") or "off")


def _params_changed(new: dict[str, Any], old: dict[str, Any]) -> dict[str, list[Any]]:
    a, b = old.get("params") or {}, new.get("params") or {}
    return {k: [a.get(k), b.get(k)] for k in SHAPING_PARAMS
            if (k in a or k in b) and a.get(k) != b.get(k)}


def compare_with_previous(summary: dict[str, Any], runs_dir: Path,
                          tolerance: Tolerance) -> RegressionReport:
    """Compare a drill's summary with the previous comparable run under `runs_dir`."""
    previous, skipped = find_previous(summary, runs_dir)
    if previous is None:
        return RegressionReport(tolerance=tolerance, skipped_runs=skipped)
    compared, flags = compare(summary, previous, tolerance)
    return RegressionReport(previous_run_id=str(previous["run_id"]), tolerance=tolerance,
                            compared=compared, flags=flags,
                            params_changed=_params_changed(summary, previous),
                            skipped_runs=skipped)
