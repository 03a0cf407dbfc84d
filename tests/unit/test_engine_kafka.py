"""Broker config rendering: the shared template, rendered for the lab."""

from __future__ import annotations

from pathlib import Path

import pytest

from riftdrill.engines import kafka
from riftdrill.engines.templates import render_text, templates_dir
from riftdrill.errors import RiftdrillError

NODE = kafka.KafkaNode(
    name="aws-1", node_id=101, cloud="aws", cluster="main", address="198.18.1.11", port=9092,
    controller_port=9093, roles=["broker", "controller"],
    voters="101@198.18.1.11:9093,102@198.18.1.12:9093,201@198.18.2.11:9093",
    settings=kafka.KafkaSettings(replication_factor=3, min_insync_replicas=2),
)


def props(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


def test_combined_node_renders_durable_rack_aware_config() -> None:
    p = props(kafka.render_properties(NODE, log_dirs="/data"))
    assert p["process.roles"] == "broker,controller"
    assert p["node.id"] == "101"
    assert p["broker.rack"] == "aws"
    assert p["listeners"] == "PLAINTEXT://198.18.1.11:9092,CONTROLLER://198.18.1.11:9093"
    assert p["controller.quorum.voters"] == NODE.voters
    assert p["default.replication.factor"] == "3"
    assert p["min.insync.replicas"] == "2"
    assert p["unclean.leader.election.enable"] == "false"
    assert p["log.dirs"] == "/data"
    assert "${" not in kafka.render_properties(NODE)


def test_broker_only_node_has_no_controller_listener() -> None:
    node = kafka.KafkaNode(**{**NODE.__dict__, "roles": ["broker"], "name": "gcp-2"})
    p = props(kafka.render_properties(node))
    assert p["process.roles"] == "broker"
    assert "CONTROLLER://" not in p["listeners"]


def test_templates_use_only_plain_substitutions() -> None:
    """Terraform's templatefile() must render them identically: no directives, no escapes."""
    for template in templates_dir().rglob("*.tftpl"):
        text = template.read_text()
        assert "%{" not in text, template


def test_missing_value_names_the_variable() -> None:
    with pytest.raises(RiftdrillError, match="rack"):
        render_text("broker.rack=${rack}", {})


def test_missing_jars_say_run_make_setup(tmp_path: Path) -> None:
    with pytest.raises(RiftdrillError, match="make setup"):
        kafka.check_jars(tmp_path / "nope", "kafka_2.13-4.4.0.jar")
    libs = tmp_path / "libs"
    libs.mkdir()
    (libs / "kafka_2.13-4.4.0.jar").write_bytes(b"truncated")
    with pytest.raises(RiftdrillError, match="corrupt"):
        kafka.check_jars(libs, "kafka_2.13-4.4.0.jar")


def test_mirrormaker_config_replicates_one_way() -> None:
    spec = kafka.MirrorSpec(name="aws-to-gcp", source_name="aws", source_bootstrap="a:9092",
                            target_name="gcp", target_bootstrap="g:9092", topics="riftdrill.*",
                            replication_factor=2)
    text = kafka.render_mirror(spec)
    assert "aws->gcp.enabled = true" in text
    assert "gcp->aws.enabled = false" in text
    assert "aws->gcp.topics = riftdrill.*" in text
    assert "sync.topic.acls.enabled = false" in text  # no authorizer; Tansu breaks the sync
    # no reflection scan of the classpath on (re)start: top level and the target herder
    assert "\nplugin.discovery = service_load" in text
    assert "gcp.plugin.discovery = service_load" in text
    assert "gcp.offset.flush.interval.ms = 5000" in text  # a restart re-copies <= 5 s


def test_cluster_ids_never_look_like_options() -> None:
    ids = [kafka.new_cluster_id() for _ in range(2000)]
    assert not [i for i in ids if i.startswith("-")]
    assert all(len(i) == 22 for i in ids)


def test_a_data_dir_of_another_cluster_is_recognised(tmp_path: Path) -> None:
    (tmp_path / "meta.properties").write_text("version=1\ncluster.id=abc\nnode.id=101\n")
    assert kafka.formatted_cluster_id(tmp_path) == "abc"
    assert kafka.formatted_cluster_id(tmp_path / "none") is None
