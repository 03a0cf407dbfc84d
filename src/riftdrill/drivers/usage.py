"""What a drill used on its target, measured before and after it: link bytes and object stores.

A driver (`riftdrill.drivers.base.Driver`) takes the snapshots, because only it knows where the
counters are (nft rules of the lab's WAN router, the lab's S3/GCS servers); the drill runner
takes one before and one after the drill and keeps the difference in summary.json
(`link_bytes`, `store_usage`), which the cost report prices (`riftdrill.report.cost`).

- link counters: {"aws-to-gcp": {"bytes": n, "packets": n}, ...}, cumulative;
- store snapshots, per store: objects and bytes stored (listing) and, where the server can tell,
  request counts (moto's recorder: `POST <endpoint>/moto-api/recorder/start-recording` at drill
  start); a store that cannot be listed gets {"error": "..."} and the drill goes on.

Every function here is pure or best effort: a measurement never fails a drill.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from riftdrill.inventory import Inventory, ObjectStore

LinkCounters = dict[str, dict[str, int]]  # "aws-to-gcp" -> {"bytes": n, "packets": n}
StoreSnapshots = dict[str, dict[str, Any]]  # store name -> snapshot (or {"error": ...})


def counters_delta(before: LinkCounters, after: LinkCounters) -> LinkCounters:
    """`summary.link_bytes`: what crossed each link direction between two snapshots."""
    return {k: {m: v - before.get(k, {}).get(m, 0) for m, v in vals.items()}
            for k, vals in after.items()}


# ---- snapshots of S3 / GCS stores reachable at their inventory endpoints -------------------

def _s3_snapshot(store: ObjectStore) -> dict[str, Any]:
    """Objects and bytes by listing the store's S3 API; request counts from moto's recorder."""
    import requests

    from riftdrill.lab.stores import s3_client

    endpoint = store.s3_endpoint
    if endpoint is None:
        raise ValueError(f"store {store.name} has no S3 API")
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


def count_recorded_requests(lines: Iterable[bytes | str]) -> dict[str, int]:
    """PUT/GET/other counts and request bytes from moto's recording (JSON lines)."""
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


def _gcs_snapshot(store: ObjectStore) -> dict[str, Any]:
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


def collect_store_usage(inv: Inventory) -> StoreSnapshots:
    """A snapshot of every object store of the inventory, for `store_usage_delta`."""
    out: StoreSnapshots = {}
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


def start_store_recording(inv: Inventory) -> None:
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


def store_usage_delta(before: StoreSnapshots, after: StoreSnapshots) -> StoreSnapshots:
    """`summary.store_usage` from two snapshots: what the drill did to each store."""
    usage: StoreSnapshots = {}
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
