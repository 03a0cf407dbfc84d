"""`results/compare/<id>/compare.json`: drill experiments run on several setups, side by side.

A setup is an engine in a topology (SETUPS): what a team would deploy. Schema (version 1), one
entry per (experiment, setup):

    {"schema_version": 1, "compare_id": "...", "title": "...", "created_at": "<ISO>",
     "riftdrill_sha": "...",
     "entries": [{"experiment", "setup", "engine", "engine_version", "topology", "target",
                  "wan", "run_id", "verdict_passed", "worst_time_to_first_ack_s",
                  "worst_unavailability_s", "time_to_p99_baseline_s", "time_to_zero_lag_s",
                  "ack_p50_ms", "ack_p99_ms", "e2e_p50_ms", "e2e_p99_ms", "acked",
                  "lost", "inconsistent_offset", "duplicates", "reordered", "undelivered",
                  "poll_skip", "failed_send_ratio", "unreadable",
                  "usage": {duration_s, link_bytes, stores, brokers_by_cloud, notes}}],
     "replacements": [{"engine", "setup", "broker", "replacement_s", "bytes_moved", "note"}]}

A comparison written before setups existed has none: its entries get setup_name(engine,
topology), which is what those runs were (stretched kafka, tansu).

Figures are copied from each run's summary.json, so a comparison stays readable when the runs
are pruned; usage (not cost) is stored, so an edited prices.yaml re-prices it on the next render.
The verdict figures are the columns of `riftdrill.report.columns` (null: the run did not
measure it, shown as "—"); a comparison written before a figure existed simply lacks it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import ValidationError as PydanticValidationError

from riftdrill.errors import first_error
from riftdrill.inventory import LabEngine, SetupName, Topology
from riftdrill.redact import Redactor
from riftdrill.report.columns import KEYS, run_figures
from riftdrill.report.cost import Usage, run_usage
from riftdrill.report.runs import RunData, RunInputError

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Setup:
    """A deployment pattern the lab can build: an engine in a topology."""

    name: str
    engine: LabEngine
    topology: Topology
    pattern: str  # what it is, in the design brief's words


def setup_name(engine: str, topology: str) -> str:
    return engine if topology in ("stretched", "") else f"{engine}-{topology}"


SETUPS = {s.name: s for s in (
    Setup("kafka", "kafka", "stretched", "one cluster over both clouds, remote clients"),
    Setup("kafka-per-cloud", "kafka", "per-cloud", "a cluster per cloud, MirrorMaker 2 aws->gcp"),
    Setup("tansu", "tansu", "stretched", "shared storage: stateless brokers, log on S3/GCS"),
)}  # fmt: skip
assert all(setup_name(s.engine, s.topology) == s.name for s in SETUPS.values())
assert tuple(SETUPS) == get_args(SetupName), "inventory.SetupName lists the setups"


def _with_setup(data: Any) -> Any:
    if isinstance(data, dict) and not data.get("setup"):
        data = {**data, "setup": setup_name(str(data.get("engine", "")),
                                            str(data.get("topology", "")))}  # fmt: skip
    return data


class CompareEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    experiment: str
    setup: str
    engine: str
    engine_version: str = ""
    topology: str = ""
    target: str = ""
    wan: str | None = None  # the cross-cloud link's profile (lab/wan.py); None: not recorded
    run_id: str
    verdict_passed: bool | None = None
    worst_time_to_first_ack_s: float | None = None
    worst_unavailability_s: float | None = None
    time_to_p99_baseline_s: float | None = None
    time_to_zero_lag_s: float | None = None
    ack_p50_ms: float | None = None
    ack_p99_ms: float | None = None
    e2e_p50_ms: float | None = None  # intended send -> consumed, over the whole run
    e2e_p99_ms: float | None = None
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

    _setup = model_validator(mode="before")(_with_setup)


assert set(KEYS) <= set(CompareEntry.model_fields), "every verdict column is a compare field"


class BrokerReplacement(BaseModel):
    """Kill a broker, replace it with a fresh one (empty disk), time until it serves."""

    model_config = ConfigDict(extra="forbid")
    engine: str
    setup: str
    broker: str
    replacement_s: float | None  # kill -> fresh broker registered and serving its share
    bytes_moved: int  # log bytes copied onto the fresh broker (0 for stateless engines)
    note: str = ""

    _setup = model_validator(mode="before")(_with_setup)


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
            if (e.experiment, e.setup) in seen:
                raise ValueError(f"two entries for experiment {e.experiment!r} on {e.setup!r}")
            seen.add((e.experiment, e.setup))
        return self


def entry_from_run(run: RunData) -> CompareEntry:
    s, rec = run.summary, run.summary.recovery
    load = run.load_summary or {}
    ack, e2e = load.get("ack_latency_ms") or {}, load.get("e2e_latency_ms") or {}
    wan = s.params.get("wan")
    return CompareEntry.model_validate(dict(
        experiment=s.experiment, setup=setup_name(s.engine, s.topology), engine=s.engine,
        engine_version=s.engine_version, topology=s.topology, target=s.target,
        wan=wan if isinstance(wan, str) else None, run_id=s.run_id,
        verdict_passed=s.verdict.passed if s.verdict else None,
        worst_time_to_first_ack_s=rec.worst_time_to_first_ack_s if rec else None,
        worst_unavailability_s=rec.worst_unavailability_s if rec else None,
        time_to_p99_baseline_s=rec.time_to_p99_baseline_s if rec else None,
        time_to_zero_lag_s=rec.time_to_zero_lag_s if rec else None,
        ack_p50_ms=ack.get("p50"), ack_p99_ms=ack.get("p99"), e2e_p50_ms=e2e.get("p50"),
        e2e_p99_ms=e2e.get("p99"), acked=load.get("acked"),
        usage=run_usage(s, run.timeline), **run_figures(run)))


def build_compare(compare_id: str, runs: list[RunData], title: str = "") -> CompareDoc:
    """A comparison of the given runs; the newest run wins when an (experiment, setup) repeats."""
    latest: dict[tuple[str, str], RunData] = {}
    for run in sorted(runs, key=lambda r: r.summary.started_at):
        s = run.summary
        latest[(s.experiment, setup_name(s.engine, s.topology))] = run
    shas = sorted({r.summary.riftdrill_sha for r in latest.values() if r.summary.riftdrill_sha})
    return CompareDoc(compare_id=compare_id, title=title,
                      created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                      riftdrill_sha=",".join(shas),
                      entries=[entry_from_run(r) for _, r in sorted(latest.items())])


def write_compare(doc: CompareDoc, results: Path, redactor: Redactor) -> Path:
    """results/compare/<id>/compare.json, redacted (`riftdrill.redact`); its directory."""
    out = results / "compare" / doc.compare_id
    out.mkdir(parents=True, exist_ok=True)
    redactor.write_json(out / "compare.json", json.loads(doc.model_dump_json()), indent=1)
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
        raise RunInputError(f"{path}: {first_error(exc)}") from None
