"""Chaos Toolkit actions (python provider, module `riftdrill.chaos.actions`).

Each action finds the inventory the way every riftdrill command does (RIFTDRILL_HOME, else the
checkout around the working directory), reads it once to resolve its target to an object
(`Broker`, `Link`, `ObjectStore`) and hands that object to one primitive of `riftdrill.faults`,
which records the fault in the inventory first (one locked write, so `riftdrill heal` can
always undo it) and applies it. The fault window is appended to `<run_dir>/faults.jsonl` for the
recovery math; the run directory and the fault owner come from the run context the experiment's
`configuration` carries (`RunContext.from_configuration`). A window starts when the driver saw
the fault in effect (pid gone, state stopped, nft rule listed back, store unreachable) and ends
when it saw the heal in effect (broker listening, state running, rule gone, store reachable):
the driver's `Effect`, whose request time and observation (`requested_ns`, `confirmed_by`) the
window keeps too. A heal of everything at once (`heal_all`) ends its windows when it returned.

Targets (`broker=`): a name or node id, or a role: "leader" / "leader:<topic>" (the broker
leading most partitions), "controller" (the active KRaft controller); `kill_cloud(cloud=)` takes
every broker of one cloud. See `riftdrill.chaos.targets`.

Arguments arrive from `--var`/configuration as strings; every numeric argument is coerced.
Activities that need the run context take `configuration` as their last argument (chaoslib
passes the experiment's configuration to it).
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

from riftdrill import faults, inventory, paths
from riftdrill.chaos import interrupt, targets, windows
from riftdrill.context import RunContext
from riftdrill.drivers.base import Effect
from riftdrill.errors import FaultError, ValidationError
from riftdrill.inventory import Broker, ConnectWorker, Direction, FaultKind, Inventory, Link
from riftdrill.lab.procs import pid_alive
from riftdrill.security import acls

__all__ = [
    "await_checkpoints",
    "await_mirror_copying",
    "await_replication",
    "block_object_store",
    "brownout_object_store",
    "clear_object_store_weather",
    "degrade_link",
    "fail_back_consumers",
    "fail_back_producers",
    "fail_over_consumers",
    "fail_over_producers",
    "finish_rotation",
    "flap_link",
    "heal_all",
    "heal_link",
    "hold",
    "kill_broker",
    "kill_cloud",
    "kill_database",
    "kill_mirror",
    "kill_worker",
    "nemesis",
    "pause_broker",
    "pause_connector",
    "pause_database",
    "restart_broker",
    "restart_cloud",
    "restart_database",
    "restart_faulted_brokers",
    "restart_mirror",
    "restart_worker",
    "restore_acl",
    "restore_link",
    "resume_broker",
    "resume_connector",
    "resume_database",
    "revoke_acl",
    "rotate_scram",
    "sever_link",
    "start_load",
    "stop_load",
    "unblock_object_store",
]

MAX_HOLD_S = 3600.0
MAX_FLAP_CYCLES = 20
DIRECTIONS: tuple[Direction, ...] = get_args(Direction)


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


# ---- the run context -------------------------------------------------------------------------
# Without one (an experiment run without the riftdrill control) faults are still applied and
# recorded, owned by nobody (0), and no fault window is written.

def _owner(ctx: RunContext | None) -> int:
    return ctx.owner_pid if ctx else 0


def _hold_s(configuration: dict[str, Any] | None) -> float | None:
    """The drill's fault hold (its `hold_s` configuration), which sets the deadline a cloud
    fault carries (riftdrill.expiry); None when the experiment has none (the by-hand deadline)."""
    try:
        hold = float((configuration or {}).get("hold_s"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return hold if 0 <= hold <= MAX_HOLD_S else None


def _clock_ns(ctx: RunContext | None) -> int:
    return ctx.clock_ns() if ctx else time.time_ns()


def _started(ctx: RunContext | None, kind: FaultKind, target: str, effect: Effect,
             direction: Direction = "both") -> None:
    """Open a fault window at the instant the driver saw the fault in effect."""
    if ctx is not None:
        windows.record_start(kind, target, direction, run_dir=ctx.run_dir,
                             ts_ns=effect.confirmed_ns, requested_ns=effect.requested_ns,
                             confirmed_by=effect.confirmed_by)


def _ended(ctx: RunContext | None, kind: FaultKind, target: str, effect: Effect) -> None:
    """Close a fault window at the instant the driver saw the heal in effect."""
    if ctx is not None:
        windows.record_end(kind, target, run_dir=ctx.run_dir, ts_ns=effect.confirmed_ns,
                           requested_ns=effect.requested_ns, confirmed_by=effect.confirmed_by)


# ---- brokers -------------------------------------------------------------------------------

def kill_broker(broker: str, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """SIGKILL one broker (name, id, "leader[:topic]" or "controller"); it stays down until
    `restart_broker`."""
    ctx = RunContext.from_configuration(configuration)
    b = targets.resolve_one(inventory.load(), broker, run_dir=ctx.run_dir if ctx else None)
    faults.kill_broker(b, owner_pid=_owner(ctx), hold_s=_hold_s(configuration),
                       on_effect=lambda e: _started(ctx, "kill_broker", b.name, e))
    return {"killed": b.name, "id": b.id, "cloud": b.cloud, "at": _now()}


def pause_broker(broker: str, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """SIGSTOP one broker: alive to the kernel, silent to its peers (the gray failure)."""
    ctx = RunContext.from_configuration(configuration)
    b = targets.resolve_one(inventory.load(), broker, run_dir=ctx.run_dir if ctx else None)
    faults.pause_broker(b, owner_pid=_owner(ctx), hold_s=_hold_s(configuration),
                        on_effect=lambda e: _started(ctx, "pause_broker", b.name, e))
    return {"paused": b.name, "id": b.id, "cloud": b.cloud, "at": _now()}


BROKER_FAULTS = faults.BROKER_FAULTS


def _restart(ctx: RunContext | None, inv: Inventory,
             brokers: list[Broker]) -> tuple[dict[str, list[str]], float]:
    """Restart brokers and close the fault windows they were under: ({name: kinds}, seconds)."""
    kinds: dict[str, list[FaultKind]] = {
        b.name: [f.kind for f in inv.faults_on(BROKER_FAULTS, b.name)] for b in brokers
    }
    t0 = _clock_ns(ctx)

    def close_windows(b: Broker, effect: Effect) -> None:
        for kind in kinds[b.name]:
            _ended(ctx, kind, b.name, effect)

    faults.restart_brokers(inv, brokers, on_restarted=close_windows)
    return {n: list(k) for n, k in kinds.items()}, round((_clock_ns(ctx) - t0) / 1e9, 3)


def resume_broker(broker: str, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """SIGCONT a paused broker."""
    ctx = RunContext.from_configuration(configuration)
    inv = inventory.load()
    b = targets.resolve_one(inv, broker, run_dir=ctx.run_dir if ctx else None)
    _ended(ctx, "pause_broker", b.name, faults.resume_broker(inv, b))
    return {"resumed": b.name, "at": _now()}


def restart_broker(broker: str, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Bring a killed or paused broker back (waits until it listens again)."""
    ctx = RunContext.from_configuration(configuration)
    inv = inventory.load()
    b = targets.resolve_one(inv, broker, run_dir=ctx.run_dir if ctx else None)
    kinds, seconds = _restart(ctx, inv, [b])
    return {"restarted": b.name, "healed": kinds[b.name], "seconds": seconds}


def kill_cloud(cloud: str, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """SIGKILL every broker of one cloud (a whole-cloud outage)."""
    ctx = RunContext.from_configuration(configuration)
    brokers = targets.resolve(inventory.load(), f"cloud:{cloud}")
    faults.kill_brokers(brokers, owner_pid=_owner(ctx), hold_s=_hold_s(configuration),
                        on_killed=lambda fault, e: _started(ctx, "kill_broker", fault.target, e))
    return {"killed": [b.name for b in brokers], "cloud": cloud, "at": _now()}


def restart_cloud(cloud: str, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Restart every broker of one cloud that is killed or paused."""
    ctx = RunContext.from_configuration(configuration)
    inv = inventory.load()
    brokers = targets.resolve(inv, f"cloud:{cloud}")
    _, seconds = _restart(ctx, inv, brokers)
    return {"restarted": [b.name for b in brokers], "seconds": seconds}


def restart_faulted_brokers(configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Restart every broker under a kill or pause fault (after a role-targeted kill the role
    has moved on, so the heal names no broker)."""
    ctx = RunContext.from_configuration(configuration)
    inv = inventory.load()
    names = sorted({f.target for f in inv.faults_on(BROKER_FAULTS)})
    _, seconds = _restart(ctx, inv, [inv.broker(n) for n in names])
    return {"restarted": names, "seconds": seconds}


# ---- the link --------------------------------------------------------------------------------

def _direction(direction: str) -> Direction:
    for d in DIRECTIONS:
        if direction == d:
            return d
    raise ValidationError(f"invalid direction: {direction!r}; use {', '.join(DIRECTIONS[:-1])} "
                          f"or {DIRECTIONS[-1]}")


def _sever(ctx: RunContext | None, lk: Link, d: Direction, hold_s: float | None) -> None:
    faults.sever_link(lk, d, owner_pid=_owner(ctx), hold_s=hold_s,
                      on_effect=lambda e: _started(ctx, "sever_link", lk.name, e, d))


def _heal(ctx: RunContext | None, lk: Link) -> None:
    _ended(ctx, "sever_link", lk.name, faults.heal_link(lk))


def sever_link(direction: str = "both", link: str | None = None,
               configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Cut the cross-cloud link: both ways, or one way ("a-to-b": the link's a side can no
    longer send to its b side) for an asymmetric partition."""
    d = _direction(direction)
    lk = inventory.load().link(link or None)
    _sever(RunContext.from_configuration(configuration), lk, d, _hold_s(configuration))
    return {"severed": lk.name, "direction": d, "at": _now()}


def heal_link(link: str | None = None, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Remove every sever of the link."""
    lk = inventory.load().link(link or None)
    _heal(RunContext.from_configuration(configuration), lk)
    return {"healed": lk.name, "at": _now()}


def degrade_link(latency_ms: float | str = 300, jitter_ms: float | str = 50,
                 loss_pct: float | str = 2, rate_mbit: float | str = 10,
                 direction: str = "both", link: str | None = None,
                 configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Bad weather on the cross-cloud link until restore_link: one-way latency, jitter, loss and
    a bandwidth cap (0: unlimited), both ways or one way (the other keeps its weather)."""
    from riftdrill.lab import wan

    try:
        bad = wan.validated(wan.WanProfile(latency_ms=float(latency_ms),
                                           jitter_ms=float(jitter_ms),
                                           loss_pct=float(loss_pct), rate_mbit=float(rate_mbit)))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"invalid link weather: {exc}") from None
    d = _direction(direction)
    ctx = RunContext.from_configuration(configuration)
    lk = inventory.load().link(link or None)
    weather = wan.degraded(wan.from_json(lk.model_dump()), bad, d)
    faults.degrade_link(lk, weather, owner_pid=_owner(ctx),
                        on_effect=lambda e: _started(ctx, "degrade_link", lk.name, e, d))
    return {"degraded": lk.name, "direction": d, "weather": weather, "at": _now()}


def restore_link(link: str | None = None,
                 configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """The link's deployed weather again."""
    lk = inventory.load().link(link or None)
    _ended(RunContext.from_configuration(configuration), "degrade_link", lk.name,
           faults.restore_link(lk))
    return {"restored": lk.name, "at": _now()}


def flap_link(cycles: int | str = 3, down_s: float | str = 5, up_s: float | str = 5,
              direction: str = "both", link: str | None = None,
              configuration: dict[str, Any] | None = None) -> dict[str, Any]:
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
    ctx = RunContext.from_configuration(configuration)
    lk = inventory.load().link(link or None)
    done = 0
    try:
        for i in range(n):
            _sever(ctx, lk, d, down)
            time.sleep(down)
            _heal(ctx, lk)
            done += 1
            if i < n - 1:
                time.sleep(up)
    finally:
        if done < n:
            _heal(ctx, lk)
    return {"cycles": done, "down_s": down, "up_s": up, "direction": d}


# ---- object stores -----------------------------------------------------------------------

def block_object_store(store: str, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Drop all traffic to one object store (store name or cloud name): timeouts, not refusals."""
    ctx = RunContext.from_configuration(configuration)
    st = inventory.load().store(store)
    faults.block_object_store(st, owner_pid=_owner(ctx), hold_s=_hold_s(configuration),
                              on_effect=lambda e: _started(ctx, "block_object_store", st.name, e))
    return {"blocked": st.name, "at": _now()}


def unblock_object_store(store: str, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    ctx = RunContext.from_configuration(configuration)
    st = inventory.load().store(store)
    _ended(ctx, "block_object_store", st.name, faults.unblock_object_store(st))
    return {"unblocked": st.name, "at": _now()}


def brownout_object_store(store: str, latency_ms: float | str = 500,
                          jitter_ms: float | str = 200, error_pct: float | str = 20,
                          error_status: int | str = 503, throttle_rps: float | str = 0,
                          burst: int | str = 1,
                          configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Object-store weather until clear_object_store_weather: requests delayed latency_ms +-
    jitter_ms, error_pct of them answered error_status (503 SlowDown / 500), and above
    throttle_rps (0: off) throttled as the service does (S3 503 SlowDown, GCS 429)."""
    from riftdrill.lab import storeweather

    try:
        w = storeweather.validated(storeweather.StoreWeather(
            latency_ms=float(latency_ms), jitter_ms=float(jitter_ms), error_pct=float(error_pct),
            error_status=int(error_status), throttle_rps=float(throttle_rps), burst=int(burst)))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"invalid store weather: {exc}") from None
    ctx = RunContext.from_configuration(configuration)
    st = inventory.load().store(store)
    faults.brownout_store(st, w.to_json(), owner_pid=_owner(ctx),
                          on_effect=lambda e: _started(ctx, "brownout_store", st.name, e))
    return {"brownout": st.name, "weather": w.to_json(), "at": _now()}


def clear_object_store_weather(store: str,
                               configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """The store answers normally again."""
    ctx = RunContext.from_configuration(configuration)
    st = inventory.load().store(store)
    _ended(ctx, "brownout_store", st.name, faults.clear_store_weather(st))
    return {"cleared": st.name, "at": _now()}


# ---- ACLs (security sasl-tls) ----------------------------------------------------------------

def revoke_acl(role: str = "load", configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Take a role's write ACLs away on every cluster (its producers are refused:
    TOPIC_AUTHORIZATION_FAILED) until `restore_acl`; the window starts when DescribeAcls no
    longer lists them. Refused in one line on a lab deployed with security off."""
    ctx = RunContext.from_configuration(configuration)
    faults.revoke_acl(inventory.load(), role, owner_pid=_owner(ctx),
                      on_effect=lambda e: _started(ctx, "revoke_acl", role, e))
    return {"revoked": role, "operations": list(acls.WRITE_OPERATIONS), "at": _now()}


def restore_acl(role: str = "load", configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Give the role its write ACLs back; the window ends when DescribeAcls lists them again."""
    ctx = RunContext.from_configuration(configuration)
    effect = faults.restore_acl(inventory.load(), role)
    _ended(ctx, "revoke_acl", role, effect)
    return {"restored": role, "at": _now(), "how": effect.confirmed_by}


def rotate_scram(role: str = "load",
                       configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Give the role's principal a new SCRAM password on every cluster and in its client file
    (security/rotation.py); the window starts when the new password logs in and the old one is
    refused everywhere, and lasts until `finish_rotation`: sessions log in again meanwhile."""
    ctx = RunContext.from_configuration(configuration)
    faults.rotate_scram(inventory.load(), role, owner_pid=_owner(ctx),
                              on_effect=lambda e: _started(ctx, "rotate_scram", role, e))
    return {"rotated": role, "at": _now()}


def finish_rotation(role: str = "load",
                    configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """The rotation over (completed first if a crash interrupted it)."""
    ctx = RunContext.from_configuration(configuration)
    effect = faults.finish_rotation(inventory.load(), role)
    _ended(ctx, "rotate_scram", role, effect)
    return {"finished": role, "at": _now(), "how": effect.confirmed_by}


# ---- everything ------------------------------------------------------------------------------

def heal_all(configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Undo every fault recorded in the inventory (whoever injected it)."""
    ctx = RunContext.from_configuration(configuration)
    t0 = _clock_ns(ctx)
    healed = faults.heal_all()
    done = Effect(t0, _clock_ns(ctx), "heal_all returned")  # each heal confirmed by its driver
    for f in healed:
        _ended(ctx, f.kind, f.target, done)
    return {"healed": [f"{f.kind}:{f.target}" for f in healed]}


def hold(seconds: float | str) -> dict[str, Any]:
    """Wait (baseline, fault hold, recovery window); at most an hour. An interrupted run does
    not wait it out: Ctrl-C raises in the main thread, and a hold in a background thread ends
    as soon as the riftdrill control requests the stop."""
    s = _seconds(seconds, "seconds")
    t0 = time.monotonic()
    if not interrupt.sleep_s(s):
        return {"held_s": round(time.monotonic() - t0, 3), "interrupted": True}
    return {"held_s": s}


# ---- the nemesis: many faults over a soak (chaos/nemesis.py) ----------------------------------

FLAP_HALF_PERIOD_S = 1.0  # a nemesis link flap: down this long, up this long, in turns
FLAP_JOIN_S = 30.0  # a sever or heal in flight when the flap is told to stop


@dataclass
class _Flap:
    stop: threading.Event
    thread: threading.Thread
    errors: list[str]


_FLAPS: dict[str, _Flap] = {}


def _start_flap(link: str, configuration: dict[str, Any] | None) -> dict[str, Any]:
    """A nemesis link flap: sever and heal the link in turns in a thread of the nemesis, until
    `_stop_flap` (its hold is the nemesis's); every sever is recorded as a fault of its own."""
    ctx = RunContext.from_configuration(configuration)
    lk = inventory.load().link(link or None)
    stop, errors = threading.Event(), []

    def run() -> None:
        try:
            while not stop.is_set():
                _sever(ctx, lk, "both", None)
                stop.wait(FLAP_HALF_PERIOD_S)
                _heal(ctx, lk)
                stop.wait(FLAP_HALF_PERIOD_S)
        except Exception as exc:  # told at the stop, which heals the link
            errors.append(f"{type(exc).__name__}: {exc}")

    flap = _FLAPS[lk.name] = _Flap(stop, threading.Thread(target=run, name=f"flap-{lk.name}",
                                                          daemon=True), errors)
    flap.thread.start()
    return {"flapping": lk.name, "half_period_s": FLAP_HALF_PERIOD_S, "at": _now()}


def _stop_flap(link: str, configuration: dict[str, Any] | None) -> dict[str, Any]:
    lk = inventory.load().link(link or None)
    flap = _FLAPS.pop(lk.name, None)
    if flap is not None:
        flap.stop.set()
        flap.thread.join(FLAP_JOIN_S)
    _heal(RunContext.from_configuration(configuration), lk)  # the link is left up
    if flap is not None and flap.errors:
        raise FaultError(f"the flap of {lk.name} failed: {flap.errors[0]}")
    return {"healed": lk.name, "at": _now()}


_INJECT: dict[str, Any] = {
    "broker-kill": lambda t, c: kill_broker(t, c),
    "broker-pause": lambda t, c: pause_broker(t, c),
    "leader-kill": lambda t, c: kill_broker(t, c),
    "link-flap": _start_flap,
    "link-sever": lambda t, c: sever_link("both", t, c),
    "link-asymmetric": lambda t, c: sever_link("a-to-b", t, c),
    "link-degrade": lambda t, c: degrade_link(link=t, configuration=c),
    "store-outage": lambda t, c: block_object_store(t, c),
    "store-brownout": lambda t, c: brownout_object_store(t, configuration=c),
    "mirror-kill": lambda t, c: kill_mirror(t, c),
}
_HEAL: dict[str, Any] = {
    "broker-kill": lambda t, c: restart_broker(t, c),
    "broker-pause": lambda t, c: resume_broker(t, c),
    # a leader kill holds every broker (nemesis.clash): the only broker fault open is its own
    "leader-kill": lambda t, c: restart_faulted_brokers(c),
    "link-flap": _stop_flap,
    "link-sever": lambda t, c: heal_link(t, c),
    "link-asymmetric": lambda t, c: heal_link(t, c),
    "link-degrade": lambda t, c: restore_link(t, c),
    "store-outage": lambda t, c: unblock_object_store(t, c),
    "store-brownout": lambda t, c: clear_object_store_weather(t, c),
    "mirror-kill": lambda t, c: restart_mirror(t, c),
}


def nemesis(kinds: str = "", soak_s: float | str = 3600, interval_s: float | str = 15,
            fault_hold_s: float | str = 5, max_concurrent: int | str = 1,
            seed: int | str = 1, schedule: str = "fixed", replay: str = "",
            budget_usd: float | str = 0,
            configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Inject the soak's faults on their schedule (chaos/nemesis.py), each healed after its
    hold; returns when the last is healed. The schedule, with when each fault really began and
    ended, is in the run's nemesis.json. Interrupted, it heals what it opened and returns."""
    from riftdrill.chaos import nemesis as nm
    from riftdrill.load.runner import spec_of

    ctx = _need_context(configuration, "nemesis")
    spec = spec_of(ctx.run_dir / "load")
    plan = nm.schedule_from(inventory.load(), kinds=kinds, soak_s=soak_s, interval_s=interval_s,
                            fault_hold_s=fault_hold_s, max_concurrent=max_concurrent, seed=seed,
                            schedule=schedule, replay=replay, budget_usd=budget_usd,
                            load_max_s=spec.duration_s if spec is not None else None)
    # each fault's own hold sets the deadline a cloud fault carries (riftdrill.expiry)
    conf = {**(configuration or {}), "hold_s": plan.hold_s}
    outcomes = {f.index: nm.Outcome(f.index) for f in plan.faults}
    record = ctx.run_dir / nm.RECORD_FILE
    # the wall clock of the schedule's start: outcomes are seconds from it (chaos/perfault.py
    # places each fault on the run's acks with it)
    started: dict[str, float] = {}

    def write() -> None:
        data = {**plan.to_json(), **started,
                "outcomes": [asdict(o) for o in outcomes.values()]}
        record.write_text(json.dumps(data, indent=1) + "\n")

    write()  # the exact schedule is in the run before the first fault
    # Under `riftdrill drill` chaos runs in its own session: a SIGKILLed runner would leave it
    # injecting for the rest of the soak, behind any `riftdrill heal`. So the nemesis stops,
    # and heals what it opened, once the run's owner is gone.
    owner = ctx.owner_pid
    started["started_epoch_s"] = round(time.time(), 3)
    interrupted = nm.execute(plan, outcomes,
                             inject=lambda f: _INJECT[f.kind](f.target, conf),
                             heal=lambda f: _HEAL[f.kind](f.target, conf),
                             sleep_s=interrupt.sleep_while(
                                 lambda: not owner or owner == os.getpid() or pid_alive(owner)),
                             on_change=write)
    done = [o for o in outcomes.values() if o.injected_at_s is not None]
    return {"faults": len(done), "planned": len(plan.faults),
            "kinds": sorted({plan.faults[o.index].kind for o in done}),
            "seed": plan.seed, "schedule": plan.mode, "interrupted": interrupted,
            "record": str(record)}


# ---- load ----------------------------------------------------------------------------------

# ---- MirrorMaker 2 and failover ---------------------------------------------------------------

def kill_mirror(mirror: str = "", configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """SIGKILL a MirrorMaker 2 ("" = the first); it stays down until `restart_mirror`."""
    ctx = RunContext.from_configuration(configuration)
    mm = inventory.load().mirror(mirror)
    faults.kill_mirror(mm, owner_pid=_owner(ctx),
                       on_effect=lambda e: _started(ctx, "stop_mirror", mm.name, e))
    return {"killed": mm.name, "source": mm.source, "target": mm.target, "at": _now()}


def restart_mirror(mirror: str = "", configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    ctx = RunContext.from_configuration(configuration)
    inv = inventory.load()
    mm = inv.mirror(mirror)
    effect = faults.restart_mirror(inv, mm)
    _ended(ctx, "stop_mirror", mm.name, effect)
    return {"restarted": mm.name, "at": _now(), "how": effect.confirmed_by}


# ---- the integration hub: Connect workers and databases --------------------------------------

def _source_task_worker(inv: Inventory) -> ConnectWorker:
    """The worker running the source connector's task: killing it moves the CDC stream."""
    from riftdrill.hub.pipeline import ConnectRest

    hub = inv.require_hub()
    status = ConnectRest([w.rest_url for w in hub.workers]).status(hub.source_connector)
    tasks = status.get("tasks") or []
    worker_id = str((tasks[0] if tasks else status.get("connector", {})).get("worker_id", ""))
    for w in hub.workers:
        if worker_id == f"{w.address}:{w.rest_port}":
            return w
    raise ValidationError(f"no worker of the hub runs {hub.source_connector}'s task (status "
                          f"names {worker_id or 'none'}); name one: worker=<name or cloud>")


def kill_worker(worker: str = "", configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """SIGKILL a Connect worker of the hub (name or cloud; "" = the one running the source
    connector's task); it stays down until `restart_worker`."""
    ctx = RunContext.from_configuration(configuration)
    inv = inventory.load()
    w = inv.require_hub().worker(worker) if worker else _source_task_worker(inv)
    faults.kill_worker(w, owner_pid=_owner(ctx),
                       on_effect=lambda e: _started(ctx, "stop_worker", w.name, e))
    return {"killed": w.name, "cloud": w.cloud, "at": _now()}


def restart_worker(worker: str = "", configuration: dict[str, Any] | None = None
                   ) -> dict[str, Any]:
    """Start a killed worker again ("" = every worker a fault stopped)."""
    ctx = RunContext.from_configuration(configuration)
    inv = inventory.load()
    hub = inv.require_hub()
    names = [worker] if worker else list(dict.fromkeys(
        f.target for f in inv.faults_on("stop_worker")))
    out = []
    for name in names:
        w = hub.worker(name)
        effect = faults.restart_worker(inv, w)
        _ended(ctx, "stop_worker", w.name, effect)
        out.append({"restarted": w.name, "how": effect.confirmed_by})
    return {"workers": out, "at": _now()}


def pause_connector(connector: str = "source",
                    configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Pause a hub connector (name or role) through Connect's REST API: its tasks stop, its
    offsets stay; until `resume_connector`."""
    ctx = RunContext.from_configuration(configuration)
    name = inventory.load().require_hub().connector(connector)
    faults.pause_connector(name, owner_pid=_owner(ctx),
                           on_effect=lambda e: _started(ctx, "pause_connector", name, e))
    return {"paused": name, "at": _now()}


def resume_connector(connector: str = "source",
                     configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    ctx = RunContext.from_configuration(configuration)
    inv = inventory.load()
    name = inv.require_hub().connector(connector)
    effect = faults.resume_connector(inv, name)
    _ended(ctx, "pause_connector", name, effect)
    return {"resumed": name, "at": _now(), "how": effect.confirmed_by}


def kill_database(database: str = "source",
                  configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Crash a hub database (name or role; every server process at once, WAL replay at the
    next start); down until `restart_database`."""
    ctx = RunContext.from_configuration(configuration)
    db = inventory.load().require_hub().database(database)
    faults.kill_database(db, owner_pid=_owner(ctx),
                         on_effect=lambda e: _started(ctx, "stop_database", db.name, e))
    return {"crashed": db.name, "role": db.role, "at": _now()}


def restart_database(database: str = "source",
                     configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    ctx = RunContext.from_configuration(configuration)
    inv = inventory.load()
    db = inv.require_hub().database(database)
    effect = faults.restart_database(inv, db)
    _ended(ctx, "stop_database", db.name, effect)
    return {"restarted": db.name, "at": _now(), "how": effect.confirmed_by}


def pause_database(database: str = "sink",
                   configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Freeze a hub database (SIGSTOP of every server process); until `resume_database`."""
    ctx = RunContext.from_configuration(configuration)
    db = inventory.load().require_hub().database(database)
    faults.pause_database(db, owner_pid=_owner(ctx),
                          on_effect=lambda e: _started(ctx, "pause_database", db.name, e))
    return {"paused": db.name, "role": db.role, "at": _now()}


def resume_database(database: str = "sink",
                    configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    ctx = RunContext.from_configuration(configuration)
    inv = inventory.load()
    db = inv.require_hub().database(database)
    effect = faults.resume_database(inv, db)
    _ended(ctx, "pause_database", db.name, effect)
    return {"resumed": db.name, "at": _now(), "how": effect.confirmed_by}


CHECKPOINT_WAIT_S = 60.0  # MirrorMaker 2 checkpoints every 5 s in the lab (engines/kafka.py)
FAILOVER_MAX_S = 3600.0  # the failover consumer's own bound


def _failover_options(ctx: RunContext, inv: Inventory, source: str) -> tuple[Any, str | None]:
    """(mirrortail.Options of the failover consumer, its namespace) for the run's group moving
    from the cluster of cloud `source` to the cluster its MirrorMaker 2 copies it to; it reads
    as the load principal."""
    from riftdrill.load import failover, mirrortail
    from riftdrill.load.runner import consumer_group, run_start_ns, spec_of
    from riftdrill.security.client import client_security

    load_dir = ctx.run_dir / "load"
    spec = spec_of(load_dir)
    if spec is None:
        raise ValidationError(f"no load to fail over in {ctx.run_dir} (no readable "
                              "load/spec.json): start_load comes first")
    mm = inv.mirror_from(source)
    cloud = inv.cluster_named(mm.target).clouds[0]
    group = consumer_group(spec, ctx.run_dir)
    o = mirrortail.Options(
        mode="failover", bootstrap=inv.bootstrap(cloud, mm.target),
        topic=mirrortail.mirror_topic(mm.source, spec.topic), source_cluster=mm.source,
        cluster=mm.target, cloud=cloud, ledger=failover.ledger_path(load_dir, cloud),
        run_start_ns=run_start_ns(ctx.run_dir), max_s=FAILOVER_MAX_S,
        group=f"{group}.failover", source_group=group,
        security_file=client_security(inv.security, "load").file)
    return o, inv.cloud(cloud).namespace


def _need_context(configuration: dict[str, Any] | None, what: str) -> RunContext:
    ctx = RunContext.from_configuration(configuration)
    if ctx is None:
        raise ValidationError(f"{what} needs the run directory: declare the riftdrill control "
                              "(module riftdrill.chaos.control) in the experiment")
    return ctx


def await_checkpoints(source: str = "aws", timeout_s: float | str = CHECKPOINT_WAIT_S,
                      mirror: str | None = None,
                      configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Before a failover or mirror fault: wait until MirrorMaker 2 has checkpointed the run's
    group (its committed offsets in `source`'s cluster, or in `mirror`'s source cluster when a
    mirror is named; "" = the first) on the other cluster. A group that never committed, or a
    mirror that does not checkpoint it, raises: nothing is injected. (Without it, a mirror-kill
    whose first checkpoint came only after the restart showed no stop of checkpoints at all.)"""
    from riftdrill.load.mirrortail import read_checkpoints
    from riftdrill.security.client import ClientSecurity

    ctx = _need_context(configuration, "await_checkpoints")
    wait_s = _seconds(timeout_s, "timeout_s")
    inv = inventory.load()
    if mirror is not None:
        source = inv.cluster_named(inv.mirror(mirror).source).clouds[0]
    o, _ = _failover_options(ctx, inv, source)
    security = ClientSecurity.read(o.security_file)
    t0 = time.monotonic()
    while True:
        cps = read_checkpoints(o.bootstrap, o.source_cluster, o.source_group, o.topic,
                               timeout_s=10.0, security=security)
        waited = round(time.monotonic() - t0, 3)
        if cps:
            return {"group": o.source_group, "topic": o.topic, "partitions": len(cps),
                    "waited_s": waited}
        if waited >= wait_s or not interrupt.sleep_s(2.0):
            raise ValidationError(
                f"no MirrorMaker 2 checkpoint of group {o.source_group} for {o.topic} on cluster "
                f"{o.cluster} after {waited:g} s: the group never committed in {source}, or "
                "MirrorMaker 2 is not running (`riftdrill status`); nothing was injected")


REPLICATION_WAIT_S = 90.0  # MirrorMaker 2 finds a new topic at its next refresh (5 s)
BASELINE_AFTER_S = 6.0  # then a baseline of records that crossed (replication.BASELINE_S)


def await_replication(timeout_s: float | str = REPLICATION_WAIT_S,
                      configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Before a fault on the mirror: wait until the mirror tail has seen the run's records in
    the mirror (MirrorMaker 2 discovered the new topic and copies it), then BASELINE_AFTER_S
    more, so the replication lag has a baseline to come back to. Raises when nothing crossed:
    nothing is injected into a mirror that never copied."""
    from riftdrill.chaos.replication import first_polls

    ctx = _need_context(configuration, "await_replication")
    wait_s = _seconds(timeout_s, "timeout_s")
    t0 = time.monotonic()
    while True:
        seen = 0
        for path in sorted((ctx.run_dir / "load" / "mirror").glob("*-tail.rdc")):
            try:
                seen += len(first_polls(path))
            except (OSError, ValueError, KeyError):
                continue  # header not written yet
        waited = round(time.monotonic() - t0, 3)
        if seen:
            interrupt.sleep_s(BASELINE_AFTER_S)
            return {"mirrored_records": seen, "waited_s": waited}
        if waited >= wait_s or not interrupt.sleep_s(1.0):
            raise ValidationError(
                f"no record of the run reached the mirror within {waited:g} s: MirrorMaker 2 "
                "is not copying the run's topic (its log: `riftdrill status`, the lab's "
                "mirror log); nothing was injected")


COPYING_AGAIN_WAIT_S = 180.0  # a restarted MirrorMaker 2 copies again in 40-50 s in the lab


def _newest_visible_ns(run_dir: Path, sizes: dict[Path, int]) -> int:
    """The newest first poll in the run's mirror-tail ledgers, reading only a ledger that grew
    since the last call (`sizes`): while MirrorMaker 2 is down nothing is read again."""
    from riftdrill.chaos.replication import first_polls

    newest = 0
    for path in sorted((run_dir / "load" / "mirror").glob("*-tail.rdc")):
        try:
            size = path.stat().st_size
            if sizes.get(path) == size:
                continue
            newest = max([newest, *(v.ts_ns for v in first_polls(path).values())])
            sizes[path] = size
        except (OSError, ValueError, KeyError):
            continue  # header not written yet
    return newest


def await_mirror_copying(timeout_s: float | str = COPYING_AGAIN_WAIT_S,
                         configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """After a restart of MirrorMaker 2: wait until the mirror tail sees a record it had not
    seen before the call, so the recovery window that follows starts with replication running
    and shows the lag come back, however long the restart took (JVM, plugin scan, Connect
    group). Never raises: a mirror that stays silent is judged from the ledgers
    (never_mirrored, settled_reason), and the run goes on to its recovery window."""
    ctx = _need_context(configuration, "await_mirror_copying")
    wait_s = _seconds(timeout_s, "timeout_s")
    t0 = time.monotonic()
    sizes: dict[Path, int] = {}
    since_ns = max(_newest_visible_ns(ctx.run_dir, sizes), time.time_ns())
    while True:
        waited = round(time.monotonic() - t0, 3)
        if _newest_visible_ns(ctx.run_dir, sizes) > since_ns:
            return {"copying": True, "waited_s": waited}
        if waited >= wait_s or not interrupt.sleep_s(1.0):
            return {"copying": False, "waited_s": waited}


def fail_over_consumers(source: str = "aws",
                        configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Move the run's consumer group from `source`'s cluster to the mirror's cluster: a consumer
    there starts at MirrorMaker 2's translated offsets (the group's checkpoints) and reads the
    mirror topic until `fail_back_consumers` (or the load's stop)."""
    from riftdrill.load import failover

    ctx = _need_context(configuration, "fail_over_consumers")
    o, ns = _failover_options(ctx, inventory.load(), source)
    st = failover.start(ctx.run_dir / "load", o, ns, source)
    return {"group": o.group, "from_group": o.source_group, "topic": o.topic,
            "cluster": o.cluster, "pid": st.pid, "at": _now()}


def fail_back_consumers(configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Stop the failed-over consumer (it commits, then exits): the group is back on its own
    cluster, where its members resume from their own committed offsets."""
    from riftdrill.load import failover

    ctx = _need_context(configuration, "fail_back_consumers")
    st = failover.stop(ctx.run_dir / "load")
    if st is None:
        return {"failed_back": False, "reason": "no consumer had failed over"}
    return {"failed_back": True, "group": st.group, "at": _now()}


def fail_over_producers(source: str = "aws",
                        configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Point the producers placed in `source` at the cluster its MirrorMaker 2 copies to (the
    run's topic there): they purge what the lost cluster still held and write on there, each
    into a new ledger naming that cluster, so one verdict covers both clusters' acks."""
    from riftdrill.load.switch import write_switch

    ctx = _need_context(configuration, "fail_over_producers")
    inv = inventory.load()
    mm = inv.mirror_from(source)
    bootstrap = inv.bootstrap(source, mm.target)
    write_switch(ctx.run_dir / "load", source, bootstrap, mm.target)
    return {"cloud": source, "cluster": mm.target, "bootstrap": bootstrap, "at": _now()}


def fail_back_producers(source: str = "aws",
                        configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Point the producers placed in `source` back at their own cloud's cluster."""
    from riftdrill.load.switch import write_switch

    ctx = _need_context(configuration, "fail_back_producers")
    inv = inventory.load()
    cluster = inv.cluster_of(source).name
    bootstrap = inv.bootstrap(source)
    write_switch(ctx.run_dir / "load", source, bootstrap, cluster)
    return {"cloud": source, "cluster": cluster, "bootstrap": bootstrap, "at": _now()}


def _safe_topic(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "-", name)[:200]


def start_load(rate: float | str = 200, duration_s: float | str = 600, size: int | str = 1024,
               partitions: int | str = 6, topic: str = "",
               delivery_timeout_ms: int | str = 30000,
               profile: str = "idempotent", trace_memory: bool | str = False,
               configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Start the background load (acks=all, the inventory's RF, a fresh topic per drill unless
    `topic` is given) in the run directory. `duration_s` is only a safety bound: `stop_load`
    ends it. `profile`: "idempotent" (the drills' contract) or "legacy" (idempotence off).
    Returns once every cloud's load has had an ack (at most LOAD_READY_S), so the baseline
    window that follows measures a load that flows. `trace_memory` (true/false): the
    tracemalloc diagnostic in each load process (load/tracemem.py)."""
    from riftdrill.load.runner import LoadSpec, running_clouds
    from riftdrill.load.runner import start_load as _start

    ctx = RunContext.from_configuration(configuration)
    if ctx is None:
        # Without a run directory stop_load could never find the load: it would run unstopped.
        raise ValidationError("start_load needs the run directory: declare the riftdrill control "
                              "(module riftdrill.chaos.control) in the experiment, or pass "
                              "--var run_dir=<dir>")
    trace = str(trace_memory).strip().lower()
    if trace not in ("true", "false", "1", "0", ""):
        raise ValidationError(f"trace_memory {trace_memory!r} is not true or false: pass "
                              "--var trace_memory=true (or false)")
    run_dir = ctx.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    spec = LoadSpec(rate_per_s=float(rate), duration_s=float(duration_s), size_bytes=int(size),
                    partitions=int(partitions), topic=topic or _safe_topic(f"drill-{run_dir.name}"),
                    delivery_timeout_ms=int(delivery_timeout_ms),
                    profile=profile,  # type: ignore[arg-type]  # validated: bad one is one line
                    trace_memory=trace in ("true", "1"))
    pid = _start(spec, run_dir, paths.inventory_path())
    ready_s, not_ready = wait_load_ready(run_dir / "load", running_clouds(run_dir))
    return {"pid": pid, "run_dir": str(run_dir), "topic": spec.topic, "rate": spec.rate_per_s,
            "profile": spec.profile, "ready_s": ready_s, "no_ack_yet": not_ready}


LOAD_READY_S = 30.0  # at most this long for every cloud's producers to get their first ack


def wait_load_ready(load_dir: Path, clouds: list[str], timeout_s: float = LOAD_READY_S
                    ) -> tuple[float, list[str]]:
    """Wait until the load in every one of `clouds` has had an ack, or `timeout_s`: the baseline
    window starts once the load flows everywhere, so a cloud whose first sends were still
    waiting for their first ack (producer id, metadata across the link) when the fault came is
    not judged an unhealthy baseline. Returns (seconds waited, clouds still without an ack): a
    cloud that never gets one is left to the verdict's baseline check."""
    from riftdrill.load.aggregate import MetricsTail, acked_clouds

    tail = MetricsTail(load_dir)
    t0 = time.monotonic()
    acked: set[str] = set()
    while True:
        acked |= acked_clouds(tail.poll())
        missing = [c for c in clouds if c not in acked]
        waited = round(time.monotonic() - t0, 3)
        if not missing or waited >= timeout_s or not interrupt.sleep_s(0.2):
            return waited, missing


def stop_load(configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Stop the drill's background load (flushes ledgers, writes the timeline); idempotent."""
    from riftdrill.load.runner import stop_load as _stop

    ctx = RunContext.from_configuration(configuration)
    if ctx is None:
        return {"stopped": False, "reason": "no load was started"}
    result = _stop(ctx.run_dir)
    if result is None:
        return {"stopped": False, "reason": "no load result"}
    return {"stopped": True, "sent": result.sent, "acked": result.acked, "failed": result.failed,
            "consumed": result.consumed}
