"""What exists of an aws-gcp deployment, from `terraform show -json` (works after a partial apply).

`riftdrill status` shows this when the inventory is missing or incomplete, so a user sees what
a failed apply left behind before destroying it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any


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
