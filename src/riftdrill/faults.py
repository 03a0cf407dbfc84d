"""Fault primitives: record in the inventory, then apply through the target's driver.

These are what `riftdrill fault ...`, `riftdrill heal`, `riftdrill compare` and the Chaos Toolkit
actions call, with the objects their caller resolved from the inventory (`Broker`, `Link`,
`ObjectStore`): nothing here looks a name up again. Each primitive does one locked
read-modify-write of the inventory (`inventory.locked`):

- injecting records the fault first, so a crash cannot orphan it, then applies it with the
  inventory it just wrote (declarative network faults need the new record to be in it);
- bringing a broker back applies first, with the caller's inventory, then forgets;
- healing a network fault forgets first, then makes the target match what is still recorded.

`revoke_acl` is declarative the same way, on the cluster's own API rather than a driver's:
`sync_acls` makes every cluster's ACLs the plan (security/acls.py) minus the writes of each role
a recorded revoke_acl names, as the super user, so it is the same on every target.

Each primitive gets its driver (`drivers.driver_for`) before it records, forgets or changes
anything: on aws-gcp that is where the guard runs, so a refusal (GuardError: wrong account or
project, untagged resource) leaves the inventory and the clouds as they were.

`owner_pid` is the process that owns an injected fault (`Fault.by_pid`): the drill runner of the
run context, 0 for faults injected by hand. The driver returns an `Effect` for each fault and heal
(when it was asked for, when it was seen in effect, and how): injections hand it to `on_effect`
(their return value stays the recorded Fault), heals return it; fault windows are timed by it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path
from typing import Any

from riftdrill import expiry, inventory
from riftdrill.drivers import Driver, driver_for
from riftdrill.drivers.base import Effect
from riftdrill.errors import FaultError
from riftdrill.inventory import (
    Broker,
    ConnectWorker,
    Database,
    Direction,
    Fault,
    FaultKind,
    Inventory,
    Link,
    MirrorMaker,
    ObjectStore,
    Role,
)
from riftdrill.security import acls, credentials, rotation
from riftdrill.security.client import client_security

BROKER_FAULTS: tuple[FaultKind, ...] = ("kill_broker", "pause_broker")


def _new_fault(kind: FaultKind, target: str, owner_pid: int,
               direction: Direction = "both", hold_s: float | None = None) -> Fault:
    """A fault with its deadline (riftdrill.expiry): `hold_s` is how long its drill holds it,
    None when injected by hand."""
    return Fault(id=f"{kind}-{target}-{uuid.uuid4().hex[:6]}", kind=kind, target=target,
                 direction=direction, by_pid=owner_pid,
                 expires_at=expiry.deadline_s(time.time(), hold_s))


def _record(new: list[Fault]) -> tuple[Driver, Inventory]:
    """The driver first (on aws-gcp: the guard, which may refuse), then the faults recorded:
    a refused fault leaves no record behind."""
    with inventory.locked() as inv:
        drv = driver_for(inv)
        inv.faults.extend(new)
    return drv, inv


def _drop(inv: Inventory, kinds: FaultKind | Collection[FaultKind],
          targets: Collection[str]) -> None:
    gone = {f.id for target in targets for f in inv.faults_on(kinds, target)}
    inv.faults = [f for f in inv.faults if f.id not in gone]


def _forget(kinds: FaultKind | Collection[FaultKind], targets: Collection[str]) -> Inventory:
    """Drop every recorded fault of `kinds` on `targets`: what is recorded now, under the lock."""
    with inventory.locked() as inv:
        _drop(inv, kinds, targets)
    return inv


def _forget_then_sync(kind: FaultKind, target: str,
                      sync: Callable[[Driver, Inventory], Effect]) -> Effect:
    """Heal a declarative fault: the driver first (on aws-gcp: the guard, so a refused heal
    forgets nothing), then forget under the lock, then make the target match what is left."""
    with inventory.locked() as inv:
        drv = driver_for(inv)
        _drop(inv, kind, [target])
    return sync(drv, inv)


# ---- brokers -------------------------------------------------------------------------------

OnEffect = Callable[[Effect], None]


def kill_brokers(brokers: Sequence[Broker], *, owner_pid: int,
                 on_killed: Callable[[Fault, Effect], None] | None = None,
                 hold_s: float | None = None) -> list[Fault]:
    """SIGKILL brokers (all recorded in one write first); `on_killed` runs as each one is down."""
    if not brokers:
        return []
    new = [_new_fault("kill_broker", b.name, owner_pid, hold_s=hold_s) for b in brokers]
    drv, inv = _record(new)
    for broker, fault in zip(brokers, new, strict=True):
        effect = drv.kill_broker(inv, broker)
        if on_killed is not None:
            on_killed(fault, effect)
    return new


def kill_broker(broker: Broker, *, owner_pid: int, on_effect: OnEffect | None = None,
                hold_s: float | None = None) -> Fault:
    return kill_brokers([broker], owner_pid=owner_pid, hold_s=hold_s,
                        on_killed=None if on_effect is None else lambda _, e: on_effect(e))[0]


def pause_broker(broker: Broker, *, owner_pid: int, on_effect: OnEffect | None = None,
                 hold_s: float | None = None) -> Fault:
    fault = _new_fault("pause_broker", broker.name, owner_pid, hold_s=hold_s)
    drv, inv = _record([fault])
    effect = drv.pause_broker(inv, broker)
    if on_effect is not None:
        on_effect(effect)
    return fault


def resume_broker(inv: Inventory, broker: Broker) -> Effect:
    """SIGCONT a paused broker. `inv` is the caller's: it picks the driver before the lock."""
    effect = driver_for(inv).resume_broker(inv, broker)
    _forget("pause_broker", [broker.name])
    return effect


def _bring_back(drv: Driver, inv: Inventory, broker: Broker) -> Effect:
    requested = time.time_ns()
    state = drv.broker_state(inv, broker)
    if state == "paused":
        return drv.resume_broker(inv, broker)
    if state == "dead":
        return drv.start_broker(inv, broker)
    return Effect.since(requested, "already running")


def restart_brokers(inv: Inventory, brokers: Sequence[Broker], *,
                    on_restarted: Callable[[Broker, Effect], None] | None = None) -> None:
    """Bring brokers back to running, whatever fault (kill or pause) each is under, then forget
    their broker faults in one write (those brought back, also when a later one fails)."""
    drv = driver_for(inv)
    done: list[str] = []
    errors: list[BaseException] = []
    # All at once: a cluster whose whole KRaft quorum died (a cloud of a per-cloud lab) cannot
    # serve until a majority of its voters runs, so one broker at a time would wait in vain.
    with ThreadPoolExecutor(max_workers=max(1, len(brokers))) as pool:
        futures = {pool.submit(_bring_back, drv, inv, b): b for b in brokers}
        try:
            for fut in as_completed(futures):
                broker = futures[fut]
                try:
                    effect = fut.result()
                except Exception as exc:
                    errors.append(exc)
                    continue
                done.append(broker.name)
                if on_restarted is not None:
                    on_restarted(broker, effect)
        finally:
            if done:
                _forget(BROKER_FAULTS, done)
    if errors:
        raise errors[0]


def restart_broker(inv: Inventory, broker: Broker) -> None:
    restart_brokers(inv, [broker])


# ---- MirrorMaker 2 ---------------------------------------------------------------------------

def kill_mirror(mirror: MirrorMaker, *, owner_pid: int,
                on_effect: OnEffect | None = None) -> Fault:
    """SIGKILL a MirrorMaker 2; it stays down until restart_mirror (or a heal)."""
    fault = _new_fault("stop_mirror", mirror.name, owner_pid)
    return _inject(fault, lambda drv, inv: drv.kill_mirror(inv, mirror), on_effect)


def restart_mirror(inv: Inventory, mirror: MirrorMaker) -> Effect:
    """Start it again (applied first, then forgotten, like a broker)."""
    effect = driver_for(inv).start_mirror(inv, mirror)
    _forget("stop_mirror", [mirror.name])
    return effect


# ---- Kafka Connect workers (the integration hub) ---------------------------------------------

def kill_worker(worker: ConnectWorker, *, owner_pid: int,
                on_effect: OnEffect | None = None) -> Fault:
    """SIGKILL a Connect worker; it stays down until restart_worker (or a heal)."""
    fault = _new_fault("stop_worker", worker.name, owner_pid)
    return _inject(fault, lambda drv, inv: drv.kill_worker(inv, worker), on_effect)


def restart_worker(inv: Inventory, worker: ConnectWorker) -> Effect:
    effect = driver_for(inv).start_worker(inv, worker)
    _forget("stop_worker", [worker.name])
    return effect


# ---- the hub's connectors ---------------------------------------------------------------------

def pause_connector(connector: str, *, owner_pid: int,
                    on_effect: OnEffect | None = None) -> Fault:
    """Pause a hub connector through the REST API until resume_connector (or a heal)."""
    fault = _new_fault("pause_connector", connector, owner_pid)
    return _inject(fault, lambda drv, inv: drv.pause_connector(inv, connector), on_effect)


def resume_connector(inv: Inventory, connector: str) -> Effect:
    effect = driver_for(inv).resume_connector(inv, connector)
    _forget("pause_connector", [connector])
    return effect


# ---- the hub's databases ---------------------------------------------------------------------

def kill_database(database: Database, *, owner_pid: int,
                  on_effect: OnEffect | None = None) -> Fault:
    """Crash a hub database (every server process at once); down until restart_database."""
    fault = _new_fault("stop_database", database.name, owner_pid)
    return _inject(fault, lambda drv, inv: drv.kill_database(inv, database), on_effect)


def restart_database(inv: Inventory, database: Database) -> Effect:
    effect = driver_for(inv).start_database(inv, database)
    _forget("stop_database", [database.name])
    return effect


def pause_database(database: Database, *, owner_pid: int,
                   on_effect: OnEffect | None = None) -> Fault:
    """Freeze a hub database (SIGSTOP of every server process) until resume_database."""
    fault = _new_fault("pause_database", database.name, owner_pid)
    return _inject(fault, lambda drv, inv: drv.pause_database(inv, database), on_effect)


def resume_database(inv: Inventory, database: Database) -> Effect:
    effect = driver_for(inv).resume_database(inv, database)
    _forget("pause_database", [database.name])
    return effect


# ---- the link and the object stores ----------------------------------------------------------

def _inject(fault: Fault, sync: Callable[[Driver, Inventory], Effect],
            on_effect: OnEffect | None) -> Fault:
    """Recorded first, then applied: a process killed, or (a declarative network fault) the
    target made to match what the inventory now records (the driver reads the new record)."""
    drv, inv = _record([fault])
    effect = sync(drv, inv)
    if on_effect is not None:
        on_effect(effect)
    return fault


def sever_link(link: Link, direction: Direction = "both", *, owner_pid: int,
               on_effect: OnEffect | None = None, hold_s: float | None = None) -> Fault:
    fault = _new_fault("sever_link", link.name, owner_pid, direction, hold_s)
    return _inject(fault, lambda drv, inv: drv.sync_link(inv, link.name), on_effect)


def heal_link(link: Link) -> Effect:
    """Remove every sever of the link (whatever its direction)."""
    return _forget_then_sync("sever_link", link.name, lambda drv, inv: drv.sync_link(inv, link.name))


def degrade_link(link: Link, weather: dict[str, dict[str, float]], *, owner_pid: int,
                 on_effect: OnEffect | None = None) -> Fault:
    """Give the link other weather (latency, jitter, loss, rate per direction) until restored;
    the newest degrade of a link is the one in force."""
    fault = _new_fault("degrade_link", link.name, owner_pid)
    fault.weather = weather
    return _inject(fault, lambda drv, inv: drv.sync_weather(inv, link.name), on_effect)


def restore_link(link: Link) -> Effect:
    """Back to the weather the link was deployed with."""
    return _forget_then_sync("degrade_link", link.name,
                             lambda drv, inv: drv.sync_weather(inv, link.name))


def block_object_store(store: ObjectStore, *, owner_pid: int,
                       on_effect: OnEffect | None = None, hold_s: float | None = None) -> Fault:
    fault = _new_fault("block_object_store", store.name, owner_pid, hold_s=hold_s)
    return _inject(fault, lambda drv, inv: drv.sync_store(inv, store.name), on_effect)


def unblock_object_store(store: ObjectStore) -> Effect:
    return _forget_then_sync("block_object_store", store.name,
                             lambda drv, inv: drv.sync_store(inv, store.name))


def brownout_store(store: ObjectStore, weather: dict[str, Any], *, owner_pid: int,
                   on_effect: OnEffect | None = None) -> Fault:
    """Give the store weather (latency, injected errors, throttling) until cleared; the newest
    brownout of a store is the one in force."""
    fault = _new_fault("brownout_store", store.name, owner_pid)
    fault.weather = weather
    return _inject(fault, lambda drv, inv: drv.sync_store_weather(inv, store.name), on_effect)


def clear_store_weather(store: ObjectStore) -> Effect:
    return _forget_then_sync("brownout_store", store.name,
                             lambda drv, inv: drv.sync_store_weather(inv, store.name))


# ---- ACLs (security sasl-tls) -----------------------------------------------------------------

def acl_state(inv: Inventory) -> tuple[list[acls.Acl], list[acls.Acl]]:
    """(ACLs every cluster should list, ACLs none may list): the plan, less the writes of each
    role a recorded revoke_acl names."""
    plan = acls.inventory_plan(inv)
    revoked = {f.target for f in inv.faults_on("revoke_acl")}
    absent = sorted({a for role, rules in plan.items() if role in revoked
                     for a in acls.writes_of(rules)})
    present = sorted({a for rules in plan.values() for a in rules} - set(absent))
    return present, absent


def sync_acls(inv: Inventory) -> Effect:
    """Make every cluster's ACLs match what `inv` records (acl_state) through the Admin API as
    the broker principal (the super user); in effect once each cluster's DescribeAcls shows it.
    Declarative and idempotent, like sync_link: restoring one role keeps another's revoke."""
    if not inv.security.enabled:
        raise FaultError("ACLs exist only on a secured lab: this one was deployed with "
                              f"security {inv.security.mode}; deploy with SECURITY=sasl-tls")
    requested = time.time_ns()
    present, absent = acl_state(inv)
    admin = client_security(inv.security, "broker")
    done = []
    for bootstrap in acls.cluster_bootstraps(inv):
        done.append(acls.apply_acls(bootstrap, admin, present, absent))
    revoked = sorted({f.target for f in inv.faults_on("revoke_acl")})
    listed_ns = max((d.confirmed_ns for d in done), default=time.time_ns())
    if revoked:
        # A broker refuses the writes once it applies the deletion, which may be before any
        # DescribeAcls lists it: the revoke counts from the DeleteAcls request, so no refusal
        # can come before its window (and the figures after it are an upper bound).
        changed_ns = min((d.changed_ns for d in done), default=listed_ns)
        return Effect(requested, changed_ns,
                      f"deleteacls sent; describe_acls: {len(absent)} write ACL(s) of "
                      f"{', '.join(revoked)} gone {(listed_ns - changed_ns) / 1e6:.0f} ms later "
                      f"on {len(done)} cluster(s)")
    return Effect(requested, listed_ns,
                  f"describe_acls: the plan's {len(present)} ACLs listed on {len(done)} cluster(s)")


def revoke_acl(inv: Inventory, role: str, *, owner_pid: int,
               on_effect: OnEffect | None = None) -> Fault:
    """Take `role`'s write ACLs away on every cluster until restore_acl (or a heal): its
    producers' sends are refused (TOPIC_AUTHORIZATION_FAILED). `inv` is the caller's: a deploy
    with security off, an unknown role or one with no write to revoke is refused in one line
    before anything is recorded."""
    r = acls.revocable(inv, role)
    return _inject(_new_fault("revoke_acl", r, owner_pid), lambda drv, now: sync_acls(now),
                   on_effect)


def restore_acl(inv: Inventory, role: str) -> Effect:
    """Give `role` its write ACLs back: forget its revokes, then sync (with no revoke recorded
    this still re-creates whatever of the plan a cluster is missing)."""
    r = acls.revocable(inv, role)
    return _forget_then_sync("revoke_acl", r, lambda drv, now: sync_acls(now))


# ---- credentials (security sasl-tls) ---------------------------------------------------------

def _secrets(inv: Inventory) -> credentials.Secrets:
    return credentials.Secrets(Path(inv.security.secrets_dir))


def rotate_scram(inv: Inventory, role: str, *, owner_pid: int,
                       on_effect: OnEffect | None = None) -> Fault:
    """Give `role`'s principal a new SCRAM password on every cluster and in its files
    (security/rotation.py), in force once the new password logs in and the old one is refused
    everywhere. Recorded until finish_rotation (or a heal), which completes a rotation a crash
    interrupted. `inv` is the caller's: a role whose clients cannot follow is refused first."""
    r = rotation.rotatable(inv, role)

    def rotate(drv: Driver, now: Inventory) -> Effect:
        s, principal = _secrets(now), now.security.principal(r)
        requested = time.time_ns()
        old = s.password(principal)
        password = rotation.begin(s, principal)
        rotation.upsert(now, principal, password)
        # Proven before the files change: until then every client still holds the old one.
        proof = rotation.prove(now, replace(client_security(now.security, r), password=password),
                               old)
        in_force_ns = time.time_ns()
        rotation.swap(s, principal, password)
        return Effect(requested, in_force_ns, proof)

    return _inject(_new_fault("rotate_scram", r, owner_pid), rotate, on_effect)


def _complete_rotation(inv: Inventory, role: Role) -> Effect:
    """A rotation a crash interrupted (its pending password still there) set again on every
    cluster and swapped in; nothing to do for one that finished."""
    requested = time.time_ns()
    s, principal = _secrets(inv), inv.security.principal(role)
    if principal not in rotation.pending_principals(s):
        return Effect.since(requested, f"{principal}'s client file holds the cluster's password")
    password = rotation.begin(s, principal)  # the pending one
    done = rotation.upsert(inv, principal, password)
    rotation.swap(s, principal, password)
    return Effect(requested, done.answered_ns,
                  f"interrupted rotation of {principal} completed on {done.clusters} cluster(s)")


def finish_rotation(inv: Inventory, role: str) -> Effect:
    """The rotation of `role` over: completed if a crash interrupted it, then forgotten."""
    r = rotation.rotatable(inv, role)
    effect = _complete_rotation(inv, r)
    _forget("rotate_scram", [r])
    return effect


# ---- everything ------------------------------------------------------------------------------

def heal_all(owner_pid: int | None = None) -> list[Fault]:
    """Undo every recorded fault, whoever injected it (or only those `owner_pid` owns); returns
    what was healed.

    One read, then brokers are brought back; one locked write forgets every fault healed, then
    each faulted link and store is made to match what is left (another owner's sever of the
    same link stays in force), and the clusters' ACLs the plan less the revokes left. A failure
    does not stop the rest: what could not be healed stays recorded (revokes whose ACLs could
    not be restored are recorded again) and the first error is raised at the end.
    """
    inv = inventory.load()
    recorded = [f for f in inv.faults if owner_pid is None or f.by_pid == owner_pid]
    if not recorded:
        return []
    drv = driver_for(inv)  # on aws-gcp the guard: refused, nothing is healed or forgotten
    errors: list[Exception] = []
    failed: set[str] = set()  # ids left recorded
    broker_faults = [f for f in recorded if f.kind in BROKER_FAULTS]
    for name in dict.fromkeys(f.target for f in broker_faults):
        try:
            _bring_back(drv, inv, inv.broker(name))
        except Exception as exc:
            errors.append(exc)
            failed |= {f.id for f in broker_faults if f.target == name}
    # A stopped or paused service process is started or resumed; one that the inventory no
    # longer names stays recorded, and the error names it.
    starts: dict[FaultKind, Callable[[str], Effect]] = {
        "stop_mirror": lambda n: drv.start_mirror(inv, inv.mirror(n)),
        "stop_worker": lambda n: drv.start_worker(inv, inv.require_hub().worker(n)),
        "stop_database": lambda n: drv.start_database(inv, inv.require_hub().database(n)),
        "pause_database": lambda n: drv.resume_database(inv, inv.require_hub().database(n)),
        "pause_connector": lambda n: drv.resume_connector(inv, n),
    }
    for kind, target in dict.fromkeys((f.kind, f.target) for f in recorded if f.kind in starts):
        try:
            starts[kind](target)
        except Exception as exc:
            errors.append(exc)
            failed |= {f.id for f in recorded if f.kind == kind and f.target == target}
    for role in dict.fromkeys(f.target for f in recorded if f.kind == "rotate_scram"):
        try:
            _complete_rotation(inv, rotation.rotatable(inv, role))
        except Exception as exc:
            errors.append(exc)
            failed |= {f.id for f in recorded
                       if f.kind == "rotate_scram" and f.target == role}
    healed = [f for f in recorded if f.id not in failed]
    healed_ids = {f.id for f in healed}
    with inventory.locked() as now:
        now.faults = [f for f in now.faults if f.id not in healed_ids]
    revokes = [f for f in healed if f.kind == "revoke_acl"]
    if revokes:
        try:
            sync_acls(now)
        except Exception as exc:
            # Unlike a link, nothing else would bring the ACLs back: record the revokes again
            # so `riftdrill heal` tries again (a sync is idempotent).
            errors.append(exc)
            with inventory.locked() as again:
                again.faults.extend(revokes)
            healed = [f for f in healed if f.kind != "revoke_acl"]
    network = [f for f in healed if f.kind in ("sever_link", "degrade_link", "block_object_store",
                                               "brownout_store")]
    for kind, target in dict.fromkeys((f.kind, f.target) for f in network):
        try:
            if kind == "sever_link":
                drv.sync_link(now, target)
            elif kind == "degrade_link":
                drv.sync_weather(now, target)
            elif kind == "brownout_store":
                drv.sync_store_weather(now, target)
            else:
                drv.sync_store(now, target)
        except Exception as exc:
            errors.append(exc)
    if errors:
        raise errors[0]
    return healed
