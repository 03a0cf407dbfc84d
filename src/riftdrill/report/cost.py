"""Cost per drill: measured usage priced with a user-editable table (`prices.yaml`).

Usage (what a run measured, all in `summary.json`):
- `link_bytes`: bytes that crossed the cross-cloud link per direction ("aws-to-gcp": bytes leave
  AWS, priced at AWS's egress rate; nft counters in the lab, flow logs on clouds);
- `store_usage`: per object store, PUT/GET/other request counts, bytes in/out and bytes stored
  at the end (`collect_store_usage` before and after the drill, `store_usage_delta`);
- broker-hours: the run's brokers (`summary.brokers`, else `params.brokers_per_cloud` in each
  cloud of the link) x the run's duration, priced per cloud at one instance-hour each.

Per month: the drill's traffic and requests per second scaled to a 730-hour month, brokers for
730 hours, and the bytes stored at the end of the drill kept for the month (the retention
footprint). It answers "what would this workload cost per month on this engine", not what the
drill itself cost (that is `total`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat
from pydantic import ValidationError as PydanticValidationError

from riftdrill import paths
from riftdrill.errors import ValidationError

GB = 1e9  # cloud price lists bill decimal GB
HOURS_PER_MONTH = 730.0
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600


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
                 stores=stores, brokers_by_cloud=brokers, notes=notes)


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
    return Cost(currency=prices.currency, prices_as_of=prices.as_of, duration_s=usage.duration_s,
                lines=lines, drill_total=sum(c.drill for c in lines),
                monthly_total=sum(c.monthly for c in lines), notes=notes)


# ---- measuring the object stores -----------------------------------------------------------

def _s3_snapshot(store: Any) -> dict[str, Any]:
    """Objects and bytes by listing the store's S3 API; request counts from moto's recorder."""
    import requests

    from riftdrill.lab.stores import s3_client

    endpoint = store.s3_endpoint
    s3 = s3_client(endpoint)
    objects = stored = 0
    for bucket in store.buckets:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                objects += 1
                stored += int(obj["Size"])
    snap: dict[str, Any] = {"objects": objects, "stored_bytes": stored}
    if store.server != "moto":
        return snap  # S3Proxy keeps no request log: counts stay a lower bound
    try:
        resp = requests.get(f"{endpoint}/moto-api/recorder/download-recording",
                            stream=True, timeout=10)
        if resp.status_code == 200:
            snap["requests"] = count_recorded_requests(resp.iter_lines())
    except requests.RequestException:
        pass
    return snap


def count_recorded_requests(lines: Any) -> dict[str, int]:
    """PUT/GET/other counts and request bytes from moto's recording (JSON lines)."""
    import json

    counts = {"put": 0, "get": 0, "other": 0, "bytes_in": 0}
    for line in lines:
        if not line:
            continue
        entry = json.loads(line)
        method = str(entry.get("method", "")).upper()
        url = str(entry.get("url", ""))
        if "/moto-api/" in url:
            continue
        headers = {str(k).lower(): v for k, v in (entry.get("headers") or {}).items()}
        if method in ("PUT", "POST", "COPY") or (method == "GET" and "list-type=" in url):
            counts["put"] += 1  # class A: writes and LISTs
        elif method in ("GET", "HEAD"):
            counts["get"] += 1
        else:
            counts["other"] += 1  # DELETE (free on both clouds) and the rest
        if method in ("PUT", "POST"):
            counts["bytes_in"] += int(headers.get("content-length", 0) or 0)
    return counts


def _gcs_snapshot(store: Any) -> dict[str, Any]:
    from riftdrill.lab.stores import gcs_client

    client = gcs_client(store.endpoint)
    objects = stored = 0
    generations: dict[str, int] = {}
    for bucket in store.buckets:
        for blob in client.list_blobs(bucket, timeout=10, retry=None):
            objects += 1
            stored += int(blob.size or 0)
            generations[f"{bucket}/{blob.name}"] = int(blob.generation or 0)
    return {"objects": objects, "stored_bytes": stored, "generations": generations}


def collect_store_usage(inv: Any) -> dict[str, dict[str, Any]]:
    """A snapshot of every object store of the inventory, for `store_usage_delta`.

    Per store: objects and bytes stored (listing), and where the server can tell, request
    counts (moto's recorder: `POST <endpoint>/moto-api/recorder/start-recording` at drill start).
    A store that cannot be listed gets {"error": "..."}; the drill goes on.
    """
    out: dict[str, dict[str, Any]] = {}
    for store in inv.stores:
        base = {"cloud": store.cloud, "api": store.api}
        try:
            snap = _s3_snapshot(store) if store.api == "s3" else _gcs_snapshot(store)
            if store.api == "gcs" and store.s3_endpoint:
                # What S3-only engines wrote through the store's S3 interoperability API.
                interop = _s3_snapshot(store)
                snap["objects"] += interop["objects"]
                snap["stored_bytes"] += interop["stored_bytes"]
                if "requests" in interop:
                    snap["requests"] = interop["requests"]
        except Exception as exc:  # any client failure: report it, never fail the drill
            out[store.name] = {**base, "error": f"{type(exc).__name__}: {exc}"[:300]}
            continue
        out[store.name] = {**base, **snap}
    return out


def start_store_recording(inv: Any) -> None:
    """Ask moto (lab S3) to record requests from now on; clears an earlier recording."""
    import requests

    for store in inv.stores:
        endpoint = store.s3_endpoint
        if not endpoint or store.server != "moto":
            continue
        try:
            requests.post(f"{endpoint}/moto-api/recorder/reset-recording", timeout=5)
            requests.post(f"{endpoint}/moto-api/recorder/start-recording", timeout=5)
        except requests.RequestException:
            pass


def store_usage_delta(before: dict[str, dict[str, Any]],
                      after: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`summary.store_usage` from two snapshots: what the drill did to each store."""
    usage: dict[str, dict[str, Any]] = {}
    for name, a in after.items():
        b = before.get(name, {})
        if "error" in a or "error" in b:
            usage[name] = {"cloud": a.get("cloud", ""), "api": a.get("api", ""),
                           "requests_measured": False,
                           "method": f"not measured: {a.get('error') or b.get('error')}"}
            continue
        row: dict[str, Any] = {"cloud": a["cloud"], "api": a["api"], "objects": a["objects"],
                               "stored_bytes": a["stored_bytes"]}
        grown = max(0, a["stored_bytes"] - b.get("stored_bytes", 0))
        if "requests" in a:
            req_a, req_b = a["requests"], b.get("requests", {})
            for k in ("put", "get", "other", "bytes_in"):
                row[k] = max(0, req_a.get(k, 0) - req_b.get(k, 0))
            row["requests_measured"] = True
            row["method"] = "moto request recording"
        else:
            gen_a, gen_b = a.get("generations", {}), b.get("generations", {})
            written = sum(1 for k, g in gen_a.items() if gen_b.get(k) != g)
            row.update(put=written if gen_a else max(0, a["objects"] - b.get("objects", 0)),
                       get=0, other=0, bytes_in=grown, requests_measured=False,
                       method="listing before/after: new or rewritten objects; GETs unseen")
        usage[name] = row
    return usage
