"""Cost per drill: measured usage priced with a user-editable table (`prices.yaml`).

Usage (what a run measured, all in `summary.json`):
- `link_bytes`: bytes that crossed the cross-cloud link per direction ("aws-to-gcp": bytes leave
  AWS, priced at AWS's egress rate; nft counters in the lab, flow logs on clouds);
- `store_usage`: per object store, PUT/GET/other request counts, bytes in/out and bytes stored
  at the end (the target's driver snapshots the stores before and after the drill:
  `riftdrill.drivers.usage`);
- broker-hours: the run's brokers (`summary.brokers`, else `params.brokers_per_cloud` in each
  cloud of the link) x the run's duration, priced per cloud at one instance-hour each;
- the integration hub's hours (`topology` hub): a Kafka Connect worker and a PostgreSQL server
  in each cloud of the link (the lab's layout: infra/envs/local, `hub_workers` and
  `hub_databases`) x the run's duration, each one instance-hour of its machine, priced per cloud
  like a broker: `hub_instance_hour.<role>` when prices.yaml has it, else a broker's
  `instance_hour`.

Per month: the drill's traffic and requests per second scaled to a 730-hour month, brokers for
730 hours, and the bytes stored at the end of the drill kept for the month (the retention
footprint). It answers "what would this workload cost per month on this engine", not what the
drill itself cost (that is `total`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat
from pydantic import ValidationError as PydanticValidationError

from riftdrill import paths
from riftdrill.errors import ValidationError

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
        return PriceTable.model_validate(raw)
    except PydanticValidationError as exc:
        errors = exc.errors()
        # An unknown field first: a misspelt name also reports the real one as missing.
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        loc = ".".join(str(p) for p in first["loc"])
        if first["type"] == "extra_forbidden":
            raise ValidationError(f"{path}: unknown field {loc!r}") from None
        raise ValidationError(f"{path}: {loc}: {first['msg']}") from None


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
    notes: list[str] = []

    @property
    def broker_hours(self) -> dict[str, float]:
        return {c: n * self.duration_s / 3600 for c, n in self.brokers_by_cloud.items()}


_LINK = re.compile(r"^(?P<src>[a-z0-9]+)-to-(?P<dst>[a-z0-9]+)$")


def usage_from_summary(summary: Any) -> Usage:
    """Usage of one run from its RunSummary (or anything with the same attributes)."""
    notes: list[str] = []
    brokers: dict[str, int] = {}
    for b in summary.brokers:
        cloud = str(b.get("cloud", "?"))
        brokers[cloud] = brokers.get(cloud, 0) + 1
    if not brokers:
        per_cloud = summary.params.get("brokers_per_cloud")
        clouds = sorted({m.group(g) for name in summary.link_bytes
                         if (m := _LINK.match(name)) for g in ("src", "dst")})
        if isinstance(per_cloud, int) and clouds:
            brokers = dict.fromkeys(clouds, per_cloud)
            notes.append(f"brokers: {per_cloud} per cloud from params.brokers_per_cloud")
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
    return Usage(duration_s=summary.duration_s,
                 link_bytes={k: int(v.get("bytes", 0)) for k, v in summary.link_bytes.items()},
                 stores=stores, brokers_by_cloud=brokers, hub_by_cloud=hub, notes=notes)


# ---- pricing -------------------------------------------------------------------------------

class CostLine(BaseModel):
    item: str
    quantity: float
    unit: str
    unit_price: float
    drill: float  # cost of what the drill used
    monthly: float  # the same workload for a 730-hour month


class Cost(BaseModel):
    currency: str
    prices_as_of: str
    duration_s: float
    lines: list[CostLine]
    drill_total: float
    monthly_total: float
    notes: list[str] = []


def price_usage(usage: Usage, prices: PriceTable) -> Cost:
    """Price every measured quantity; anything without a price is a note, never a guess."""
    lines: list[CostLine] = []
    notes = list(usage.notes)
    scale = SECONDS_PER_MONTH / usage.duration_s if usage.duration_s > 0 else 0.0

    def add(item: str, qty: float, unit: str, price: float, monthly_qty: float) -> None:
        lines.append(CostLine(item=item, quantity=round(qty, 6), unit=unit, unit_price=price,
                              drill=qty * price, monthly=monthly_qty * price))

    for name, n_bytes in sorted(usage.link_bytes.items()):
        m = _LINK.match(name)
        src = m.group("src") if m else name
        if src not in prices.egress_per_gb:
            notes.append(f"no egress price for {src!r} (link {name}); add egress_per_gb.{src}")
            continue
        gb = n_bytes / GB
        add(f"egress {name}", gb, "GB", prices.egress_per_gb[src], gb * scale)
    for name, s in sorted(usage.stores.items()):
        p = prices.object_store.get(s.api)
        if p is None:
            notes.append(f"no object_store price for api {s.api!r} (store {name})")
            continue
        add(f"{name} PUT/LIST", s.put / 1000, "1000 req", p.put_per_1000, s.put / 1000 * scale)
        # DELETE and the rest ("other") are free on both clouds.
        add(f"{name} GET", s.get / 1000, "1000 req", p.get_per_1000, s.get / 1000 * scale)
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
        kind = prices.instance_type.get(cloud, "instance")
        add(f"brokers in {cloud} ({kind})", hours, "instance-hour", prices.instance_hour[cloud],
            usage.brokers_by_cloud[cloud] * HOURS_PER_MONTH)
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
            add(f"{HUB_ROLE_TEXT[role]} in {cloud} ({kind})", n * usage.duration_s / 3600,
                "instance-hour", price, n * HOURS_PER_MONTH)
    return Cost(currency=prices.currency, prices_as_of=prices.as_of, duration_s=usage.duration_s,
                lines=lines, drill_total=sum(c.drill for c in lines),
                monthly_total=sum(c.monthly for c in lines), notes=notes)
