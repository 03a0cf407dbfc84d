"""The drill verdict: riftdrill decides pass/fail itself from the journal, verify and SLOs.

`chaos run` exits 0 with `status: completed` when a fault action failed or when the first
steady-state hypothesis was not met, so its status cannot be the verdict. A drill passes only if
all of these hold:
- the run finished (`status` not interrupted/aborted/failed);
- the steady state held before the fault (else the drill is invalid: the cluster was unhealthy);
- at least one action ran and every method action succeeded (a failed fault action means the
  fault never happened; a failed probe means the drill did not observe what it claims);
- the steady state held after the fault (`deviated` is false);
- every rollback succeeded (else faults may still be in force);
- verify found no failing anomaly (lost, corrupt, unexpected, missing_in_mirror), when given.
The runner then adds its own checks (a fault window was recorded, and the bounds of slo.yaml hold
on the recovery figures and verify counts: `riftdrill.chaos.slo`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from riftdrill.errors import RiftdrillError
from riftdrill.verify.report import VerifyReport


class Verdict(BaseModel):
    passed: bool
    reasons: list[str] = []  # why it failed, in the order checked; empty when passed
    checked: list[str] = []  # what the verdict was based on: journal, verify, slo


def load_journal(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RiftdrillError(f"journal {path} is unreadable ({exc}); did `chaos run` finish?") from exc
    if not isinstance(data, dict) or "status" not in data:
        raise RiftdrillError(f"{path} is not a Chaos Toolkit journal (no status)")
    return data


def _name(run: dict[str, Any]) -> str:
    return str((run.get("activity") or {}).get("name", "?"))


def _why(run: dict[str, Any]) -> str:
    exc = run.get("exception")
    if isinstance(exc, list) and exc:
        return str(exc[-1]).strip()[:300]
    return str(run.get("output") or "no detail")[:200]


def _unmet_probes(state: dict[str, Any]) -> str:
    names = [_name(p) for p in state.get("probes", [])
             if p.get("status") != "succeeded" or p.get("tolerance_met") is False]
    return ", ".join(names) or "?"


def judge_journal(journal: dict[str, Any]) -> list[str]:
    """Reasons the chaos run itself fails the drill (empty: the journal is a pass)."""
    reasons: list[str] = []
    status = journal.get("status")
    if status in ("interrupted", "aborted"):
        reasons.append(f"the chaos run was {status}")
    states = journal.get("steady_states") or {}
    before: dict[str, Any] | None = states.get("before")
    has_hypothesis = bool((journal.get("experiment") or {}).get("steady-state-hypothesis"))
    before_failed = before is not None and before.get("steady_state_met") is False
    if before is not None and before_failed:
        reasons.append("invalid drill: steady state was not met before the fault (probes: "
                       f"{_unmet_probes(before)}); the cluster was unhealthy to begin with")
    elif before is None and has_hypothesis:
        reasons.append("the steady-state hypothesis never ran before the fault")
    runs = [r for r in journal.get("run") or [] if isinstance(r, dict)]
    actions = [r for r in runs if (r.get("activity") or {}).get("type") == "action"]
    for r in runs:
        if r.get("status") == "succeeded":
            continue
        kind = (r.get("activity") or {}).get("type", "activity")
        if status in ("interrupted", "aborted") and not r.get("exception"):
            # cut short by the interrupt (e.g. a hold), not a failure of its own
            reasons.append(f"{kind} '{_name(r)}' was cut short by the interruption")
        elif kind == "action":
            reasons.append(f"fault action '{_name(r)}' failed, so the fault never happened: "
                           f"{_why(r)}")
        else:
            reasons.append(f"method {kind} '{_name(r)}' failed: {_why(r)}")
    if not before_failed and not any(r.get("status") == "succeeded" for r in actions):
        reasons.append("no fault action succeeded: the drill tested nothing")
    after = states.get("after")
    after_failed = isinstance(after, dict) and after.get("steady_state_met") is False
    if journal.get("deviated") or after_failed:
        detail = f" (probes: {_unmet_probes(after)})" if isinstance(after, dict) else ""
        reasons.append(f"steady state deviated after the fault{detail}")
    for r in journal.get("rollbacks") or []:
        if isinstance(r, dict) and r.get("status") != "succeeded":
            reasons.append(f"rollback '{_name(r)}' failed, faults may still be in force "
                           f"(run `riftdrill heal`): {_why(r)}")
    if status == "failed" and not reasons:
        reasons.append("the chaos run failed")
    return reasons


def judge_verify(report: VerifyReport) -> list[str]:
    bad = {k: report.totals.get(k, 0) for k in report.failing_kinds}
    bad = {k: n for k, n in bad.items() if n}
    if not bad:
        return []
    return ["verify: " + ", ".join(f"{n} {k}" for k, n in bad.items())
            + f" (see {report.run_dir}/verify.json)"]


def decide(journal: dict[str, Any], verify: VerifyReport | None = None) -> Verdict:
    """The drill's verdict from its journal and, when given, its verify report (the runner adds
    fault windows and the SLO bounds of slo.yaml: `riftdrill.chaos.slo`)."""
    reasons = judge_journal(journal)
    checked = ["journal"]
    if verify is not None:
        reasons += judge_verify(verify)
        checked.append("verify")
    return Verdict(passed=not reasons, reasons=reasons, checked=checked)
