"""The broker timeline of a real drill: a broker-kill's cluster.jsonl shows the partitions going
under-replicated while the broker is dead and back to fully replicated at the end, the leaders
moving off the killed broker, and its log lines kept with the run (~90 s)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from riftdrill.chaos import brokerlogs
from riftdrill.inventory import Inventory
from tests.conftest import ROOT, riftdrill

pytestmark = pytest.mark.lab


def _lines(run: Path) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in (run / "cluster.jsonl").read_text().splitlines()]


def test_broker_kill_timeline_and_logs(lab: Inventory) -> None:
    # the drill renders the committed results/index.*: put them back afterwards
    index = {p: p.read_bytes() for p in (ROOT / "results").glob("index.*")}
    try:
        # the broker leading the most partitions of the load's topic, so leaders must move
        proc = riftdrill("drill", "broker-kill", "--var", "broker=leader", "--var", "hold_s=10",
                         "--var", "baseline_s=5", "--var", "recovery_s=20", "--var", "rate=100",
                         "--json", check=False, timeout=400)
    finally:
        for path, data in index.items():
            path.write_bytes(data)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    [summary] = json.loads(proc.stdout)
    run = ROOT / "results" / "runs" / summary["run_id"]
    [window] = summary["fault_windows"]
    killed_name = window["target"]
    killed = lab.broker(killed_name).id
    lines = _lines(run)
    block = summary["cluster_timeline"]
    assert block["samples"] == len(lines) >= 20  # once a second over a ~60 s drill
    assert all(b["ts_s"] - a["ts_s"] < 3 for a, b in itertools.pairwise(lines))

    before = [ln for ln in lines if ln["ts_s"] < window["start_s"] and ln["partitions"]]
    during = [ln for ln in lines if window["start_s"] + 2 <= ln["ts_s"] <= window["end_s"]]
    assert before and during
    assert all(ln["error"] is None for ln in before), before[-1]["error"]
    assert killed in before[-1]["brokers_up"]
    led_before = {(p["topic"], p["partition"]) for p in before[-1]["partitions"]
                  if p["leader"] == killed}
    assert led_before, "the killed broker led no partition of the drill's topic"
    # while it is dead (the controller notices after broker.session.timeout.ms): under-replicated,
    # unregistered, and no partition led by it
    assert max(ln["under_replicated"] for ln in during) > 0
    assert block["max_under_replicated"] > 0 and block["max_offline"] == 0
    assert any(killed not in ln["brokers_up"] for ln in during)
    assert all(p["leader"] != killed for p in during[-1]["partitions"])
    # at the end it is back and every partition fully replicated again
    assert lines[-1]["under_replicated"] == 0 and killed in lines[-1]["brokers_up"]
    # KRaft: the quorum's leader is known in (nearly) every sample
    assert sum(ln["quorum"] is not None for ln in lines) >= len(lines) - 3
    assert all(ln["controller"] >= 0 for ln in before)

    # the killed broker's log lines of the run's span, with the restart in them
    assert f"logs/{killed_name}.log" in block["logs"] and block["logs_note"] is None
    text = (run / "logs" / f"{killed_name}.log").read_bytes()
    stamps = [ts for ts in map(brokerlogs.line_ts, text.splitlines()) if ts is not None]
    assert stamps and stamps[0] >= window["start_s"] - 120 and stamps[-1] >= window["end_s"]
    assert b"started" in text  # Kafka's "[KafkaRaftServer nodeId=...] Kafka Server started"
