"""`riftdrill compat`: the compatibility matrix of the deployed engine, or of each engine named.

Exit codes: 0 every cell ran and none failed; 1 a cell failed (the matrix is written first);
2 bad input (an unknown engine, workflow or client; nothing deployed), one line.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, get_args

import typer
from rich.console import Console
from rich.table import Table

from riftdrill import inventory, paths
from riftdrill.compat.model import CompatMatrix
from riftdrill.compat.run import check_selection, matrix_path, run_matrix, write_matrix
from riftdrill.compat.workflows import CLIENTS, WORKFLOWS, Client
from riftdrill.errors import ValidationError
from riftdrill.inventory import Inventory, LabEngine
from riftdrill.redact import Redactor

_STYLE = {"pass": "green", "fail": "red", "unsupported": "yellow", "unavailable": "dim"}


def render(m: CompatMatrix, console: Console) -> None:
    clients = [c.client for c in m.clients]
    table = Table(title=f"compat: {m.engine} {m.engine_version} ({m.topology}, security "
                        f"{m.security})")
    table.add_column("area")
    table.add_column("workflow")
    for info in m.clients:
        table.add_column(f"{info.client}\n{info.version}")
    for w in WORKFLOWS:
        row = [m.cell(w.id, c) for c in clients]
        if all(c is None for c in row):
            continue
        table.add_row(w.area, w.id, *(f"[{_STYLE[c.status]}]{c.status}[/]" if c else ""
                                      for c in row))
    console.print(table)
    for c in m.cells:
        if c.status == "fail":
            console.print(f"[red]fail[/red] {c.workflow} ({c.client}): {c.detail}",
                          highlight=False)
    for client in clients:
        counts = m.counts(client)
        console.print(f"{client}: " + ", ".join(f"{counts.get(s, 0)} {s}" for s in _STYLE))


def _deploy(engine: str, progress: Console) -> Inventory:
    """The engine's default lab with security wherever the engine supports it (the security
    cells need it); the deployed lab as it is when it already matches."""
    from riftdrill.deploy import DeploySpec, deploy_lab, security_as_default

    spec = security_as_default(DeploySpec(engine=engine, security="sasl-tls"))  # type: ignore[arg-type]
    spec.validate()
    progress.print(f"compat: deploying {engine} (security {spec.security})")
    return deploy_lab(spec)


def command(
    engine: Annotated[list[str] | None, typer.Option(
        "--engine", help="deploy each engine in turn and run its matrix (repeatable: kafka, "
                         "tansu); default: the deployed lab")] = None,
    only: Annotated[list[str] | None, typer.Option(
        "--only", help="run only these workflows (repeatable); the matrix file is not written")
    ] = None,
    client: Annotated[list[str] | None, typer.Option(
        "--client", help="run only these clients (repeatable: librdkafka, java); the matrix "
                         "file is not written")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")
                       ] = False,
) -> None:
    """Which clients and workflows work: Kafka workflows x librdkafka and the Java client
    against the deployed cluster, each a real interaction. A full run writes
    results/compat/ENGINE.json.

    `--json`: `{matrices: [<riftdrill-compat/1 matrix>], written: [paths]}`."""
    from riftdrill.drivers import redactor_for

    lab_engines: tuple[str, ...] = get_args(LabEngine)
    for e in engine or []:
        if e not in lab_engines:
            raise ValidationError(f"unknown engine {e!r} for compat; engines: "
                                  f"{', '.join(lab_engines)}")
    check_selection(only or [], client or [])
    clients: tuple[Client, ...] = tuple(c for c in CLIENTS if not client or c in client)
    full = not only and not client
    console, progress = Console(), Console(stderr=True)
    say = (lambda line: None) if as_json else (lambda line: progress.print(line, highlight=False))
    matrices: list[CompatMatrix] = []
    written: list[str] = []
    shown: list[Any] = []  # each matrix as --json prints it: redacted
    names: list[str | None] = list(engine) if engine else [None]  # None: the deployed lab
    for name in names:
        inv = _deploy(name, progress) if name else inventory.load()
        redactor: Redactor = redactor_for(inv)
        m = run_matrix(inv, paths.state_dir() / "logs" / "compat", only or (), clients, say)
        matrices.append(m)
        shown.append(redactor.mapping(json.loads(m.model_dump_json())))
        if full:
            written.append(str(write_matrix(m, paths.results_dir(), redactor)))
        if not as_json:
            render(m, console)
            console.print(f"written: {written[-1]}" if full else
                          f"not written ({matrix_path(paths.results_dir(), m.engine)} is "
                          "written by a full run: no --only, no --client)")
    if as_json:
        print(json.dumps({"matrices": shown, "written": written}))
    if any(c.status == "fail" for m in matrices for c in m.cells):
        raise SystemExit(1)
