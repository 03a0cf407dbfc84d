"""`chaos discover riftdrill --no-install`: the riftdrill activities (chaostoolkit-aws's manner:
each activity module lists its activities in `__all__`, chaoslib reads their signatures and
docstrings) and, when a lab or cloud is deployed, the targets its drills can name.

chaoslib calls `discover(discover_system)` on the top-level package, so `riftdrill/__init__.py`
forwards to this module (imported lazily: `import riftdrill` stays free of chaoslib).
"""

from __future__ import annotations

from typing import Any

from chaoslib.discovery import discover_actions, discover_probes, initialize_discovery_result

from riftdrill import inventory
from riftdrill.errors import RiftdrillError

ACTIVITY_MODULES = {"actions": "riftdrill.chaos.actions", "probes": "riftdrill.chaos.probes"}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("riftdrill")
    except PackageNotFoundError:
        return "unknown"


def load_exported_activities() -> list[dict[str, Any]]:
    """Every action and probe an experiment can name, with its arguments and docstring."""
    activities: list[dict[str, Any]] = []
    activities.extend(discover_actions(ACTIVITY_MODULES["actions"]))
    activities.extend(discover_probes(ACTIVITY_MODULES["probes"]))
    return activities


def system() -> dict[str, Any] | None:
    """What is deployed, named as the drills' `broker=`, `cloud=`, `link=`, `store=` take it;
    None when nothing is."""
    try:
        inv = inventory.load()
    except RiftdrillError:
        return None
    return {
        "target": inv.target, "engine": inv.engine, "engine_version": inv.engine_version,
        "topology": inv.topology,
        "brokers": [{"name": b.name, "id": b.id, "cloud": b.cloud, "roles": b.roles}
                    for b in inv.brokers],
        "clouds": [c.name for c in inv.clouds],
        "links": [lk.name for lk in inv.links],
        "stores": [{"name": s.name, "cloud": s.cloud} for s in inv.stores],
        "faults": [{"kind": f.kind, "target": f.target} for f in inv.faults],
    }


def discover(discover_system: bool = True) -> dict[str, Any]:
    discovery: dict[str, Any] = initialize_discovery_result("riftdrill", _version(), "riftdrill")
    discovery["activities"].extend(load_exported_activities())
    if discover_system:
        discovery["system"] = system()
    return discovery
