"""slo.yaml: the bounds a drill promises, per experiment, applied by the runner.

    defaults:                       # every experiment, unless it overrides a bound
      max_time_to_first_ack_s: 30
      max_failed_send_ratio: 0.001
    experiments:
      broker-kill:
        max_unavailability_s: 20
      link-sever:
        max_unavailability_s: hold_s + 30   # relative to the drill's fault hold
        max_failed_send_ratio: 0.35

Bounds (absent = not bounded):
- seconds from the fault start: max_time_to_first_ack_s, max_unavailability_s (cloud-wide: no
  ack in a whole cloud), max_worst_partition_unavailability_s (the worst partition as its
  producers saw it, recovery.py), max_time_to_p99_baseline_s, max_time_to_zero_lag_s. A time
  bound may be `hold_s + N`, evaluated with the drill's hold_s; a figure that never recovered
  (or was never measured) breaks it.
- max_failed_send_ratio (0..1): failed sends / sends that got an answer, over the whole run,
  from the producer ledgers (`riftdrill.load.outcomes`, summary.json `sends.failed_ratio`).
  No ledgers, or no send at all, breaks it: a ratio over nothing is no evidence.
- allowed_send_errors (a list of librdkafka error names, e.g. [TOPIC_AUTHORIZATION_FAILED]):
  the only codes a send of this drill may fail with, over the whole run (summary.json
  `sends.errors_by_code`), as Jepsen's allowed-error-types: a send failing with any other code
  breaks it; absent = any code (the ratio bound still counts them). `min_failed_sends`: at
  least this many sends must have failed: a drill whose fault must be refused (acl-revoke)
  tested nothing when the producers never saw it. No send outcomes break either.
- records, from the verifier's counts: max_lost (only 0 is accepted: an acknowledged record lost
  always fails a drill), max_duplicates, max_reordered. Whether duplicates or reordered records
  fail a run is decided by the run's contract (`riftdrill.verify.contract`); these two bounds
  only tighten that (e.g. a legacy-contract drill that must not duplicate more than N).
- across MirrorMaker 2: max_replication_lag_s (the worst record's source ack -> visible in the
  mirror, per mirror; chaos/replication.py), max_failover_rto_s and max_rpo_s (a consumer
  failover's; chaos/failover.py). A bound on a run without the figure (no mirror tail, nobody
  failed over) breaks it.
- the integration hub: max_change_lag_s (the worst change's commit in the source -> first seen
  in the sink's table over the whole run; summary.json `hub.max_s`, chaos/hubfigures.py). A run
  without hub figures, or with a committed change the sink never showed, breaks it.
Unknown fields or experiments are validation errors naming them (`max_unseen` is gone: the
verifier no longer has an "unseen" kind).

An optional `engines:` block holds one section per engine (kafka, tansu), each with its own
`defaults:` and `experiments:` over the top-level ones: what a drill promises depends on where
the engine makes records durable (Tansu writes through the object store, Kafka does not).
`riftdrill slo calibrate` measures the committed runs against these bounds.

An optional top-level block sets how much worse than the previous run of the same drill a
figure may get before `riftdrill drill` flags it as a regression (see regression.py):

    regression:
      relative: 0.5      # new time > old * (1 + relative) + absolute_s is a regression
      absolute_s: 2.0
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticError

from riftdrill.chaos.failover import FailoverFigures
from riftdrill.chaos.hubfigures import HubFigures
from riftdrill.chaos.recovery import RecoveryFigures
from riftdrill.chaos.replication import MirrorLag
from riftdrill.errors import ValidationError
from riftdrill.inventory import CloudEngine, LabEngine
from riftdrill.load.outcomes import SendOutcomes
from riftdrill.verify.report import VerifyReport

Bound = float | str | None
ENGINES: tuple[str, ...] = tuple(dict.fromkeys((*get_args(LabEngine), *get_args(CloudEngine))))
_RELATIVE = re.compile(r"^\s*hold_s\s*\+\s*(\d+(?:\.\d+)?)\s*$")
_ERROR_NAME = re.compile(r"^_?[A-Z][A-Z0-9_]*$")  # librdkafka's names: KafkaError.name()


class ExperimentSlo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_time_to_first_ack_s: Bound = None
    max_unavailability_s: Bound = None
    max_worst_partition_unavailability_s: Bound = None
    max_time_to_p99_baseline_s: Bound = None
    max_time_to_zero_lag_s: Bound = None
    # Across MirrorMaker 2 (chaos/replication.py, chaos/failover.py): the worst record's
    # replication lag, and a consumer failover's RTO and RPO. Bound only where measured: a
    # drill with a bound and no figure (no mirror tail, no failover) breaks it.
    max_replication_lag_s: Bound = None
    max_failover_rto_s: Bound = None
    max_rpo_s: Bound = None
    # The integration hub (chaos/hubfigures.py): the worst change's lag from the source's commit
    # to the sink's table. A drill with the bound and no hub figures breaks it.
    max_change_lag_s: Bound = None
    max_failed_send_ratio: float | None = Field(default=None, ge=0, le=1)
    # Jepsen's allowed-error-types for sends: the librdkafka error names a send may fail with
    # (None: any); and how many sends must have failed (the fault was seen by the producers).
    allowed_send_errors: list[str] | None = None
    min_failed_sends: int | None = Field(default=None, ge=0)
    max_duplicates: int | None = Field(default=None, ge=0)
    max_reordered: int | None = Field(default=None, ge=0)
    max_lost: int = 0

    @field_validator("max_time_to_first_ack_s", "max_unavailability_s",
                     "max_worst_partition_unavailability_s", "max_time_to_p99_baseline_s",
                     "max_time_to_zero_lag_s", "max_replication_lag_s", "max_failover_rto_s",
                     "max_rpo_s", "max_change_lag_s")
    @classmethod
    def _time(cls, v: Bound) -> Bound:
        if isinstance(v, str) and not _RELATIVE.match(v):
            raise ValueError(f"{v!r} is neither seconds nor 'hold_s + <seconds>'")
        if isinstance(v, int | float) and v < 0:
            raise ValueError("must be >= 0")
        return v

    @field_validator("allowed_send_errors")
    @classmethod
    def _codes(cls, v: list[str] | None) -> list[str] | None:
        bad = [c for c in v or [] if not _ERROR_NAME.match(c)]
        if bad:
            raise ValueError(f"{', '.join(map(repr, bad))}: not a librdkafka error name "
                             "(e.g. TOPIC_AUTHORIZATION_FAILED, _MSG_TIMED_OUT)")
        return v

    @field_validator("max_lost")
    @classmethod
    def _lost(cls, v: int) -> int:
        if v != 0:
            raise ValueError("an acknowledged record lost always fails a drill; only 0 is allowed")
        return v


class Tolerance(BaseModel):
    """How much worse than the previous run a time may get: new > old * (1 + relative) +
    absolute_s is a regression (ack latency: absolute_s * 1000 ms)."""

    model_config = ConfigDict(extra="forbid")

    relative: float = Field(default=0.5, ge=0)
    absolute_s: float = Field(default=2.0, ge=0)

    def limit_s(self, old_s: float) -> float:
        return old_s * (1 + self.relative) + self.absolute_s


class EngineSlo(BaseModel):
    """One engine's section: overrides of the top-level defaults and experiments."""

    model_config = ConfigDict(extra="forbid")

    defaults: ExperimentSlo = ExperimentSlo()
    experiments: dict[str, ExperimentSlo] = {}


class SloFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    defaults: ExperimentSlo = ExperimentSlo()
    experiments: dict[str, ExperimentSlo] = {}
    engines: dict[str, EngineSlo] = {}
    regression: Tolerance = Tolerance()


class Violation(BaseModel):
    bound: str  # "max_unavailability_s"
    limit: float
    measured: float | None  # None: never recovered
    over_by: float | None
    message: str


def _fmt_errors(exc: PydanticError, path: Path) -> str:
    parts = []
    for e in exc.errors():
        loc = ".".join(str(x) for x in e["loc"])
        what = "unknown field" if e["type"] == "extra_forbidden" else e["msg"]
        parts.append(f"{loc}: {what}")
    return f"{path}: " + "; ".join(parts)


def load(path: Path, known_experiments: set[str] | None = None) -> SloFile:
    """Parse and validate; unknown fields and experiments raise a ValidationError naming them."""
    try:
        raw: Any = yaml.safe_load(path.read_text()) if path.exists() else {}
    except yaml.YAMLError as exc:
        raise ValidationError(f"{path} is not valid YAML: {exc}") from exc
    try:
        slo = SloFile.model_validate(raw or {})
    except PydanticError as exc:
        raise ValidationError(_fmt_errors(exc, path)) from None
    unknown_engines = sorted(set(slo.engines) - set(ENGINES))
    if unknown_engines:
        raise ValidationError(f"{path}: unknown engine section(s) {', '.join(unknown_engines)}; "
                              f"engines are: {', '.join(ENGINES)}")
    if known_experiments is not None:
        named = set(slo.experiments).union(*(e.experiments for e in slo.engines.values()))
        unknown = sorted(named - known_experiments)
        if unknown:
            raise ValidationError(f"{path}: unknown experiment(s) {', '.join(unknown)}; "
                                  f"experiments are: {', '.join(sorted(known_experiments))}")
    return slo


def bounds_for(slo: SloFile, experiment: str, engine: str | None = None) -> ExperimentSlo:
    """The experiment's bounds: the defaults, then the experiment's, then the engine section's
    defaults and experiment (each later one overrides only the bounds it sets)."""
    layers = [slo.defaults, slo.experiments.get(experiment)]
    section = slo.engines.get(engine) if engine else None
    if section is not None:
        layers += [section.defaults, section.experiments.get(experiment)]
    merged = slo.defaults.model_dump()
    for layer in layers[1:]:
        if layer is not None:
            merged.update(layer.model_dump(exclude_unset=True))
    return ExperimentSlo.model_validate(merged)


def resolve_bound(value: Bound, hold_s: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        m = _RELATIVE.match(value)
        assert m is not None  # validated
        return hold_s + float(m.group(1))
    return float(value)


def _check(out: list[Violation], name: str, limit: float | None, measured: float | None,
           why_none: str | None = None, where: str | None = None) -> None:
    if limit is None:
        return
    if measured is None:
        out.append(Violation(bound=name, limit=limit, measured=None, over_by=None,
                             message=f"SLO {name} <= {limit:g}: never recovered "
                                     f"({why_none or 'no figure'})"))
    elif measured > limit:
        over = round(measured - limit, 3)
        at = f" ({where})" if where else ""
        out.append(Violation(bound=name, limit=limit, measured=measured, over_by=over,
                             message=f"SLO {name} <= {limit:g}: measured {measured:g}{at}, "
                                     f"over by {over:g}"))


def _check_mirror(out: list[Violation], bounds: ExperimentSlo, hold_s: float,
                  replication: Mapping[str, MirrorLag] | None,
                  failover: FailoverFigures | None) -> None:
    limit = resolve_bound(bounds.max_replication_lag_s, hold_s)
    if limit is not None:
        if not replication:
            _check(out, "max_replication_lag_s", limit, None, "no mirror tail in this run")
        for name, lag in (replication or {}).items():
            why = (f"{lag.never_mirrored} acked record(s) never reached the mirror"
                   if lag.never_mirrored else "nothing reached the mirror")
            _check(out, "max_replication_lag_s", limit,
                   None if lag.never_mirrored else lag.max_s, why, name)
    for bound, figure in (("max_failover_rto_s", "rto_s"), ("max_rpo_s", "rpo_s")):
        limit = resolve_bound(getattr(bounds, bound), hold_s)
        if limit is None:
            continue
        if failover is None:
            _check(out, bound, limit, None, "no consumer failed over in this run")
        else:
            _check(out, bound, limit, getattr(failover, figure), failover.rto_reason)


def _check_hub(out: list[Violation], limit: float | None, hub: HubFigures | None,
               hub_deployed: bool) -> None:
    """A drill that runs on every topology (broker-kill, link-sever) may bound the hub's lag:
    the bound applies where the lab has a hub, and there a run without the figures fails."""
    name = "max_change_lag_s"
    if limit is None or (hub is None and not hub_deployed):
        return
    if hub is None:
        _check(out, name, limit, None, "no hub figures in this run")
    elif hub.never_visible:
        _check(out, name, limit, None,
               f"{hub.never_visible} committed change(s) never seen in the sink")
    else:
        _check(out, name, limit, hub.max_s, "no committed change was seen in the sink")


def _check_sends(out: list[Violation], limit: float | None, sends: SendOutcomes | None) -> None:
    name = "max_failed_send_ratio"
    if limit is None:
        return
    if sends is None or sends.attempted == 0:
        why = ("no producer ledger could be read" if sends is None
               else "no send got an answer (no ledger entries)")
        out.append(Violation(bound=name, limit=limit, measured=None, over_by=None,
                             message=f"SLO {name} <= {limit:g}: no failed-send figure ({why})"))
        return
    if sends.failed_ratio > limit:
        over = round(sends.failed_ratio - limit, 6)
        codes = ", ".join(f"{k} {n}" for k, n in sends.errors_by_code.items())
        out.append(Violation(
            bound=name, limit=limit, measured=sends.failed_ratio, over_by=over,
            message=f"SLO {name} <= {limit:g}: {sends.failed_ratio:.2%} of sends failed "
                    f"({sends.failed} of {sends.attempted}: {codes}), over by {over:.2%}"))


def _check_send_errors(out: list[Violation], bounds: ExperimentSlo,
                       sends: SendOutcomes | None) -> None:
    allowed, least = bounds.allowed_send_errors, bounds.min_failed_sends
    if allowed is None and least is None:
        return
    if sends is None:
        limits = {"allowed_send_errors": None if allowed is None else 0,
                  "min_failed_sends": least}
        out += [Violation(bound=name, limit=limit, measured=None, over_by=None,
                          message=f"SLO {name}: no send outcomes (no producer ledger could be "
                                  "read)")
                for name, limit in limits.items() if limit is not None]
        return
    if allowed is not None:
        other = {code: n for code, n in sends.errors_by_code.items() if code not in allowed}
        if other:
            n = sum(other.values())
            codes = ", ".join(f"{k} {v}" for k, v in other.items())
            out.append(Violation(
                bound="allowed_send_errors", limit=0, measured=n, over_by=n,
                message=f"SLO allowed_send_errors: {n} send(s) failed with a code this drill "
                        f"does not allow ({codes}); allowed: {', '.join(allowed) or 'none'}"))
    if least is not None and sends.failed < least:
        out.append(Violation(
            bound="min_failed_sends", limit=least, measured=sends.failed,
            over_by=None, message=f"SLO min_failed_sends >= {least}: {sends.failed} send(s) "
                                  "failed: the producers never saw the fault, so the drill "
                                  "tested nothing"))


def check(bounds: ExperimentSlo, recovery: RecoveryFigures | None, verify: VerifyReport | None,
          hold_s: float, *, sends: SendOutcomes | None = None,
          replication: Mapping[str, MirrorLag] | None = None,
          failover: FailoverFigures | None = None,
          hub: HubFigures | None = None, hub_deployed: bool = True) -> list[Violation]:
    """Every bound the drill broke (empty: all held). `sends`: the run's send outcomes (None:
    the ledgers could not be read, which breaks a max_failed_send_ratio bound); `replication`
    (per mirror), `failover` and `hub`: their figures, None when not measured; `hub_deployed`:
    the lab has an integration hub (else a hub bound does not apply)."""
    out: list[Violation] = []
    _check_mirror(out, bounds, hold_s, replication, failover)
    _check_hub(out, resolve_bound(bounds.max_change_lag_s, hold_s), hub, hub_deployed)
    timing = {
        "max_time_to_first_ack_s": ("worst_time_to_first_ack_s", "worst_time_to_first_ack_s"),
        "max_unavailability_s": ("worst_unavailability_s", None),
        "max_worst_partition_unavailability_s": ("worst_partition_unavailability_s",
                                                 "worst_partition_unavailability_s"),
        "max_time_to_p99_baseline_s": ("time_to_p99_baseline_s", "time_to_p99_baseline_s"),
        "max_time_to_zero_lag_s": ("time_to_zero_lag_s", "time_to_zero_lag_s"),
    }
    for bound, (figure, reason_key) in timing.items():
        limit = resolve_bound(getattr(bounds, bound), hold_s)
        if limit is None:
            continue
        if recovery is None:
            out.append(Violation(bound=bound, limit=limit, measured=None, over_by=None,
                                 message=f"SLO {bound}: no recovery figures (no fault window, "
                                         "no ledgers, or they could not be computed: see the "
                                         "other reasons)"))
            continue
        why = recovery.reasons.get(reason_key) if reason_key else None
        where = None
        if bound == "max_worst_partition_unavailability_s":
            where = recovery.worst_partition
            why = why or "no per-partition figures: not measured"
        _check(out, bound, limit, getattr(recovery, figure), why, where)
    _check_sends(out, bounds.max_failed_send_ratio, sends)
    _check_send_errors(out, bounds, sends)
    counts = {"max_duplicates": "duplicates", "max_reordered": "reordered", "max_lost": "lost"}
    for bound, kind in counts.items():
        limit_i: int | None = getattr(bounds, bound)
        if limit_i is None:
            continue
        if verify is None:
            out.append(Violation(bound=bound, limit=limit_i, measured=None, over_by=None,
                                 message=f"SLO {bound}: no verify report"))
            continue
        _check(out, bound, float(limit_i), float(verify.totals.get(kind, 0)))
    return out
