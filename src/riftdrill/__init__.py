"""riftdrill: a two-cloud Kafka-compatible lab, Chaos Toolkit drills, load and a replay verifier.

As a Chaos Toolkit extension, `chaos discover riftdrill --no-install` calls `discover` here
(riftdrill.chaos.discovery, imported only then).
"""

from __future__ import annotations

from typing import Any


def discover(discover_system: bool = True) -> dict[str, Any]:
    """The riftdrill actions and probes, and what is deployed (chaoslib's discovery)."""
    from riftdrill.chaos.discovery import discover as discover_riftdrill

    return discover_riftdrill(discover_system)


def load_exported_activities() -> list[dict[str, Any]]:
    """The riftdrill actions and probes with their arguments and docstrings."""
    from riftdrill.chaos.discovery import load_exported_activities as activities

    return activities()
