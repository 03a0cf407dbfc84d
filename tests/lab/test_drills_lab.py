"""Drills against the real lab: a killed broker and a severed link under acks=all load lose no
acknowledged record, and a drill interrupted mid-fault leaves no fault behind.

Short durations via --var (each drill ~60 s on the 2-core machine); the file takes ~4 min. The
broker-kill drill is in test_broker_kill_lab.py: one drill there checks the drill's truth, the
broker timeline (cluster.jsonl) and the logs kept with the run, redaction and the report.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from riftdrill.chaos import brokerlogs
from riftdrill.inventory import Inventory
from tests.conftest import ROOT, riftdrill, status

pytestmark = pytest.mark.lab

SHORT = ["--var", "baseline_s=8", "--var", "recovery_s=15", "--var", "rate=200"]


def drill(*args: str) -> tuple[int, dict[str, Any]]:
    proc = riftdrill("drill", *args, "--json", check=False, timeout=400)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    [summary] = json.loads(proc.stdout)  # `drill --json` prints a list, one item per drill
    return proc.returncode, summary


def assert_lab_healthy() -> None:
    data = status()
    assert data["faults"] == []
    assert all(b["state"] == "running" for b in data["brokers"])  # type: ignore[index,union-attr]
    assert all(lk["state"] == "up" for lk in data["links"])  # type: ignore[index,union-attr]
    assert all(s["state"] == "open" for s in data["stores"])  # type: ignore[index,union-attr]


# What verify may find in these drills besides a clean log. The idempotent producer has written
# a batch twice after its requests to a partition timed out during a sever or an outage, in 3 of
# the runs published or seen in CI so far (docs/findings.md: duplicates with no fatal error);
# that is the client and broker misbehaving, not riftdrill. These tests test riftdrill: when the
# log holds duplicates, the verdict must fail on exactly them, and the run's own consumers (an
# independent reader) must have polled both copies, so the verifier reports only what is there.
CLIENT_DUPLICATE_KINDS = {"duplicates", "failed_present", "unacknowledged"}


def assert_duplicates_are_real_and_fail(rc: int, summary: dict[str, Any],
                                        other_reasons: tuple[str, ...] = ()) -> None:
    counts = summary["verify"]["counts"]
    assert {k for k, v in counts.items() if v} <= CLIENT_DUPLICATE_KINDS, counts
    assert rc == 1 and not summary["verdict"]["passed"] and not summary["verify"]["passed"]
    assert all("duplicates" in r or r.startswith(other_reasons)
               for r in summary["verdict"]["reasons"]), summary["verdict"]["reasons"]
    run = ROOT / "results" / "runs" / summary["run_id"]
    report = json.loads((run / "verify.json").read_text())
    polls = consumer_polls(run)
    found = 0
    for part in report["partitions"]:
        where = (part["cluster"], part["topic"], part["partition"])
        for lo, hi in part["anomalies"].get("duplicates", {}).get("offsets", []):
            for offset in range(lo, hi + 1):
                key = polls.get((*where, offset))
                assert key is not None, f"no consumer polled {where}@{offset}"
                copies = [o for (c, t, p_, o), k in polls.items()
                          if (c, t, p_) == where and k == key]
                assert len(copies) >= 2, (offset, key, copies)
                found += 1
    assert found == counts["duplicates"]


def consumer_polls(run: Path) -> dict[tuple[str, str, int, int], tuple[int, int]]:
    """(cluster, topic, partition, offset) -> (producer id, seq) of every record the run's
    consumers polled (per cluster: per-cloud clusters hold topics of the same name)."""
    from riftdrill.load.consumer_ledger import (
        KIND_POLL,
        consumer_ledger_files,
        read_consumer_ledger,
    )

    polls: dict[tuple[str, str, int, int], tuple[int, int]] = {}
    for path in consumer_ledger_files(run):
        log = read_consumer_ledger(path)
        cluster = str(log.header["cluster"])
        for e in log.entries:
            if e.kind == KIND_POLL and not e.flags:
                polls[(cluster, e.topic, e.partition, e.offset)] = (e.producer_id, e.seq)
    return polls


def assert_passed_without_loss(rc: int, summary: dict[str, Any], kind: str) -> None:
    if summary["verify"]["counts"]["duplicates"]:
        assert_duplicates_are_real_and_fail(rc, summary)
    else:
        assert summary["verdict"]["passed"], summary["verdict"]["reasons"]
        assert rc == 0
        assert summary["verify"]["passed"]
    assert summary["verify"]["counts"]["lost"] == 0
    assert summary["verify"]["acks"] > 1000  # the load really ran through the fault
    assert summary["params"]["replication_factor"] == 3
    assert summary["params"]["min_insync_replicas"] == 2
    assert summary["params"]["load"]["acks"] == "all"
    [window] = summary["fault_windows"]
    assert window["kind"] == kind and window["end_s"] > window["start_s"]
    assert summary["recovery"]["worst_time_to_first_ack_s"] is not None
    run = ROOT / "results" / "runs" / summary["run_id"]
    for name in ("summary.json", "journal.json", "verify.json", "load/timeline.json"):
        assert (run / name).exists(), name


# KRaft's election after its leader dies: controller.quorum.fetch.timeout.ms (2 s) plus the
# election timeout and backoff; 10 s leaves room for a busy 2-core machine.
QUORUM_ELECTION_MAX_S = 10


def _timeline_lines(run: Path) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in (run / "cluster.jsonl").read_text().splitlines()]


def assert_broker_timeline_and_logs(lab: Inventory, summary: dict[str, Any]) -> None:
    """A broker-kill's cluster.jsonl shows the partitions going under-replicated while the
    broker is dead and back to fully replicated at the end, the leaders moving off the killed
    broker, and its log lines kept with the run."""
    run = ROOT / "results" / "runs" / summary["run_id"]
    [window] = summary["fault_windows"]
    killed_name = window["target"]
    killed = lab.broker(killed_name).id
    lines = _timeline_lines(run)
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
    # KRaft: the quorum's leader is known in (nearly) every sample, but for the election that
    # follows killing the quorum's own leader (seen: ~4 s with no leader, then a higher epoch)
    unknown = [ln for ln in lines if ln["quorum"] is None]
    quorum_before = before[-1]["quorum"]
    assert quorum_before is not None
    if quorum_before["leader"] == killed:
        elected = [ln for ln in during if ln["quorum"] is not None]
        assert elected and elected[0]["quorum"]["leader"] != killed
        assert elected[0]["quorum"]["epoch"] > quorum_before["epoch"]
        election_end_s = elected[0]["ts_s"]
        assert election_end_s - window["start_s"] <= QUORUM_ELECTION_MAX_S
        unknown = [ln for ln in unknown
                   if not window["start_s"] <= ln["ts_s"] < election_end_s]
    assert len(unknown) <= 3, [ln["error"] for ln in unknown]
    assert all(ln["controller"] >= 0 for ln in before)

    # the killed broker's log lines of the run's span, with the restart in them
    assert f"logs/{killed_name}.log" in block["logs"] and block["logs_note"] is None
    text = (run / "logs" / f"{killed_name}.log").read_bytes()
    stamps = [ts for ts in map(brokerlogs.line_ts, text.splitlines()) if ts is not None]
    assert stamps and stamps[0] >= window["start_s"] - 120 and stamps[-1] >= window["end_s"]
    assert b"started" in text  # Kafka's "[KafkaRaftServer nodeId=...] Kafka Server started"


def test_link_sever_drill_loses_nothing_and_heals(lab: Inventory) -> None:
    rc, summary = drill("link-sever", "--var", "hold_s=15", *SHORT)
    assert_passed_without_loss(rc, summary, "sever_link")
    # the minority cloud could not produce while the link was down
    assert summary["recovery"]["worst_unavailability_s"] >= 10
    assert summary["link_bytes"]["aws-to-gcp"]["bytes"] > 0
    assert_lab_healthy()


def test_cloud_outage_drill_keeps_producing_through_client_fatal_errors(lab: Inventory) -> None:
    """Both gcp brokers die. librdkafka's idempotent producer has gone fatal here in every run
    so far ("Unable to reconstruct MessageSet", docs/findings.md): the load recreates it, so
    producing recovers, and what the dead instance held counts as failed sends. The log must
    stay exact (no loss, no reorder), and failed sends and the worst partition's wait may be the
    only reasons the verdict gives, besides duplicates the client really wrote (see
    CLIENT_DUPLICATE_KINDS)."""
    rc, summary = drill("cloud-outage", "--var", "hold_s=15", *SHORT)
    assert rc in (0, 1)
    # Besides failed sends, the worst partition's unavailability may miss its bound: the
    # recreated producer's partitions wait on the client, and the published runs spread 44-69 s
    # around the bound (20261202T033147Z, 20261202T063203Z, which fails it). Nothing else may.
    slo_reasons = ("SLO max_failed_send_ratio", "SLO max_worst_partition_unavailability_s")
    if summary["verify"]["counts"]["duplicates"]:
        assert_duplicates_are_real_and_fail(rc, summary, slo_reasons)
    else:
        assert summary["verify"]["passed"], summary["verify"]["counts"]
    assert summary["verify"]["counts"]["lost"] == 0
    assert summary["verify"]["contract"]["profile"] == "idempotent"
    assert summary["recovery"]["worst_time_to_first_ack_s"] is not None  # every cloud acked again
    assert all(r.startswith(slo_reasons) or "duplicates" in r
               for r in summary["verdict"]["reasons"]), summary["verdict"]["reasons"]
    load = json.loads((ROOT / "results" / "runs" / summary["run_id"] / "load" /
                       "summary.json").read_text())
    assert "producer_restarts" in load  # counted whether or not the client went fatal
    assert_lab_healthy()


def _newest_run_with_fault(since: float) -> Path | None:
    runs = [d for d in (ROOT / "results" / "runs").glob("*-link-sever") if d.stat().st_mtime >= since]
    for d in sorted(runs, reverse=True):
        f = d / "faults.jsonl"
        if f.exists() and '"start"' in f.read_text():
            return d
    return None


def test_sigint_mid_fault_heals_everything(lab: Inventory) -> None:
    since = time.time() - 1
    proc = subprocess.Popen(
        [sys.executable, "-m", "riftdrill", "drill", "link-sever", "--var", "hold_s=120",
         "--var", "baseline_s=5", "--var", "recovery_s=5", "--json"],
        cwd=ROOT, env={**os.environ, "RIFTDRILL_HOME": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        run = None
        while run is None:
            assert time.monotonic() < deadline, "the fault was never injected"
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            time.sleep(0.5)
            run = _newest_run_with_fault(since)
        assert any(f["kind"] == "sever_link" for f in status()["faults"])  # type: ignore[union-attr]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            riftdrill("heal", check=False)
    assert proc.returncode == 130, err[-2000:]
    [summary] = json.loads(out)
    assert not summary["verdict"]["passed"]
    assert any("interrupted (SIGINT)" in r for r in summary["verdict"]["reasons"])
    assert summary["fault_windows"][0]["end_s"] is not None
    assert summary["verify"]["counts"].get("lost", 0) == 0
    assert_lab_healthy()
