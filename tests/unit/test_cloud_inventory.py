"""Terraform outputs of infra/envs/aws-gcp -> the inventory every other command reads."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from riftdrill.cloud.inventory import account_ids, inventory_from_outputs
from riftdrill.errors import RiftdrillError


def _nodes(prefix: str, cloud: str, base: int, zone: str, handle: Any) -> list[dict[str, Any]]:
    nodes = []
    for i in range(3):
        nodes.append({"name": f"{prefix}-controller-{i + 1}", "node_id": base + i,
                      "roles": "controller", "zone": zone, "address": f"10.{cloud}.0.{10 + i}",
                      "port": 9093, "handle": handle(f"{prefix}-controller-{i + 1}", i)})
        nodes.append({"name": f"{prefix}-broker-{i + 1}", "node_id": base + 10 + i,
                      "roles": "broker", "zone": zone, "address": f"10.{cloud}.0.{20 + i}",
                      "port": 9092, "handle": handle(f"{prefix}-broker-{i + 1}", 10 + i)})
    return nodes


def outputs(topology: str = "per-cloud") -> dict[str, Any]:
    """What `terraform output -json` prints for infra/envs/aws-gcp (outputs.tf)."""
    value = {
        "target": "aws-gcp", "engine": "automq", "engine_version": "1.5.5",
        "topology": topology, "replication_factor": 1, "min_insync_replicas": 1,
        "kafka_port": 9092, "controller_port": 9093,
        "clouds": {
            "aws": {"provider": "aws", "account_id": "123456789012", "region": "eu-west-1",
                    "cidr": "10.40.0.0/16",
                    "nodes": _nodes("rd-aws", "40", 1, "eu-west-1a", lambda n, i: f"i-0{i:016x}"),
                    "bootstrap": "10.40.0.20:9092,10.40.0.21:9092,10.40.0.22:9092",
                    "store": {"api": "s3", "endpoint": "https://s3.eu-west-1.amazonaws.com",
                              "buckets": ["rd-aws-data-1", "rd-aws-ops-1"],
                              "handle": "arn:aws:iam::123456789012:role/rd-aws-nodes-1",
                              "outage_template": "EXT1a2b3c4d5e6f7"},
                    "sever": {"network_acl_id": "acl-0123"}},
            "gcp": {"provider": "gcp", "account_id": "rd-drills-1234", "region": "europe-west1",
                    "cidr": "10.50.0.0/20",
                    "nodes": _nodes("rd-gcp", "50", 101, "europe-west1-b", lambda n, i:
                                    f"projects/rd-drills-1234/zones/europe-west1-b/instances/{n}"),
                    "bootstrap": "10.50.0.20:9092,10.50.0.21:9092,10.50.0.22:9092",
                    "store": {"api": "gcs", "endpoint": "https://storage.googleapis.com",
                              "buckets": ["rd-gcp-data-1", "rd-gcp-ops-1"],
                              "handle": "projects/rd-drills-1234/hmacKeys/GOOG1EXAMPLE",
                              "outage_firewall": "rd-gcp-store-outage"},
                    "sever": {"firewalls": {"in": "rd-aws-gcp-sever-in",
                                            "out": "rd-aws-gcp-sever-out"}}},
        },
        "link": {"name": "rd-aws-gcp", "a": "aws", "b": "gcp"},
    }
    return {"riftdrill": {"sensitive": False, "type": ["object", {}], "value": value}}


def test_per_cloud_outputs_make_two_clusters_with_every_node() -> None:
    inv = inventory_from_outputs(outputs())
    assert inv.target == "aws-gcp" and inv.engine == "automq"
    assert [c.name for c in inv.clusters] == ["aws", "gcp"]
    assert inv.cluster_named("aws").brokers == [11, 12, 13]
    assert inv.bootstrap("gcp").startswith("10.50.0.20:9092")
    b = inv.broker("aws-broker-1")
    assert (b.id, b.roles, b.handle, b.port) == (11, ["broker"], f"i-0{10:016x}", 9092)
    c = inv.broker("gcp-controller-1")
    assert c.roles == ["controller"] and c.controller_port == 9093
    assert c.handle == "projects/rd-drills-1234/zones/europe-west1-b/instances/rd-gcp-controller-1"
    assert inv.store("aws").handle.startswith("arn:aws:iam::")
    assert inv.store("aws").outage_template == "EXT1a2b3c4d5e6f7"  # the FIS store outage
    assert inv.store("gcp-gcs").outage_template == ""
    assert inv.store("gcp-gcs").outage_firewall == "rd-gcp-store-outage"  # the egress deny
    assert inv.store("aws").outage_firewall == ""
    assert inv.store("gcp-gcs").address == "storage.googleapis.com"
    assert inv.link().name == "rd-aws-gcp"
    assert inv.cloud("aws").region == "eu-west-1"


def test_stretched_outputs_make_one_cluster_over_both_clouds() -> None:
    inv = inventory_from_outputs(outputs("stretched"))
    assert [c.name for c in inv.clusters] == ["main"]
    assert set(inv.clusters[0].bootstrap) == {"aws", "gcp"}
    assert len(inv.clusters[0].brokers) == 6


def test_account_ids_for_the_guard() -> None:
    assert account_ids(outputs()) == {"aws": "123456789012", "gcp": "rd-drills-1234"}


def test_partial_apply_without_outputs_is_one_clear_line() -> None:
    with pytest.raises(RiftdrillError, match="partial apply"):
        inventory_from_outputs({})


def test_malformed_outputs_name_the_field() -> None:
    bad = copy.deepcopy(outputs())
    del bad["riftdrill"]["value"]["clouds"]["aws"]["store"]["endpoint"]
    with pytest.raises(RiftdrillError, match=r"clouds\.aws\.store\.endpoint"):
        inventory_from_outputs(bad)


def test_outputs_tf_declares_what_the_parser_reads() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "infra/envs/aws-gcp/outputs.tf").read_text()
    value = outputs()["riftdrill"]["value"]
    for key in [*value, *value["clouds"]["aws"], *value["clouds"]["aws"]["store"]]:
        assert f"{key} " in text or f"{key}=" in text, f"outputs.tf lacks {key}"
