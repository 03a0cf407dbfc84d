"""`riftdrill cloud`: commands about a cloud deployment that need no cloud.

    riftdrill cloud cost-estimate --hours H [--budget-usd B] [--brokers-per-cloud N]
                                  [--link-gb G] [--prices prices.yaml] [--json]

cost-estimate prices H hours of infra/envs/aws-gcp with its defaults (riftdrill.report.estimate;
this module sits with cli.py and hubcli.py, above report/, in docs/architecture.md's layers).
With --budget-usd it is the scheduled cloud drill's cost guard: over budget, it prints the
estimate (--json: the same object, `within_budget: false`) and exits 2 with one line naming the
estimate and the budget, so nothing is deployed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from riftdrill import paths

app = typer.Typer(help="Cloud deployment helpers that need no cloud (cost estimate).",
                  no_args_is_help=True, add_completion=False)
out = Console()


@app.command("cost-estimate")
def cost_estimate(
    hours: Annotated[float, typer.Option("--hours", help="Hours from deploy to destroy.")],
    budget_usd: Annotated[float | None, typer.Option(
        "--budget-usd", help="Refuse (exit 2) when the estimate exceeds this many USD.")] = None,
    brokers_per_cloud: Annotated[int | None, typer.Option(
        "--brokers-per-cloud", help="Brokers in each cloud (default: the env's default).")] = None,
    link_gb: Annotated[float, typer.Option(
        "--link-gb", help="GB crossing the link in each direction during the run.")] = 0.0,
    prices: Annotated[Path | None, typer.Option(
        "--prices", help="Price table (default: <checkout>/prices.yaml).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")] = False,
) -> None:
    """Estimate what H hours of `make deploy TARGET=aws-gcp` cost; with a budget, refuse above it."""
    from riftdrill.report.cost import default_prices_path, load_prices
    from riftdrill.report.estimate import check_budget, estimate, refuse_over_budget

    table = load_prices(prices or default_prices_path())
    est = estimate(table, paths.project_root() / "infra", hours,
                   brokers_per_cloud=brokers_per_cloud, link_gb=link_gb)
    if budget_usd is not None:
        est = check_budget(est, budget_usd)
    if json_out:
        print(json.dumps(est.model_dump(), indent=2))
    else:
        t = Table(title=f"aws-gcp for {est.hours:g} h (list prices as of {est.prices_as_of})")
        for col in ("item", "quantity", "unit", "unit price", est.currency):
            t.add_column(col, justify="left" if col in ("item", "unit") else "right")
        for line in est.lines:
            t.add_row(line.item, f"{line.quantity:g}", line.unit, f"{line.unit_price:g}",
                      f"{line.drill:.2f}")
        out.print(t)
        budget = f" (budget {est.budget_usd:.2f})" if est.budget_usd is not None else ""
        out.print(f"total {est.total:.2f} {est.currency}{budget}"
                  + ("" if est.complete else " — incomplete, see notes"))
        for note in est.notes:
            out.print(f"  note: {note}")
    refuse_over_budget(est)
