"""What exists of an aws-gcp deployment, from `terraform show -json` (works after a partial apply).

`riftdrill status` shows this when the inventory is missing or incomplete, so a user sees what
a failed apply left behind before destroying it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from riftdrill.terraform import Workspace


def _resources(module: dict[str, Any]) -> list[dict[str, Any]]:
    found = list(module.get("resources", []))
    for child in module.get("child_modules", []):
        found += _resources(child)
    return found


def existing_resources(show_json: dict[str, Any]) -> list[str]:
    """Addresses of the managed resources in the state (data sources excluded)."""
    root = show_json.get("values", {}).get("root_module", {})
    return sorted(r["address"] for r in _resources(root) if r.get("mode") == "managed")


def summary(show_json: dict[str, Any]) -> dict[str, int]:
    """Resource type -> count, e.g. {"aws_instance": 6, "google_compute_instance": 6}."""
    root = show_json.get("values", {}).get("root_module", {})
    return dict(Counter(r["type"] for r in _resources(root) if r.get("mode") == "managed"))


@dataclass(frozen=True)
class Leftovers:
    """Resources in a cloud target's state that the inventory does not show, and why."""

    resources: list[str]
    reason: str  # "the last apply failed", ...


_WHY = {"failed": "the last apply failed", "running": "the last apply was interrupted"}


def leftovers(ws: Workspace, deployed_target: str | None) -> Leftovers | None:
    """What `ws`'s state holds that status would not otherwise show; None: nothing of the kind.
    `deployed_target`: the inventory's target (None: no inventory).

    A failed or interrupted apply (the inventory, if any, is an earlier apply's), or state that
    another target's inventory hides. Remote state with no apply recorded by this checkout is
    not pulled: status makes no cloud call for a deployment it knows nothing of."""
    outcome = ws.last_apply()
    if deployed_target == ws.name and outcome in ("ok", None):
        return None
    if outcome is None and not ws.backend.local:
        return None
    resources = addresses_in_state(ws.state())
    if not resources:
        return None
    reason = _WHY.get(outcome or "", "deployed, but not the inventory's target" if
                      deployed_target else "partial deployment")
    return Leftovers(resources=resources, reason=reason)


def addresses_in_state(state: dict[str, Any]) -> list[str]:
    """Managed resource instance addresses of a raw state (`terraform state pull`, or the local
    file): unlike `show -json`, reading it needs no provider schema, so status works before
    this checkout has initialised the providers."""
    found = []
    for r in state.get("resources", []):
        if r.get("mode") != "managed":
            continue
        base = ".".join(p for p in (r.get("module"), f"{r['type']}.{r['name']}") if p)
        for inst in r.get("instances", []):
            key = inst.get("index_key")
            found.append(base + ("" if key is None else f"[{json.dumps(key)}]"))
    return sorted(found)
