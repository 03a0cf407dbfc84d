"""The end of a run: when the runner fences, and the shapes of load/fences.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from riftdrill.load import endrun
from riftdrill.load.endrun import ProcessEnd, fences_due
from riftdrill.load.fence import FenceSet
from riftdrill.load.runner import fence_targets, stop_grace_s, stop_timeout_s
from riftdrill.load.spec import LoadSpec

DONE, RUNNING, DEAD = ProcessEnd(True, False), ProcessEnd(False, False), ProcessEnd(False, True)


@pytest.mark.parametrize(
    ("processes", "due"),
    [
        ([DONE, DONE], True),
        ([DONE, RUNNING], False),  # one process's producers still drain: its acks could follow
        ([DONE, DEAD], True),  # a crashed process never writes a marker: do not wait for it
        ([DEAD, DEAD], False),  # nobody reached the end: no consumer waits for fences
        ([ProcessEnd(True, True)], True),  # done and already gone (no consumers there)
        ([], False),
    ],
)
def test_fences_are_due_once_every_process_is_done_or_gone(
    processes: list[ProcessEnd], due: bool
) -> None:
    assert fences_due(processes) is due


def test_markers_are_found_per_process(tmp_path: Path) -> None:
    endrun.write_marker(endrun.marker_path(tmp_path, "aws-0-4242"))
    assert endrun.process_marker_written(tmp_path, "aws", 0)
    assert not endrun.process_marker_written(tmp_path, "aws", 1)
    assert not endrun.process_marker_written(tmp_path, "gcp", 0)


def _fences(nonce: bytes) -> FenceSet:
    return FenceSet(nonce=nonce, offsets={"t": {0: 10, 1: 20}}, written_ns=7)


def test_one_cluster_is_a_plain_fence_set(tmp_path: Path) -> None:
    path = tmp_path / "fences.json"
    assert endrun.load_fences(path) is None  # not written yet: consumers keep waiting
    endrun.save_fences(path, {"main": _fences(b"a" * 16)})
    assert FenceSet.read(path) == _fences(b"a" * 16)  # what the verifier reads
    loaded = endrun.load_fences(path)
    assert loaded is not None and endrun.fences_of(loaded, "whatever") == _fences(b"a" * 16)


def test_several_clusters_are_a_mapping_with_errors(tmp_path: Path) -> None:
    path = tmp_path / "fences.json"
    endrun.save_fences(path, {"aws": _fences(b"a" * 16), "gcp": "cannot write fences: down"})
    data = json.loads(path.read_text())
    assert set(data) == {"aws", "gcp"} and data["gcp"] == {"error": "cannot write fences: down"}
    loaded = endrun.load_fences(path)
    assert loaded is not None
    assert endrun.fences_of(loaded, "aws") == _fences(b"a" * 16)
    assert endrun.fences_of(loaded, "gcp") == "cannot write fences: down"
    assert isinstance(endrun.fences_of(loaded, "azure"), str)


def test_a_failed_write_is_recorded_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "fences.json"
    out = endrun.write_run_fences({"main": "198.18.255.254:9092"}, "t", path, timeout_s=1)
    assert isinstance(out["main"], str) and "cannot write fences" in out["main"]
    assert set(json.loads(path.read_text())) == {"error"}


def test_fences_once_per_cluster() -> None:
    from tests.unit.test_inventory import sample

    inv = sample()
    assert fence_targets(inv, ["aws", "gcp"]) == {"main": inv.bootstrap("aws")}


def test_stop_waits_cover_drain_and_fence_wait() -> None:
    spec = LoadSpec(rate_per_s=1, duration_s=1, delivery_timeout_ms=30_000, fence_wait_s=60)
    assert stop_grace_s(spec) >= 30 + 60
    assert stop_timeout_s(spec) > stop_grace_s(spec)


def test_the_topic_rf_is_capped_by_each_clusters_brokers() -> None:
    """Per-cloud: two brokers per cluster and the deploy's RF 3 (Terraform caps its own topics
    the same way); a stretched cluster of four keeps 3; an RF asked for is kept as asked."""
    from riftdrill.inventory import Cluster
    from riftdrill.load.runner import replication_factor
    from tests.unit.test_chaos_targets import inv

    stretched = inv()
    per_cloud = stretched.model_copy(update={"topology": "per-cloud", "clusters": [
        Cluster(name="aws", clouds=["aws"], brokers=[101, 102], bootstrap={}),
        Cluster(name="gcp", clouds=["gcp"], brokers=[201, 202], bootstrap={})]})
    assert replication_factor(LoadSpec(100, 10), stretched, "main") == 3
    assert replication_factor(LoadSpec(100, 10), per_cloud, "gcp") == 2
    # as infra/envs/local/main.tf: min ISR at most RF - 1 (and at least 1)
    assert stretched.cluster_rf("main") == (3, 2) and per_cloud.cluster_rf("gcp") == (2, 1)
    said = per_cloud.model_copy(update={"clusters": [
        c.model_copy(update={"replication_factor": 1, "min_insync_replicas": 1})
        for c in per_cloud.clusters]})
    assert replication_factor(LoadSpec(100, 10), said, "aws") == 1  # the deploy's word wins
    assert replication_factor(LoadSpec(100, 10, replication_factor=3), per_cloud,
                              "gcp") == 3
