"""The two-cloud lab, end to end: real namespaces, nft, object stores and KRaft brokers."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from riftdrill.inventory import Inventory
from riftdrill.security.client import client_security
from tests.conftest import ROOT, client_conf, riftdrill, status

pytestmark = pytest.mark.lab


def in_cloud(ns: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", ns, *args], capture_output=True, text=True,
                          timeout=timeout)


def tcp_open_from(ns: str, address: str, port: int, timeout_s: float = 3) -> bool:
    code = (f"import socket; socket.create_connection(('{address}', {port}), timeout={timeout_s})")
    return in_cloud(ns, sys.executable, "-c", code).returncode == 0


def test_deploy_describes_two_clouds_with_live_brokers_and_stores(lab: Inventory) -> None:
    data = status()
    assert {c["name"] for c in data["clouds"]} == {"aws", "gcp"}  # type: ignore[index,union-attr]
    brokers = data["brokers"]
    assert len(brokers) == 4  # type: ignore[arg-type]
    assert all(b["state"] == "running" for b in brokers)  # type: ignore[index,union-attr]
    assert {b["cloud"] for b in brokers} == {"aws", "gcp"}  # type: ignore[index,union-attr]
    assert all(b["address"].startswith("198.18.") for b in brokers)  # type: ignore[index,union-attr]
    assert {s["api"] for s in data["stores"]} == {"s3", "gcs"}  # type: ignore[index,union-attr]
    assert data["links"][0]["state"] == "up"  # type: ignore[index]


def test_object_stores_serve_their_buckets(lab: Inventory) -> None:
    from riftdrill.lab.stores import gcs_client, s3_client

    s3 = lab.store("aws")
    client = s3_client(s3.endpoint)
    client.put_object(Bucket=s3.buckets[0], Key="probe", Body=b"x")
    assert client.get_object(Bucket=s3.buckets[0], Key="probe")["Body"].read() == b"x"
    gcs = lab.store("gcp")
    bucket = gcs_client(gcs.endpoint).bucket(gcs.buckets[0])
    bucket.blob("probe").upload_from_string(b"y")
    assert bucket.blob("probe").download_as_bytes() == b"y"


def test_produce_and_consume_from_inside_each_cloud(lab: Inventory) -> None:
    for cloud in lab.clouds:
        assert cloud.namespace
        login = client_security(lab.security, "broker")  # its file, never the password
        proc = in_cloud(cloud.namespace, sys.executable, "-m", "riftdrill.lab", "roundtrip",
                        lab.bootstrap(cloud.name), "3", *([login.file] if login.enabled else []))
        assert proc.returncode == 0, proc.stderr


def test_topic_replicas_span_both_racks(lab: Inventory) -> None:
    admin = AdminClient({"bootstrap.servers": lab.bootstrap("aws"), **client_conf(lab)})
    topic = f"racks-{uuid.uuid4().hex[:6]}"
    admin.create_topics([NewTopic(topic, 6, 3)])[topic].result(timeout=30)
    rack_of = {b.id: b.cloud for b in lab.brokers}
    deadline = time.monotonic() + 30
    md = admin.list_topics(topic, timeout=10).topics[topic]
    while len(md.partitions) < 6 and time.monotonic() < deadline:  # metadata catches up
        time.sleep(0.5)
        md = admin.list_topics(topic, timeout=10).topics[topic]
    assert len(md.partitions) == 6
    for p in md.partitions.values():
        assert {rack_of[r] for r in p.replicas} == {"aws", "gcp"}, p.replicas


def test_severed_link_cuts_cross_cloud_traffic_only(lab: Inventory) -> None:
    aws_broker, gcp_broker = lab.brokers_in("aws")[0], lab.brokers_in("gcp")[0]
    # A topic whose replicas all live in gcp keeps working in gcp while the link is down.
    gcp_ids = [b.id for b in lab.brokers_in("gcp")]
    admin = AdminClient({"bootstrap.servers": lab.bootstrap("gcp"), **client_conf(lab)})
    topic = f"gcp-only-{uuid.uuid4().hex[:6]}"
    # confluent-kafka 2.16 wants num_partitions = len(replica_assignment), not -1 as documented.
    new = NewTopic(topic, num_partitions=1, replica_assignment=[gcp_ids])
    admin.create_topics([new])[topic].result(timeout=30)
    gcp_bootstrap = ",".join(b.bootstrap for b in lab.brokers_in("gcp"))

    riftdrill("fault", "sever", "--json")
    try:
        assert status()["links"][0]["state"].startswith("severed")  # type: ignore[index]
        assert not tcp_open_from("rd-gcp", aws_broker.address, aws_broker.port)
        assert not tcp_open_from("rd-aws", gcp_broker.address, gcp_broker.port)
        assert tcp_open_from("rd-gcp", gcp_broker.address, gcp_broker.port)
        code = (
            "from confluent_kafka import Producer\n"
            f"p = Producer({{'bootstrap.servers': '{gcp_bootstrap}', 'acks': 'all',"
            f" 'message.timeout.ms': 20000, **{client_conf(lab)!r}}})\n"
            "out = []\n"
            f"p.produce('{topic}', b'in-cloud', on_delivery=lambda e, m: out.append(e))\n"
            "p.flush(25)\n"
            "assert out == [None], out\n"
        )
        proc = in_cloud("rd-gcp", sys.executable, "-c", code)
        assert proc.returncode == 0, proc.stderr
    finally:
        riftdrill("fault", "heal-link", "--json")
    assert status()["links"][0]["state"] == "up"  # type: ignore[index]
    assert tcp_open_from("rd-gcp", aws_broker.address, aws_broker.port)


def test_one_way_sever_drops_one_direction(lab: Inventory) -> None:
    aws_broker = lab.brokers_in("aws")[0]
    riftdrill("fault", "sever", "--direction", "b-to-a", "--json")
    try:
        rules = subprocess.run(["ip", "netns", "exec", "rd-wan", "nft", "list", "chain", "inet",
                                "riftdrill", "forward"], capture_output=True, text=True).stdout
        assert "ip saddr 198.18.2.0/24 ip daddr 198.18.1.0/24 drop" in rules
        assert "ip saddr 198.18.1.0/24 ip daddr 198.18.2.0/24" not in rules
        assert not tcp_open_from("rd-gcp", aws_broker.address, aws_broker.port)
    finally:
        riftdrill("heal", "--json")
    assert tcp_open_from("rd-gcp", aws_broker.address, aws_broker.port)


def test_blocked_object_store_times_out_then_recovers(lab: Inventory) -> None:
    s3 = lab.store("aws")
    riftdrill("fault", "block-store", "aws", "--json")
    try:
        with pytest.raises(OSError):
            socket.create_connection((s3.address, s3.port), timeout=2)
        assert status()["stores"][0]["state"] == "blocked"  # type: ignore[index]
    finally:
        riftdrill("fault", "unblock-store", "aws", "--json")
    socket.create_connection((s3.address, s3.port), timeout=2).close()


def test_killed_broker_shows_dead_and_restarts(lab: Inventory) -> None:
    victim = lab.brokers_in("gcp")[-1]
    riftdrill("fault", "kill", victim.name, "--json")
    states = {b["name"]: b["state"] for b in status()["brokers"]}  # type: ignore[union-attr,index]
    assert states[victim.name] == "dead"
    assert status()["faults"][0]["kind"] == "kill_broker"  # type: ignore[index]
    riftdrill("fault", "restart", victim.name, "--json")
    states = {b["name"]: b["state"] for b in status()["brokers"]}  # type: ignore[union-attr,index]
    assert states[victim.name] == "running"
    assert status()["faults"] == []
    admin = AdminClient({"bootstrap.servers": lab.bootstrap("aws"), **client_conf(lab)})
    deadline = time.monotonic() + 60
    while victim.id not in admin.list_topics(timeout=10).brokers:
        assert time.monotonic() < deadline, "restarted broker never re-registered"
        time.sleep(1)


def test_paused_broker_and_heal_all(lab: Inventory) -> None:
    victim = lab.brokers_in("aws")[-1]
    riftdrill("fault", "pause", victim.name, "--json")
    riftdrill("fault", "sever", "--json")
    data = status()
    assert {b["name"]: b["state"] for b in data["brokers"]}[victim.name] == "paused"  # type: ignore[union-attr,index]
    assert len(data["faults"]) == 2  # type: ignore[arg-type]
    healed = riftdrill("heal", "--json")
    assert len(json.loads(healed.stdout)["healed"]) == 2
    data = status()
    assert data["faults"] == [] and data["links"][0]["state"] == "up"  # type: ignore[index]
    assert all(b["state"] == "running" for b in data["brokers"])  # type: ignore[union-attr,index]


def test_second_deploy_is_a_no_op_reporting_current_state(lab: Inventory) -> None:
    started = time.monotonic()
    proc = riftdrill("deploy", "--json")
    assert time.monotonic() - started < 30
    assert '"brokers"' in proc.stdout
    assert len(status()["brokers"]) == 4  # type: ignore[arg-type]


@pytest.mark.parametrize(("args", "needle"), [
    (["deploy", "--engine", "redpanda"], "unknown engine 'redpanda'"),
    (["deploy", "--topology", "ring"], "unknown topology 'ring'"),
    (["deploy", "--target", "azure"], "unknown target 'azure'"),
    (["deploy", "--rf", "9"], "replication_factor 9 exceeds"),
    (["fault", "kill", "aws-9"], "no broker 'aws-9'"),
    (["fault", "block-store", "azure"], "no object store 'azure'"),
])
def test_bad_input_is_one_line_and_exit_2(lab: Inventory, args: list[str], needle: str) -> None:
    proc = riftdrill(*args, check=False)
    assert proc.returncode == 2
    assert needle in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_foreign_namespace_is_refused_not_clobbered(lab: Inventory) -> None:
    """A namespace riftdrill did not make is never deleted or reused."""
    from riftdrill.lab import net

    net.run(["ip", "netns", "add", "rd-foreign"])
    try:
        with pytest.raises(Exception, match="did not make it"):
            net.claim_namespace("rd-foreign", str(ROOT / ".riftdrill"))
        assert "rd-foreign" in net.namespaces()
    finally:
        net.run(["ip", "netns", "del", "rd-foreign"])


def test_non_root_gets_one_clear_line() -> None:
    # The interpreter lives under /root, which an unprivileged user cannot read: fake the euid.
    code = ("import os; os.geteuid = lambda: 1000\n"
            "from riftdrill.cli import main; import sys; sys.argv=['riftdrill','deploy']; main()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/tmp")
    assert proc.returncode == 2
    assert "needs root for network namespaces" in proc.stderr


@pytest.mark.lab_reshape
def test_per_cloud_topology_mirrors_aws_to_gcp(lab_session: None) -> None:
    from riftdrill import inventory

    riftdrill("deploy", "--topology", "per-cloud", "--json")
    inv = inventory.load(ROOT / ".riftdrill" / "inventory.json")
    assert {c.name for c in inv.clusters} == {"aws", "gcp"}
    assert inv.mirrors and inv.mirrors[0].source == "aws"
    topic = f"riftdrill-mm-{uuid.uuid4().hex[:6]}"
    aws_boot, gcp_boot = inv.bootstrap("aws"), inv.bootstrap("gcp")
    # keep a reference to the client until the result
    admin = AdminClient({"bootstrap.servers": aws_boot, **client_conf(inv)})
    admin.create_topics([NewTopic(topic, 1, 2)])[topic].result(timeout=30)
    token = uuid.uuid4().hex.encode()
    producer = Producer({"bootstrap.servers": aws_boot, "acks": "all", **client_conf(inv)})
    producer.produce(topic, token)
    assert producer.flush(20) == 0
    mirrored = f"aws.{topic}"
    consumer = Consumer({"bootstrap.servers": gcp_boot, "group.id": "t", "auto.offset.reset": "earliest",
                         **client_conf(inv)})
    deadline = time.monotonic() + 150
    found = False
    try:
        while time.monotonic() < deadline and not found:
            if mirrored not in consumer.list_topics(timeout=5).topics:
                time.sleep(2)
                continue
            consumer.assign([TopicPartition(mirrored, 0, 0)])
            msg = consumer.poll(2)
            found = msg is not None and msg.error() is None and msg.value() == token
    finally:
        consumer.close()
    assert found, f"record produced in aws never arrived in gcp as {mirrored}"


@pytest.mark.lab_reshape
def test_destroy_leaves_nothing_behind(lab_session: None) -> None:
    from riftdrill.lab import net

    riftdrill("deploy", "--json")
    pids = [p for ns in ("rd-aws", "rd-gcp", "rd-wan") for p in net.namespace_pids(ns)]
    assert pids, "expected lab processes before destroy"
    report = json.loads(riftdrill("destroy", "--json").stdout)
    assert set(report["namespaces_removed"]) == {"rd-aws", "rd-gcp", "rd-wan"}
    assert not {"rd-aws", "rd-gcp", "rd-wan"} & net.namespaces()
    deadline = time.monotonic() + 15  # a SIGKILLed JVM takes a moment to be reaped
    while [p for p in pids if not net._is_zombie(p)] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in pids if not net._is_zombie(p)]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert "rdh-" not in links
    routes = [r.strip() for r in
              subprocess.run(["ip", "route"], capture_output=True, text=True).stdout.splitlines()]
    # Only the guard stays: lab addresses stay unreachable instead of leaking off the machine.
    assert [r for r in routes if "198.18." in r] == ["unreachable 198.18.0.0/15 metric 4242"]
    assert "riftdrill" not in subprocess.run(["nft", "list", "tables"], capture_output=True,
                                             text=True).stdout
    assert not (ROOT / ".riftdrill" / "lab").exists()
    assert not (ROOT / ".riftdrill" / "inventory.json").exists()
    # Destroy with nothing deployed is a no-op, not an error.
    again = json.loads(riftdrill("destroy", "--json").stdout)
    assert again["namespaces_removed"] == []


@pytest.mark.lab_reshape
def test_ctrl_c_during_deploy_then_deploy_recovers(lab_session: None) -> None:
    import os
    import signal

    from riftdrill.lab import net

    riftdrill("destroy", "--json")
    proc = subprocess.Popen([sys.executable, "-m", "riftdrill", "deploy", "--json"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            env={**os.environ, "RIFTDRILL_HOME": str(ROOT)})
    deadline = time.monotonic() + 60
    while not net.namespace_pids("rd-aws") and time.monotonic() < deadline:
        time.sleep(0.2)  # interrupt mid-way: once the first lab process exists
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends: the whole group
    proc.wait(timeout=120)
    riftdrill("deploy", "--json")
    data = status()
    assert len(data["brokers"]) == 4  # type: ignore[arg-type]
    assert all(b["state"] == "running" for b in data["brokers"])  # type: ignore[union-attr,index]
    riftdrill("smoke", "--json")
