"""What a cloud deployment costs for a given number of hours, before it exists: the cost guard
of the scheduled cloud drill (`riftdrill cloud cost-estimate`, .github/workflows/cloud-drill.yml).

Quantities come from the Terraform itself: node counts are the defaults of infra/envs/aws-gcp
(`brokers_per_cloud`, `controllers`) unless given, machine types and disk sizes the defaults of
infra/modules/*-cluster, and the network parts are the ones those modules create (`NETWORK_PARTS`,
checked against the .tf by tests/unit/test_cloud_estimate.py). Prices come from prices.yaml:
brokers and link egress are priced by the report's own `price_usage`; controllers, disks and
network parts by the table's deployment fields. Anything without a price is a note, never a guess,
and makes the estimate incomplete (`complete: false`). Object-store requests and storage are not
estimated (a drill's are cents: `riftdrill report` prices what a run measured).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from riftdrill.cloud import tfconfig
from riftdrill.errors import RiftdrillError, ValidationError
from riftdrill.report.cost import (
    GB,
    HOURS_PER_MONTH,
    SECONDS_PER_MONTH,
    CostLine,
    PriceTable,
    Usage,
    price_usage,
)
from riftdrill.report.deployment import (
    CLOUDS,
    MODULE_VARS,
    Cloud,
    env_node_counts,
    module_type,
    type_note,
)

# Per-hour network parts the modules create with their defaults, and how many: a count, or
# "nodes" for a part priced per VM it serves (Cloud NAT).
NETWORK_PARTS: dict[Cloud, dict[str, int | Literal["nodes"]]] = {
    "aws": {"nat_gateway": 1, "vpn_connection": 2},  # aws-cluster, interconnect
    "gcp": {"vpn_tunnel": 4, "cloud_nat_vm": "nodes"},  # interconnect, gcp-cluster
}


class OverBudgetError(RiftdrillError):
    """The estimated cost of a run exceeds its budget: nothing is deployed."""


class Nodes(BaseModel):
    brokers: int
    controllers: int
    broker_type: str
    controller_type: str
    disk_gb: int


class Estimate(BaseModel):
    hours: float
    currency: str
    prices_as_of: str
    nodes: dict[str, Nodes]
    link_gb_per_direction: float
    lines: list[CostLine]  # `drill`: the cost of these hours; `monthly`: a 730-hour month
    total: float
    complete: bool  # False: some part had no price (see notes); the total is a lower bound
    notes: list[str]
    budget_usd: float | None = None
    within_budget: bool | None = None


def estimate(prices: PriceTable, infra: Path, hours: float, *, brokers_per_cloud: int | None = None,
             controllers: dict[Cloud, int] | None = None, link_gb: float = 0.0) -> Estimate:
    """The cost of `hours` of infra/envs/aws-gcp with its defaults (or the counts given)."""
    if hours <= 0:
        raise ValidationError(f"--hours must be positive, got {hours:g}")
    if link_gb < 0:
        raise ValidationError(f"--link-gb must not be negative, got {link_gb:g}")
    env = infra / "envs" / "aws-gcp"
    default_brokers, default_controllers = env_node_counts(env)
    n_brokers = default_brokers if brokers_per_cloud is None else brokers_per_cloud
    n_controllers = {**default_controllers, **(controllers or {})}
    if n_brokers < 0 or any(n < 0 for n in n_controllers.values()):
        raise ValidationError("node counts must not be negative")

    nodes: dict[Cloud, Nodes] = {}
    for cloud in CLOUDS:
        mod = infra / "modules" / MODULE_VARS[cloud]["module"]
        nodes[cloud] = Nodes(
            brokers=n_brokers, controllers=n_controllers[cloud],
            broker_type=module_type(infra, cloud, "broker"),
            controller_type=module_type(infra, cloud, "controller"),
            disk_gb=tfconfig.number_default(mod, MODULE_VARS[cloud]["disk_gb"]))

    # Brokers and link egress: the report's own pricing of a run's usage.
    usage = Usage(duration_s=hours * 3600,
                  link_bytes={"aws-to-gcp": round(link_gb * GB), "gcp-to-aws": round(link_gb * GB)},
                  brokers_by_cloud={c: n.brokers for c, n in nodes.items()})
    cost = price_usage(usage, prices)
    lines = list(cost.lines)
    # A run's "not measured" notes say nothing here; its "no ... price" notes are missing prices.
    notes = [n for n in cost.notes
             if not n.startswith(("object stores", "link bytes", "cross-zone", "per month"))]
    missing = sum(1 for n in notes if n.startswith("no "))

    def hourly(item: str, count: float, unit: str, price: float) -> None:
        lines.append(CostLine(item=item, quantity=round(count * hours, 6), unit=unit,
                              unit_price=price, drill=count * hours * price,
                              monthly=count * HOURS_PER_MONTH * price))

    for cloud, n in nodes.items():
        note = type_note(cloud, "broker", n.broker_type, prices.instance_type.get(cloud))
        if note:
            notes.append(note)
        if n.controllers:
            if cloud in prices.controller_instance_hour:
                price = prices.controller_instance_hour[cloud]
                note = type_note(cloud, "controller", n.controller_type,
                                 prices.controller_instance_type.get(cloud))
                if note:
                    notes.append(note)
                kind = n.controller_type
            elif cloud in prices.instance_hour:
                price, kind = prices.instance_hour[cloud], f"{n.controller_type}, priced as a broker"
                notes.append(f"{cloud} controllers priced as brokers (add controller_instance_hour."
                             f"{cloud} to prices.yaml)")
            else:
                price, kind = 0.0, ""
                notes.append(f"no instance_hour price for cloud {cloud!r} (controllers)")
                missing += 1
            if kind:
                hourly(f"controllers in {cloud} ({kind})", n.controllers, "instance-hour", price)
        node_count = n.brokers + n.controllers
        if cloud in prices.disk_gb_month:
            gb = node_count * n.disk_gb
            p = prices.disk_gb_month[cloud]
            lines.append(CostLine(item=f"disks in {cloud} ({node_count} x {n.disk_gb} GB)",
                                  quantity=gb, unit="GB-month", unit_price=p,
                                  drill=gb * p * hours * 3600 / SECONDS_PER_MONTH, monthly=gb * p))
        else:
            notes.append(f"no disk_gb_month price for cloud {cloud!r}")
            missing += 1
        for part, count in NETWORK_PARTS[cloud].items():
            per_hour = prices.network_hour.get(cloud, {}).get(part)
            if per_hour is None:
                notes.append(f"no network_hour price for {cloud} {part}")
                missing += 1
                continue
            qty = node_count if count == "nodes" else count
            hourly(f"{part} in {cloud} (x{qty})", qty, "hour", per_hour)
    if link_gb == 0:
        notes.append("link egress not estimated (--link-gb 0)")
    notes.append("object-store requests and storage not estimated (cents for a drill)")
    return Estimate(hours=hours, currency=prices.currency, prices_as_of=prices.as_of,
                    nodes={str(c): n for c, n in nodes.items()},
                    link_gb_per_direction=link_gb, lines=lines,
                    total=round(sum(line.drill for line in lines), 4), complete=missing == 0,
                    notes=notes)


def check_budget(est: Estimate, budget_usd: float) -> Estimate:
    """The estimate with its budget verdict; raises OverBudgetError (exit 2) when over."""
    if budget_usd <= 0:
        raise ValidationError(f"--budget-usd must be positive, got {budget_usd:g}")
    if est.currency != "USD":
        raise ValidationError(f"prices.yaml is in {est.currency}, the budget in USD: use a USD table")
    return est.model_copy(update={"budget_usd": budget_usd, "within_budget": est.total <= budget_usd})


def refuse_over_budget(est: Estimate) -> None:
    if est.within_budget is False and est.budget_usd is not None:
        raise OverBudgetError(
            f"estimated cost {est.total:.2f} USD for {est.hours:g} h exceeds the budget of "
            f"{est.budget_usd:.2f} USD; raise the budget (--budget-usd) or shorten the run (--hours)")
