"""The integration hub's PostgreSQL, for real: initdb as user postgres, the server under the lab's
process supervisor, logical decoding with pgoutput (what Debezium's source uses).

No namespace: the server listens on 127.0.0.1 on a free port, its state in a temporary directory,
so this test runs beside a deployed lab without touching it. Needs root (the server runs as user
postgres) and Debian's PostgreSQL (`make setup`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from riftdrill.hub import postgres
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
