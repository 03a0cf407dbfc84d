"""Shared fixtures. Lab tests (marked `lab`) run against the real local lab on this machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RIFTDRILL = [sys.executable, "-m", "riftdrill"]


def riftdrill(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run the real CLI, as a user would."""
    proc = subprocess.run([*RIFTDRILL, *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, env={**os.environ, "RIFTDRILL_HOME": str(ROOT)})
    if check and proc.returncode != 0:
        raise AssertionError(f"riftdrill {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def _order(item: pytest.Item) -> float:
    if item.get_closest_marker("lab_reshape"):
        return 1
    # the hub joins the default lab without a new cluster; removing it again for the next
    # default-lab test is a redeploy, so the hub's tests come last of the default lab's
    return 0.5 if item.get_closest_marker("lab_hub") else 0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests that tear the lab down or rebuild it in another shape run after the rest.
    items.sort(key=_order)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lab_reshape: rebuilds or destroys the lab; runs last")
    config.addinivalue_line("markers", "lab_hub: adds the hub to the default lab; runs after "
                            "the other default-lab tests")


# RIFTDRILL_KEEP_LAB=1: develop against the lab you have (no sweep before, no destroy after).
KEEP_LAB = os.environ.get("RIFTDRILL_KEEP_LAB") == "1"


@pytest.fixture(scope="session")
def lab_session() -> Iterator[None]:
    if not KEEP_LAB:
        # CI starts on a machine where an earlier run's namespaces may survive: clear ours first.
        riftdrill("destroy", "--orphans", "--json")
    yield
    if not KEEP_LAB:
        riftdrill("destroy", "--json", check=False)


@pytest.fixture()
def lab(lab_session: None) -> object:
    """The default lab (stretched kafka, 2 brokers per cloud), deployed if it is not already."""
    return default_lab()


def default_lab() -> object:
    """Heal, then deploy the default lab if it is not deployed (for a fixture of any scope)."""
    from riftdrill import inventory

    if (ROOT / ".riftdrill" / "inventory.json").exists():
        riftdrill("heal", "--json", check=False)  # each test starts from a healed lab
    # Named in full: `deploy` alone keeps whatever shape an earlier test deployed.
    from riftdrill.deploy import DEFAULT_SECURITY

    riftdrill("deploy", "--engine", "kafka", "--topology", "stretched", "--brokers-per-cloud", "2",
              "--wan", "inter-region", "--security", DEFAULT_SECURITY, "--json")
    inv = inventory.load(ROOT / ".riftdrill" / "inventory.json")
    assert inv.topology == "stretched"
    return inv


def client_conf(inv: object, role: str = "broker") -> dict[str, str]:
    """The settings a test's own confluent-kafka client merges in to reach the deployed lab as
    `role`'s principal (the broker: the super user, any topic or group); {} with security off."""
    from riftdrill.inventory import Inventory
    from riftdrill.security.client import client_security

    assert isinstance(inv, Inventory)
    return client_security(inv.security, role).librdkafka()  # type: ignore[arg-type]


def status() -> dict[str, object]:
    data: dict[str, object] = json.loads(riftdrill("status", "--json").stdout)
    return data
