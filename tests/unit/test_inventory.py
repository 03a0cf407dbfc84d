"""The inventory contract: round trip, versioning, lookups, concurrent fault records."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from riftdrill import inventory
from riftdrill.errors import NotDeployedError, RiftdrillError
from riftdrill.inventory import Broker, Cloud, Cluster, Fault, Inventory, Link, ObjectStore


def sample() -> Inventory:
    return Inventory(
        target="local", engine="kafka", engine_version="4.4.0", topology="stretched",
        replication_factor=3, min_insync_replicas=2,
        clouds=[Cloud(name="aws", provider="lab", cidr="198.18.1.0/24", namespace="rd-aws"),
                Cloud(name="gcp", provider="lab", cidr="198.18.2.0/24", namespace="rd-gcp")],
        clusters=[Cluster(name="main", clouds=["aws", "gcp"], brokers=[101, 201],
                          bootstrap={"aws": "198.18.1.11:9092,198.18.2.11:9092",
                                     "gcp": "198.18.2.11:9092,198.18.1.11:9092"})],
        brokers=[Broker(id=101, name="aws-1", cloud="aws", cluster="main", address="198.18.1.11",
                        port=9092, roles=["broker", "controller"]),
                 Broker(id=201, name="gcp-1", cloud="gcp", cluster="main", address="198.18.2.11",
                        port=9092, roles=["broker"])],
        stores=[ObjectStore(name="aws-s3", cloud="aws", api="s3", endpoint="http://198.18.1.5:9000",
                            address="198.18.1.5", port=9000, buckets=["b"])],
        links=[Link(name="aws-gcp", a="aws", b="gcp")],
    )


def test_round_trip_and_lookups(tmp_path: Path) -> None:
    path = tmp_path / "inventory.json"
    original = sample()
    inventory.save(original, path)
    inv = inventory.load(path)
    assert inv == original
    assert inv.broker("aws-1").id == 101 and inv.broker(201).name == "gcp-1"
    assert inv.store("aws").name == "aws-s3"
    assert inv.bootstrap("gcp").startswith("198.18.2.11")
    assert [b.name for b in inv.brokers_in("gcp")] == ["gcp-1"]
    with pytest.raises(RiftdrillError, match="brokers are: aws-1, gcp-1"):
        inv.broker("aws-9")


def test_missing_and_foreign_inventories_are_clear(tmp_path: Path) -> None:
    with pytest.raises(NotDeployedError, match="make deploy"):
        inventory.load(tmp_path / "none.json")
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(RiftdrillError, match="schema 99"):
        inventory.load(path)
    path.write_text("{not json")
    with pytest.raises(RiftdrillError, match="unreadable"):
        inventory.load(path)


def test_concurrent_fault_records_are_not_lost(tmp_path: Path) -> None:
    path = tmp_path / "inventory.json"
    inventory.save(sample(), path)

    def add(i: int) -> None:
        with inventory.locked(path) as inv:
            inv.faults.append(Fault(id=f"f{i}", kind="kill_broker", target="aws-1"))

    threads = [threading.Thread(target=add, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(f.id for f in inventory.load(path).faults) == sorted(f"f{i}" for i in range(16))


def test_manual_faults_have_no_owner_but_drill_faults_do(monkeypatch: pytest.MonkeyPatch) -> None:
    # The owner is passed explicitly (the run context's owner_pid), never read from os.environ.
    monkeypatch.setenv("RIFTDRILL_DRILL_PID", "4242")
    assert Fault(id="a", kind="sever_link", target="aws-gcp").by_pid == 0
    assert Fault(id="b", kind="sever_link", target="aws-gcp", by_pid=4242).by_pid == 4242


def test_faults_on_finds_faults_by_kind_and_target() -> None:
    inv = sample()
    inv.faults = [Fault(id="k1", kind="kill_broker", target="aws-1"),
                  Fault(id="p1", kind="pause_broker", target="aws-1"),
                  Fault(id="k2", kind="kill_broker", target="gcp-1"),
                  Fault(id="s1", kind="sever_link", target="aws-gcp", direction="a-to-b")]
    assert [f.id for f in inv.faults_on("kill_broker")] == ["k1", "k2"]
    assert [f.id for f in inv.faults_on("kill_broker", "gcp-1")] == ["k2"]
    assert [f.id for f in inv.faults_on(("kill_broker", "pause_broker"), "aws-1")] == ["k1", "p1"]
    assert inv.faults_on("sever_link", "other") == []
    assert inv.faults_on("block_object_store") == []
