"""Where a cloud's producers write: the switch a drill flips to fail producers over and back.

`load/switch/<cloud>.json` = {"bootstrap", "cluster"}: the producers of that cloud's Locust
process (users.KafkaProducerUser) check it every SWITCH_CHECK_S and, when it names another
cluster than the one they write to, move there (a new client instance and a new ledger naming
the cluster). No file: they stay where the load started them. Each flip is also appended to
`load/switch/events.jsonl` (cloud, cluster, bootstrap, ts_ns) for the failover figures.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

SWITCH_CHECK_S = 0.5
DIR = "switch"
EVENTS = "events.jsonl"


def switch_path(load_dir: Path, cloud: str) -> Path:
    return load_dir / DIR / f"{cloud}.json"


def write_switch(load_dir: Path, cloud: str, bootstrap: str, cluster: str) -> int:
    """Point `cloud`'s producers at `cluster`; returns when (epoch ns)."""
    path = switch_path(load_dir, cloud)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"bootstrap": bootstrap, "cluster": cluster}) + "\n")
    os.replace(tmp, path)
    ts_ns = time.time_ns()
    with open(path.parent / EVENTS, "a") as f:
        f.write(json.dumps({"cloud": cloud, "cluster": cluster, "bootstrap": bootstrap,
                            "ts_ns": ts_ns}) + "\n")
    return ts_ns


def read_switch(load_dir: Path, cloud: str) -> tuple[str, str] | None:
    """(bootstrap, cluster) the switch names for `cloud`; None without one (or while torn)."""
    try:
        data = json.loads(switch_path(load_dir, cloud).read_text())
        return str(data["bootstrap"]), str(data["cluster"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def switch_events(load_dir: Path) -> list[dict[str, Any]]:
    try:
        lines = (load_dir / DIR / EVENTS).read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out
