"""The verdict columns every table shows, defined once: the results index, each engine
comparison and each run's report take their headings, values and formatting from here.

A figure the run did not measure is None and shows as "—", never as 0: summaries written before
a figure existed (no `sends`, no `inconsistent_offset`, ...), consumer anomalies of a run
whose consumers were not checked (`contract.consumers_checked` false), and integration-hub
anomalies of a run without a hub (`contract.connector_delivery` None).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from riftdrill.report.runs import RunData
from riftdrill.verify.anomalies import CONSUMER_KINDS, HUB_KINDS

Value = int | float | None
Figures = Mapping[str, Value]
MISSING = "—"



def _count(v: Value) -> str:
    return MISSING if v is None else str(int(v))


def _percent(v: Value) -> str:
    return MISSING if v is None else f"{v * 100:.3g}%"


@dataclass(frozen=True)
class Column:
    heading: str
    key: str  # the figure's name: an anomaly kind, or `failed_send_ratio`
    fmt: Callable[[Value], str]

    def get(self, figures: Figures) -> Value:
        return figures.get(self.key)

    def cell(self, figures: Figures) -> tuple[str, Value]:
        """(text, sort key)."""
        v = self.get(figures)
        return self.fmt(v), v


VERDICT_COLUMNS: tuple[Column, ...] = (
    Column("lost", "lost", _count),
    Column("inconsistent offsets", "inconsistent_offset", _count),
    Column("duplicates", "duplicates", _count),
    Column("reordered", "reordered", _count),
    Column("undelivered", "undelivered", _count),
    Column("poll-skips", "poll_skip", _count),
    Column("failed-send %", "failed_send_ratio", _percent),
    Column("unreadable", "unreadable", _count),
)
HEADINGS: list[str] = [c.heading for c in VERDICT_COLUMNS]
KEYS: tuple[str, ...] = tuple(c.key for c in VERDICT_COLUMNS)


def cells(figures: Figures) -> list[tuple[str, Value]]:
    return [c.cell(figures) for c in VERDICT_COLUMNS]


@dataclass
class VerifyFacts:
    """What a run's verification said, from verify.json or else summary.json's `verify`."""

    counts: dict[str, int] = field(default_factory=dict)
    contract: dict[str, Any] | None = None  # None: not recorded (older runs) or not verified
    allowed_kinds: list[str] = field(default_factory=list)
    failing_kinds: list[str] = field(default_factory=list)

    @property
    def consumers_checked(self) -> bool:
        return bool(self.contract and self.contract.get("consumers_checked"))

    @property
    def hub_checked(self) -> bool:
        return bool(self.contract and self.contract.get("connector_delivery"))

    def measured(self, kind: str) -> bool:
        """False for consumer anomalies when the consumers were not checked, and for hub
        anomalies when no integration hub was."""
        if kind in HUB_KINDS:
            return self.hub_checked
        return kind not in CONSUMER_KINDS or self.consumers_checked

    def listed(self, kind: str) -> bool:
        """Whether a table lists the kind: a run without a hub leaves out the hub's kinds (a
        dozen "not checked" rows in every Kafka drill's report say nothing)."""
        return kind not in HUB_KINDS or self.hub_checked


def verify_facts(run: RunData) -> VerifyFacts:
    v = run.verify
    if v is not None:
        return VerifyFacts(dict(v.totals),
                           v.contract.model_dump() if v.contract is not None else None,
                           list(v.allowed_kinds), list(v.failing_kinds))
    block = run.summary.verify or {}
    counts = block.get("counts") or {}
    contract = block.get("contract")
    return VerifyFacts({str(k): n for k, n in counts.items() if isinstance(n, int)},
                       contract if isinstance(contract, dict) else None,
                       [str(k) for k in block.get("allowed_kinds") or []],
                       [str(k) for k in block.get("failing_kinds") or []])


def run_figures(run: RunData) -> dict[str, Value]:
    """Every column's figure for one run (None: not measured by this run)."""
    facts = verify_facts(run)
    figures: dict[str, Value] = {}
    for key in KEYS:
        if key == "failed_send_ratio":
            sends = run.summary.sends
            figures[key] = sends.failed_ratio if sends is not None else None
        else:
            figures[key] = facts.counts.get(key) if facts.measured(key) else None
    return figures
