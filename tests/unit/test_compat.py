"""The compat matrix without a cluster: the workflow list both clients implement, the runner's
handling of a client that lies, crashes or hangs, the engines' declarations, bad input, and
what is written and rendered. The clients against real brokers: tests/lab/test_compat_lab.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from riftdrill.compat import pyclient, run
from riftdrill.compat.model import ClientInfo, CompatCell, CompatMatrix, load_matrix
from riftdrill.compat.workflows import WORKFLOW_IDS, WORKFLOWS
from riftdrill.errors import ValidationError
from riftdrill.redact import Redactor, Secret
from riftdrill.report.document import to_markdown
from riftdrill.report.render import index_document
from tests.unit.test_chaos_targets import inv

# What issue 17 names, by the ids the matrix uses.
NAMED = {"produce-acks-0", "produce-acks-1", "produce-acks-all", "idempotent-producer",
         "transaction-commit", "transaction-abort", "read-committed-lso", "zombie-fencing",
         "compression-gzip", "compression-snappy", "compression-lz4", "compression-zstd",
         "headers", "large-message", "group-join-leave", "rebalance-eager",
         "rebalance-cooperative", "static-membership", "offset-commit-fetch", "offset-reset",
         "list-offsets-time", "delete-records", "log-compaction", "retention", "admin-topics",
         "admin-partitions", "admin-configs", "admin-cluster", "acl-admin", "acl-enforcement",
         "sasl-scram", "tls", "quotas"}


def test_the_workflows_cover_the_issue_and_both_clients_implement_every_one() -> None:
    assert len(WORKFLOW_IDS) == len(set(WORKFLOW_IDS)) >= 30
    assert set(WORKFLOW_IDS) >= NAMED
    assert set(pyclient.IMPLS) == set(WORKFLOW_IDS)
    java = run.JAVA_SOURCE.read_text()
    listed = re.findall(r'"([a-z0-9-]+)"', java)
    assert [w for w in listed if w in WORKFLOW_IDS][:len(WORKFLOW_IDS)] == list(WORKFLOW_IDS), \
        "Compat.java lists the workflows in workflows.py's order"


@pytest.mark.parametrize("engine", ["kafka", "tansu"])
def test_an_engine_declares_only_known_workflows_and_says_why(engine: str) -> None:
    declared = run.declared_unsupported(engine)
    assert set(declared) <= set(WORKFLOW_IDS)
    assert all(reason.strip() for reason in declared.values())
    assert run.declared_unsupported("kafka") == {}  # the reference supports everything


def test_bad_selection_is_named_before_anything_runs() -> None:
    with pytest.raises(ValidationError, match="unknown workflow 'nope'; workflows: produce-acks-0"):
        run.check_selection(["nope"], [])
    with pytest.raises(ValidationError, match="unknown client 'go'; clients: librdkafka, java"):
        run.check_selection([], ["go"])


def fake_client(tmp_path: Path, body: str) -> list[str]:
    """A client process that prints what `body` prints."""
    script = tmp_path / "client.py"
    script.write_text("import json, sys, time\n" + textwrap.dedent(body))
    return [sys.executable, str(script)]


def cells_of(tmp_path: Path, body: str, workflows: list[str],
             deadline_s: float = 20) -> tuple[ClientInfo, list[CompatCell], list[CompatCell]]:
    seen: list[CompatCell] = []
    info, cells = run.run_client("java", lambda ws: [*fake_client(tmp_path, body), *ws], workflows,
                                 deadline_s, tmp_path / "client.log", seen.append)
    return info, cells, seen


def test_cells_come_back_in_order_with_the_clients_version(tmp_path: Path) -> None:
    info, cells, seen = cells_of(tmp_path, """
        print(json.dumps({"client": "java", "version": "4.4.0"}))
        print("a library banner, not a cell")
        print(json.dumps({"workflow": "headers", "status": "fail", "detail": "x", "duration_s": 1}))
        print(json.dumps({"workflow": "tls", "status": "pass", "detail": "ok", "duration_s": 2.5}))
    """, ["tls", "headers"])
    assert info.version == "4.4.0"
    assert [(c.workflow, c.status, c.duration_s) for c in cells] == [
        ("tls", "pass", 2.5), ("headers", "fail", 1.0)]
    assert [c.workflow for c in seen] == ["headers", "tls"]  # shown as they end


def test_a_client_that_dies_fails_the_workflow_it_was_on_and_runs_the_rest_anew(
        tmp_path: Path) -> None:
    _, cells, seen = cells_of(tmp_path, """
        import os, signal
        print(json.dumps({"client": "java", "version": "4.4.0"}), flush=True)
        for wid in sys.argv[1:]:
            if wid == "headers":
                sys.stderr.write("Exception in thread main\\n")
                sys.stderr.flush()
                os.kill(os.getpid(), signal.SIGSEGV)
            print(json.dumps({"workflow": wid, "status": "pass"}), flush=True)
    """, ["tls", "headers", "quotas"])
    assert [(c.workflow, c.status) for c in cells] == [("tls", "pass"), ("headers", "fail"),
                                                       ("quotas", "pass")]
    assert cells[1].detail == ("the java client died (signal SIGSEGV) while running it (log: "
                               "client.log); the workflows after it ran in a new process")
    assert len(seen) == 3
    assert "Exception in thread main" in (tmp_path / "client.log").read_text()


def test_a_client_that_keeps_dying_costs_one_cell_per_death(tmp_path: Path) -> None:
    _, cells, _ = cells_of(tmp_path, """
        print(json.dumps({"workflow": "tls", "status": "pass"}), flush=True)
        sys.exit(3)
    """, ["tls", "headers", "quotas"])
    assert [c.status for c in cells] == ["pass", "fail", "fail"]
    assert cells[2].detail.startswith("the java client died (exit 3) while running it")


def test_a_client_that_ends_without_reporting_fails_what_it_left(tmp_path: Path) -> None:
    _, cells, _ = cells_of(tmp_path, "print('bye')\n", ["tls", "headers"])
    assert [(c.status, c.detail) for c in cells] == [
        ("fail", "the java client exited without reporting it")] * 2


def test_a_client_that_hangs_is_stopped_at_its_deadline(tmp_path: Path) -> None:
    _, cells, _ = cells_of(tmp_path, """
        print(json.dumps({"workflow": "tls", "status": "pass"}), flush=True)
        time.sleep(60)
    """, ["tls", "headers"], deadline_s=1.5)
    assert [c.status for c in cells] == ["pass", "fail"]
    assert cells[1].detail == "the java client was stopped after its 2 s deadline"


def test_a_client_cannot_call_a_workflow_unsupported_or_report_nonsense(tmp_path: Path) -> None:
    _, cells, _ = cells_of(tmp_path, """
        print(json.dumps({"workflow": "tls", "status": "unsupported", "detail": "meh"}))
        print(json.dumps({"workflow": "headers", "status": "great"}))
        print(json.dumps({"workflow": "not-asked", "status": "pass"}))
    """, ["tls", "headers"])
    assert [(c.status, c.detail) for c in cells] == [
        ("fail", "the client said unsupported: meh"),
        ("fail", "the client's report is malformed: Input should be 'pass', 'fail', "
                 "'unsupported' or 'unavailable'")]


def test_declared_workflows_are_never_run_and_say_why(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[list[str]] = []

    def argv(client: str, bootstrap: str, admin: Any, limited: Any, workflows: list[str],
             nonce: str) -> list[str]:
        asked.append(list(workflows))
        lines = [json.dumps({"workflow": w, "status": "pass"}) for w in workflows]
        return fake_client(tmp_path, f"print({chr(10).join(lines)!r})\n")

    monkeypatch.setattr(run, "client_argv", argv)
    monkeypatch.setattr(run, "declared_unsupported", lambda engine: {"tls": "no TLS listener"})
    m = run.run_matrix(inv(), tmp_path, ["headers", "tls"], ("librdkafka", "java"),
                       progress=lambda line: None)
    assert asked == [["headers"], ["headers"]]
    assert [(c.client, c.workflow, c.status) for c in m.cells] == [
        ("librdkafka", "headers", "pass"), ("librdkafka", "tls", "unsupported"),
        ("java", "headers", "pass"), ("java", "tls", "unsupported")]
    assert m.cell("tls", "java").detail == "declared by the engine: no TLS listener"  # type: ignore[union-attr]


def matrix(detail: str = "") -> CompatMatrix:
    return CompatMatrix(engine="tansu", engine_version="0.6.0", topology="stretched",
                        security="off", created_at="2026-12-03T00:00:00+00:00",
                        clients=[ClientInfo(client="librdkafka", version="2.16.1"),
                                 ClientInfo(client="java", version="4.4.0")],
                        cells=[CompatCell(workflow="headers", client="librdkafka", status="pass"),
                               CompatCell(workflow="headers", client="java", status="fail",
                                          detail=detail or "UnsupportedVersionException: x"),
                               CompatCell(workflow="tls", client="java", status="unsupported",
                                          detail="declared by the engine: no TLS")])


def test_the_matrix_file_is_redacted_and_reads_back(tmp_path: Path) -> None:
    secret = "s3cr3t-Password-42"
    out = run.write_matrix(matrix(f"auth failed for password {secret}"), tmp_path,
                           Redactor([Secret("SCRAM password", secret)]))
    assert out == tmp_path / "compat" / "tansu.json"
    assert secret not in out.read_text()
    back = load_matrix(out)
    assert back.cell("tls", "java").status == "unsupported"  # type: ignore[union-attr]
    out.write_text(json.dumps({"format": "riftdrill-compat/1"}))
    with pytest.raises(ValueError, match=r"tansu.json: engine: Field required"):
        load_matrix(out)


def test_the_index_shows_one_column_per_engine_and_client_and_every_failure() -> None:
    md = to_markdown(index_document([], [], [], None, [matrix()]))
    assert "tansu 0.6.0 · librdkafka" in md and "tansu 0.6.0 · java" in md
    assert "headers (java): UnsupportedVersionException: x" in md
    row = next(line for line in md.splitlines() if "| headers |" in line)
    assert "pass" in row and "fail" in row


def test_the_python_client_speaks_the_protocol_and_refuses_unknown_workflows() -> None:
    bad = subprocess.run([sys.executable, "-m", "riftdrill.compat.pyclient", "--bootstrap",
                          "127.0.0.1:1", "nope"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown workflow 'nope'" in bad.stderr
    # Nothing listens: the workflow fails with the client's error, the run goes on.
    ok = subprocess.run([sys.executable, "-m", "riftdrill.compat.pyclient", "--bootstrap",
                         "127.0.0.1:1", "--timeout-s", "2", "admin-cluster", "quotas"],
                        capture_output=True, text=True, timeout=60)
    lines = [json.loads(line) for line in ok.stdout.splitlines()]
    assert ok.returncode == 0
    assert lines[0]["client"] == "librdkafka" and "librdkafka" in lines[0]["version"]
    assert [(c["workflow"], c["status"]) for c in lines[1:]] == [("admin-cluster", "fail"),
                                                                ("quotas", "unavailable")]


def test_the_workflow_titles_are_one_line_each() -> None:
    assert all(w.title and "\n" not in w.title for w in WORKFLOWS)
