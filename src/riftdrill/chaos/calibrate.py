"""`riftdrill slo calibrate`: slo.yaml's bounds against what the committed runs measured.

For every engine and drill with runs under results/runs, each bounded figure: what the runs
measured (with the hold each ran), the bound slo.yaml gives that engine and drill at that hold,
which runs break it, and the bound this module suggests from the runs:

- a time figure: when some run's figure lasted at least its hold (the fault itself kept the
  partition, cloud or producer waiting), `hold_s + N` with N = 1.5 x the largest overshoot past
  the hold, rounded up to 5 s (at least 10); else an absolute bound of 1.5 x the largest
  measured figure, rounded up to 5 s (at least 10);
- the failed-send ratio: 1.5 x the largest measured ratio, rounded up to 0.005 (0.001 when no
  run failed a send: a stray failure per 1000 sends).

A suggestion is a starting point for a human, not a verdict: a bound exists to say what a team
may rely on, and a run breaking it is a finding (docs/findings.md), not a reason to loosen it.
docs/drills.md's "SLO calibration" table is this, rendered by `riftdrill report --figures`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from riftdrill import paths
from riftdrill.chaos import slo as slo_mod
from riftdrill.chaos.summary import RunSummary
from riftdrill.errors import ValidationError

TIME_FIGURES = ("max_worst_partition_unavailability_s", "max_unavailability_s",
                "max_time_to_first_ack_s", "max_replication_lag_s", "max_failover_rto_s",
                "max_rpo_s", "max_change_lag_s")
RATIO_FIGURE = "max_failed_send_ratio"
FIGURES = (*TIME_FIGURES, RATIO_FIGURE)


@dataclass(frozen=True)
class RunFigures:
    """One committed run's bounded figures (None: the run did not measure it)."""

    run_id: str
    engine: str
    experiment: str
    hold_s: float | None
    passed: bool | None
    figures: dict[str, float | None]


@dataclass
class Calibration:
    """One engine, drill and figure over its runs."""

    engine: str
    experiment: str
    figure: str
    runs: list[str] = field(default_factory=list)  # that measured it
    measured: list[float] = field(default_factory=list)
    holds_s: list[float | None] = field(default_factory=list)
    bound: str | None = None  # as slo.yaml writes it ("hold_s + 40", "20", None)
    beyond: list[str] = field(default_factory=list)  # runs whose figure breaks the bound
    suggested: str | None = None


def run_figures(summary: RunSummary) -> RunFigures:
    r, sends = summary.recovery, summary.sends
    hold = summary.params.get("hold_s")
    figures: dict[str, float | None] = {
        "max_worst_partition_unavailability_s": (
            r.worst_partition_unavailability_s if r is not None else None),
        "max_unavailability_s": (r.worst_unavailability_s if r is not None else None),
        "max_time_to_first_ack_s": (r.worst_time_to_first_ack_s if r is not None else None),
        RATIO_FIGURE: sends.failed_ratio if sends is not None and sends.attempted else None,
        # across MirrorMaker 2: the worst mirror's highest lag, a failover's RTO and RPO
        "max_replication_lag_s": max((m.max_s for m in summary.replication.values()
                                      if m.max_s is not None), default=None),
        "max_failover_rto_s": summary.failover.rto_s if summary.failover is not None else None,
        "max_rpo_s": summary.failover.rpo_s if summary.failover is not None else None,
        # the integration hub: the worst change's commit -> seen in the sink
        "max_change_lag_s": summary.hub.max_s if summary.hub is not None else None,
    }
    return RunFigures(run_id=summary.run_id, engine=summary.engine,
                      experiment=summary.experiment,
                      hold_s=float(hold) if isinstance(hold, int | float) else None,
                      passed=summary.verdict.passed if summary.verdict is not None else None,
                      figures=figures)


def read_runs(runs_dir: Path) -> list[RunFigures]:
    """Every run under `runs_dir` whose summary.json reads (others are skipped: the report's
    index names them)."""
    out: list[RunFigures] = []
    for path in sorted(runs_dir.glob("*/summary.json")):
        try:
            out.append(run_figures(RunSummary.model_validate(json.loads(path.read_text()))))
        except (OSError, ValueError):
            continue
    return out


def _round_up(value: float, step: float) -> float:
    return math.ceil(value / step - 1e-9) * step


def suggest(figure: str, measured: Sequence[float], holds_s: Sequence[float | None]) -> str:
    """The bound the module doc describes, as slo.yaml would write it."""
    if figure == RATIO_FIGURE:
        worst = max(measured)
        return "0.001" if worst == 0 else f"{min(1.0, _round_up(worst * 1.5, 0.005)):g}"
    over = [m - h for m, h in zip(measured, holds_s, strict=True) if h is not None and m >= h]
    if over:
        return f"hold_s + {max(10.0, _round_up(max(over) * 1.5, 5)):g}"
    return f"{max(10.0, _round_up(max(measured) * 1.5, 5)):g}"


def _bound_text(value: slo_mod.Bound) -> str | None:
    return None if value is None else value if isinstance(value, str) else f"{value:g}"


def calibrate(runs: Iterable[RunFigures], slo: slo_mod.SloFile,
              engine: str | None = None) -> list[Calibration]:
    """One Calibration per engine, drill and figure that some run measured."""
    by_key: dict[tuple[str, str, str], Calibration] = {}
    for run in sorted(runs, key=lambda r: (r.engine, r.experiment, r.run_id)):
        if engine is not None and run.engine != engine:
            continue
        bounds = slo_mod.bounds_for(slo, run.experiment, run.engine)
        for figure in FIGURES:
            value = run.figures.get(figure)
            if value is None:
                continue
            c = by_key.setdefault((run.engine, run.experiment, figure), Calibration(
                run.engine, run.experiment, figure,
                bound=_bound_text(getattr(bounds, figure))))
            c.runs.append(run.run_id)
            c.measured.append(value)
            c.holds_s.append(run.hold_s)
            limit = slo_mod.resolve_bound(getattr(bounds, figure), run.hold_s or 0.0)
            if limit is not None and value > limit:
                c.beyond.append(run.run_id)
    for c in by_key.values():
        c.suggested = suggest(c.figure, c.measured, c.holds_s)
    return list(by_key.values())


def _fmt(figure: str, value: float) -> str:
    return f"{value:.3f}" if figure == RATIO_FIGURE else f"{value:.1f}"


def measured_text(c: Calibration) -> str:
    """"8.3 (hold 30), 9.7 (hold 20)": each run's figure, oldest first."""
    return ", ".join(_fmt(c.figure, m) + (f" (hold {h:g})" if h is not None else "")
                     for m, h in zip(c.measured, c.holds_s, strict=True))


app = typer.Typer(help="slo.yaml's bounds against the committed runs.", no_args_is_help=True)


@app.command("calibrate")
def calibrate_command(
    engine: Annotated[str | None, typer.Option(help="only this engine's runs")] = None,
    runs: Annotated[Path | None, typer.Option(help="runs directory (default results/runs)")] = None,
    slo_path: Annotated[Path | None, typer.Option("--slo", help="default: slo.yaml")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """For every engine and drill with committed runs: each bounded figure as measured, the
    bound slo.yaml gives it, the runs that break it, and a suggested bound (see
    docs/drills.md, "SLO calibration")."""
    if engine is not None and engine not in slo_mod.ENGINES:
        raise ValidationError(f"--engine {engine!r} is not an engine; use one of "
                         f"{', '.join(slo_mod.ENGINES)}")
    runs_dir = runs or paths.runs_dir()
    if not runs_dir.is_dir():
        raise ValidationError(f"{runs_dir} is not a directory; pass --runs with a runs directory")
    slo = slo_mod.load(slo_path or paths.project_root() / "slo.yaml")
    found = calibrate(read_runs(runs_dir), slo, engine)
    if as_json:
        typer.echo(json.dumps([asdict(c) for c in found], indent=2))
        return
    if not found:
        typer.echo(f"no run under {runs_dir} measured a bounded figure")
        return
    for c in found:
        verdict = (f"{len(c.beyond)} of {len(c.runs)} runs beyond it" if c.bound is not None
                   else "not bounded")
        typer.echo(f"{c.engine} {c.experiment} {c.figure}: measured {measured_text(c)}; "
                   f"bound {c.bound or '-'} ({verdict}); suggested {c.suggested}")


def rows(found: Sequence[Calibration]) -> list[dict[str, Any]]:
    """The docs table's rows (report/figures.py renders them)."""
    return [{"engine": c.engine, "experiment": c.experiment, "figure": c.figure,
             "runs": len(c.runs), "measured": measured_text(c), "bound": c.bound or "-",
             "beyond": len(c.beyond), "suggested": c.suggested or "-"} for c in found]
