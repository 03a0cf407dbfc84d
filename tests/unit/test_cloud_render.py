"""The cloud-init the Terraform modules render, rendered the same way in Python."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
import yaml

from riftdrill.cloud.render import properties_from_cloud_init, render_cloud_init
from riftdrill.errors import RiftdrillError

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "infra" / "templates"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

# security off: what engines.kafka.security_values and node-layout give a plaintext node
SECURITY_OFF = {
    "listener_security_protocol_map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
    "inter_broker_listener_name": "PLAINTEXT", "authorizer_class_name": "", "super_users": "",
    "broker_sasl_jaas_config": "", "ssl_keystore_location": "", "ssl_truststore_location": "",
}
NODE = {
    **SECURITY_OFF,
    "process_roles": "broker", "node_id": 11, "rack": "eu-west-1a",
    "controller_quorum_voters": "1@10.40.0.10:9093,2@10.40.16.11:9093,3@10.40.32.12:9093",
    "listeners": "PLAINTEXT://0.0.0.0:9092", "advertised_listeners": "PLAINTEXT://10.40.0.20:9092",
    "log_dirs": "/var/lib/riftdrill/data", "replication_factor": 3, "min_insync_replicas": 2,
    "num_partitions": 6, "network_threads": 3, "io_threads": 8, "segment_bytes": 268435456,
    "retention_hours": 24, "broker_session_timeout_ms": 9000,
    "broker_heartbeat_interval_ms": 2000, "replica_lag_time_max_ms": 30000,
    "engine_version": "3.9.1", "engine_url": "https://example.invalid/kafka_2.13-3.9.1.tgz",
    "engine_sha256": "0" * 64, "cluster_id": "MkU3OEVBNTcwNTJENDM2Qg", "node_name": "rd-aws-broker-1",
    "heap_opts": "-Xms4g -Xmx4g",
}
AUTOMQ = {
    **NODE,
    "data_buckets": "0@s3://rd-aws-data-x?region=eu-west-1&endpoint=https://s3.eu-west-1.amazonaws.com&authType=instance",
    "ops_buckets": "1@s3://rd-aws-ops-x?region=eu-west-1&endpoint=https://s3.eu-west-1.amazonaws.com&authType=instance",
    "wal_path": "0@s3://rd-aws-data-x?region=eu-west-1&endpoint=https://s3.eu-west-1.amazonaws.com&authType=instance",
}


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_kafka_cloud_init_embeds_the_rendered_properties() -> None:
    doc = render_cloud_init("kafka", NODE)
    assert "${" not in doc
    parsed = yaml.safe_load(doc)
    assert doc.startswith("#cloud-config")
    assert "openjdk-17-jre-headless" in parsed["packages"]
    props = _props(properties_from_cloud_init(doc))
    assert props["node.id"] == "11"
    assert props["advertised.listeners"] == "PLAINTEXT://10.40.0.20:9092"
    assert props["min.insync.replicas"] == "2"
    assert props["unclean.leader.election.enable"] == "false"
    install = next(f for f in parsed["write_files"] if f["path"].endswith("riftdrill-install"))
    assert "sha256sum" in install["content"] and "0" * 64 in install["content"]


def test_automq_properties_carry_the_bucket_urls() -> None:
    props = _props(properties_from_cloud_init(render_cloud_init("automq", AUTOMQ)))
    assert props["s3.data.buckets"].startswith("0@s3://rd-aws-data-x?region=eu-west-1&endpoint=")
    assert props["s3.ops.buckets"].startswith("1@s3://rd-aws-ops-x?")
    assert props["s3.wal.path"].endswith("authType=instance")


def test_aws_nodes_get_no_credentials_and_gcp_script_is_embedded() -> None:
    doc = yaml.safe_load(render_cloud_init("kafka", NODE))
    script = next(f for f in doc["write_files"] if f["path"].endswith("riftdrill-credentials"))
    assert base64.b64decode(script["content"]).decode() == "#!/bin/sh\nexit 0\n"
    values = {**AUTOMQ, "credentials_script": "#!/bin/sh\necho hi\n"}
    gcp = yaml.safe_load(render_cloud_init("automq", values))
    script = next(f for f in gcp["write_files"] if f["path"].endswith("riftdrill-credentials"))
    assert base64.b64decode(script["content"]).decode().endswith("echo hi\n")


def test_the_storage_format_adds_the_scram_credentials_delivered_with_the_secrets() -> None:
    """security sasl-tls on a cloud node: the install script adds one --add-scram per line of
    <secrets_dir>/add-scram when the file is there, and nothing without it."""
    doc = yaml.safe_load(render_cloud_init("kafka", {**NODE, "secrets_dir": "/etc/rd/secrets"}))
    install = next(f for f in doc["write_files"] if f["path"].endswith("riftdrill-install"))
    text = install["content"]
    assert "if [ -f '/etc/rd/secrets/add-scram' ]; then" in text
    assert 'set -- "$@" --add-scram "$line"' in text
    assert text.index("add-scram") < text.index("kafka-storage.sh format")
    assert '-c /etc/riftdrill/server.properties "$@"' in text
    # the modules' default directory when none is given
    assert "/etc/riftdrill/secrets/add-scram" in render_cloud_init("kafka", NODE)


def test_a_missing_variable_is_an_error_naming_it() -> None:
    values = {k: v for k, v in NODE.items() if k != "rack"}
    with pytest.raises(RiftdrillError, match="rack"):
        render_cloud_init("kafka", values)
    with pytest.raises(RiftdrillError, match="data_buckets"):
        render_cloud_init("automq", NODE)
    with pytest.raises(RiftdrillError, match="engine"):
        render_cloud_init("tansu", NODE)


@pytest.mark.parametrize("template", sorted(
    [*TEMPLATES.glob("automq/*.tftpl"), *TEMPLATES.glob("cloud-init/*.tftpl")]))
def test_cloud_templates_use_only_plain_substitutions(template: Path) -> None:
    """Terraform's templatefile() and the Python renderer agree only on plain ${name}."""
    text = template.read_text()
    assert "%{" not in text, "template directives are not understood by riftdrill's renderer"
    assert "$${" not in text, "escapes are not understood by riftdrill's renderer"
    for m in re.finditer(r"\$\{", text):
        assert PLACEHOLDER.match(text, m.start()), f"{template}: non-identifier ${{...}} at {m.start()}"


@pytest.mark.parametrize("module", ["aws-cluster", "gcp-cluster"])
def test_modules_pass_every_template_variable(module: str) -> None:
    """Each ${name} of the broker templates is a key the module's templatefile() calls set,
    itself or through the node-layout module it calls (test_node_layout.py runs that one)."""
    main = (ROOT / "infra" / "modules" / module / "main.tf").read_text()
    assert 'source = "../node-layout"' in main
    main += (ROOT / "infra" / "modules" / "node-layout" / "main.tf").read_text()
    variables = (ROOT / "infra" / "modules" / module / "variables.tf").read_text()
    settings = set(re.findall(r"^\s+(\w+)\s+= number", variables, re.M))
    keys = set(re.findall(r"^\s+(\w+)\s+=", main, re.M)) | settings
    for template in ("kafka/server.properties.tftpl", "automq/server.properties.tftpl",
                     "cloud-init/broker.yaml.tftpl"):
        needed = set(PLACEHOLDER.findall((TEMPLATES / template).read_text()))
        assert needed <= keys, f"{module} does not set {sorted(needed - keys)} for {template}"
