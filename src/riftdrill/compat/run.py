"""Run the compatibility matrix against the deployed cluster and write results/compat/<engine>.json.

Each client runs as its own process (`python -m riftdrill.compat.pyclient`, `java ...
Compat.java`) with the same arguments and the same JSON lines out: a version line, then one
cell per workflow as it ends. A separate process per client keeps one client's hang or crash
from taking the other's cells, and lets the runner bound it: a client that outlives its
deadline is stopped by pid and every workflow it did not report is a failure saying so.

Workflows the engine declares unsupported (`engines/<engine>.py: COMPAT_UNSUPPORTED`, one
reason each) are never run: their cells say "unsupported" with the declaration's reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError as PydanticValidationError

from riftdrill.compat.model import ClientInfo, CompatCell, CompatMatrix
from riftdrill.compat.workflows import CLIENTS, WORKFLOW_IDS, Client
from riftdrill.errors import ValidationError
from riftdrill.inventory import Inventory
from riftdrill.redact import Redactor
from riftdrill.security.client import ClientSecurity, client_security

JAVA_SOURCE = Path(__file__).parent / "java" / "Compat.java"
# Per-workflow bound passed to the clients; a client's whole run is bounded by the sum of its
# workflows' budgets (retention waits up to 60 s for the cleaner; the rest take seconds).
WORKFLOW_TIMEOUT_S = 20.0
SLOW_WORKFLOWS_S = {"retention": 90.0, "log-compaction": 60.0}
CLIENT_START_S = 60.0  # the Java source launcher compiles Compat.java first


def declared_unsupported(engine: str) -> dict[str, str]:
    """The workflows `engine` declares it does not support, each with why."""
    from riftdrill.engines import kafka, tansu

    declared: dict[str, dict[str, str]] = {"kafka": kafka.COMPAT_UNSUPPORTED,
                                           "tansu": tansu.COMPAT_UNSUPPORTED}
    return dict(declared.get(engine, {}))


def check_selection(only: Sequence[str], clients: Sequence[str]) -> None:
    """Bad input named before anything runs."""
    for wid in only:
        if wid not in WORKFLOW_IDS:
            raise ValidationError(f"unknown workflow {wid!r}; workflows: {', '.join(WORKFLOW_IDS)}")
    for c in clients:
        if c not in CLIENTS:
            raise ValidationError(f"unknown client {c!r}; clients: {', '.join(CLIENTS)}")


def client_argv(client: Client, bootstrap: str, admin: ClientSecurity, limited: ClientSecurity,
                workflows: Sequence[str], nonce: str) -> list[str]:
    """The command of one client's run: the security settings go as files (0600), never as
    arguments."""
    common = ["--bootstrap", bootstrap, "--nonce", nonce, "--timeout-s", str(WORKFLOW_TIMEOUT_S)]
    if client == "librdkafka":
        if admin.enabled:
            common += ["--admin-config", admin.file, "--limited-config", limited.file]
        return [sys.executable, "-m", "riftdrill.compat.pyclient", *common, *workflows]
    from riftdrill.engines.kafka import java_bin, kafka_libs

    if admin.enabled:
        common += ["--admin-config", str(admin.java_config_file()),
                   "--limited-config", str(limited.java_config_file())]
    return [java_bin(), "-Xmx256m", "-cp", f"{kafka_libs()}/*", str(JAVA_SOURCE), *common,
            *workflows]


def client_deadline_s(workflows: Sequence[str]) -> float:
    return CLIENT_START_S + sum(SLOW_WORKFLOWS_S.get(w, WORKFLOW_TIMEOUT_S * 3) for w in workflows)


def run_client(client: Client, argv_for: Callable[[Sequence[str]], list[str]],
               workflows: Sequence[str], deadline_s: float, log: Path,
               on_cell: Callable[[CompatCell], None]) -> tuple[ClientInfo, list[CompatCell]]:
    """One client's cells, in `workflows` order. A client that dies fails the workflow it was
    running (the first it had not reported) and is started again for the rest, so one crash
    costs one cell; all of it is bounded by `deadline_s`, after which what is left fails."""
    info = ClientInfo(client=client, version="unknown")
    cells: dict[str, CompatCell] = {}
    deadline = time.monotonic() + deadline_s
    log.parent.mkdir(parents=True, exist_ok=True)

    def fail(wid: str, why: str) -> None:
        cells[wid] = CompatCell(workflow=wid, client=client, status="fail", detail=why)
        on_cell(cells[wid])

    with log.open("wb") as err:
        while remaining := [w for w in workflows if w not in cells]:
            left_s = deadline - time.monotonic()
            if left_s <= 0:
                for wid in remaining:
                    fail(wid, f"the {client} client was stopped after its {deadline_s:.0f} s "
                              "deadline")
                break
            code, stopped, version = _run_once(client, argv_for(remaining), remaining, left_s,
                                               err, cells, on_cell)
            info = ClientInfo(client=client, version=version) if version else info
            after = [w for w in remaining if w not in cells]
            if not after:
                break
            if stopped:
                continue  # the deadline: the loop fails what is left
            if code == 0:
                for wid in after:
                    fail(wid, f"the {client} client exited without reporting it")
                break
            fail(after[0], f"the {client} client died ({_exit_name(code)}) while running it "
                           f"(log: {log.name}); the workflows after it ran in a new process")
    return info, [cells[w] for w in workflows]


def _run_once(client: Client, argv: list[str], workflows: Sequence[str], limit_s: float,
              err: IO[bytes], cells: dict[str, CompatCell],
              on_cell: Callable[[CompatCell], None]) -> tuple[int, bool, str]:
    """One process of the client: (exit code, stopped at the deadline, version it printed)."""
    version = ""
    stopped = threading.Event()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, start_new_session=True)

    def stop() -> None:
        stopped.set()
        _stop(proc)

    timer = threading.Timer(limit_s, stop)
    timer.start()
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = _parse(raw)
            if line is None:
                continue
            if "version" in line:
                version = str(line["version"])
            elif line.get("workflow") in workflows and line["workflow"] not in cells:
                cell = _cell(client, line)
                cells[cell.workflow] = cell
                on_cell(cell)
        code = proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            _stop(proc)
    return code, stopped.is_set(), version


def _exit_name(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-code).name}"
    return f"exit {code}"


def _cell(client: Client, line: dict[str, Any]) -> CompatCell:
    """A client's line as a cell; a line that is not one is that workflow's failure (only an
    engine's declaration makes a cell "unsupported")."""
    try:
        cell = CompatCell.model_validate({**line, "client": client})
    except PydanticValidationError as exc:
        return CompatCell(workflow=str(line["workflow"]), client=client, status="fail",
                          detail=f"the client's report is malformed: {exc.errors()[0]['msg']}")
    if cell.status == "unsupported":
        return cell.model_copy(update={"status": "fail",
                                       "detail": f"the client said unsupported: {cell.detail}"})
    return cell.model_copy(update={"detail": cell.detail[:500]})


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        line = json.loads(raw)
    except ValueError:
        return None  # a stray line on stdout (a library's banner) is not a cell
    return line if isinstance(line, dict) else None


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the client we started: its process group, by pid (the JVM's compiler child too)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def run_matrix(inv: Inventory, logs_dir: Path, only: Sequence[str] = (),
               clients: Sequence[Client] = CLIENTS,
               progress: Callable[[str], None] = print) -> CompatMatrix:
    """Every selected workflow with every selected client against `inv`'s cluster (the first
    cluster: a per-cloud pair's aws side)."""
    declared = declared_unsupported(inv.engine)
    selected = list(only) or list(WORKFLOW_IDS)
    to_run = [w for w in selected if w not in declared]
    admin, limited = client_security(inv.security, "broker"), client_security(inv.security,
                                                                               "verifier")
    bootstrap = inv.bootstrap(inv.clouds[0].name)  # as a client in the first cloud
    nonce = uuid.uuid4().hex[:6]
    infos: list[ClientInfo] = []
    cells: list[CompatCell] = []
    for client in clients:
        done = [0]

        def shown(cell: CompatCell, client: Client = client, done: list[int] = done) -> None:
            done[0] += 1
            progress(f"compat {client} [{done[0]}/{len(to_run)}] {cell.workflow}: {cell.status}"
                     f" ({cell.duration_s:.1f} s){' - ' + cell.detail if cell.status == 'fail' else ''}")

        if to_run:
            def argv_for(ws: Sequence[str], client: Client = client) -> list[str]:
                return client_argv(client, bootstrap, admin, limited, ws, nonce)

            info, ran = run_client(client, argv_for, to_run, client_deadline_s(to_run),
                                   logs_dir / f"compat-{client}.log", shown)
        else:
            info, ran = ClientInfo(client=client, version="not started"), []
        infos.append(info)
        by_id = {c.workflow: c for c in ran}
        for wid in selected:
            cells.append(by_id.get(wid) or CompatCell(
                workflow=wid, client=client, status="unsupported",
                detail=f"declared by the engine: {declared[wid]}"))
    return CompatMatrix(engine=inv.engine, engine_version=inv.engine_version,
                        topology=inv.topology, security=inv.security.mode,
                        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                        clients=infos, cells=cells)


def matrix_path(results: Path, engine: str) -> Path:
    return results / "compat" / f"{engine}.json"


def write_matrix(matrix: CompatMatrix, results: Path, redactor: Redactor) -> Path:
    """results/compat/<engine>.json, redacted (a client's error may quote what it was given)."""
    out = matrix_path(results, matrix.engine)
    out.parent.mkdir(parents=True, exist_ok=True)
    redactor.write_json(out, json.loads(matrix.model_dump_json()), indent=1)
    return out
