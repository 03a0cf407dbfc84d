"""The fault primitives every target offers.

A driver only *applies* state; `riftdrill.faults` records each fault in the inventory before it
is applied (so a crash cannot orphan it) and removes the record after it is healed. Network
faults are declarative: `sync_link` / `sync_store` make the target match the faults currently
recorded in the inventory, so healing one of two overlapping faults keeps the other in force.
Every method is idempotent. The measurements behind `link_counters` and `store_snapshot` are
what the cost report prices; a target that cannot measure something returns {} for it.

`Observer` is the read side (broker states and measurements: no guard needed); `Driver` adds
every fault and heal, and on target aws-gcp is handed out only once the guard has passed
(`drivers.driver_for`).

Every fault and heal returns an `Effect`: when it was asked for and when the driver saw it in
effect (within a bounded wait, else FaultError), so fault windows and every recovery figure
count from the instant the fault was real, not from when a call returned.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from riftdrill.drivers.usage import LinkCounters, StoreSnapshots
from riftdrill.inventory import Broker, ConnectWorker, Database, Inventory, MirrorMaker
from riftdrill.redact import Secret

BrokerState = Literal["running", "paused", "dead"]


@dataclass(frozen=True)
class Effect:
    """A fault (or heal) as the driver observed it."""

    requested_ns: int  # epoch ns just before the signal / rule load / API call
    confirmed_ns: int  # epoch ns at which it was seen in effect
    confirmed_by: str  # what was seen: "pid gone", "nft rule listed", "store unreachable", ...

    @staticmethod
    def since(requested_ns: int, confirmed_by: str) -> Effect:
        """Confirmed now (the observation just succeeded)."""
        return Effect(requested_ns, time.time_ns(), confirmed_by)


class Observer(Protocol):
    """What reads a target and changes nothing: broker states, the link's round trip, what a
    drill used, where logs are (`drivers.observer_for`: no guard needed)."""

    def broker_state(self, inv: Inventory, broker: Broker) -> BrokerState: ...

    # What a drill used (riftdrill.drivers.usage): snapshots before and after, never raising.
    def link_counters(self, inv: Inventory) -> LinkCounters:
        """Cumulative bytes and packets per link direction; {} where the target counts none."""

    def link_rtt(self, inv: Inventory, link: str) -> dict[str, Any]:
        """The link's round trip as an application sees it, measured now: {"median_ms", "min_ms",
        "max_ms", "samples"}, or {"error": why} (severed, not measurable on this target)."""

    def start_store_recording(self, inv: Inventory) -> None:
        """Count object-store requests from now on, where the store can count them."""

    def store_snapshot(self, inv: Inventory) -> StoreSnapshots:
        """Per object store: objects, bytes stored, requests if known; {} where not measured."""

    def log_files(self, inv: Inventory) -> dict[str, Path]:
        """Each broker's and mirror's log file on this machine, by inventory name; {} where the
        target keeps its logs elsewhere (a drill copies the run's span of each: chaos/brokerlogs)."""

    def known_secrets(self, inv: Inventory) -> list[Secret]:
        """The literal secrets the target's clients and servers use that this machine knows (the
        lab's object-store secret key), for redaction; [] where none is held here. The files
        under .riftdrill/secrets/ are added by `drivers.known_secrets`, for every target."""


class Driver(Observer, Protocol):
    """What changes a target: every fault and heal (`drivers.driver_for`; on aws-gcp the guard
    has passed before one is handed out)."""

    def kill_broker(self, inv: Inventory, broker: Broker) -> Effect:
        """Hard stop (SIGKILL / forced instance stop); it stays down until `start_broker`."""

    def pause_broker(self, inv: Inventory, broker: Broker) -> Effect:
        """Freeze without closing sockets (SIGSTOP / suspend): the gray failure."""

    def resume_broker(self, inv: Inventory, broker: Broker) -> Effect: ...

    def start_broker(self, inv: Inventory, broker: Broker) -> Effect:
        """Start a stopped broker with its data kept; a running one is left alone."""

    def kill_mirror(self, inv: Inventory, mirror: MirrorMaker) -> Effect:
        """Hard stop of a MirrorMaker 2 process; it stays down until `start_mirror`."""

    def start_mirror(self, inv: Inventory, mirror: MirrorMaker) -> Effect:
        """Start a stopped MirrorMaker 2 (its offsets are in the target cluster); a running one
        is left alone."""

    def kill_worker(self, inv: Inventory, worker: ConnectWorker) -> Effect:
        """Hard stop of a Kafka Connect worker of the hub; it stays down until `start_worker`
        (its connectors and tasks move to the other workers after the rebalance delay)."""

    def start_worker(self, inv: Inventory, worker: ConnectWorker) -> Effect:
        """Start a stopped Connect worker; a running one is left alone."""

    def kill_database(self, inv: Inventory, database: Database) -> Effect:
        """Crash a database of the hub (every server process at once; WAL replay at the next
        start); it stays down until `start_database`."""

    def start_database(self, inv: Inventory, database: Database) -> Effect:
        """Start a crashed database; in effect once it accepts connections."""

    def pause_database(self, inv: Inventory, database: Database) -> Effect:
        """Freeze a database of the hub (every server process stopped): clients hang, nothing
        is refused; until `resume_database`."""

    def resume_database(self, inv: Inventory, database: Database) -> Effect:
        """Let a paused database run again; a running one is left alone."""

    def pause_connector(self, inv: Inventory, connector: str) -> Effect:
        """Pause one of the hub's connectors through Connect's REST API (its tasks stop, its
        offsets stay); in effect once its status reads PAUSED."""

    def resume_connector(self, inv: Inventory, connector: str) -> Effect:
        """Resume a paused connector; in effect once it and its tasks are RUNNING."""

    def sync_link(self, inv: Inventory, link: str) -> Effect:
        """Block exactly the directions that `sever_link` faults in `inv.faults` name."""

    def sync_weather(self, inv: Inventory, link: str) -> Effect:
        """Give the link the weather of its newest `degrade_link` fault in `inv.faults`, or the
        weather it was deployed with when none is recorded."""

    def sync_store_weather(self, inv: Inventory, store: str) -> Effect:
        """Give the store the weather of its newest `brownout_store` fault in `inv.faults`, or
        clear weather when none is recorded."""

    def sync_store(self, inv: Inventory, store: str) -> Effect:
        """Block the store iff a `block_object_store` fault for it is in `inv.faults`."""
