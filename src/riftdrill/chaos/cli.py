"""`riftdrill drill`: the command the main CLI mounts (`command`, a plain typer command: a typer
sub-app with a positional argument would read `--var` after EXP as a sub-command name).

    riftdrill drill EXP [--var k=v ...] [--json] [--fail-on-regression]
                                   one drill (EXP: name under experiments/ or a path)
    riftdrill drill --suite [--var k=v ...] [--json] [--fail-on-regression]
                                   the standard suite, short profile
    riftdrill drill --list         the experiments

`--json` prints a list of summary.json documents, one per drill run (one item for one drill).
After each drill its report (report.md, report.html) and results/index.* are rendered, as
`riftdrill report --run <id>` does (runner.render_report). While chaos runs, a terminal shows a
live line per cloud (acks/s, errors/s, ack p99; chaos/live.py), not with --json.
Every drill is compared with the previous run of the same drill (regression.py); regressions are
printed under the table and recorded in summary.json, and fail the command only with
--fail-on-regression.

Exit codes: 0 every drill passed; 1 a drill failed (or, with --fail-on-regression, regressed);
2 bad input (unknown experiment, bad --var, bad slo.yaml, nothing deployed: one line);
130 interrupted (SIGINT/SIGTERM; faults healed).
Exit 1 and 130 are SystemExit (the main CLI runs click with standalone_mode=False).
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from riftdrill.chaos import runner

drill_app = typer.Typer(help="Run Chaos Toolkit drills: real load, a real fault, heal, verify, "
                        "verdict.", no_args_is_help=False, add_completion=False)
err = Console(stderr=True)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def render(results: list[runner.DrillResult], console: Console) -> None:
    t = Table("drill", "verdict", "fault", "worst unavail. s", "first ack s", "p99 back s",
              "zero lag s", "acked", "lost", "errors", "run", title="riftdrill drills")
    for r in results:
        s = r.summary
        rec = s.get("recovery") or {}
        counts = (s.get("verify") or {}).get("counts") or {}
        wins = s.get("fault_windows") or []
        fault = ", ".join(f"{w['kind']}:{w['target']}" for w in wins[:2]) + (
            f" +{len(wins) - 2}" if len(wins) > 2 else "") or "none"
        verdict = "[green]PASS[/green]" if r.verdict.passed else "[red]FAIL[/red]"
        t.add_row(s["experiment"], verdict, fault, _fmt(rec.get("worst_unavailability_s")),
                  _fmt(rec.get("worst_time_to_first_ack_s")),
                  _fmt(rec.get("time_to_p99_baseline_s")), _fmt(rec.get("time_to_zero_lag_s")),
                  _fmt((s.get("verify") or {}).get("acks")), _fmt(counts.get("lost")),
                  _fmt(sum((rec.get("errors_by_code") or {}).values()) if rec else None),
                  s["run_id"])
    console.print(t)
    for r in results:
        for reason in r.verdict.reasons:
            console.print(f"  [red]{r.summary['experiment']}[/red]: {reason}")
    for r in results:
        for flag in r.regressions:
            console.print(f"  [yellow]{r.summary['experiment']}[/yellow]: {flag}",
                          highlight=False)
        error = (r.summary.get("regressions") or {}).get("error")
        if error:
            console.print(f"  [yellow]{r.summary['experiment']}[/yellow]: {error}")


def command(
    experiment: Annotated[str | None, typer.Argument(
        help="Experiment name under experiments/ (or a path to one).")] = None,
    var: Annotated[list[str] | None, typer.Option(
        "--var", help="NAME=VALUE overriding the experiment's configuration (repeatable).")] = None,
    suite: Annotated[bool, typer.Option(
        "--suite", help="Run the standard suite with the short profile.")] = False,
    list_: Annotated[bool, typer.Option("--list", help="List the experiments.")] = False,
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print the summaries as a JSON list (one item per drill run).")] = False,
    fail_on_regression: Annotated[bool, typer.Option(
        "--fail-on-regression", help="Exit 1 when a drill regressed against the previous run of "
        "the same drill (slo.yaml `regression:` tolerance), even if it passed.")] = False,
) -> None:
    """Run a drill (or the suite): heal always, verify, recovery figures, SLO, verdict."""
    if list_:
        names = runner.known_experiments()
        print(json.dumps(names) if json_out else "\n".join(names))
        return
    if suite == (experiment is not None):
        raise runner.ExperimentError("give one experiment, or --suite; experiments are: "
                                     + ", ".join(runner.known_experiments()))
    names = list(runner.SUITE) if suite else [experiment or ""]
    # every name and --var checked before anything runs
    plans = [runner.plan_drill(name, list(var or []), suite=suite) for name in names]
    results: list[runner.DrillResult] = []
    code = runner.EXIT_PASS
    for plan in plans:
        if not json_out:
            err.print(f"[bold]drill {plan.name}[/bold] "
                      + " ".join(f"{k}={v}" for k, v in plan.given.items()))
        result = runner.run_drill(plan, echo=not json_out)
        results.append(result)
        # the run's report and results/index.*, the same way the control renders a stock run
        if not json_out:
            with err.status(f"rendering the report of {result.run_dir.name}"):
                report = runner.render_report(result.run_dir)
        else:
            report = runner.render_report(result.run_dir)
        if not json_out:
            flagged = f", {len(result.regressions)} regression(s)" if result.regressed else ""
            err.print(f"  -> {'PASS' if result.verdict.passed else 'FAIL'}{flagged} "
                      f"({result.run_dir})", soft_wrap=True)
            err.print(f"  report: {report.message}" if report.ok
                      else f"  [yellow]{report.message}[/yellow]", soft_wrap=True)
        if result.exit_code == runner.EXIT_INTERRUPTED or result.stop_requested:
            code = runner.EXIT_INTERRUPTED  # Ctrl-C while a drill healed stops the suite too
            break
        if result.exit_code != runner.EXIT_PASS or (fail_on_regression and result.regressed):
            code = runner.EXIT_FAIL
    if json_out:  # one shape: a list of summaries, one drill or a suite
        print(json.dumps([r.summary for r in results], indent=2, default=str))
    else:
        render(results, Console(width=None if sys.stdout.isatty() else 160))
    if code != runner.EXIT_PASS:
        raise SystemExit(code)


drill_app.command()(command)  # `python -m riftdrill.chaos` runs it without the main CLI
