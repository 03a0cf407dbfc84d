"""Fault primitives: record in the inventory, then apply through the target's driver.

These are what `riftdrill fault ...`, `riftdrill heal` and the Chaos Toolkit actions call.
"""

from __future__ import annotations

import uuid

from riftdrill import inventory
from riftdrill.drivers import driver_for
from riftdrill.errors import FaultError
from riftdrill.inventory import Direction, Fault, FaultKind, Inventory


def _new_fault(kind: FaultKind, target: str, direction: Direction = "both") -> Fault:
    return Fault(id=f"{kind}-{target}-{uuid.uuid4().hex[:6]}", kind=kind, target=target,
                 direction=direction)


def _record(kind: FaultKind, target: str, direction: Direction = "both") -> tuple[Inventory, Fault]:
    fault = _new_fault(kind, target, direction)
    with inventory.locked() as inv:
        inv.faults.append(fault)
    return inv, fault


def _forget(fault_ids: set[str]) -> Inventory:
    with inventory.locked() as inv:
        inv.faults = [f for f in inv.faults if f.id not in fault_ids]
    return inv


def kill_broker(name: str) -> Fault:
    broker = inventory.load().broker(name)
    inv, fault = _record("kill_broker", broker.name)
    driver_for(inv).kill_broker(inv, broker)
    return fault


def pause_broker(name: str) -> Fault:
    broker = inventory.load().broker(name)
    inv, fault = _record("pause_broker", broker.name)
    driver_for(inv).pause_broker(inv, broker)
    return fault


def resume_broker(name: str) -> None:
    inv = inventory.load()
    broker = inv.broker(name)
    driver_for(inv).resume_broker(inv, broker)
    _forget({f.id for f in inv.faults if f.kind == "pause_broker" and f.target == broker.name})


def restart_broker(name: str) -> None:
    """Bring a broker back to running, whatever fault (kill or pause) it is under."""
    inv = inventory.load()
    broker = inv.broker(name)
    drv = driver_for(inv)
    state = drv.broker_state(inv, broker)
    if state == "paused":
        drv.resume_broker(inv, broker)
    elif state == "dead":
        drv.start_broker(inv, broker)
    _forget({f.id for f in inv.faults
             if f.kind in ("kill_broker", "pause_broker") and f.target == broker.name})


def sever_link(link: str | None = None, direction: Direction = "both") -> Fault:
    lk = inventory.load().link(link)
    inv, fault = _record("sever_link", lk.name, direction)
    driver_for(inv).sync_link(inv, lk.name)
    return fault


def heal_link(link: str | None = None) -> None:
    inv = inventory.load()
    lk = inv.link(link)
    inv = _forget({f.id for f in inv.faults if f.kind == "sever_link" and f.target == lk.name})
    driver_for(inv).sync_link(inv, lk.name)


def block_object_store(store: str) -> Fault:
    st = inventory.load().store(store)
    inv, fault = _record("block_object_store", st.name)
    driver_for(inv).sync_store(inv, st.name)
    return fault


def unblock_object_store(store: str) -> None:
    inv = inventory.load()
    st = inv.store(store)
    inv = _forget({f.id for f in inv.faults
                   if f.kind == "block_object_store" and f.target == st.name})
    driver_for(inv).sync_store(inv, st.name)


def heal_all() -> list[Fault]:
    """Undo every recorded fault, whoever injected it; returns what was healed."""
    inv = inventory.load()
    healed = list(inv.faults)
    for fault in healed:
        heal(fault)
    return healed


def heal(fault: Fault) -> None:
    if fault.kind in ("kill_broker", "pause_broker"):
        restart_broker(fault.target)
    elif fault.kind == "sever_link":
        heal_link(fault.target)
    elif fault.kind == "block_object_store":
        unblock_object_store(fault.target)
    else:
        raise FaultError(f"do not know how to heal a {fault.kind} fault; remove it from the inventory")
