"""`summary.json`: one drill's facts, figures and verdict; the drill runner writes it, the
reports, the figure blocks of the docs and the comparisons read it.

Published runs under results/runs/ are data that is never rewritten, so the model reads every
shape a runner ever wrote: fields added later are optional (`sends`, `ack_p99_ms`,
`store_usage`, `regressions`, `cluster_timeline`, `hub`), and keys it does not know are kept
(`extra="allow"`) and shown by the report. `to_json` writes only the fields the runner set,
so a drill that did not measure its object stores has no `store_usage`, as before this model
existed.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer

from riftdrill.chaos.endtoend import EndToEnd
from riftdrill.chaos.failover import FailoverFigures
from riftdrill.chaos.hubfigures import HubFigures
from riftdrill.chaos.perfault import PerFault
from riftdrill.chaos.recovery import RecoveryFigures
from riftdrill.chaos.replication import MirrorLag
from riftdrill.chaos.timeline import ClusterTimeline
from riftdrill.load.outcomes import SendOutcomes

SCHEMA_VERSION = 1


class FaultWindow(BaseModel):
    kind: str
    target: str = ""
    direction: str = "both"
    start_s: float  # epoch seconds: the fault seen in effect (before effects were recorded:
    # when the call returned)
    end_s: float | None = None  # None: never healed within the run; else the heal seen in effect
    healed_by: str = "drill"  # "drill" (a method action) or "runner" (the runner's heal)
    # What the driver observed (chaos/windows.py), absent in runs from before it was recorded.
    requested_s: float | None = None  # the fault asked for
    confirmed_by: str | None = None  # "pid gone", "state stopped", "nft rule listed", ...
    end_requested_s: float | None = None  # the heal asked for
    end_confirmed_by: str | None = None  # "broker listening", "nft rules gone", ...

    @model_serializer(mode="wrap")
    def _without_unrecorded_effects(self, handler: SerializerFunctionWrapHandler
                                    ) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        for name in ("requested_s", "confirmed_by", "end_requested_s", "end_confirmed_by"):
            if out.get(name) is None and name not in self.model_fields_set:
                out.pop(name, None)
        return out


class HostFacts(BaseModel):
    model_config = ConfigDict(extra="allow")
    cores: int | None = None
    memory_gib: float | None = None
    kernel: str | None = None


class VerdictSummary(BaseModel):
    model_config = ConfigDict(extra="allow")
    passed: bool
    reasons: list[str] = []


class RunSummary(BaseModel):
    """`summary.json` as the drill runner writes it; unknown keys are kept and shown."""

    model_config = ConfigDict(extra="allow")
    schema_version: int = SCHEMA_VERSION
    run_id: str
    experiment: str
    title: str = ""
    target: str = ""
    engine: str
    engine_version: str = ""
    topology: str = ""
    started_at: str
    ended_at: str
    riftdrill_sha: str | None = ""  # None: not run from a git checkout
    host: HostFacts = HostFacts()
    params: dict[str, Any] = {}
    fault_windows: list[FaultWindow] = []
    recovery: RecoveryFigures | None = None
    verify: dict[str, Any] | None = None  # passed, counts, contract, allowed/failing_kinds
    sends: SendOutcomes | None = None  # absent in summaries written before it existed
    ack_p99_ms: float | None = None  # the load's whole-run p99 ack latency (load/summary.json)
    verdict: VerdictSummary | None = None
    slo: dict[str, Any] | None = None
    link_bytes: dict[str, dict[str, int]] = {}  # "aws-to-gcp" -> {"bytes": n, "packets": n}
    journal: str = "journal.json"
    load_dir: str = "load"
    chaos: dict[str, Any] | None = None  # returncode, interrupted_by, seconds, healed_by_runner
    store_usage: dict[str, dict[str, Any]] = {}  # {}: the target's stores were not measured
    regressions: dict[str, Any] | None = None  # chaos.regression's block
    brokers: list[dict[str, Any]] = []  # for broker-hours; absent: params.brokers_per_cloud
    # latency and true lag per cloud from the consumer ledgers (chaos/endtoend.py); absent: the
    # run had no consumer ledgers, or was written before they were read
    end_to_end: EndToEnd | None = None
    # across MirrorMaker 2: replication lag per mirror (chaos/replication.py; only runs with a
    # mirror tail) and a consumer failover's figures (chaos/failover.py; only when one happened)
    replication: dict[str, MirrorLag] = {}
    failover: FailoverFigures | None = None
    # the broker timeline (<run>/cluster.jsonl) summed up, and the copied logs (<run>/logs/)
    cluster_timeline: ClusterTimeline | None = None
    # the integration hub's change lag around the faults and its row-by-row verify counts
    # (chaos/hubfigures.py); only runs with the hub's row workload
    hub: HubFigures | None = None
    # each fault window's own recovery figures and their sums by kind (chaos/perfault.py);
    # only runs with more than one window (a soak's nemesis)
    per_fault: PerFault | None = None

    @property
    def duration_s(self) -> float:
        return max(0.0, (_ts(self.ended_at) - _ts(self.started_at)))

    @property
    def started_epoch_s(self) -> float:
        return _ts(self.started_at)

    def to_json_dict(self) -> dict[str, Any]:
        """What summary.json holds: every field the writer set, and the kept unknown keys."""
        return self.model_dump(include=self.model_fields_set
                               | set(self.model_extra or {}))

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict(), indent=2, default=str) + "\n"


def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
