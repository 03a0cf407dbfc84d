"""`riftdrill verify`: the typer sub-app the main CLI mounts (`app.add_typer(app, name="verify")`).

Exit codes: 0 clean; 1 an anomaly the run's contract does not allow (riftdrill.verify.contract);
2 bad input, an unreachable cluster or a fence that cannot be written: a RiftdrillError, which the main CLI
prints as one line. Exit 1 is a SystemExit, not typer.Exit: the main CLI runs click with
standalone_mode=False, where typer.Exit's code would be returned and dropped.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from riftdrill import inventory
from riftdrill.verify.anomalies import ANOMALY_KINDS, HUB_KINDS
from riftdrill.verify.contract import ALWAYS_ALLOWED
from riftdrill.verify.report import VerifyReport

app = typer.Typer(help="Replay the log and check it against the load ledgers.",
                  no_args_is_help=False, add_completion=False)

# Every kind but the two a contract always allows, in the order of their definitions; the hub's
# kinds are per row, not per partition, and get a table of their own.
_COLUMNS = tuple(k for k in ANOMALY_KINDS if k not in ALWAYS_ALLOWED and k not in HUB_KINDS)


def render(report: VerifyReport, console: Console) -> None:
    """Short table: one row per partition with anomalies, then totals."""
    table = Table(title=f"verify {report.run_dir}", show_lines=False)
    table.add_column("partition")
    table.add_column("read", justify="right")
    table.add_column("acked", justify="right")
    for col in _COLUMNS:
        table.add_column(col, justify="right")
    rows = [(f"{p.cluster}:{p.topic}[{p.partition}]", p.read, p.acked, p.anomalies)
            for p in report.partitions]
    rows += [(f"{m.target_cluster}:{m.mirror_topic}[{m.partition}]", m.read, m.expected,
              m.anomalies) for m in report.mirrors]
    shown = [r for r in rows if any(a.count for a in r[3].values())][:40]
    for name, read, acked, anomalies in shown:
        table.add_row(name, str(read), str(acked),
                      *(str(anomalies[c].count) if c in anomalies else "" for c in _COLUMNS))
    table.add_row("total", str(report.records_read), str(report.acks),
                  *(str(report.totals.get(c, 0)) for c in _COLUMNS), style="bold")
    console.print(table)
    verdict = "[green]clean[/green]" if report.passed else "[red]FAILED[/red]"
    earlier = sum(p.earlier_runs for p in report.partitions)
    note = f", {earlier} records of earlier runs in these topics skipped" if earlier else ""
    console.print(f"{verdict}: {len(rows)} partitions, replay {report.replay_s:.1f}s, "
                  f"check {report.check_s:.2f}s{note}")
    c = report.contract
    if c is not None:
        consumers = "checked" if c.consumers_checked else "not checked (no consumer ledgers)"
        console.print(f"contract: {c.profile} (acks {'/'.join(c.acks) or '?'}, idempotence "
                      f"{'on' if c.idempotence else 'off'}, max in flight {c.max_in_flight}); "
                      f"consumers {consumers}; allowed: {', '.join(report.allowed_kinds)}")
    if report.ledger_truncated_lines:
        console.print(f"{report.ledger_truncated_lines} torn ledger entries (a crash mid-write) skipped")


@app.callback(invoke_without_command=True)
def verify(
    run: Annotated[str | None, typer.Option(
        help="Run directory or run id under results/runs (default: the newest run).")] = None,
    cluster: Annotated[list[str] | None, typer.Option(
        help="Only these clusters (repeatable); mirrors need source and target.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Write a fence to every partition the ledgers wrote to, replay up to it, check producers'
    and consumers' ledgers against it; writes <run>/verify.json. Exit 0 clean, 1 an anomaly the
    run's contract does not allow, 2 bad input or an unreadable cluster."""
    from riftdrill.drivers import redactor_for
    from riftdrill.load.remote import is_remote
    from riftdrill.paths import resolve_run_dir
    from riftdrill.verify.verifier import verify_run

    run_dir = resolve_run_dir(run)
    inv = inventory.load()
    if is_remote(inv):  # private brokers: the final read runs on a load VM
        from riftdrill.verify.remote import verify_on_vms

        report = verify_on_vms(run_dir, inv, clusters=cluster)
    else:
        report = verify_run(run_dir, inv, clusters=cluster)
    report.write(run_dir, redactor_for(inv))
    if json_out:
        print(report.model_dump_json(indent=2))
    else:
        render(report, Console())
    if not report.passed:
        raise SystemExit(1)


def anomaly_help() -> str:
    """The anomaly definitions as text (docs and --help of the drill commands)."""
    return "\n".join(f"{k}: {v}" for k, v in ANOMALY_KINDS.items())
