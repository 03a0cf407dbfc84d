"""`riftdrill compare` on the lab: a setup other than the default one, over the default link."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from riftdrill import inventory
from tests.conftest import ROOT, riftdrill

pytestmark = pytest.mark.lab

SHORT = ["--var", "hold_s=10", "--var", "baseline_s=8", "--var", "recovery_s=15",
         "--var", "rate=200"]


@pytest.mark.lab_reshape
def test_compare_deploys_the_per_cloud_setup_and_records_what_it_measured(
        lab_session: None) -> None:
    """Kafka per cloud joined by MirrorMaker 2, over the inter-region link: the entry names its
    setup and link and carries the latencies a comparison is for; the drill's topic was mirrored
    and its mirror verified; the broker replacement ran on the same setup; the page renders."""
    proc = riftdrill("compare", "--setup", "kafka-per-cloud", "--experiment", "broker-kill",
                     *SHORT, "--json", timeout=900)
    out = Path(json.loads(proc.stdout)["compare"])
    doc = json.loads((out / "compare.json").read_text())
    report = (out / "report.md").read_text()
    # Not a published comparison (the newest one feeds the README's figures): remove it.
    shutil.rmtree(out)
    [entry] = doc["entries"]
    run_dir = ROOT / "results" / "runs" / entry["run_id"]
    verify = json.loads((run_dir / "verify.json").read_text())
    params = json.loads((run_dir / "summary.json").read_text())["params"]
    shutil.rmtree(run_dir, ignore_errors=True)
    assert (entry["setup"], entry["engine"], entry["topology"], entry["wan"]) == (
        "kafka-per-cloud", "kafka", "per-cloud", "inter-region")
    assert 0 < entry["ack_p50_ms"] <= entry["ack_p99_ms"]
    assert entry["e2e_p50_ms"] is not None and entry["e2e_p99_ms"] >= entry["e2e_p50_ms"]
    assert entry["worst_unavailability_s"] is not None
    [replacement] = doc["replacements"]
    assert replacement["setup"] == "kafka-per-cloud" and replacement["replacement_s"]
    assert "| broker-kill | kafka-per-cloud |" in report
    assert json.loads(riftdrill("status", "--json").stdout)["topology"] == "per-cloud"
    # Two brokers per cloud: each cluster and the drill's topic hold RF 2, min ISR 1 (the deploy
    # says so in the inventory; the summary names what the topic got, not the stretched RF 3).
    inv = inventory.load(ROOT / ".riftdrill" / "inventory.json")
    assert {(c.replication_factor, c.min_insync_replicas) for c in inv.clusters} == {(2, 1)}
    assert (params["replication_factor"], params["min_insync_replicas"]) == (2, 1)
    # The drill's topic is mirrored aws -> gcp, and the verifier checked every partition of it.
    mirrors = verify["mirrors"]
    assert {m["mirror_topic"] for m in mirrors} == {f"aws.drill-{entry['run_id']}"}
    assert all(m["expected"] > 0 and m["fenced"] for m in mirrors), mirrors
