"""The integration hub's PostgreSQL, for real: initdb as user postgres, the server under the lab's
process supervisor, logical decoding with pgoutput (what Debezium's source uses).

No namespace: the server listens on 127.0.0.1 on a free port, its state in a temporary directory,
so this test runs beside a deployed lab without touching it. Needs root (the server runs as user
postgres) and Debian's PostgreSQL (`make setup`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest

from riftdrill.hub import postgres
from riftdrill.inventory import Database, Hub
from riftdrill.lab import procs

pytestmark = pytest.mark.lab

PROC = "postgres-hub-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture()
def home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A checkout of its own (RIFTDRILL_HOME) under /tmp, reachable by user postgres: the
    supervisor's pid files and logs and the data directory all go there."""
    base = Path(tempfile.mkdtemp(prefix="rd-hub-pg-", dir="/tmp"))
    os.chmod(base, 0o755)
    monkeypatch.setenv("RIFTDRILL_HOME", str(base))
    yield base
    shutil.rmtree(base, ignore_errors=True)


def stop(pid: int) -> None:
    """Fast shutdown of the pid we started, then immediate shutdown if it lingers; nothing else."""
    for sig, wait_s in ((postgres.FAST_SHUTDOWN, 30.0), (postgres.CRASH_SHUTDOWN, 10.0)):
        if procs.pid_of(PROC) != pid:
            return
        os.kill(pid, sig)
        deadline = time.monotonic() + wait_s
        while procs.pid_of(PROC) == pid and time.monotonic() < deadline:
            time.sleep(0.1)
    if procs.pid_of(PROC) == pid:
        os.kill(pid, signal.SIGKILL)


def test_postgres_serves_logical_decoding_with_pgoutput(home: Path) -> None:
    port = free_port()
    node = postgres.PostgresNode(name="pg-test", address="127.0.0.1", port=port)
    assert node.pgdata == home / ".riftdrill" / "lab" / "data" / "pg-test"
    argv = postgres.prepare(node)
    owner = postgres.pg_user()
    assert node.pgdata.stat().st_uid == owner.uid
    assert (node.pgdata / "postgresql.conf").stat().st_uid == owner.uid
    # A second prepare reuses the cluster (no initdb) and writes the same configuration.
    started = time.monotonic()
    assert postgres.prepare(node) == argv
    assert time.monotonic() - started < 2
    assert postgres.initdb(node.pgdata, postgres.pg_bin_dir(), owner) is False

    pid = procs.start(procs.ProcSpec(name=PROC, namespace=None, argv=argv))
    try:
        postgres.wait_ready("127.0.0.1", port, timeout_s=60,
                            alive=lambda: procs.state(PROC) != "dead")
        # setpriv execs: the supervisor's pid is the postmaster itself, running as postgres.
        assert os.stat(f"/proc/{pid}").st_uid == owner.uid
        assert Path(f"/proc/{pid}/exe").resolve().name == "postgres"
        postgres.check_logical_replication("127.0.0.1", port)
        with psycopg.connect(postgres.conninfo("127.0.0.1", port), autocommit=True) as conn:
            assert conn.execute("SHOW wal_level").fetchone() == ("logical",)
            assert conn.execute("SHOW fsync").fetchone() == ("on",)
            assert conn.execute("SHOW data_checksums").fetchone() == ("on",)
            slot = conn.execute("SELECT slot_name, lsn IS NOT NULL FROM "
                                "pg_create_logical_replication_slot('riftdrill_test', 'pgoutput')"
                                ).fetchone()
            assert slot == ("riftdrill_test", True)
            assert conn.execute("SELECT plugin, slot_type FROM pg_replication_slots "
                                "WHERE slot_name = 'riftdrill_test'").fetchone() == ("pgoutput", "logical")
            conn.execute("SELECT pg_drop_replication_slot('riftdrill_test')")
    finally:
        stop(pid)
    assert procs.pid_of(PROC) is None
    assert "database system is shut down" in procs.tail(PROC, 40)


@pytest.fixture()
def server(home: Path) -> Iterator[tuple[int, int]]:
    """A running PostgreSQL on 127.0.0.1: (port, pid)."""
    port = free_port()
    node = postgres.PostgresNode(name="pg-test", address="127.0.0.1", port=port)
    pid = procs.start(procs.ProcSpec(name=PROC, namespace=None, argv=postgres.prepare(node)))
    try:
        postgres.wait_ready("127.0.0.1", port, timeout_s=60,
                            alive=lambda: procs.state(PROC) != "dead")
        yield port, pid
    finally:
        live = procs.pid_of(PROC)
        if live is not None:
            procs.send_tree(PROC, signal.SIGCONT)  # a frozen server cannot shut down
            stop(live)


def _database(port: int, role: str) -> Database:
    return Database(name=f"pg-{role}", cloud="aws", role=role,  # type: ignore[arg-type]
                    address="127.0.0.1", port=port, handle=PROC)


def _hub(port: int) -> Hub:
    """A hub whose source and sink are one server: the tail sees each change as it commits."""
    return Hub(group="g", source_connector="s", sink_connector="k", topic_prefix="hub",
               databases=[_database(port, "source"), _database(port, "sink")], workers=[])


def test_the_row_workload_stops_with_the_load_and_drains_into_its_change_lag(
        server: tuple[int, int], tmp_path: Path) -> None:
    from riftdrill.hub.lag import change_lag_path
    from riftdrill.hub.rows import read_rows, rows_path
    from riftdrill.load.hubload import start_hub_load

    port, _ = server
    hub = _hub(port)
    run_dir = tmp_path / "run"
    load = start_hub_load(hub, run_dir, rate_per_s=40, duration_s=600, drain_s=10)
    time.sleep(2)
    assert load.running()
    stopped = time.monotonic()
    outcome = load.finish()  # the 600 s schedule ends now, not at its bound
    assert time.monotonic() - stopped < 8
    assert not load.running() and outcome.error is None
    ledger = read_rows(rows_path(run_dir))
    assert outcome.result.attempted == len(ledger.changes) >= 40
    assert outcome.lag.committed == outcome.result.outcomes["ok"] > 0
    assert outcome.lag.never_visible == 0 and outcome.drain_s is not None
    written = json.loads(change_lag_path(run_dir).read_text())
    assert written["committed"] == outcome.lag.committed and written["series"]


def test_a_row_workload_on_an_unreachable_source_fails_at_start_and_leaves_nothing_running(
        tmp_path: Path) -> None:
    import threading

    from riftdrill.errors import RiftdrillError
    from riftdrill.load.hubload import start_hub_load

    dead = free_port()
    hub = _hub(dead)
    before = {t.name for t in threading.enumerate()}
    with pytest.raises(RiftdrillError, match=r"did not start on the source database 127\.0\.0\.1"):
        start_hub_load(hub, tmp_path / "run", rate_per_s=10, duration_s=5, drain_s=1)
    time.sleep(0.5)
    assert {t.name for t in threading.enumerate()} - before == set()


def test_a_crashed_database_restarts_and_a_frozen_one_hangs_clients_until_resumed(
        server: tuple[int, int]) -> None:
    from riftdrill.drivers.local import LocalDriver

    port, pid = server
    db = _database(port, "source")
    drv = LocalDriver()
    inv: Any = None  # the local driver's database faults act on the process alone
    frozen = drv.pause_database(inv, db)
    assert frozen.confirmed_by == "state stopped"
    # Every live server process is stopped; a backend that had exited stays a zombie while its
    # stopped postmaster cannot reap it.
    states = []
    for child in psutil.Process(pid).children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            states.append(child.status())
    live = [st for st in states if st != psutil.STATUS_ZOMBIE]
    assert live and all(st == psutil.STATUS_STOPPED for st in live), states
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(postgres.conninfo("127.0.0.1", port, connect_timeout_s=2))
    assert drv.resume_database(inv, db).confirmed_by == "state running"
    with psycopg.connect(postgres.conninfo("127.0.0.1", port), autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int)")
        conn.execute("INSERT INTO t VALUES (1)")
    crashed = drv.kill_database(inv, db)
    assert crashed.confirmed_by == "pid gone" and procs.pid_of(PROC) is None
    assert drv.start_database(inv, db).confirmed_by == "accepts connections"
    with psycopg.connect(postgres.conninfo("127.0.0.1", port), autocommit=True) as conn:
        assert conn.execute("SELECT id FROM t").fetchall() == [(1,)]  # WAL replayed
    assert "database system was interrupted" in procs.tail(PROC, 60)


def test_an_outage_of_the_source_is_in_the_history_as_failed_changes_on_schedule(
        server: tuple[int, int], tmp_path: Path) -> None:
    from riftdrill.drivers.local import LocalDriver
    from riftdrill.hub.rows import read_rows, rows_path
    from riftdrill.load.hubload import start_hub_load

    port, _ = server
    hub = _hub(port)
    run_dir = tmp_path / "run"
    drv, db, inv = LocalDriver(), _database(port, "source"), None
    load = start_hub_load(hub, run_dir, rate_per_s=20, duration_s=600, drain_s=10)
    time.sleep(1.5)
    drv.kill_database(inv, db)  # type: ignore[arg-type]
    time.sleep(3)
    drv.start_database(inv, db)  # type: ignore[arg-type]
    time.sleep(2)
    outcome = load.finish()
    changes = read_rows(rows_path(run_dir)).changes
    down = [c for c in changes if c.error == "not attempted: the source is unreachable"]
    assert len(down) >= 20, outcome.result.outcomes  # ~3 s at 20/s, not one per retry
    assert all(c.outcome == "failed" for c in down)
    assert changes[-1].outcome == "ok"  # back after the restart
    # on schedule through the outage: no change started more than a retry late
    assert outcome.result.behind_max_s < 3.5
