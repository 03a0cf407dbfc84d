"""Lab process supervision with real processes (no namespace needed)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from riftdrill.errors import LabError
from riftdrill.lab import procs, stores


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIFTDRILL_HOME", str(tmp_path))


def test_a_server_that_dies_at_start_reports_its_log_tail() -> None:
    procs.start(procs.ProcSpec(name="bad", namespace=None,
                               argv=["sh", "-c", "echo 'FATAL: port in use' >&2; exit 3"]))
    with pytest.raises(LabError, match="FATAL: port in use"):
        stores.wait_listening("127.0.0.1", 9, "bad", timeout_s=10)


def test_kill_pause_resume_restart_track_state() -> None:
    spec = procs.ProcSpec(name="sleeper", namespace=None,
                          argv=[sys.executable, "-c", "import time; time.sleep(60)"])
    pid = procs.start(spec)
    try:
        assert procs.state("sleeper") == "running"
        with pytest.raises(LabError, match="already running"):
            procs.start(spec)
        procs.send("sleeper", signal.SIGSTOP)
        assert procs.wait_state("sleeper", "paused", 5)
        procs.send("sleeper", signal.SIGCONT)
        procs.send("sleeper", signal.SIGKILL)
        assert procs.wait_dead("sleeper", 5)
        assert procs.state("sleeper") == "dead"
        new_pid = procs.restart("sleeper")
        assert new_pid != pid and procs.state("sleeper") == "running"
    finally:
        procs.stop("sleeper", grace_s=1)
    assert procs.state("sleeper") == "dead"


def test_a_recycled_pid_is_never_taken_for_ours(tmp_path: Path) -> None:
    procs.start(procs.ProcSpec(name="short", namespace=None, argv=["true"]))
    procs.wait_dead("short", 5)
    record = procs.procs_dir() / "short.json"
    text = record.read_text()
    # Point the record at a live process we did not start (this test's own pid).
    import json
    import os

    data = json.loads(text)
    data["pid"] = os.getpid()
    record.write_text(json.dumps(data))
    assert procs.pid_of("short") is None
    assert not procs.send("short", signal.SIGTERM)


def test_restart_keeps_the_environment_it_started_with(tmp_path: Path) -> None:
    out = tmp_path / "env.txt"
    spec = procs.ProcSpec(name="envy", namespace=None, env={"STORAGE_ENGINE": "s3://bucket/"},
                          argv=["sh", "-c", f"echo $STORAGE_ENGINE >> {out}"])
    procs.start(spec)
    procs.wait_dead("envy", 5)
    procs.restart("envy")
    procs.wait_dead("envy", 5)
    assert out.read_text().split() == ["s3://bucket/", "s3://bucket/"]
