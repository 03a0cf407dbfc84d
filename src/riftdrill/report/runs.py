"""Reading what a drill left in `results/runs/<run-id>/` into one object the renderers use.

A run directory is the input contract (see docs/report.md):
- required: `summary.json` (the drill runner's) and `load/timeline.json` (the load's);
- optional: `verify.json`, `load/histograms.json`, `load/summary.json`, `journal.json`;
  a missing optional file is rendered as "not available" with a note;
- any file present but unreadable (not JSON, wrong shape) makes the whole run unreadable:
  `RunInputError` names the file, and the index lists the run as skipped instead of aborting.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from riftdrill.chaos.summary import RunSummary
from riftdrill.errors import RiftdrillError, first_error
from riftdrill.verify.report import VerifyReport


class RunInputError(RiftdrillError):
    """A run directory is missing a required file or holds an unreadable one."""


@dataclass
class RunData:
    run_dir: Path
    summary: RunSummary
    timeline: list[dict[str, Any]]
    load_summary: dict[str, Any] | None = None
    histograms: dict[str, Any] | None = None
    verify: VerifyReport | None = None
    journal: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)  # optional inputs that were missing

    @property
    def run_id(self) -> str:
        return self.summary.run_id


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RunInputError(f"{path}: missing ({what})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunInputError(f"{path}: not readable JSON ({what}): {exc}") from None


def _model_error(path: Path, exc: PydanticValidationError) -> RunInputError:
    return RunInputError(f"{path}: {first_error(exc)}")


def load_run(run_dir: Path, *, need_timeline: bool = True) -> RunData:
    """Every input of one run; raises RunInputError naming the first bad file. Without
    `need_timeline` a run whose load never started (no timeline) still loads, with a note:
    a comparison keeps it as the failed drill it was; a report needs the timeline."""
    if not run_dir.is_dir():
        raise RunInputError(f"{run_dir}: not a directory")
    summary_path = run_dir / "summary.json"
    raw = _read_json(summary_path, "the drill summary")
    if not isinstance(raw, dict):
        raise RunInputError(f"{summary_path}: expected a JSON object")
    try:
        summary = RunSummary.model_validate(raw)
        summary.duration_s  # noqa: B018 - validates both timestamps
    except PydanticValidationError as exc:
        raise _model_error(summary_path, exc) from None
    except ValueError as exc:
        raise RunInputError(f"{summary_path}: started_at/ended_at: {exc}") from None
    load_dir = run_dir / summary.load_dir
    timeline_path = load_dir / "timeline.json"
    if not need_timeline and not timeline_path.exists():
        return RunData(run_dir=run_dir, summary=summary, timeline=[], notes=[
            f"{timeline_path.relative_to(run_dir)} is missing: the load never ran"])
    timeline = _read_json(timeline_path, "the load's per-second timeline")
    if isinstance(timeline, dict):
        timeline = timeline.get("rows", [])
    if not isinstance(timeline, list) or not all(isinstance(r, dict) and "t" in r for r in timeline):
        raise RunInputError(f"{timeline_path}: expected a list of per-second rows with 't'")
    data = RunData(run_dir=run_dir, summary=summary, timeline=timeline)

    optional: list[tuple[str, Path, str]] = [
        ("load_summary", load_dir / "summary.json", "the load summary"),
        ("histograms", load_dir / "histograms.json", "the HDR histograms"),
        ("verify", run_dir / "verify.json", "the verifier's report"),
        ("journal", run_dir / summary.journal, "the Chaos Toolkit journal"),
    ]
    for attr, path, what in optional:
        if not path.exists():
            data.notes.append(f"{path.relative_to(run_dir)} is missing: {what} is not shown")
            continue
        value = _read_json(path, what)
        if attr == "verify":
            try:
                value = VerifyReport.model_validate(value)
            except PydanticValidationError as exc:
                raise _model_error(path, exc) from None
        elif not isinstance(value, dict):
            raise RunInputError(f"{path}: expected a JSON object ({what})")
        setattr(data, attr, value)
    return data


def run_dirs(root: Path) -> list[Path]:
    """Run directories under `root` (`results/runs`), oldest name first; [] when absent."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
