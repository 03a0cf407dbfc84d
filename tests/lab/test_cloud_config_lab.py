"""The cloud modules' broker config, booted in the lab: cloud-init -> properties -> a live broker."""

from __future__ import annotations

import time

import pytest
from confluent_kafka.admin import AdminClient

from riftdrill import paths
from riftdrill.cloud.render import properties_from_cloud_init, render_cloud_init
from riftdrill.engines import kafka
from riftdrill.inventory import Inventory
from tests.conftest import client_conf, riftdrill

pytestmark = pytest.mark.lab


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


def test_a_lab_broker_boots_from_the_cloud_init_properties(lab: Inventory) -> None:
    broker = lab.brokers_in("gcp")[-1]
    config = paths.lab_dir() / "config" / f"broker-{broker.name}.properties"
    lab_props = _props(config.read_text())
    node = kafka.KafkaNode(
        name=broker.name, node_id=broker.id, cloud=broker.cloud, cluster=broker.cluster,
        address=broker.address, port=broker.port, controller_port=broker.controller_port or 9093,
        roles=list(broker.roles), voters=lab_props["controller.quorum.voters"],
        settings=kafka.KafkaSettings(replication_factor=lab.replication_factor,
                                     min_insync_replicas=lab.min_insync_replicas),
        security=lab.security.mode, secrets_dir=lab.security.secrets_dir,
    )
    values = {**kafka.template_values(node, lab_props["log.dirs"]),
              "engine_version": kafka.KAFKA_VERSION, "engine_url": "https://example.invalid/kafka.tgz",
              "engine_sha256": "0" * 64, "cluster_id": "lab", "node_name": broker.name,
              "heap_opts": "-Xmx512m"}
    cloud_props = properties_from_cloud_init(render_cloud_init("kafka", values))
    # The same template, rendered by the cloud path, gives the lab's exact settings.
    assert _props(cloud_props) == lab_props

    riftdrill("fault", "kill", broker.name, "--json")
    config.write_text(cloud_props)
    riftdrill("fault", "restart", broker.name, "--json")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap, **client_conf(lab)})
    deadline = time.monotonic() + 60
    while broker.id not in admin.list_topics(timeout=10).brokers:
        assert time.monotonic() < deadline, "broker booted from cloud-init properties never registered"
        time.sleep(1)
