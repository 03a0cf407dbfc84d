"""`riftdrill report`: render every run and comparison under results/, then the index.

    riftdrill report [--results results] [--prices prices.yaml] [--run RUN]... [--json]
    riftdrill report --figures [--check] [--doc FILE]... [--results results] [--json]
    riftdrill report compare RUN_ID... [--id NAME] [--title TEXT] [--json]

`--run RUN` (a run or comparison id, or its directory) renders only those, an unknown one is
an error (exit 2). Unreadable run or comparison directories are listed and skipped (exit 0: the
rest is rendered);
a bad price table is an error (exit 2) naming the field. `--figures` regenerates the marked
blocks of README.md, docs/drills.md and docs/load.md from results/ (riftdrill.report.figures); with `--check`
it writes nothing and exits 1 listing the stale blocks; a broken marker or an unknown block name
is an error (exit 2).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from riftdrill import paths
from riftdrill.errors import RiftdrillError

app = typer.Typer(help="Render results/ as Markdown and self-contained HTML reports.",
                  no_args_is_help=False, add_completion=False)
err = Console(stderr=True)

ResultsOpt = Annotated[Path | None, typer.Option(
    "--results", help="Results directory (default: <checkout>/results).")]
PricesOpt = Annotated[Path | None, typer.Option(
    "--prices", help="Price table (default: <checkout>/prices.yaml).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]


@app.callback(invoke_without_command=True)
def report(
    ctx: typer.Context,
    results: ResultsOpt = None,
    prices: PricesOpt = None,
    run: Annotated[list[str] | None, typer.Option(
        "--run", help="Only re-render these runs or comparisons: an id under results/runs or "
        "results/compare, or its directory (repeatable; the index always covers all).")] = None,
    no_cost: Annotated[bool, typer.Option("--no-cost", help="Leave cost out.")] = False,
    figures: Annotated[bool, typer.Option(
        "--figures", help="Regenerate the figures blocks of README.md, docs/drills.md and "
        "docs/load.md from results/ instead of rendering reports.")] = False,
    check: Annotated[bool, typer.Option(
        "--check", help="With --figures: write nothing, exit 1 if a block is stale.")] = False,
    doc: Annotated[list[Path] | None, typer.Option(
        "--doc", help="With --figures: these documents (default: README.md, docs/drills.md, "
        "docs/load.md).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Render report.md + report.html (with plots) for every run and comparison, and
    results/index.{md,html}; or, with --figures, the figures quoted in the docs."""
    if ctx.invoked_subcommand is not None:
        return
    if figures or check or doc:
        if not figures:
            raise RiftdrillError("--check and --doc go with --figures: "
                                 "riftdrill report --figures --check")
        _figures(results or paths.project_root() / "results", doc, check, as_json)
        return
    from riftdrill.report.cost import default_prices_path, load_prices
    from riftdrill.report.render import render_all

    results = results or paths.project_root() / "results"
    run = _run_ids(results, run) if run else None
    prices_path = prices or default_prices_path()
    table = None if no_cost else load_prices(prices_path)
    shown = _shown_path(prices_path)
    if as_json:
        result = render_all(results, table, shown, only=run)
        print(json.dumps(result.to_json(), indent=2))
        return
    with err.status("rendering reports") as status:
        result = render_all(results, table, shown, only=run,
                            progress=lambda msg: status.update(f"rendering {msg}"))
    for r in result.rendered:
        err.print(f"  {r.kind:8} {r.id}: {r.html}", soft_wrap=True)
    for s in result.skipped:
        err.print(f"[yellow]skipped[/yellow] {s.path}: {s.error}", soft_wrap=True)
    err.print(f"{sum(r.kind != 'index' for r in result.rendered)} reports, "
              f"{len(result.skipped)} skipped; index: {results / 'index.html'}")


def _run_ids(results: Path, runs: list[str]) -> list[str]:
    """`--run` values as the ids render_all filters on; one naming nothing is bad input."""
    ids = []
    for run in runs:
        name = Path(run).name if Path(run).is_dir() else run
        if not any((results / kind / name).is_dir() for kind in ("runs", "compare")):
            raise RiftdrillError(f"no run or comparison {run!r} under {results / 'runs'} or "
                                 f"{results / 'compare'}; leave out --run to render them all")
        ids.append(name)
    return ids


def _figures(results: Path, docs: list[Path] | None, check: bool, as_json: bool) -> None:
    from riftdrill.report.figures import default_docs, update_docs

    out = update_docs(docs or default_docs(paths.project_root()), results, write=not check,
                      shown=_shown_path)
    stale = [(d, name) for d in out for name in d.stale]
    if as_json:
        print(json.dumps({"checked" if check else "written": [d.to_json() for d in out]},
                         indent=2))
    else:
        for d, name in stale:
            verb = "stale" if check else "updated"
            print(f"{_shown_path(d.path)}: figures:{name} {verb}", file=sys.stderr)
        if check and stale:
            print("run `make figures` (riftdrill report --figures) and commit the result",
                  file=sys.stderr)
        elif not stale:
            blocks = sum(len(d.blocks) for d in out)
            print(f"{blocks} figures blocks in {len(out)} documents up to date with "
                  f"{_shown_path(results)}", file=sys.stderr)
    if check and stale:
        raise typer.Exit(1)


def _shown_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(paths.project_root()))
    except ValueError:
        return str(path)


@app.command("compare")
def compare(
    run_ids: Annotated[list[str], typer.Argument(
        help="Runs to compare: run ids under results/runs or run directories.")],
    compare_id: Annotated[str | None, typer.Option("--id", help="Name of the comparison "
                                                   "(default: compare-<newest run id>).")] = None,
    title: Annotated[str, typer.Option(help="One line shown above the table.")] = "",
    results: ResultsOpt = None,
    prices: PricesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write results/compare/<id>/compare.json from runs of one experiment on several engines,
    and render it."""
    from riftdrill.drivers import deployed_redactor
    from riftdrill.report.compare import build_compare, write_compare
    from riftdrill.report.cost import default_prices_path, load_prices
    from riftdrill.report.render import render_compare
    from riftdrill.report.runs import load_run

    results = results or paths.project_root() / "results"
    runs = []
    for rid in run_ids:
        d = Path(rid) if Path(rid).is_dir() else results / "runs" / rid
        if not d.is_dir():
            raise RiftdrillError(f"no run {rid!r} under {results / 'runs'}")
        runs.append(load_run(d, need_timeline=False))
    ident = compare_id or f"compare-{max(r.run_id for r in runs)}"
    doc = build_compare(ident, runs, title)
    out = write_compare(doc, results, deployed_redactor())
    rendered = render_compare(out, load_prices(prices or default_prices_path()))
    if as_json:
        print(json.dumps({"compare": str(out / "compare.json"), "html": str(rendered.html),
                          "markdown": str(rendered.markdown)}, indent=2))
        return
    err.print(f"wrote {out / 'compare.json'} and {rendered.html}; run `riftdrill report` to "
              "update the index")
