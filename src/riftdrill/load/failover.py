"""The failover consumer as a process: started when a drill moves a group to the mirror's
cluster, stopped when it moves back (load/mirrortail.py does the reading).

State in `load/failover/state.json`: its pid (with the /proc start time, so a recycled pid is
never signalled), the clouds and group, when it started and when it was stopped. Stopping is
idempotent and also happens in `runner.stop_load`, so a drill that ends any way leaves no
failover consumer behind; the process bounds itself with `--max-s` too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from riftdrill.errors import RiftdrillError
from riftdrill.load import mirrortail

DIR = "failover"
STATE = "state.json"
STOP_WAIT_S = 15.0  # it commits (<= its request timeout) and closes
START_WAIT_S = 45.0  # the checkpoints read (<= 30 s) and the first assignment


@dataclass
class FailoverState:
    pid: int
    create_time: float  # psutil's, of that pid
    source_cloud: str
    target_cloud: str
    source_group: str
    group: str
    topic: str  # the mirror topic it reads
    ledger: str  # relative to the run directory
    started_ns: int
    stopped_ns: int | None = None


def failover_dir(load_dir: Path) -> Path:
    return load_dir / DIR


def ledger_path(load_dir: Path, target_cloud: str) -> Path:
    return failover_dir(load_dir) / f"{target_cloud}-failover.rdc"


def read_state(load_dir: Path) -> FailoverState | None:
    try:
        data = json.loads((failover_dir(load_dir) / STATE).read_text())
        return FailoverState(**data)
    except (OSError, ValueError, TypeError):
        return None


def _write_state(load_dir: Path, st: FailoverState) -> None:
    path = failover_dir(load_dir) / STATE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(asdict(st), indent=1) + "\n")
    os.replace(tmp, path)


def start(load_dir: Path, o: mirrortail.Options, namespace: str | None,
          source_cloud: str) -> FailoverState:
    """Start the failover consumer and wait until it has its start positions (its ASSIGN entries
    are in the ledger); a process that exits first raises with its last line."""
    if (st := read_state(load_dir)) is not None and st.stopped_ns is None and _alive(st):
        raise RiftdrillError(f"a failover consumer already runs for this run (pid {st.pid}); "
                             "fail back first")
    failover_dir(load_dir).mkdir(parents=True, exist_ok=True)
    log = failover_dir(load_dir) / f"{o.cloud}-failover.log"
    argv = mirrortail.command(o)
    argv = ["ip", "netns", "exec", namespace, *argv] if namespace else argv
    started_ns = time.time_ns()
    with open(log, "wb") as out:
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True)
    st = FailoverState(pid=p.pid, create_time=psutil.Process(p.pid).create_time(),
                       source_cloud=source_cloud, target_cloud=o.cloud,
                       source_group=o.source_group, group=o.group, topic=o.topic,
                       ledger=str(o.ledger.relative_to(load_dir.parent)), started_ns=started_ns)
    _write_state(load_dir, st)
    deadline = time.monotonic() + START_WAIT_S
    while time.monotonic() < deadline:
        if p.poll() is not None:
            lines = log.read_text(errors="replace").strip().splitlines()
            raise RiftdrillError(f"the failover consumer exited at start: "
                                 f"{lines[-1] if lines else p.returncode} (log: {log})")
        if _assigned(o.ledger):
            break
        time.sleep(0.2)
    return st


def _assigned(ledger: Path) -> bool:
    from riftdrill.load.consumer_ledger import KIND_ASSIGN, read_consumer_ledger

    try:
        return any(e.kind == KIND_ASSIGN for e in read_consumer_ledger(ledger).entries)
    except (OSError, ValueError, KeyError):
        return False


def _alive(st: FailoverState) -> bool:
    try:
        p = psutil.Process(st.pid)
        return bool(abs(p.create_time() - st.create_time) < 0.01
                    and p.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def stop(load_dir: Path) -> FailoverState | None:
    """SIGTERM the failover consumer (it commits and exits), SIGKILL after STOP_WAIT_S; records
    when. Idempotent; None when none was started."""
    st = read_state(load_dir)
    if st is None or st.stopped_ns is not None:
        return st
    stopped_ns = time.time_ns()
    if _alive(st):
        p = psutil.Process(st.pid)
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=STOP_WAIT_S)
        except psutil.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)
    st.stopped_ns = stopped_ns
    _write_state(load_dir, st)
    return st

