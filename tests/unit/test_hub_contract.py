"""The integration hub's kinds in the one allow-list and in the tables that show kinds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from riftdrill.report.columns import VerifyFacts
from riftdrill.verify.anomalies import ANOMALY_KINDS, CONSUMER_KINDS, HUB_KINDS, KINDS
from riftdrill.verify.contract import Contract, allowed_kinds, run_contract
from riftdrill.verify.hub import HubReport
from riftdrill.verify.report import VerifyReport

BASE: dict[str, Any] = {"profile": "idempotent", "producers": 1, "acks": ["all"],
                        "idempotence": True, "max_in_flight": 5}


def test_hub_kinds_are_defined_once_and_apart_from_the_others() -> None:
    assert set(HUB_KINDS) <= set(KINDS) and not set(HUB_KINDS) & set(CONSUMER_KINDS)
    assert all(ANOMALY_KINDS[k] for k in HUB_KINDS)
    assert KINDS[-len(HUB_KINDS):] == HUB_KINDS  # appended: earlier kinds keep their order


def test_at_least_once_allows_change_duplicate_and_nothing_else_of_the_hub() -> None:
    alo = allowed_kinds(Contract(**BASE, connector_delivery="at-least-once"))
    assert [k for k in alo if k in HUB_KINDS] == ["change_duplicate"]
    eo = allowed_kinds(Contract(**BASE, connector_delivery="exactly-once"))
    assert not set(eo) & set(HUB_KINDS)
    assert not set(allowed_kinds(Contract(**BASE))) & set(HUB_KINDS)
    # the producer side is untouched by the connector's contract
    assert alo == ("failed_present", "unacknowledged", "change_duplicate")
    assert allowed_kinds(Contract(**BASE)) == ("failed_present", "unacknowledged")


def test_run_contract_carries_the_connectors_delivery() -> None:
    c = run_contract([], consumers_checked=False, connector_delivery="exactly-once")
    assert c.connector_delivery == "exactly-once"
    assert run_contract([], consumers_checked=False).connector_delivery is None


def test_hub_counts_join_the_totals_and_the_contract_decides(tmp_path: Any) -> None:
    counts = dict.fromkeys(HUB_KINDS, 0) | {"change_duplicate": 3}
    for delivery, passed in (("at-least-once", True), ("exactly-once", False)):
        report = VerifyReport(run_dir=str(tmp_path), hub=HubReport(counts=counts)).finish(
            Contract(**BASE, connector_delivery=delivery))
        assert report.totals["change_duplicate"] == 3 and report.passed is passed
    counts["row_missing"] = 1
    report = VerifyReport(run_dir=str(tmp_path), hub=HubReport(counts=counts)).finish(
        Contract(**BASE, connector_delivery="at-least-once"))
    assert not report.passed and "row_missing" in report.failing_kinds
    with pytest.raises(ValueError, match="connector's delivery"):
        VerifyReport(run_dir=str(tmp_path), hub=HubReport(counts=counts)).finish(
            Contract(**BASE))


def test_a_run_without_a_hub_shows_hub_kinds_unmeasured_and_unlisted() -> None:
    counts = dict.fromkeys(KINDS, 0)
    without = VerifyFacts(counts, Contract(**BASE, consumers_checked=True).model_dump())
    assert not without.measured("row_missing") and not without.listed("row_missing")
    assert without.measured("lost") and without.listed("poll_skip")
    hub = VerifyFacts(counts, Contract(**BASE, connector_delivery="at-least-once").model_dump())
    assert hub.measured("row_missing") and hub.listed("change_duplicate")
    assert not hub.measured("poll_skip")  # consumers not checked: as before
    old = VerifyFacts(counts, None)  # verified before contracts were recorded
    assert not old.measured("hub_unreadable") and old.measured("lost")


def test_docs_quote_every_hub_definition() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "verify.md").read_text()
    for kind in HUB_KINDS:
        assert f"| `{kind}` | {ANOMALY_KINDS[kind]} |" in doc, kind
