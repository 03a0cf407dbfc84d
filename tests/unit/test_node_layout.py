"""infra/modules/node-layout, run in the real Terraform, against the lab's Python renderer.

The cloud modules lay their nodes out with node-layout; the lab renders broker configs with
riftdrill.engines.kafka. A tiny root module calls node-layout on the inputs below (and renders
the shared templates with templatefile()); the test then computes the same layout rule and the
same template values in Python and requires both to agree exactly, so they cannot drift.
node-layout has no provider, so this runs offline like `terraform validate` on the lab env.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from riftdrill.cloud.render import properties_from_cloud_init, render_cloud_init
from riftdrill.cloud.render import render_properties as render_cloud_properties
from riftdrill.engines import kafka

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "infra" / "modules" / "node-layout"
TEMPLATES = ROOT / "infra" / "templates"
LOG_DIRS = "/var/lib/riftdrill/data"  # where the cloud-init formats storage
LISTEN_ADDRESS = "0.0.0.0"  # one node per VM
SECRETS_DIR = "/etc/riftdrill/secrets"  # the modules' default

CLOUD_SETTINGS = {
    "replication_factor": 3, "min_insync_replicas": 2, "num_partitions": 6, "network_threads": 3,
    "io_threads": 8, "segment_bytes": 268435456, "retention_hours": 24,
    "broker_session_timeout_ms": 9000, "broker_heartbeat_interval_ms": 2000,
    "replica_lag_time_max_ms": 30000,
}
CASES: dict[str, dict[str, Any]] = {
    # The aws cloud of infra/envs/aws-gcp: three subnets, its own quorum.
    "aws": {
        "node_id_base": 1, "controller_count": 3, "broker_count": 3,
        "zones": ["eu-west-1a", "eu-west-1b", "eu-west-1c"],
        "subnet_cidrs": ["10.40.0.0/20", "10.40.16.0/20", "10.40.32.0/20"],
        "kafka_port": 9092, "controller_port": 9093, "controller_quorum_voters": None,
        "kafka_settings": CLOUD_SETTINGS, "security": "off", "secrets_dir": SECRETS_DIR,
    },
    # One regional subnet, more brokers than zones, a stretched quorum, other ports.
    "gcp": {
        "node_id_base": 101, "controller_count": 1, "broker_count": 5,
        "zones": ["europe-west1-b", "europe-west1-c", "europe-west1-d"],
        "subnet_cidrs": ["10.50.0.0/20"],
        "kafka_port": 19092, "controller_port": 19093,
        "controller_quorum_voters": "1@10.40.0.10:19093,2@10.40.16.11:19093,101@10.50.0.10:19093",
        "kafka_settings": {**CLOUD_SETTINGS, "replication_factor": 1, "min_insync_replicas": 1,
                           "num_partitions": 12},
        "security": "off", "secrets_dir": SECRETS_DIR,
    },
    # Brokers only: the quorum lives in another cloud.
    "brokers-only": {
        "node_id_base": 201, "controller_count": 0, "broker_count": 2,
        "zones": ["z1", "z2", "z3"], "subnet_cidrs": ["172.16.0.0/24", "172.16.1.0/24", "172.16.2.0/24"],
        "kafka_port": 9092, "controller_port": 9093, "controller_quorum_voters": "1@10.40.0.10:9093",
        "kafka_settings": CLOUD_SETTINGS, "security": "off", "secrets_dir": SECRETS_DIR,
    },
    # security sasl-tls (docs/security.md): SASL_SSL and TLS listeners, the authorizer, the
    # node's files under another directory than the modules' default.
    "secured": {
        "node_id_base": 1, "controller_count": 3, "broker_count": 3,
        "zones": ["eu-west-1a", "eu-west-1b", "eu-west-1c"],
        "subnet_cidrs": ["10.40.0.0/20", "10.40.16.0/20", "10.40.32.0/20"],
        "kafka_port": 9092, "controller_port": 9093, "controller_quorum_voters": None,
        "kafka_settings": CLOUD_SETTINGS, "security": "sasl-tls", "secrets_dir": "/srv/rd/secrets",
    },
}
AUTOMQ_BUCKETS = {"data_buckets": "0@s3://d?region=r", "ops_buckets": "1@s3://o?region=r",
                  "wal_path": "0@s3://d?region=r"}
CLOUD_INIT = {"engine_version": "3.9.1", "engine_url": "https://example.invalid/k.tgz",
              "engine_sha256": "0" * 64, "cluster_id": "MkU3OEVBNTcwNTJENDM2Qg",
              "node_name": "rd-node", "heap_opts": "-Xms1g -Xmx1g", "secrets_dir": SECRETS_DIR,
              "data_device": "/dev/sdf"}

ROOT_MODULE = """
locals {
  inputs    = jsondecode(file("${path.module}/inputs.json"))
  cases     = local.inputs.cases
  templates = local.inputs.templates
  automq    = local.inputs.automq
  cloudinit = local.inputs.cloud_init
}

module "layout" {
  source   = "%(module)s"
  for_each = local.cases

  node_id_base             = each.value.node_id_base
  controller_count         = each.value.controller_count
  broker_count             = each.value.broker_count
  zones                    = each.value.zones
  subnet_cidrs             = each.value.subnet_cidrs
  kafka_port               = each.value.kafka_port
  controller_port          = each.value.controller_port
  controller_quorum_voters = each.value.controller_quorum_voters
  kafka_settings           = each.value.kafka_settings
  security                 = each.value.security
  secrets_dir              = each.value.secrets_dir
}

output "layout" {
  value = module.layout
}

locals {
  kafka = { for c, l in module.layout : c => { for k, v in l.template_values : k =>
    templatefile("${local.templates}/kafka/server.properties.tftpl", v) } }
}

# The shared templates as the cluster modules render them.
output "rendered" {
  value = { for c, l in module.layout : c => { for k, v in l.template_values : k => {
    kafka  = local.kafka[c][k]
    automq = templatefile("${local.templates}/automq/server.properties.tftpl", merge(v, local.automq))
    cloud_init = templatefile("${local.templates}/cloud-init/broker.yaml.tftpl", merge(local.cloudinit, {
      engine                 = "kafka"
      server_properties_b64  = base64encode(local.kafka[c][k])
      credentials_script_b64 = base64encode("#!/bin/sh\\nexit 0\\n")
    }))
  } } }
}
"""


@pytest.fixture(scope="module")
def terraform_outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from riftdrill.terraform import terraform_bin

    root = tmp_path_factory.mktemp("node-layout-root")
    (root / "inputs.json").write_text(json.dumps({
        "cases": CASES, "templates": str(TEMPLATES), "automq": AUTOMQ_BUCKETS,
        "cloud_init": CLOUD_INIT}))
    (root / "main.tf").write_text(ROOT_MODULE % {"module": MODULE})
    env = {**os.environ, "TF_DATA_DIR": str(root / ".tf"), "CHECKPOINT_DISABLE": "1",
           "TF_IN_AUTOMATION": "1", "TF_CLI_CONFIG_FILE": "/dev/null"}
    tf = terraform_bin()
    for args in (["init", "-backend=false", "-input=false"],
                 ["apply", "-auto-approve", "-input=false"]):
        res = subprocess.run([tf, *args, "-no-color"], cwd=root, env=env, capture_output=True,
                             text=True, timeout=120)
        assert res.returncode == 0, res.stdout + res.stderr
    res = subprocess.run([tf, "output", "-json"], cwd=root, env=env, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    return {k: v["value"] for k, v in json.loads(res.stdout).items()}


def expected_nodes(case: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The layout rule: node i of a role lives in zone i % 3, at host 10+i (controllers) or
    20+i (brokers) of that zone's subnet (or the one regional subnet); ids base+i, base+10+i."""
    nodes: dict[str, dict[str, Any]] = {}
    for role, count, id_offset, first_host, port in (
            ("controller", case["controller_count"], 0, 10, case["controller_port"]),
            ("broker", case["broker_count"], 10, 20, case["kafka_port"])):
        for i in range(count):
            subnets = case["subnet_cidrs"]
            subnet = ipaddress.ip_network(subnets[i % 3 % len(subnets)])
            nodes[f"{role}-{i + 1}"] = {
                "key": f"{role}-{i + 1}", "node_id": case["node_id_base"] + id_offset + i,
                "roles": role, "zone_index": i % 3, "zone": case["zones"][i % 3],
                "address": str(subnet[first_host + i]), "port": port,
            }
    return nodes


def lab_node(case: dict[str, Any], node: dict[str, Any], quorum: str) -> kafka.KafkaNode:
    """A cloud node as the lab's renderer sees it."""
    return kafka.KafkaNode(
        name=node["key"], node_id=node["node_id"], cloud="cloud", cluster="main",
        address=node["address"], port=case["kafka_port"], controller_port=case["controller_port"],
        roles=node["roles"].split(","), voters=quorum,
        settings=kafka.KafkaSettings(**case["kafka_settings"]), zone=node["zone"],
        listen_address=LISTEN_ADDRESS, security=case["security"], secrets_dir=case["secrets_dir"])


@pytest.mark.parametrize("name", sorted(CASES))
def test_addresses_and_voters_follow_the_layout_rule(name: str, terraform_outputs: dict[str, Any]) -> None:
    case, layout = CASES[name], terraform_outputs["layout"][name]
    nodes = expected_nodes(case)
    assert layout["nodes"] == nodes
    controllers = [n for n in nodes.values() if n["roles"] == "controller"]
    brokers = [n for n in nodes.values() if n["roles"] == "broker"]
    assert layout["controllers"] == controllers and layout["brokers"] == brokers
    voters = [f"{n['node_id']}@{n['address']}:{case['controller_port']}" for n in controllers]
    assert layout["voters"] == voters
    assert layout["controller_addresses"] == {str(n["node_id"]): n["address"] for n in controllers}
    assert layout["bootstrap"] == ",".join(f"{n['address']}:{case['kafka_port']}" for n in brokers)


@pytest.mark.parametrize("name", sorted(CASES))
def test_template_values_equal_the_lab_renderers(name: str, terraform_outputs: dict[str, Any]) -> None:
    case, layout = CASES[name], terraform_outputs["layout"][name]
    quorum = case["controller_quorum_voters"] or ",".join(layout["voters"])
    values = layout["template_values"]
    assert set(values) == set(layout["nodes"])
    for key, node in layout["nodes"].items():
        assert values[key] == kafka.template_values(lab_node(case, node, quorum), LOG_DIRS), key


@pytest.mark.parametrize("name", sorted(CASES))
def test_templatefile_and_the_python_renderers_agree_byte_for_byte(
        name: str, terraform_outputs: dict[str, Any]) -> None:
    case, layout = CASES[name], terraform_outputs["layout"][name]
    quorum = case["controller_quorum_voters"] or ",".join(layout["voters"])
    for key, node in layout["nodes"].items():
        rendered = terraform_outputs["rendered"][name][key]
        lab = lab_node(case, node, quorum)
        assert rendered["kafka"] == kafka.render_properties(lab, LOG_DIRS), key
        values = kafka.template_values(lab, LOG_DIRS)
        assert rendered["automq"] == render_cloud_properties("automq", {**values, **AUTOMQ_BUCKETS})
        cloud_init = render_cloud_init("kafka", {**values, **CLOUD_INIT})
        assert rendered["cloud_init"] == cloud_init, key
        assert properties_from_cloud_init(rendered["cloud_init"]) == rendered["kafka"]


def test_a_secured_cloud_node_gets_tls_sasl_and_the_authorizer(
        terraform_outputs: dict[str, Any]) -> None:
    """security sasl-tls through Terraform: the broker listener is SASL_SSL, the controllers'
    is TLS with client certificates, the authorizer is on, and the configuration names only
    paths under secrets_dir (the brokers' login stays in a file the provider reads)."""
    rendered = terraform_outputs["rendered"]["secured"]

    def props(text: str) -> dict[str, str]:
        return dict(ln.split("=", 1) for ln in text.splitlines() if ln and not ln.startswith("#"))

    broker, controller = props(rendered["broker-1"]["kafka"]), props(rendered["controller-1"]["kafka"])
    assert broker["listeners"] == "SASL_SSL://0.0.0.0:9092"
    assert controller["listeners"] == "CONTROLLER://0.0.0.0:9093"
    for p in (broker, controller):
        assert p["listener.security.protocol.map"] == "CONTROLLER:SSL,SASL_SSL:SASL_SSL"
        assert p["inter.broker.listener.name"] == "SASL_SSL"
        assert p["authorizer.class.name"] == kafka.AUTHORIZER
        assert p["super.users"] == "User:broker"
        assert p["listener.name.controller.ssl.client.auth"] == "required"
        assert p["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"] == (
            "${file:/srv/rd/secrets/broker-jaas.properties:sasl.jaas.config}")
    assert broker["listener.name.sasl_ssl.ssl.keystore.location"] == "/srv/rd/secrets/brokers/broker-1.pem"
    assert controller["listener.name.controller.ssl.truststore.location"] == "/srv/rd/secrets/ca.pem"
    plain = props(terraform_outputs["rendered"]["aws"]["broker-1"]["kafka"])
    assert plain["listeners"] == "PLAINTEXT://0.0.0.0:9092" and plain["authorizer.class.name"] == ""
