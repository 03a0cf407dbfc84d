"""Fault drivers: one per target, the same primitives everywhere.

Chaos Toolkit activities call `driver_for(inventory)` and never learn whether a broker is a
process in a network namespace or a cloud VM; the drill runner measures what a drill used (link
bytes, object stores) through the same driver (`usage.py`).
"""

from __future__ import annotations

from riftdrill.drivers.base import Driver
from riftdrill.errors import RiftdrillError
from riftdrill.inventory import Inventory


def driver_for(inv: Inventory) -> Driver:
    if inv.target == "local":
        from riftdrill.drivers.local import LocalDriver

        return LocalDriver()
    if inv.target == "aws-gcp":
        from riftdrill.drivers.cloud import CloudDriver  # type: ignore[import-not-found,unused-ignore]

        return CloudDriver()  # type: ignore[no-any-return,unused-ignore]
    raise RiftdrillError(f"no fault driver for target {inv.target!r}; targets: local, aws-gcp")


__all__ = ["Driver", "driver_for"]
