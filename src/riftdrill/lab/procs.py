"""Lab process supervision: start a process inside a namespace, track it by pid file, signal it.

A pid file also holds the process's start time from /proc, so a recycled pid is never mistaken
for ours: riftdrill only ever signals processes it started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from riftdrill import paths
from riftdrill.errors import LabError

ProcState = Literal["running", "paused", "dead"]


@dataclass(frozen=True)
class ProcSpec:
    name: str  # unique in the lab: "broker-aws-1", "store-aws-s3"
    namespace: str | None
    argv: list[str]
    env: dict[str, str] | None = None
    cwd: Path | None = None


def procs_dir() -> Path:
    return paths.lab_dir() / "procs"


START_MARKER = "--- riftdrill start"  # a line before each start's output in the process's log


def log_path(name: str) -> Path:
    return paths.lab_dir() / "logs" / f"{name}.log"


def _pid_file(name: str) -> Path:
    return procs_dir() / f"{name}.json"


def _start_ticks(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[19])  # field 22: starttime, after pid and comm


def _state_char(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def pid_alive(pid: int) -> bool:
    """Running or stopped; a zombie (dead, not yet reaped) counts as gone."""
    return _state_char(pid) not in (None, "Z", "X")


def start(spec: ProcSpec) -> int:
    """Start detached (own session, output to its log, stdin closed) and record its pid."""
    if state(spec.name) != "dead":
        raise LabError(f"lab process {spec.name} is already running; stop it first")
    log = log_path(spec.name)
    log.parent.mkdir(parents=True, exist_ok=True)
    procs_dir().mkdir(parents=True, exist_ok=True)
    argv = ["ip", "netns", "exec", spec.namespace, *spec.argv] if spec.namespace else spec.argv
    env = {**os.environ, **(spec.env or {})}
    with open(log, "ab") as out:
        out.write(f"\n{START_MARKER} {time.strftime('%FT%T')}: {' '.join(argv)}\n".encode())
        out.flush()
        # `ip netns exec` execs the command, so the pid is the server's own.
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                env=env, cwd=spec.cwd, start_new_session=True, close_fds=True)
    # The env overrides are kept so a restart runs with the same configuration (Tansu takes its
    # storage from the environment: without it, it would fall back to memory://). Lab-only values.
    record = {"pid": proc.pid, "start_ticks": _start_ticks(proc.pid), "argv": argv,
              "env": spec.env or {}, "namespace": spec.namespace, "started_at": time.time()}
    tmp = _pid_file(spec.name).with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, _pid_file(spec.name))
    return proc.pid


def pid_of(name: str) -> int | None:
    """The live pid we started under `name`, or None."""
    try:
        record = json.loads(_pid_file(name).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    pid = int(record["pid"])
    if _start_ticks(pid) != record.get("start_ticks") or _state_char(pid) in (None, "Z", "X"):
        return None
    return pid


def state(name: str) -> ProcState:
    pid = pid_of(name)
    if pid is None:
        return "dead"
    return "paused" if _state_char(pid) in ("T", "t") else "running"


def send(name: str, sig: signal.Signals) -> bool:
    """Signal our process; False when it is not running."""
    pid = pid_of(name)
    if pid is None:
        return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def send_tree(name: str, sig: signal.Signals) -> bool:
    """Signal our process and every process it forked (PostgreSQL's backends: SIGSTOP of the
    postmaster alone would leave them serving); the parent first, so it forks no new one
    after its children were listed. False when it is not running."""
    import psutil

    pid = pid_of(name)
    if pid is None:
        return False
    try:
        parent = psutil.Process(pid)
        parent.send_signal(sig)
        for child in parent.children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                child.send_signal(sig)
    except psutil.NoSuchProcess:
        return False
    return True


def tree_state(name: str) -> ProcState:
    """Like `state`, for the process and everything it forked: "paused" only once every live
    one shows stopped (a process in an uninterruptible wait stops when it leaves it; an exited
    child of a stopped parent stays a zombie, and does not count)."""
    import psutil

    own = state(name)
    pid = pid_of(name)
    if own != "paused" or pid is None:
        return own
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return "dead"
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            if child.status() not in (psutil.STATUS_STOPPED, psutil.STATUS_ZOMBIE):
                return "running"
    return "paused"


def wait_state(name: str, want: ProcState, timeout_s: float) -> bool:
    """Signals are delivered asynchronously: wait until the process shows the state."""
    deadline = time.monotonic() + timeout_s
    while state(name) != want:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def wait_dead(name: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pid_of(name) is None:
            return True
        time.sleep(0.05)
    return pid_of(name) is None


def stop(name: str, grace_s: float = 10.0,
         stop_signal: signal.Signals = signal.SIGTERM) -> None:
    """`stop_signal`, then SIGKILL after `grace_s`; a paused process is resumed so it can exit.
    (PostgreSQL's fast shutdown is SIGINT: on SIGTERM it waits for every session to end.)"""
    if pid_of(name) is None:
        _pid_file(name).unlink(missing_ok=True)
        return
    send(name, signal.SIGCONT)
    if grace_s > 0:
        send(name, stop_signal)
        if wait_dead(name, grace_s):
            _pid_file(name).unlink(missing_ok=True)
            return
    send(name, signal.SIGKILL)
    wait_dead(name, 5.0)
    _pid_file(name).unlink(missing_ok=True)


def tail(name: str, lines: int = 15) -> str:
    try:
        text = log_path(name).read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


def known() -> list[str]:
    d = procs_dir()
    return sorted(p.stem for p in d.glob("*.json")) if d.is_dir() else []


def restart(name: str) -> int:
    """Start a dead process again with the argv it last ran with (its data is kept)."""
    try:
        record = json.loads(_pid_file(name).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise LabError(f"lab process {name} was never started here; redeploy") from exc
    if pid_of(name) is not None:
        return int(record["pid"])
    argv = record["argv"]
    ns = record.get("namespace")
    inner = argv[4:] if ns and argv[:3] == ["ip", "netns", "exec"] else argv
    return start(ProcSpec(name=name, namespace=ns, argv=inner, env=record.get("env") or None))
