"""`results/compare/<id>/compare.json`: one drill experiment run on several engines, side by side.

Schema (version 1), one entry per (experiment, engine):

    {"schema_version": 1, "compare_id": "...", "title": "...", "created_at": "<ISO>",
     "riftdrill_sha": "...",
     "entries": [{"experiment", "engine", "engine_version", "topology", "target", "run_id",
                  "verdict_passed", "worst_time_to_first_ack_s", "worst_unavailability_s",
                  "time_to_p99_baseline_s", "time_to_zero_lag_s", "ack_p99_ms", "acked",
                  "lost", "inconsistent_offset", "duplicates", "reordered", "undelivered",
                  "poll_skip", "failed_send_ratio", "unreadable",
                  "usage": {duration_s, link_bytes, stores, brokers_by_cloud, notes}}]}

Figures are copied from each run's summary.json, so a comparison stays readable when the runs
are pruned; usage (not cost) is stored, so an edited prices.yaml re-prices it on the next render.
The verdict figures are the columns of `riftdrill.report.columns` (null: the run did not
measure it, shown as "—"); a comparison written before a figure existed simply lacks it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import ValidationError as PydanticValidationError

from riftdrill.report.columns import KEYS, run_figures
from riftdrill.report.cost import Usage, usage_from_summary
from riftdrill.report.runs import RunData, RunInputError

SCHEMA_VERSION = 1


class CompareEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    experiment: str
    engine: str
    engine_version: str = ""
    topology: str = ""
    target: str = ""
    run_id: str
    verdict_passed: bool | None = None
    worst_time_to_first_ack_s: float | None = None
    worst_unavailability_s: float | None = None
    time_to_p99_baseline_s: float | None = None
    time_to_zero_lag_s: float | None = None
    ack_p99_ms: float | None = None
    acked: int | None = None
    # the verdict columns (riftdrill.report.columns.VERDICT_COLUMNS); None: not measured
    lost: int | None = None
    inconsistent_offset: int | None = None
    duplicates: int | None = None
    reordered: int | None = None
    undelivered: int | None = None
    poll_skip: int | None = None
    failed_send_ratio: float | None = None
    unreadable: int | None = None
    usage: Usage | None = None


assert set(KEYS) <= set(CompareEntry.model_fields), "every verdict column is a compare field"


class BrokerReplacement(BaseModel):
    """Kill a broker, replace it with a fresh one (empty disk), time until it serves."""

    model_config = ConfigDict(extra="forbid")
    engine: str
    broker: str
    replacement_s: float | None  # kill -> fresh broker registered and serving its share
    bytes_moved: int  # log bytes copied onto the fresh broker (0 for stateless engines)
    note: str = ""


class CompareDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_version: int = SCHEMA_VERSION
    compare_id: str
    title: str = ""
    created_at: str
    riftdrill_sha: str = ""
    entries: list[CompareEntry]
    replacements: list[BrokerReplacement] = []

    @model_validator(mode="after")
    def _one_per_pair(self) -> CompareDoc:
        seen: set[tuple[str, str]] = set()
        for e in self.entries:
            if (e.experiment, e.engine) in seen:
                raise ValueError(f"two entries for experiment {e.experiment!r} on {e.engine!r}")
            seen.add((e.experiment, e.engine))
        return self


def entry_from_run(run: RunData) -> CompareEntry:
    s, rec = run.summary, run.summary.recovery
    ack = (run.load_summary or {}).get("ack_latency_ms") or {}
    return CompareEntry.model_validate(dict(
        experiment=s.experiment, engine=s.engine, engine_version=s.engine_version,
        topology=s.topology, target=s.target, run_id=s.run_id,
        verdict_passed=s.verdict.passed if s.verdict else None,
        worst_time_to_first_ack_s=rec.worst_time_to_first_ack_s if rec else None,
        worst_unavailability_s=rec.worst_unavailability_s if rec else None,
        time_to_p99_baseline_s=rec.time_to_p99_baseline_s if rec else None,
        time_to_zero_lag_s=rec.time_to_zero_lag_s if rec else None,
        ack_p99_ms=ack.get("p99"), acked=(run.load_summary or {}).get("acked"),
        usage=usage_from_summary(s), **run_figures(run)))


def build_compare(compare_id: str, runs: list[RunData], title: str = "") -> CompareDoc:
    """A comparison of the given runs; the newest run wins when an (experiment, engine) repeats."""
    latest: dict[tuple[str, str], RunData] = {}
    for run in sorted(runs, key=lambda r: r.summary.started_at):
        latest[(run.summary.experiment, run.summary.engine)] = run
    shas = sorted({r.summary.riftdrill_sha for r in latest.values() if r.summary.riftdrill_sha})
    return CompareDoc(compare_id=compare_id, title=title,
                      created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                      riftdrill_sha=",".join(shas),
                      entries=[entry_from_run(r) for _, r in sorted(latest.items())])


def write_compare(doc: CompareDoc, results: Path) -> Path:
    out = results / "compare" / doc.compare_id
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(doc.model_dump_json(indent=1) + "\n")
    return out


def load_compare(compare_dir: Path) -> CompareDoc:
    path = compare_dir / "compare.json"
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise RunInputError(f"{path}: missing (the comparison)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunInputError(f"{path}: not readable JSON: {exc}") from None
    try:
        return CompareDoc.model_validate(raw)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise RunInputError(f"{path}: {loc}: {first['msg']}") from None
