"""Locust run directly, the way its users know it: distributed (--master / --worker) and the
web UI. Each mode must keep every ack in a ledger the verifier accepts."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from riftdrill.inventory import Inventory
from riftdrill.load.consumer_ledger import consumer_ledger_files
from riftdrill.load.ledger import Ack, ledger_files, read_header, read_ledger
from riftdrill.load.runner import STOP_GRACE_S
from riftdrill.verify.verifier import verify_run

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "loadtest" / "locustfile.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _locust(*args: str, log: Path) -> subprocess.Popen[bytes]:
    # A subprocess, never an import: locust's gevent monkey-patching breaks ssl in this process.
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), *args],
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip


def _stop(*procs: subprocess.Popen[bytes]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(10)


def _acks(run_dir: Path) -> list[Ack]:
    return [e for f in ledger_files(run_dir) for e in read_ledger(f) if isinstance(e, Ack)]


def test_distributed_master_and_two_workers(lab: Inventory, tmp_path: Path) -> None:
    """Workers take the master's --rd-* options, number their producers apart, keep their own
    ledgers, and the master ends the run once every worker's producers are done."""
    run_dir, port = tmp_path / "dist", _free_port()
    rate, duration_s = 200, 8
    topic = f"rd-dist-{uuid.uuid4().hex[:8]}"
    master = _locust(
        "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
        "--headless", "--expect-workers", "2", "-u", "3", "-r", "3", "-t", "120s",
        "--rd-rate", str(rate), "--rd-producer-users", "2", "--rd-consumer-users", "1",
        "--rd-duration", str(duration_s), "--rd-exit-when-done", "--rd-run-dir", str(run_dir),
        "--rd-topic", topic, "--rd-replication-factor", str(lab.replication_factor),
        log=tmp_path / "master.log",
    )  # fmt: skip
    workers = [_locust("--worker", "--master-host", "127.0.0.1", "--master-port", str(port),
                       log=tmp_path / f"worker-{i}.log") for i in range(2)]  # fmt: skip
    try:
        assert master.wait(90) == 0, (tmp_path / "master.log").read_text()[-2000:]
        for i, w in enumerate(workers):
            assert w.wait(30) == 0, (tmp_path / f"worker-{i}.log").read_text()[-2000:]
    finally:
        _stop(master, *workers)

    files = ledger_files(run_dir)
    headers = [read_header(f) for f in files]
    assert len(files) == 2 and len({h["producer_id"] for h in headers}) == 2
    assert all(h["cloud"] in {c.name for c in lab.clouds} for h in headers)  # from the inventory
    acks = _acks(run_dir)
    assert len(acks) == rate * duration_s  # the full schedule, sent once: no worker restarted it
    assert len(list((run_dir / "load" / "workers").glob("*/metrics.jsonl"))) == 2
    assert len(list((run_dir / "load" / "workers").glob("*/producers-done"))) == 2
    assert len(consumer_ledger_files(run_dir)) == 1  # the one consumer, on one of the workers
    assert not (run_dir / "load" / "fences.json").exists()  # no runner: a tail, no fences
    report = verify_run(run_dir, lab)
    assert report.passed and report.totals.get("lost", 0) == 0 and report.acks == len(acks)


def _post(url: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    body = urllib.parse.urlencode(data or {}).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=10) as r:
        return dict(json.loads(r.read()))


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as r:
        return dict(json.loads(r.read()))


def _wait_for_acks(run_dir: Path, timeout_s: float = 40) -> None:
    deadline = time.monotonic() + timeout_s
    while not _acks(run_dir):
        assert time.monotonic() < deadline, f"no ack in {run_dir} within {timeout_s:g} s"
        time.sleep(0.5)


def _stats_until(url: str, done: Any, timeout_s: float = 30) -> dict[str, dict[str, Any]]:
    """Locust's request stats by method, polled until `done(stats)` or the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        stats = {s["method"]: s for s in _get(f"{url}/stats/requests")["stats"] if s["method"]}
        if done(stats) or time.monotonic() > deadline:
            return stats
        time.sleep(0.5)


def _wait_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-2000:]
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"locust web UI not up: {log.read_text()[-2000:]}")


def _verify_own(run_dir: Path, lab: Inventory) -> Any:
    """Verified before the next test writes to the same topic: a later test's records (other
    producer ids) would be unexpected to this one."""
    acks = _acks(run_dir)
    assert acks, f"no acks in {run_dir}"
    report = verify_run(run_dir, lab)  # earlier tests' records in the topic are skipped
    assert report.passed and report.acks == len(acks), (run_dir, report.totals)
    assert consumer_ledger_files(run_dir), f"no consumer ledger in {run_dir}"
    return report


STOP_BOUND_S = 30 + 60 + STOP_GRACE_S  # delivery_timeout_ms / 1000 + fence_wait_s + grace


def test_web_ui_start_stop_start_and_ctrl_c(lab: Inventory, tmp_path: Path) -> None:
    """Two tests from one web UI process get a run dir each; Ctrl-C flushes the ledgers."""
    run_dir, port = tmp_path / "web", _free_port()
    url, log = f"http://127.0.0.1:{port}", tmp_path / "web.log"
    topic = f"rd-web-{uuid.uuid4().hex[:8]}"
    dirs = [run_dir, run_dir.with_name("web-2"), run_dir.with_name("web-3")]
    proc = _locust("--web-host", "127.0.0.1", "--web-port", str(port), "--rd-rate", "200",
                   "--rd-run-dir", str(run_dir), "--rd-topic", topic,
                   "--rd-replication-factor", str(lab.replication_factor), log=log)  # fmt: skip
    try:
        _wait_up(url, proc, log)
        for d in dirs[:2]:
            assert _post(f"{url}/swarm", {"user_count": 2, "spawn_rate": 2, "host": ""})["success"]
            _wait_for_acks(d)  # this test's own ledger, not stats a previous test left behind
            stats = _stats_until(url, lambda st: {"produce", "consume"} <= set(st))
            assert set(stats) >= {"produce", "consume"}
            assert _post(f"{url}/stop")["success"]  # test_stop drains before it answers
            _verify_own(d, lab)
        assert _post(f"{url}/swarm", {"user_count": 2, "spawn_rate": 2, "host": ""})["success"]
        _wait_for_acks(dirs[2])
        proc.send_signal(signal.SIGINT)
        # the load's own stop bound (load/runner.stop_timeout_s): delivery timeout, consumer
        # tail, grace; over the inter-region link the drain took longer than 60 s in CI
        assert proc.wait(STOP_BOUND_S) == 0, log.read_text()[-2000:]
    finally:
        _stop(proc)

    later = _verify_own(dirs[2], lab)
    assert sum(p.earlier_runs for p in later.partitions) > 0
    ids = [read_header(f)["producer_id"] for d in dirs for f in ledger_files(d)]
    assert len(set(ids)) == len(dirs)  # each test's producer has an id of its own
