"""A nemesis schedule: many faults of mixed kinds over one long load (the soak drill).

`plan` turns the drill's settings into an exact schedule: fault i of a kind on a target at
`at_s` from the schedule's start, held `hold_s`. A fixed schedule injects every `interval_s`
and takes the kinds in turn; a random one draws the gaps (0.5-1.5 x interval) and the kinds
from `random.Random(seed)`, so the same seed gives the same schedule. Never more than
`max_concurrent` faults at once, and never two on one resource (a link severed while its
weather is degraded would heal the other's rules); a leader kill holds every broker, since
the leader it finds may be any of them. The schedule, and when each fault really
began and ended, is written to `nemesis.json` in the run; `replay=<that file>` runs it again
fault for fault.

Bad input (no kinds, an unknown kind, a kind this lab has nothing to inject into, a hold not
shorter than the soak, a schedule that would overlap more faults than allowed) is a
ValidationError naming it and the fix, raised before anything is injected.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from riftdrill.errors import ValidationError
from riftdrill.inventory import Inventory

RECORD_FILE = "nemesis.json"  # in the run: the schedule, its wall-clock start, outcomes

Mode = Literal["fixed", "random"]
MODES: tuple[Mode, ...] = ("fixed", "random")
MAX_SOAK_S = 6 * 3600.0
MAX_FAULTS = 2000


@dataclass(frozen=True)
class Kind:
    """A fault the nemesis can inject: which targets the lab has, and the resource each one
    occupies (two faults on one resource never overlap)."""

    name: str
    targets: Callable[[Inventory], list[str]]
    resource: Callable[[str], str]  # "<class>:<name>", or "<class>:*" for all of a class
    missing: str  # why a lab may have no target, and the fix


def clash(a: str, b: str) -> bool:
    """Whether two faults' resources overlap ("broker:*" overlaps every broker)."""
    if a == b:
        return True
    (ca, _, na), (cb, _, nb) = a.partition(":"), b.partition(":")
    return ca == cb and "*" in (na, nb)


def _brokers(inv: Inventory) -> list[str]:
    return [b.name for b in inv.brokers]


def _links(inv: Inventory) -> list[str]:
    return [lk.name for lk in inv.links]


def _stores(inv: Inventory) -> list[str]:
    return [s.name for s in inv.stores]


def _mirrors(inv: Inventory) -> list[str]:
    return [m.name for m in inv.mirrors]


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("broker-kill", _brokers, lambda t: f"broker:{t}", "no broker in the inventory"),
    Kind("broker-pause", _brokers, lambda t: f"broker:{t}", "no broker in the inventory"),
    # the broker leading most partitions of the run's topic, found at its injection
    Kind("leader-kill", lambda inv: ["leader"] if inv.brokers else [], lambda t: "broker:*",
         "no broker in the inventory"),
    Kind("link-sever", _links, lambda t: f"link:{t}", "no cross-cloud link"),
    Kind("link-asymmetric", _links, lambda t: f"link:{t}", "no cross-cloud link"),
    # the weather comes from the link's emulator: none on a lab deployed with WAN none
    Kind("link-degrade", lambda inv: [lk.name for lk in inv.links if lk.emulated],
         lambda t: f"link:{t}",
         "no cross-cloud link with a weather emulator (deploy WAN=inter-region or WAN=metro)"),
    # down and up in turns of FLAP_HALF_PERIOD_S for the fault's whole hold
    Kind("link-flap", _links, lambda t: f"link:{t}", "no cross-cloud link"),
    Kind("store-outage", _stores, lambda t: f"store:{t}", "no object store"),
    Kind("store-brownout", _stores, lambda t: f"store:{t}", "no object store"),
    Kind("mirror-kill", _mirrors, lambda t: f"mirror:{t}",
         "no MirrorMaker 2 (deploy TOPOLOGY=per-cloud)"),
)}
DEFAULT_KINDS = (
    "broker-kill,link-sever,broker-pause,link-flap,leader-kill,link-asymmetric,link-degrade")


@dataclass(frozen=True)
class PlannedFault:
    index: int
    at_s: float  # from the schedule's start
    kind: str
    target: str
    hold_s: float


@dataclass
class Schedule:
    mode: Mode
    seed: int
    soak_s: float
    interval_s: float
    hold_s: float
    max_concurrent: int
    kinds: list[str]
    faults: list[PlannedFault] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_kinds(text: str, inv: Inventory) -> tuple[list[str], dict[str, list[str]]]:
    """The comma-separated kinds and each one's targets in this lab."""
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    if not kinds:
        raise ValidationError(f"no fault kinds: set kinds to a comma list, e.g. "
                              f"kinds={DEFAULT_KINDS}")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValidationError(f"unknown fault kind {unknown[0]!r}; choose from: "
                              f"{', '.join(KINDS)}")
    targets: dict[str, list[str]] = {}
    for k in dict.fromkeys(kinds):
        found = KINDS[k].targets(inv)
        if not found:
            raise ValidationError(f"fault kind {k} has nothing to inject into in this lab "
                                  f"({KINDS[k].missing}): drop it from kinds")
        targets[k] = found
    return list(dict.fromkeys(kinds)), targets


def _number(value: float | int | str, name: str, low: float, high: float) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"invalid {name}: {value!r} is not a number") from None
    if not low <= x <= high:
        raise ValidationError(f"invalid {name}: {x:g} must be in [{low:g}, {high:g}]")
    return x


def plan(kinds: list[str], targets: dict[str, list[str]], *, soak_s: float | str,
         interval_s: float | str, hold_s: float | str, max_concurrent: int | str = 1,
         seed: int | str = 1, mode: str = "fixed") -> Schedule:
    soak = _number(soak_s, "soak_s", 1, MAX_SOAK_S)
    interval = _number(interval_s, "interval_s", 1, MAX_SOAK_S)
    hold = _number(hold_s, "fault_hold_s", 1, MAX_SOAK_S)
    at_once = int(_number(max_concurrent, "max_concurrent", 1, 16))
    try:
        rng_seed = int(seed)
    except (TypeError, ValueError):
        raise ValidationError(f"invalid seed: {seed!r} is not an integer") from None
    if mode not in MODES:
        raise ValidationError(f"invalid schedule {mode!r}: fixed or random")
    if hold >= soak:
        raise ValidationError(f"fault_hold_s {hold:g} is not shorter than soak_s {soak:g}: "
                              "lower the hold or lengthen the soak")
    out = Schedule(mode, rng_seed, soak, interval, hold, at_once, kinds)
    rng = random.Random(rng_seed)
    used: dict[str, int] = {k: 0 for k in kinds}
    at = interval if mode == "fixed" else interval * rng.uniform(0.5, 1.5)
    i = 0
    while at + hold <= soak:
        if i >= MAX_FAULTS:
            raise ValidationError(f"more than {MAX_FAULTS} faults in one soak: raise interval_s")
        active = [f for f in out.faults if f.at_s <= at < f.at_s + f.hold_s]
        if len(active) >= at_once:
            raise ValidationError(
                f"the schedule would overlap {len(active) + 1} faults at {at:g} s, more than "
                f"max_concurrent={at_once}: make interval_s ({interval:g}) longer than "
                f"fault_hold_s ({hold:g}) / max_concurrent, or raise max_concurrent")
        busy = {KINDS[f.kind].resource(f.target) for f in active}

        def free_of(k: str, busy: set[str] = busy) -> list[str]:
            return [t for t in targets[k]
                    if not any(clash(KINDS[k].resource(t), b) for b in busy)]

        # the kind whose turn it is, or the next one with a target not under another fault
        order = (kinds[i % len(kinds):] + kinds[:i % len(kinds)] if mode == "fixed"
                 else rng.sample(kinds, len(kinds)))
        kind = next((k for k in order if free_of(k)), "")
        if not kind:
            raise ValidationError(
                f"fault {i + 1} (at {at:g} s) has no free target: every one of {', '.join(kinds)} "
                "is under another fault then; lower max_concurrent or make interval_s longer")
        free = free_of(kind)
        target = free[used[kind] % len(free)] if mode == "fixed" else rng.choice(free)
        used[kind] += 1
        out.faults.append(PlannedFault(i, round(at, 3), kind, target, hold))
        i += 1
        at += interval if mode == "fixed" else interval * rng.uniform(0.5, 1.5)
    if not out.faults:
        raise ValidationError(f"no fault fits: soak_s {soak:g} is shorter than interval_s "
                              f"{interval:g} + fault_hold_s {hold:g}")
    return out


def load_replay(path: Path, inv: Inventory) -> Schedule:
    """The schedule of an earlier run's nemesis.json, to run again fault for fault."""
    try:
        data = json.loads(path.read_text())
        faults = [PlannedFault(int(f["index"]), float(f["at_s"]), str(f["kind"]),
                               str(f["target"]), float(f["hold_s"])) for f in data["faults"]]
        s = Schedule(data["mode"], int(data["seed"]), float(data["soak_s"]),
                     float(data["interval_s"]), float(data["hold_s"]),
                     int(data["max_concurrent"]), list(data["kinds"]), faults)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValidationError(f"cannot replay {path}: {exc}; give the nemesis.json of an "
                              "earlier soak run") from None
    for f in s.faults:
        if f.kind not in KINDS or f.target not in KINDS[f.kind].targets(inv):
            raise ValidationError(f"cannot replay {path}: fault {f.index + 1} ({f.kind} on "
                                  f"{f.target}) has no such target in this lab")
    return s


def check_cloud_budget(target: str, budget_usd: float | str) -> None:
    """A soak on a cloud target runs for hours of paid machines: it must name its budget. (The
    estimate is compared with it one layer up, by `make soak`: `riftdrill cloud cost-estimate
    --budget-usd`, as the scheduled cloud drill does; prices are the report layer's.) The lab
    needs none."""
    if target == "local":
        return
    try:
        budget = float(budget_usd)
    except (TypeError, ValueError):
        raise ValidationError(f"invalid budget_usd: {budget_usd!r} is not a number") from None
    if budget <= 0:
        raise ValidationError(f"a soak on {target} needs an explicit budget: --var "
                              "budget_usd=<USD> (`make soak TARGET=... BUDGET_USD=...` checks "
                              "the estimate against it); nothing was injected")


LOAD_MARGIN_S = 60.0  # the load outlives the soak by this much at least


def schedule_from(inv: Inventory, *, kinds: str = "", soak_s: float | str = 3600,
                  interval_s: float | str = 15, fault_hold_s: float | str = 5,
                  max_concurrent: int | str = 1, seed: int | str = 1, schedule: str = "fixed",
                  replay: str = "", budget_usd: float | str = 0,
                  load_max_s: float | str | None = None) -> Schedule:
    """The soak's schedule from the drill's settings, every bound checked: the one place both
    the drill's up-front check and the nemesis action build it."""
    if replay:
        out = load_replay(Path(replay), inv)
    else:
        names, found = parse_kinds(kinds or DEFAULT_KINDS, inv)
        out = plan(names, found, soak_s=soak_s, interval_s=interval_s, hold_s=fault_hold_s,
                   max_concurrent=max_concurrent, seed=seed, mode=schedule)
    if load_max_s is not None and float(load_max_s) < out.soak_s + LOAD_MARGIN_S:
        raise ValidationError(f"the load's safety bound (load_max_s={float(load_max_s):g}) ends "
                              f"before the soak (soak_s={out.soak_s:g}) and a minute more: "
                              "raise load_max_s")
    check_cloud_budget(inv.target, budget_usd)
    return out


@dataclass
class Outcome:
    """What really happened to one planned fault (seconds from the schedule's start)."""

    index: int
    injected_at_s: float | None = None
    healed_at_s: float | None = None
    error: str | None = None


def execute(plan: Schedule, outcomes: dict[int, Outcome], *,
            inject: Callable[[PlannedFault], Any], heal: Callable[[PlannedFault], Any],
            sleep_s: Callable[[float], bool], on_change: Callable[[], None],
            clock: Callable[[], float] = time.monotonic) -> bool:
    """Run the schedule: inject each fault at its time, heal it after its hold. A slow heal (a
    broker's restart) makes the faults behind it late, never shorter: each is held its full
    hold from its own injection, and waits for a free slot (max_concurrent, its resource).
    None is injected once the soak's time is up. Interrupted (`sleep_s` returns False) or
    failing, it heals what it opened. Returns whether it was interrupted."""
    t0 = clock()
    pending = sorted(plan.faults, key=lambda f: (f.at_s, f.index))
    heal_due: dict[int, float] = {}  # open fault -> when its hold ends

    def elapsed() -> float:
        return round(clock() - t0, 3)

    def can_inject(f: PlannedFault) -> bool:
        busy = {KINDS[plan.faults[i].kind].resource(plan.faults[i].target) for i in heal_due}
        return (len(heal_due) < plan.max_concurrent
                and not any(clash(KINDS[f.kind].resource(f.target), b) for b in busy))

    interrupted = False
    try:
        while pending or heal_due:
            if pending and elapsed() >= plan.soak_s:
                for f in pending:
                    outcomes[f.index].error = "not injected: the soak's time was up"
                pending = []
            due = min(heal_due.items(), key=lambda kv: kv[1], default=None)
            nxt = pending[0] if pending and can_inject(pending[0]) else None
            if due is None and nxt is None:
                break
            if due is not None and (nxt is None or due[1] <= nxt.at_s):
                if not sleep_s(max(0.0, due[1] - elapsed())):
                    interrupted = True
                    break
                f = plan.faults[due[0]]
                heal(f)
                del heal_due[f.index]
                outcomes[f.index].healed_at_s = elapsed()
            elif nxt is not None:
                if not sleep_s(max(0.0, nxt.at_s - elapsed())):
                    interrupted = True
                    break
                pending.pop(0)
                injected = elapsed()
                inject(nxt)  # half-applied and raising: the drill's heal_all undoes it
                outcomes[nxt.index].injected_at_s = injected
                heal_due[nxt.index] = injected + nxt.hold_s
            on_change()
    except Exception as exc:
        for i in heal_due:
            outcomes[i].error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        for i in list(heal_due):  # an interrupted or failed soak heals its own
            try:
                heal(plan.faults[i])
                outcomes[i].healed_at_s = elapsed()
            except Exception as exc:  # the drill's heal_all tries again
                outcomes[i].error = f"heal failed: {exc}"
        on_change()
    return interrupted
