"""Fault drivers: one per target, the same primitives everywhere.

Chaos Toolkit activities (through `riftdrill.faults`) call `driver_for(inventory)` and never
learn whether a broker is a process in a network namespace or a cloud VM; the drill runner
measures what a drill used (link bytes, object stores) and `riftdrill status` reads broker
states through `observer_for`, which changes nothing.

`driver_for` is the one way to a driver that changes a target, and so where the cloud guard
runs: on aws-gcp it returns only once the live AWS account and GCP project are allow-listed and
every resource a fault or heal may change carries the drill-target tag
(`drivers/cloud.py: check_deployment`), and raises GuardError otherwise. Every fault, heal and
drill start asks for it before its first change.

`known_secrets` / `redactor_for` learn which literal secrets the deployment holds, through the
observer: what riftdrill writes is redacted.
"""

from __future__ import annotations

from pathlib import Path

from riftdrill import paths
from riftdrill.drivers.base import Driver, Observer
from riftdrill.errors import RiftdrillError
from riftdrill.inventory import Inventory
from riftdrill.redact import Redactor, Secret, secrets_in_dir


def driver_for(inv: Inventory) -> Driver:
    """The driver that changes `inv`'s target; on aws-gcp the guard has passed (GuardError if not)."""
    if inv.target == "aws-gcp":
        from riftdrill.drivers.cloud import CloudDriver  # type: ignore[import-not-found,unused-ignore]

        drv = CloudDriver()
        drv.authorize(inv)
        return drv  # type: ignore[no-any-return,unused-ignore]
    return _driver(inv)


def observer_for(inv: Inventory) -> Observer:
    """The driver to read through (broker states, measurements, log files): no guard, as it
    changes nothing. (A cloud driver got this way still runs the guard before any change.)"""
    if inv.target == "aws-gcp":
        from riftdrill.drivers.cloud import CloudDriver  # type: ignore[import-not-found,unused-ignore]

        return CloudDriver()  # type: ignore[no-any-return,unused-ignore]
    return _driver(inv)


def _driver(inv: Inventory) -> Driver:
    if inv.target == "local":
        from riftdrill.drivers.local import LocalDriver

        return LocalDriver()
    raise RiftdrillError(f"no fault driver for target {inv.target!r}; targets: local, aws-gcp")


def known_secrets(inv: Inventory | None, driver: Observer | None = None,
                  secrets_dir: Path | None = None) -> list[Secret]:
    """Every literal secret of the deployment, the registry redaction works from: what the
    target's driver knows its clients and servers use (None: nothing deployed) and every file
    under .riftdrill/secrets/ (`redact.secrets_in_dir`)."""
    found = list((driver or observer_for(inv)).known_secrets(inv)) if inv is not None else []
    return found + secrets_in_dir(secrets_dir or paths.secrets_dir())


def redactor_for(inv: Inventory | None, driver: Observer | None = None,
                 secrets_dir: Path | None = None) -> Redactor:
    """The redactor of a command, resolved once from the inventory it read and passed down."""
    return Redactor(known_secrets(inv, driver, secrets_dir))


def deployed_redactor() -> Redactor:
    """For a command that reads no inventory otherwise: the deployed one's secrets (one read);
    the patterns and .riftdrill/secrets/ when nothing readable is deployed."""
    from riftdrill import inventory

    try:
        inv: Inventory | None = inventory.load()
    except RiftdrillError:
        inv = None
    return redactor_for(inv)


__all__ = ["Driver", "Observer", "deployed_redactor", "driver_for", "known_secrets", "observer_for",
           "redactor_for"]
