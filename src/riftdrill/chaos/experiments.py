"""Experiments from one source: `experiments/base.yaml` (what every drill shares: configuration,
steady-state hypothesis, the method around the fault, rollbacks, the control) plus
`experiments/drills/<name>.yaml` (the drill's title, description, tags, configuration, fault and
heal steps) make `experiments/<name>.json`, the Chaos Toolkit experiment `chaos run` and
`riftdrill drill` read. experiments/README.md describes the source format.

    riftdrill experiments [--check]   exit 1 with one line per JSON that differs from its source
    riftdrill experiments --write     regenerate the JSON (`make experiments`)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import pydantic
import typer
import yaml
from pydantic import BaseModel, ConfigDict, Field

from riftdrill import paths
from riftdrill.errors import ValidationError, first_error

MODULES = {"action": "riftdrill.chaos.actions", "probe": "riftdrill.chaos.probes"}
# Chaos Toolkit's own activity keys, copied as they are.
CHAOS_KEYS = ("tolerance", "pauses", "background", "controls")
# Where a drill's own steps go in the base method.
SLOTS = ("fault", "heal")
VARIABLE = re.compile(r"\$\{([^}]+)\}")

Step = dict[str, Any] | str
State = Literal["same", "differs", "missing", "no-source"]


class ExperimentSourceError(ValidationError):
    """experiments/base.yaml or a drill source is malformed."""


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


SourceT = TypeVar("SourceT", bound=_Source)


class Hypothesis(_Source):
    title: str
    probes: list[Step]


class Base(_Source):
    version: str
    tags: list[str] = []
    contributions: dict[str, str] = {}
    controls: list[dict[str, Any]] = []
    configuration: dict[str, Any] = {}
    run_context: dict[str, Any] = {}
    steady_state_hypothesis: Hypothesis = Field(alias="steady-state-hypothesis")
    steps: dict[str, dict[str, Any]] = {}
    method: list[Step]
    rollbacks: list[Step] = []


class Drill(_Source):
    title: str
    description: str
    tags: list[str] = []
    configuration: dict[str, Any] = {}
    fault: list[Step] = Field(min_length=1)
    heal: list[Step] = []
    rollbacks: list[Step] = []


@dataclass(frozen=True)
class FileState:
    path: Path
    state: State
    source: Path | None


def experiments_dir() -> Path:
    return paths.project_root() / "experiments"


def _read(path: Path, model: type[SourceT]) -> SourceT:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.MarkedYAMLError as exc:
        line = f" (line {exc.problem_mark.line + 1})" if exc.problem_mark else ""
        raise ExperimentSourceError(f"{path} is unreadable: {exc.problem}{line}") from None
    except (OSError, yaml.YAMLError) as exc:
        raise ExperimentSourceError(f"{path} is unreadable: {' '.join(str(exc).split())}") from None
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ExperimentSourceError(f"{path}: {first_error(exc, 'top level')}"
                                    " (experiments/README.md has the format)") from None


def load_base(directory: Path) -> Base:
    path = directory / "base.yaml"
    base = _read(path, Base)
    for slot in SLOTS:
        if base.method.count(slot) != 1:
            raise ExperimentSourceError(f"{path}: method must name the `{slot}` slot exactly once")
    clash = sorted(set(base.steps) & set(SLOTS))
    if clash:
        raise ExperimentSourceError(f"{path}: steps may not be named {', '.join(clash)} "
                                    f"(those are the method's slots)")
    return base


def drill_sources(directory: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted((directory / "drills").glob("*.yaml"))}


def _activity(step: dict[str, Any], where: str) -> dict[str, Any]:
    kinds = [k for k in MODULES if k in step]
    if len(kinds) != 1:
        raise ExperimentSourceError(f"{where}: a step has exactly one of `action: <name>` or "
                                    f"`probe: <name>`")
    kind = kinds[0]
    unknown = sorted(set(step) - {kind, "func", "module", "arguments", *CHAOS_KEYS})
    if unknown:
        raise ExperimentSourceError(f"{where}: unknown key(s) {', '.join(unknown)}; a step takes "
                                    f"{kind}, func, module, arguments, {', '.join(CHAOS_KEYS)}")
    if not step.get("func"):
        raise ExperimentSourceError(f"{where}: step {step[kind]!r} has no `func`")
    activity: dict[str, Any] = {
        "type": kind,
        "name": step[kind],
        "provider": {"type": "python", "module": step.get("module", MODULES[kind]),
                     "func": step["func"], "arguments": dict(step.get("arguments") or {})},
    }
    activity.update({k: v for k, v in step.items() if k in CHAOS_KEYS})
    return activity


def _steps(steps: list[Step], where: str, base: Base,
           slots: dict[str, list[dict[str, Any]]] | None = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, step in enumerate(steps):
        if isinstance(step, dict):
            out.append(_activity(step, f"{where}[{i}]"))
        elif slots is not None and step in slots:
            out.extend(slots[step])
        elif step in base.steps:
            out.append(_activity(base.steps[step], f"base steps.{step}"))
        else:
            raise ExperimentSourceError(f"{where}[{i}]: unknown step {step!r}; shared steps "
                                        f"(base.yaml steps) are: {', '.join(base.steps) or 'none'}")
    return out


def _entry(name: str, value: Any, where: str) -> Any:
    """A short configuration value: a scalar default read from RIFTDRILL_<NAME>; a mapping is
    Chaos Toolkit's own form and is kept as it is."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str | int | float | bool):
        return {"type": "env", "key": f"RIFTDRILL_{name.upper()}", "default": value}
    raise ExperimentSourceError(f"{where}: configuration {name}: give a default value "
                                f"(a string or a number), not {value!r}")


def _configuration(base: Base, drill: Drill, source: Path) -> dict[str, Any]:
    conf = {k: _entry(k, v, "base.yaml") for k, v in base.configuration.items()}
    for key, value in drill.configuration.items():
        if key in base.run_context:
            raise ExperimentSourceError(f"{source}: configuration {key} is the run context "
                                        f"(base.yaml run_context); a drill cannot set it")
        conf[key] = _entry(key, value, str(source))  # a base key keeps its place
    conf.update(base.run_context)
    return conf


def build(base: Base, drill: Drill, source: Path) -> dict[str, Any]:
    """The Chaos Toolkit experiment of one drill."""
    where = str(source)
    slots = {"fault": _steps(drill.fault, f"{where}: fault", base),
             "heal": _steps(drill.heal, f"{where}: heal", base)}
    experiment: dict[str, Any] = {
        "version": base.version,
        "title": drill.title,
        "description": drill.description,
        "tags": [*base.tags, *drill.tags],
    }
    if base.contributions:
        experiment["contributions"] = base.contributions
    if base.controls:
        experiment["controls"] = base.controls
    experiment["configuration"] = _configuration(base, drill, source)
    hypothesis = base.steady_state_hypothesis
    experiment["steady-state-hypothesis"] = {
        "title": hypothesis.title,
        "probes": _steps(hypothesis.probes, "base.yaml: steady-state-hypothesis", base)}
    experiment["method"] = _steps(base.method, "base.yaml: method", base, slots)
    experiment["rollbacks"] = (_steps(drill.rollbacks, f"{where}: rollbacks", base)
                               + _steps(base.rollbacks, "base.yaml: rollbacks", base))
    # `${name}` with no configuration key would reach the activity as the literal text.
    activities = json.dumps([experiment["steady-state-hypothesis"], experiment["method"],
                             experiment["rollbacks"]])
    unknown = sorted(set(VARIABLE.findall(activities)) - set(experiment["configuration"]))
    if unknown:
        raise ExperimentSourceError(f"{where}: ${{{unknown[0]}}} is used but not configured; add "
                                    f"{unknown[0]} to the drill's configuration")
    return experiment


def render(experiment: dict[str, Any]) -> str:
    return json.dumps(experiment, indent=2, ensure_ascii=False) + "\n"


def generate(directory: Path) -> dict[Path, tuple[Path, str]]:
    """experiments/<name>.json -> (its drill source, its text), for every drill source."""
    base = load_base(directory)
    out: dict[Path, tuple[Path, str]] = {}
    for name, source in drill_sources(directory).items():
        drill = _read(source, Drill)
        out[directory / f"{name}.json"] = (source, render(build(base, drill, source)))
    return out


def states(directory: Path, generated: dict[Path, tuple[Path, str]] | None = None) -> list[FileState]:
    """Every generated JSON compared with what is on disk, plus JSON without a source."""
    generated = generate(directory) if generated is None else generated
    result: list[FileState] = []
    for path, (source, text) in generated.items():
        if not path.is_file():
            result.append(FileState(path, "missing", source))
        else:
            result.append(FileState(path, "same" if path.read_text() == text else "differs", source))
    result += [FileState(p, "no-source", None)
               for p in sorted(directory.glob("*.json")) if p not in generated]
    return result


def write(directory: Path) -> list[FileState]:
    """Regenerate every JSON that differs or is missing; the states as they were before."""
    generated = generate(directory)
    before = states(directory, generated)
    for st in before:
        if st.state in ("differs", "missing"):
            st.path.write_text(generated[st.path][1])
    return before


def describe(st: FileState, root: Path) -> str:
    """One line about a file whose state is not `same`."""

    def rel(p: Path) -> str:
        return str(p.relative_to(root)) if p.is_relative_to(root) else str(p)

    if st.state == "no-source":
        return (f"{rel(st.path)}: no source {rel(st.path.parent / 'drills' / st.path.stem)}.yaml; "
                f"write one (experiments/README.md) or move the file out of experiments/")
    assert st.source is not None
    sources = f"{rel(st.source)} + {rel(st.path.parent / 'base.yaml')}"
    if st.state == "missing":
        return f"{rel(st.path)}: missing (source {sources}); run `make experiments`"
    return f"{rel(st.path)}: differs from what {sources} generate; run `make experiments`"


def command(
    write_files: Annotated[bool, typer.Option(
        "--write/--check",
        help="--write regenerates experiments/*.json from experiments/base.yaml and "
             "experiments/drills/*.yaml; --check (the default) only compares.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the states as JSON.")] = False,
) -> None:
    """Generate the Chaos Toolkit experiments from their one source (experiments/README.md).

    Exit codes: 0 every experiment matches its source (--check) or was written (--write);
    1 --check found a JSON that differs, is missing or has no source (one line each);
    2 a source is malformed (one line naming it).
    """
    directory = experiments_dir()
    found = write(directory) if write_files else states(directory)
    root = directory.parent
    if as_json:
        print(json.dumps({"experiments": [
            {"path": str(st.path), "state": st.state,
             "written": write_files and st.state in ("differs", "missing")} for st in found]}))
    else:
        for st in found:
            if write_files and st.state in ("differs", "missing"):
                print(f"wrote {st.path.relative_to(root)}")
            elif st.state != "same":
                print(describe(st, root))
    # After --write only a JSON without a source is left to fix.
    if any(st.state == "no-source" or (st.state != "same" and not write_files) for st in found):
        raise typer.Exit(1)
