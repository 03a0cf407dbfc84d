"""Cost per drill: measured usage priced with a user-editable table (`prices.yaml`).

Usage (what a run measured, all in `summary.json`):
- `link_bytes`: bytes that crossed the cross-cloud link per direction ("aws-to-gcp": bytes leave
  AWS, priced at AWS's egress rate; nft counters in the lab, flow logs on clouds);
- `store_usage`: per object store, PUT/GET/other request counts, bytes in/out and bytes stored
  at the end (the target's driver snapshots the stores before and after the drill:
  `riftdrill.drivers.usage`);
- broker-hours: the run's brokers (`summary.brokers`, else `params.brokers_per_cloud` in each
  cloud of the link, else the target env's default `brokers_per_cloud`: report/deployment.py)
  x the run's duration, priced per cloud at one instance-hour of the cluster module's default
  machine (named in the line; a note when prices.yaml prices another);
- the integration hub's hours (`topology` hub): a Kafka Connect worker and a PostgreSQL server
  in each cloud of the link (the lab's layout: infra/envs/local, `hub_workers` and
  `hub_databases`) x the run's duration, each one instance-hour of its machine, priced per cloud
  like a broker: `hub_instance_hour.<role>` when prices.yaml has it, else a broker's
  `instance_hour`;
- cross-zone transfer: not measured anywhere (the lab has one zone per cloud; a cloud target's
  is billed, not sampled): always a note.

Link bytes and store requests are counted once per run (before and after), not per window. So
the load's timeline splits them: the run's usage per record sent, times the **baseline**
window's send rate (the whole seconds of load before the first fault), is the steady state; a
month is that rate for 730 hours (brokers for 730 hours; bytes stored at the end kept all
month). What the run used beyond the baseline rate over the load's seconds is what the **fault**
cost (`fault`: retries, catch-up, re-sends; negative when sends stalled). A month is therefore
never the fault's retries extrapolated. Without a baseline window (no timeline, or a fault
before the load's third second), the month is the run's average rate, and a note says so.
"""

from __future__ import annotations

import functools
import re
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat
from pydantic import ValidationError as PydanticValidationError

from riftdrill import paths
from riftdrill.errors import ValidationError
from riftdrill.report.deployment import Deployment, deployment_defaults, type_note

GB = 1e9  # cloud price lists bill decimal GB
HOURS_PER_MONTH = 730.0
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
# The integration hub's machines, and how many of each a hub deploy runs in every cloud.
HubRole = Literal["connect_worker", "database"]
HUB_PER_CLOUD: dict[HubRole, int] = dict.fromkeys(get_args(HubRole), 1)
HUB_ROLE_TEXT: dict[HubRole, str] = {"connect_worker": "Kafka Connect workers",
                                     "database": "PostgreSQL servers"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StorePrices(_Strict):
    put_per_1000: float = Field(ge=0)  # PUT, COPY, POST, LIST (class A / tier 1)
    get_per_1000: float = Field(ge=0)  # GET and the rest (class B / tier 2)
    storage_gb_month: float = Field(ge=0)


class PriceTable(_Strict):
    as_of: str  # the date the list prices were read
    currency: str = "USD"
    source: str = ""
    egress_per_gb: dict[str, NonNegativeFloat]  # cloud -> price of a GB leaving it toward the other cloud
    object_store: dict[str, StorePrices]  # api ("s3" | "gcs") -> prices
    instance_hour: dict[str, NonNegativeFloat]  # cloud -> one broker instance for one hour
    instance_type: dict[str, str] = {}  # cloud -> what `instance_hour` is the price of
    # the integration hub's machines, per role and cloud; absent: priced as a broker's
    hub_instance_hour: dict[HubRole, dict[str, NonNegativeFloat]] = {}
    hub_instance_type: dict[HubRole, dict[str, str]] = {}
    # A cloud deployment's other parts, priced before it exists (`riftdrill cloud cost-estimate`,
    # riftdrill.report.estimate): controller machines (absent: priced as brokers), each node's
    # disk per GB-month, and per-hour network parts (cloud -> part -> price of one for an hour).
    controller_instance_hour: dict[str, NonNegativeFloat] = {}
    controller_instance_type: dict[str, str] = {}
    disk_gb_month: dict[str, NonNegativeFloat] = {}
    network_hour: dict[str, dict[str, NonNegativeFloat]] = {}


class PriceEntry(_Strict):
    """One price with where it came from: `{price: 0.09, source: "...", as_of: "2025-06-01"}`.
    A plain number is still accepted (a table written before sources were kept)."""

    price: NonNegativeFloat
    source: str = Field(min_length=1)
    as_of: str = Field(min_length=1)


def price_entries(raw: Any, at: str = "") -> tuple[Any, dict[str, PriceEntry | None]]:
    """The table with every `{price, source, as_of}` replaced by its price, and each price's
    entry by its dotted path (None: a plain number, no source). A mapping with a `price` key is
    an entry, so a misspelt `sourse` beside it is an unknown field, not a mistyped number."""
    if isinstance(raw, dict) and "price" in raw:
        try:
            entry = PriceEntry.model_validate(raw)
        except PydanticValidationError as exc:
            raise _PriceEntryError(at, exc) from None
        return entry.price, {at: entry}
    if isinstance(raw, dict):
        out: dict[Any, Any] = {}
        found: dict[str, PriceEntry | None] = {}
        for key, value in raw.items():
            out[key], sub = price_entries(value, f"{at}.{key}" if at else str(key))
            found.update(sub)
        return out, found
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return raw, {at: None}
    return raw, {}


class _PriceEntryError(Exception):
    def __init__(self, at: str, exc: PydanticValidationError) -> None:
        super().__init__(at)
        self.at, self.exc = at, exc


def default_prices_path() -> Path:
    return paths.project_root() / "prices.yaml"


def load_prices(path: Path | None = None) -> PriceTable:
    """The price table; an unknown or missing field is a ValidationError naming it."""
    path = path or default_prices_path()
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ValidationError(f"{path}: price table not found (copy prices.yaml from the repo)") from None
    except yaml.YAMLError as exc:
        raise ValidationError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ValidationError(f"{path}: expected a mapping of price fields")
    try:
        plain, _ = price_entries(raw)
        return PriceTable.model_validate(plain)
    except _PriceEntryError as bad:
        raise _first_error(path, bad.exc, prefix=f"{bad.at}.") from None
    except PydanticValidationError as exc:
        raise _first_error(path, exc) from None


def _first_error(path: Path, exc: PydanticValidationError, prefix: str = "") -> ValidationError:
    errors = exc.errors()
    # An unknown field first: a misspelt name also reports the real one as missing.
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = prefix + ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        return ValidationError(f"{path}: unknown field {loc!r}")
    return ValidationError(f"{path}: {loc}: {first['msg']}")


# ---- usage ---------------------------------------------------------------------------------

class StoreUsage(BaseModel):
    model_config = ConfigDict(extra="allow")
    cloud: str = ""
    api: str = ""  # "s3" | "gcs"
    put: int = 0
    get: int = 0
    other: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    stored_bytes: int = 0
    objects: int = 0
    requests_measured: bool = True  # False: request counts are a lower bound (see method)
    method: str = ""


class Usage(BaseModel):
    duration_s: float
    link_bytes: dict[str, int] = {}  # "aws-to-gcp" -> bytes
    stores: dict[str, StoreUsage] = {}
    brokers_by_cloud: dict[str, int] = {}
    hub_by_cloud: dict[HubRole, dict[str, int]] = {}  # role -> cloud -> machines
    broker_types: dict[str, str] = {}  # cloud -> the machine priced (cluster module's default)
    # the load's timeline: records sent over the run, the seconds it ran, and the send rate of
    # its baseline window; 0 / None: unknown, the month is the run's average rate
    records_sent: int = 0
    load_s: float = 0.0
    baseline_records_per_s: float | None = None
    baseline_s: float = 0.0
    since_fault_records: int = 0
    since_fault_s: float = 0.0
    notes: list[str] = []

    @property
    def broker_hours(self) -> dict[str, float]:
        return {c: n * self.duration_s / 3600 for c, n in self.brokers_by_cloud.items()}


_LINK = re.compile(r"^(?P<src>[a-z0-9]+)-to-(?P<dst>[a-z0-9]+)$")


def usage_from_summary(summary: Any, timeline: Sequence[dict[str, Any]] | None = None,
                       deployment: Deployment | None = None) -> Usage:
    """Usage of one run from its RunSummary (or anything with the same attributes), its load
    timeline (load/timeline.json) for the baseline window, and the deployment's defaults for
    what the summary does not say (report/deployment.py)."""
    notes: list[str] = []
    brokers: dict[str, int] = {}
    controllers = 0
    for b in summary.brokers:
        if "broker" not in b.get("roles", ["broker"]):
            controllers += 1  # a controller-only node: not a broker-hour
            continue
        cloud = str(b.get("cloud", "?"))
        brokers[cloud] = brokers.get(cloud, 0) + 1
    if controllers:
        notes.append(f"{controllers} controller-only nodes: not priced")
    if not brokers:
        per_cloud = summary.params.get("brokers_per_cloud")
        clouds = sorted({m.group(g) for name in summary.link_bytes
                         if (m := _LINK.match(name)) for g in ("src", "dst")})
        default = deployment.brokers_per_cloud if deployment else None
        if isinstance(per_cloud, int) and clouds:
            brokers = dict.fromkeys(clouds, per_cloud)
            notes.append(f"brokers: {per_cloud} per cloud from params.brokers_per_cloud")
        elif default is not None and clouds and deployment is not None:
            brokers = dict.fromkeys(clouds, default)
            notes.append(f"brokers: {default} per cloud, {deployment.source}'s default "
                         "brokers_per_cloud (the run did not record its brokers)")
        else:
            notes.append("brokers: unknown (no summary.brokers, no params.brokers_per_cloud); "
                         "broker-hours not priced")
    hub: dict[HubRole, dict[str, int]] = {}
    if summary.topology == "hub":
        clouds = sorted({m.group(g) for name in summary.link_bytes
                         if (m := _LINK.match(name)) for g in ("src", "dst")})
        if clouds:
            hub = {role: dict.fromkeys(clouds, n) for role, n in HUB_PER_CLOUD.items()}
            notes.append("hub: a Kafka Connect worker and a PostgreSQL server in each cloud "
                         "(topology hub)")
        else:
            notes.append("hub: its clouds are unknown (no link bytes); hub hours not priced")
    if not summary.link_bytes:
        notes.append("link bytes: not measured in this run")
    if not summary.store_usage:
        notes.append("object stores: usage not measured in this run")
    stores = {name: StoreUsage.model_validate(u) for name, u in summary.store_usage.items()}
    for name, s in stores.items():
        if not s.requests_measured:
            notes.append(f"{name}: request counts are a lower bound ({s.method or 'listing'})")
    notes.append("cross-zone transfer: not measured (the lab has one zone per cloud; a cloud "
                 "target's is billed, not sampled)")
    fault_start = min((w.start_s for w in summary.fault_windows), default=None)
    rates = load_rates(timeline or [], fault_start)
    return Usage(duration_s=summary.duration_s,
                 link_bytes={k: int(v.get("bytes", 0)) for k, v in summary.link_bytes.items()},
                 stores=stores, brokers_by_cloud=brokers, hub_by_cloud=hub,
                 broker_types={c: t for c, t in (deployment.broker_types if deployment else {})
                               .items() if c in brokers},
                 records_sent=rates.records_sent, load_s=rates.load_s,
                 baseline_records_per_s=rates.baseline_records_per_s,
                 baseline_s=rates.baseline_s, since_fault_records=rates.since_fault_records,
                 since_fault_s=rates.since_fault_s, notes=notes)


def run_usage(summary: Any, timeline: Sequence[dict[str, Any]] | None) -> Usage:
    """A run's usage as `riftdrill report` prices it: its summary, its load timeline and the
    defaults of this checkout's infra/ for what the summary does not say."""
    return usage_from_summary(summary, timeline, _deployment(summary.target))


@functools.cache
def _deployment(target: str) -> Deployment:
    return deployment_defaults(paths.project_root() / "infra", target)


class LoadRates(BaseModel):
    records_sent: int = 0
    load_s: float = 0.0
    baseline_records_per_s: float | None = None
    baseline_s: float = 0.0
    # from the first fault's start to the load's end: records sent and whole seconds
    since_fault_records: int = 0
    since_fault_s: float = 0.0


MIN_BASELINE_S = 2  # whole seconds of load before the fault, after the partial first one


def load_rates(timeline: Sequence[dict[str, Any]], fault_start_s: float | None) -> LoadRates:
    """Records sent over the load, and the baseline rate: the median records/s of the whole
    seconds (timeline `t`, epoch seconds) that ended before the first fault, less the first
    (partial) one. The median, because the producers of each cloud start one after the other:
    a mean over a 10 s baseline counts that ramp as the steady state."""
    active = [r for r in timeline if isinstance(r.get("t"), int | float)
              and (r.get("sent") or r.get("acked"))]
    if not active:
        return LoadRates()
    sent = sum(int(r.get("sent") or 0) for r in active)
    if fault_start_s is None:
        return LoadRates(records_sent=sent, load_s=float(len(active)))
    baseline = [int(r.get("sent") or 0) for r in active[1:] if r["t"] + 1 <= fault_start_s]
    since = [int(r.get("sent") or 0) for r in active if r["t"] + 1 > fault_start_s]
    rate = statistics.median(baseline) if len(baseline) >= MIN_BASELINE_S else None
    return LoadRates(records_sent=sent, load_s=float(len(active)),
                     baseline_records_per_s=float(rate) if rate is not None else None,
                     baseline_s=float(len(baseline)), since_fault_records=sum(since),
                     since_fault_s=float(len(since)))


# ---- pricing -------------------------------------------------------------------------------

MonthBasis = Literal["baseline", "run_average"]


class CostLine(BaseModel):
    item: str
    quantity: float
    unit: str
    unit_price: float
    drill: float  # cost of what the drill used
    monthly: float  # the same workload for a 730-hour month, at the baseline rate
    fault: float = 0.0  # what the run used beyond the baseline rate: the fault's own cost


class Cost(BaseModel):
    currency: str
    prices_as_of: str
    duration_s: float
    lines: list[CostLine]
    drill_total: float
    monthly_total: float
    fault_total: float = 0.0
    month_basis: MonthBasis = "run_average"
    notes: list[str] = []


def _traffic_scales(usage: Usage, notes: list[str]) -> tuple[float, float, MonthBasis]:
    """(month, fault): the shares of the run's traffic that make a month at the baseline rate
    and that the fault added (records sent from its start beyond the baseline rate); the run's
    average rate when there is no baseline."""
    rate = usage.baseline_records_per_s
    if usage.records_sent > 0 and rate is not None:
        extra = usage.since_fault_records - rate * usage.since_fault_s
        notes.append(
            f"per month: the run's traffic and requests per record sent x the baseline rate "
            f"({rate:.0f} records/s, the median of {usage.baseline_s:.0f} s before the fault); "
            f"the fault's cost: the {extra:+.0f} records sent from its start beyond that rate. "
            "Link and store counters are read once per run, so extra bytes per record during "
            "the fault (replica catch-up) stay in the run's average, not in the fault's cost")
        return rate * SECONDS_PER_MONTH / usage.records_sent, extra / usage.records_sent, \
            "baseline"
    notes.append("per month: the run's average rate over its whole duration (no baseline window "
                 "in the load timeline), fault included; the fault's cost not separated")
    return (SECONDS_PER_MONTH / usage.duration_s if usage.duration_s > 0 else 0.0), 0.0, \
        "run_average"


def price_usage(usage: Usage, prices: PriceTable) -> Cost:
    """Price every measured quantity; anything without a price is a note, never a guess."""
    lines: list[CostLine] = []
    notes = list(usage.notes)
    month, fault, basis = _traffic_scales(usage, notes)

    def traffic(item: str, qty: float, unit: str, price: float) -> None:
        # usage that grows with the load (bytes, requests): a month at the baseline rate
        lines.append(CostLine(item=item, quantity=round(qty, 6), unit=unit, unit_price=price,
                              drill=qty * price, monthly=qty * month * price,
                              fault=qty * fault * price))

    for name, n_bytes in sorted(usage.link_bytes.items()):
        m = _LINK.match(name)
        src = m.group("src") if m else name
        if src not in prices.egress_per_gb:
            notes.append(f"no egress price for {src!r} (link {name}); add egress_per_gb.{src}")
            continue
        traffic(f"egress {name}", n_bytes / GB, "GB", prices.egress_per_gb[src])
    for name, s in sorted(usage.stores.items()):
        p = prices.object_store.get(s.api)
        if p is None:
            notes.append(f"no object_store price for api {s.api!r} (store {name})")
            continue
        traffic(f"{name} PUT/LIST", s.put / 1000, "1000 req", p.put_per_1000)
        # DELETE and the rest ("other") are free on both clouds.
        traffic(f"{name} GET", s.get / 1000, "1000 req", p.get_per_1000)
        stored_gb = s.stored_bytes / GB
        # The drill held the bytes for its duration; a month holds the same footprint all month.
        lines.append(CostLine(
            item=f"{name} storage", quantity=round(stored_gb, 6), unit="GB-month",
            unit_price=p.storage_gb_month,
            drill=stored_gb * p.storage_gb_month * usage.duration_s / SECONDS_PER_MONTH,
            monthly=stored_gb * p.storage_gb_month))
    for cloud, hours in sorted(usage.broker_hours.items()):
        if cloud not in prices.instance_hour:
            notes.append(f"no instance_hour price for cloud {cloud!r}")
            continue
        priced = prices.instance_type.get(cloud)
        module = usage.broker_types.get(cloud)
        if module is not None:
            note = type_note(cloud, "broker", module, priced)
            if note:
                notes.append(note)
        kind = module or priced or "instance"
        # brokers run the same hours with or without the fault: no fault share
        lines.append(CostLine(item=f"brokers in {cloud} ({kind})", quantity=round(hours, 6),
                              unit="instance-hour", unit_price=prices.instance_hour[cloud],
                              drill=hours * prices.instance_hour[cloud],
                              monthly=usage.brokers_by_cloud[cloud] * HOURS_PER_MONTH
                              * prices.instance_hour[cloud]))
    for role, by_cloud in usage.hub_by_cloud.items():
        own = prices.hub_instance_hour.get(role, {})
        for cloud, n in sorted(by_cloud.items()):
            if cloud in own:
                price = own[cloud]
                kind = prices.hub_instance_type.get(role, {}).get(cloud, "instance")
            elif cloud in prices.instance_hour:
                price = prices.instance_hour[cloud]
                kind = f"{prices.instance_type.get(cloud, 'instance')}, as a broker"
            else:
                notes.append(f"no instance_hour price for cloud {cloud!r} ({role})")
                continue
            hours = n * usage.duration_s / 3600
            lines.append(CostLine(item=f"{HUB_ROLE_TEXT[role]} in {cloud} ({kind})",
                                  quantity=round(hours, 6), unit="instance-hour",
                                  unit_price=price, drill=hours * price,
                                  monthly=n * HOURS_PER_MONTH * price))
    return Cost(currency=prices.currency, prices_as_of=prices.as_of, duration_s=usage.duration_s,
                lines=lines, drill_total=sum(c.drill for c in lines),
                monthly_total=sum(c.monthly for c in lines),
                fault_total=sum(c.fault for c in lines), month_basis=basis, notes=notes)
