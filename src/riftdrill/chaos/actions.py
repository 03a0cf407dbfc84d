"""Chaos Toolkit actions (python provider, module `riftdrill.chaos.actions`).

Each action finds the inventory the way every riftdrill command does (RIFTDRILL_HOME, else the
checkout around the working directory), applies one fault primitive from `riftdrill.faults`
(which records the fault in the inventory first, so `riftdrill heal` can always undo it) and
appends the fault window to `$RIFTDRILL_RUN_DIR/faults.jsonl` for the recovery math. A window
starts when the primitive returned (the fault is in force: nft rule loaded, process dead) and
ends when the heal was issued (a restarted broker may need seconds more to listen again; the
recovery figures measure that from the acks).

Targets (`broker=`): a name or node id, or a role: "leader" / "leader:<topic>" (the broker
leading most partitions), "controller" (the active KRaft controller); `kill_cloud(cloud=)` takes
every broker of one cloud. See `riftdrill.chaos.targets`.

Arguments arrive from `--var`/configuration as strings; every numeric argument is coerced.
"""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from riftdrill import faults, inventory, paths
from riftdrill.chaos import targets, windows
from riftdrill.errors import ValidationError
from riftdrill.inventory import Direction

__all__ = [
    "block_object_store", "flap_link", "heal_all", "heal_link", "hold", "kill_broker",
    "kill_cloud", "pause_broker", "restart_broker", "restart_cloud", "restart_faulted_brokers",
    "resume_broker",
    "sever_link", "start_load", "stop_load", "unblock_object_store",
]

MAX_HOLD_S = 3600.0
MAX_FLAP_CYCLES = 20
DIRECTIONS = ("both", "a-to-b", "b-to-a")


def _seconds(value: float | str, name: str, upper: float = MAX_HOLD_S) -> float:
    try:
        s = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"invalid {name}: {value!r} is not a number of seconds") from None
    if not 0 <= s <= upper:
        raise ValidationError(f"invalid {name}: {s:g} must be in [0, {upper:g}] seconds")
    return s


def _now() -> str:
    return datetime.now(UTC).isoformat()


# ---- brokers -------------------------------------------------------------------------------

def kill_broker(broker: str) -> dict[str, Any]:
    """SIGKILL one broker (name, id, "leader[:topic]" or "controller"); it stays down until
    `restart_broker`."""
    b = targets.resolve_one(inventory.load(), broker)
    faults.kill_broker(b.name)
    windows.record_start("kill_broker", b.name)
    return {"killed": b.name, "id": b.id, "cloud": b.cloud, "at": _now()}


def pause_broker(broker: str) -> dict[str, Any]:
    """SIGSTOP one broker: alive to the kernel, silent to its peers (the gray failure)."""
    b = targets.resolve_one(inventory.load(), broker)
    faults.pause_broker(b.name)
    windows.record_start("pause_broker", b.name)
    return {"paused": b.name, "id": b.id, "cloud": b.cloud, "at": _now()}


BROKER_FAULTS = ("kill_broker", "pause_broker")


def _restart(names: list[str]) -> tuple[dict[str, list[str]], float]:
    """Restart brokers and close the fault windows they were under: ({name: kinds}, seconds)."""
    faulted = inventory.load().faults
    kinds: dict[str, list[str]] = {
        n: [f.kind for f in faulted if f.kind in BROKER_FAULTS and f.target == n] for n in names
    }
    t0 = time.time_ns()
    for name in names:
        faults.restart_broker(name)
        for kind in kinds[name]:
            windows.record_end(kind, name, ts_ns=t0)
    return kinds, round((time.time_ns() - t0) / 1e9, 3)


def resume_broker(broker: str) -> dict[str, Any]:
    """SIGCONT a paused broker."""
    b = targets.resolve_one(inventory.load(), broker)
    t0 = time.time_ns()
    faults.resume_broker(b.name)
    windows.record_end("pause_broker", b.name, ts_ns=t0)
    return {"resumed": b.name, "at": _now()}


def restart_broker(broker: str) -> dict[str, Any]:
    """Bring a killed or paused broker back (waits until it listens again)."""
    b = targets.resolve_one(inventory.load(), broker)
    kinds, seconds = _restart([b.name])
    return {"restarted": b.name, "healed": kinds[b.name], "seconds": seconds}


def kill_cloud(cloud: str) -> dict[str, Any]:
    """SIGKILL every broker of one cloud (a whole-cloud outage)."""
    killed = [b.name for b in targets.resolve(inventory.load(), f"cloud:{cloud}")]
    for name in killed:
        faults.kill_broker(name)
        windows.record_start("kill_broker", name)
    return {"killed": killed, "cloud": cloud, "at": _now()}


def restart_cloud(cloud: str) -> dict[str, Any]:
    """Restart every broker of one cloud that is killed or paused."""
    names = [b.name for b in targets.resolve(inventory.load(), f"cloud:{cloud}")]
    _, seconds = _restart(names)
    return {"restarted": names, "seconds": seconds}


# ---- the link --------------------------------------------------------------------------------

def _direction(direction: str) -> Direction:
    if direction not in DIRECTIONS:
        raise ValidationError(f"invalid direction: {direction!r}; use both, a-to-b or b-to-a")
    return direction  # type: ignore[return-value]


def sever_link(direction: str = "both", link: str | None = None) -> dict[str, Any]:
    """Cut the cross-cloud link: both ways, or one way ("a-to-b": the link's a side can no
    longer send to its b side) for an asymmetric partition."""
    d = _direction(direction)
    fault = faults.sever_link(link or None, d)
    windows.record_start("sever_link", fault.target, d)
    return {"severed": fault.target, "direction": d, "at": _now()}


def heal_link(link: str | None = None) -> dict[str, Any]:
    """Remove every sever of the link."""
    lk = inventory.load().link(link or None)
    t0 = time.time_ns()
    faults.heal_link(lk.name)
    windows.record_end("sever_link", lk.name, ts_ns=t0)
    return {"healed": lk.name, "at": _now()}


def flap_link(cycles: int | str = 3, down_s: float | str = 5, up_s: float | str = 5,
              direction: str = "both", link: str | None = None) -> dict[str, Any]:
    """Sever and heal the link `cycles` times (at most 20): down `down_s`, then up `up_s`.
    The link is always left up, even when interrupted."""
    try:
        n = int(cycles)
    except (TypeError, ValueError):
        raise ValidationError(f"invalid cycles: {cycles!r} is not an integer") from None
    if not 1 <= n <= MAX_FLAP_CYCLES:
        raise ValidationError(f"invalid cycles: {n} must be in [1, {MAX_FLAP_CYCLES}]")
    down, up = _seconds(down_s, "down_s", 600), _seconds(up_s, "up_s", 600)
    d = _direction(direction)
    done = 0
    try:
        for i in range(n):
            sever_link(d, link)
            time.sleep(down)
            heal_link(link)
            done += 1
            if i < n - 1:
                time.sleep(up)
    finally:
        if done < n:
            heal_link(link)
    return {"cycles": done, "down_s": down, "up_s": up, "direction": d}


# ---- object stores -----------------------------------------------------------------------

def block_object_store(store: str) -> dict[str, Any]:
    """Drop all traffic to one object store (store name or cloud name): timeouts, not refusals."""
    st = inventory.load().store(store)
    faults.block_object_store(st.name)
    windows.record_start("block_object_store", st.name)
    return {"blocked": st.name, "at": _now()}


def unblock_object_store(store: str) -> dict[str, Any]:
    st = inventory.load().store(store)
    t0 = time.time_ns()
    faults.unblock_object_store(st.name)
    windows.record_end("block_object_store", st.name, ts_ns=t0)
    return {"unblocked": st.name, "at": _now()}


# ---- everything ------------------------------------------------------------------------------

def heal_all() -> dict[str, Any]:
    """Undo every fault recorded in the inventory (whoever injected it)."""
    t0 = time.time_ns()
    healed = faults.heal_all()
    for f in healed:
        windows.record_end(f.kind, f.target, ts_ns=t0)
    return {"healed": [f"{f.kind}:{f.target}" for f in healed]}


def hold(seconds: float | str) -> dict[str, Any]:
    """Wait (baseline, fault hold, recovery window); at most an hour."""
    s = _seconds(seconds, "seconds")
    time.sleep(s)
    return {"held_s": s}


# ---- load ----------------------------------------------------------------------------------

def _safe_topic(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "-", name)[:200]


def drill_run_dir() -> Path:
    """RIFTDRILL_RUN_DIR (set by `riftdrill drill`); under a stock `chaos run`, a new
    results/runs/<UTC>-chaos directory, exported so later activities find it."""
    run_dir = windows.run_dir_from_env()
    if run_dir is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        run_dir = paths.results_dir() / "runs" / f"{stamp}-chaos"
        os.environ[windows.RUN_DIR_ENV] = str(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def start_load(rate: float | str = 200, duration_s: float | str = 600, size: int | str = 1024,
               partitions: int | str = 6, topic: str = "",
               delivery_timeout_ms: int | str = 30000,
               profile: str = "idempotent") -> dict[str, Any]:
    """Start the background load (acks=all, the inventory's RF, a fresh topic per drill unless
    `topic` is given). `duration_s` is only a safety bound: `stop_load` ends it. `profile`:
    "idempotent" (the drills' contract) or "legacy" (idempotence off)."""
    from riftdrill.load.runner import LoadSpec
    from riftdrill.load.runner import start_load as _start

    run_dir = drill_run_dir()
    spec = LoadSpec(rate_per_s=float(rate), duration_s=float(duration_s), size_bytes=int(size),
                    partitions=int(partitions), topic=topic or _safe_topic(f"drill-{run_dir.name}"),
                    delivery_timeout_ms=int(delivery_timeout_ms),
                    profile=profile)  # type: ignore[arg-type]  # validated: bad one is one line
    pid = _start(spec, run_dir, paths.inventory_path())
    return {"pid": pid, "run_dir": str(run_dir), "topic": spec.topic, "rate": spec.rate_per_s,
            "profile": spec.profile}


def stop_load() -> dict[str, Any]:
    """Stop the drill's background load (flushes ledgers, writes the timeline); idempotent."""
    from riftdrill.load.runner import stop_load as _stop

    run_dir = windows.run_dir_from_env()
    if run_dir is None:
        return {"stopped": False, "reason": "no load was started"}
    result = _stop(run_dir)
    if result is None:
        return {"stopped": False, "reason": "no load result"}
    return {"stopped": True, "sent": result.sent, "acked": result.acked, "failed": result.failed,
            "consumed": result.consumed}


def restart_faulted_brokers() -> dict[str, Any]:
    """Restart every broker under a kill or pause fault (after a role-targeted kill the role
    has moved on, so the heal names no broker)."""
    names = sorted({f.target for f in inventory.load().faults if f.kind in BROKER_FAULTS})
    _, seconds = _restart(names)
    return {"restarted": names, "seconds": seconds}
