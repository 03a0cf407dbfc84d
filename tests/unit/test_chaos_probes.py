"""Probes that only mean something on some engines say so instead of reporting a healthy 0."""

from __future__ import annotations

import pytest

from riftdrill.chaos import probes
from tests.unit.test_chaos_targets import inv


def test_isr_probe_is_not_applicable_on_a_stateless_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    tansu = inv().model_copy(update={"engine": "tansu"})
    monkeypatch.setattr(probes.inventory, "load", lambda *a, **k: tansu)
    monkeypatch.setattr(probes, "_partitions", lambda topic: pytest.fail("no metadata needed"))
    out = probes.under_replicated_partitions("t")
    assert isinstance(out, str) and out.startswith("not applicable: tansu")
