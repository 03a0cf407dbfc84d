"""Security against ONE standalone Kafka broker, by hand (docs/security.md), without the lab.

    RIFTDRILL_HOME=/tmp/rd-sec PYTHONPATH=src .riftdrill/venv/bin/python \
        scripts/security-broker-check.py sasl-tls|off

RIFTDRILL_HOME must be a scratch directory holding `infra` (a symlink to this checkout's) and
an empty `pyproject.toml`: its `.riftdrill/` is wiped. One combined broker+controller is
rendered by riftdrill's own code (engines/kafka.py: the lab's template, certificates, --add-scram)
and started on 127.0.0.1:39092 (SASL_SSL or PLAINTEXT) and :39093 (controllers), then every
client riftdrill uses connects as its principal: librdkafka (load, verifier, the lab's health
check), the verifier's raw sockets (fast reader, presence, DescribeQuorum), Java
(ProducerPerformance, MirrorMaker 2 with source and target on this broker, a Connect worker
with exactly-once source support). Refusals are expected where a step says so. The broker is
stopped by its pid at the end (about a minute). Nothing here needs root or namespaces.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from riftdrill import paths
from riftdrill.engines import kafka
from riftdrill.inventory import Inventory, Security
from riftdrill.security import acls, credentials
from riftdrill.security.client import OFF, ClientSecurity, client_security

BOOT = "127.0.0.1:39092"


def step(name: str, fn: Callable[[], Any]) -> None:
    try:
        print(f"[ok]   {name}: {fn()}", flush=True)
    except Exception as exc:  # a refusal a step expects is printed as such
        print(f"[ERR]  {name}: {type(exc).__name__}: {exc}", flush=True)


def inventory_of(sec: Security) -> Inventory:
    return Inventory.model_validate({
        "target": "local", "engine": "kafka", "engine_version": kafka.KAFKA_VERSION,
        "topology": "stretched", "replication_factor": 1, "min_insync_replicas": 1,
        "clouds": [{"name": "aws", "provider": "lab", "cidr": "127.0.0.0/8"}],
        "clusters": [{"name": "solo", "clouds": ["aws"], "brokers": [1], "bootstrap": {"aws": BOOT}}],
        "brokers": [{"id": 1, "name": "solo", "cloud": "aws", "cluster": "solo",
                     "address": "127.0.0.1", "port": 39092, "roles": ["broker", "controller"],
                     "controller_port": 39093}],
        "stores": [], "links": [], "security": sec.model_dump()})


def wait_port(port: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"nothing listens on {port} after {timeout_s:g} s")


def perf(security: ClientSecurity) -> str:
    from riftdrill.security.diagnose import security_failure

    config = ["--producer.config", str(security.java_config_file())] if security.enabled else []
    proc = subprocess.run(kafka.jvm_argv(
        kafka.kafka_libs(), "org.apache.kafka.tools.ProducerPerformance", 256,
        ["--topic", "riftdrill-bench", "--num-records", "2000", "--record-size", "100",
         "--throughput", "-1", "--producer-props", f"bootstrap.servers={BOOT}", "acks=all",
         "max.block.ms=15000", "delivery.timeout.ms=15000", "request.timeout.ms=10000", *config]),
        capture_output=True, text=True, timeout=120)
    refused = security_failure([proc.stdout + proc.stderr], security, BOOT)
    if refused is not None:
        raise refused
    return (proc.stdout.strip().splitlines() or ["?"])[-1][:100]


def mirror(home: Path, security: ClientSecurity, reader: ClientSecurity) -> dict[str, Any]:
    from confluent_kafka import Consumer, TopicPartition
    from confluent_kafka.admin import AdminClient

    spec = kafka.MirrorSpec(name="a-to-b", source_name="a", source_bootstrap=BOOT,
                            target_name="b", target_bootstrap=BOOT, topics="riftdrill-check",
                            replication_factor=1, security=security)
    argv = kafka.prepare_mirror(spec)
    with open(home / "mirror.log", "w") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        admin = AdminClient({"bootstrap.servers": BOOT, **reader.librdkafka()})
        deadline, topics = time.monotonic() + 100, set[str]()
        while time.monotonic() < deadline and not {"a.riftdrill-check",
                                                     "a.checkpoints.internal"} <= topics:
            time.sleep(2)
            topics = set(admin.list_topics(timeout=5).topics)
        time.sleep(8)
        consumer = Consumer({"bootstrap.servers": BOOT, "group.id": "rd-check", **reader.librdkafka()})
        copied = sum(consumer.get_watermark_offsets(TopicPartition("a.riftdrill-check", p),
                                                    timeout=5)[1] for p in range(3))
        consumer.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    denied = [ln for ln in (home / "mirror.log").read_text().splitlines()
              if "AuthorizationException" in ln or "SaslAuthentication" in ln]
    return {"config_mode": oct(spec.config_path.stat().st_mode & 0o777), "records_copied": copied,
            "topics": sorted(t for t in topics if t.startswith(("a.", "mm2", "heartbeats"))),
            "denied_in_log": denied[:2]}


def connect_worker(home: Path, security: ClientSecurity) -> dict[str, Any]:
    from riftdrill.hub import connect

    worker = connect.ConnectWorker(name="connect-check", cloud="aws", address="127.0.0.1",
                                   bootstrap=BOOT, replication_factor=1, rest_port=38083,
                                   exactly_once_source="enabled", security=security)
    (home / "plugins").mkdir(exist_ok=True)
    worker.config_path.parent.mkdir(parents=True, exist_ok=True)
    credentials.write_secret(worker.config_path, connect.render_worker_properties(
        worker, plugin_path=[home / "plugins"]).encode())
    with open(home / "connect.log", "w") as log:
        proc = subprocess.Popen(connect.worker_argv(worker), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    up = False
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not up:
            try:
                up = bool(json.loads(urllib.request.urlopen("http://127.0.0.1:38083/", timeout=3).read()))
            except OSError:
                time.sleep(1)
        time.sleep(5)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    text = (home / "connect.log").read_text()
    return {"rest_up": up, "config_mode": oct(worker.config_path.stat().st_mode & 0o777),
            # exactly-once: the leader writes the session key in a transaction of its own id
            "leader_transactional_write": "Session key updated" in text,
            "denied_in_log": [ln[:160] for ln in text.splitlines()
                              if "AuthorizationException" in ln or "SaslAuthentication" in ln][:2]}


def main(mode: str) -> None:
    from riftdrill.chaos import kraft
    from riftdrill.chaos.targets import active_controller
    from riftdrill.lab import health
    from riftdrill.load import kafka as lk
    from riftdrill.load.fence import write_fences
    from riftdrill.verify.fetch import Connection
    from riftdrill.verify.presence import ask_metadata
    from riftdrill.verify.replay import replay_topics

    home = paths.project_root()
    shutil.rmtree(paths.state_dir(), ignore_errors=True)
    secure = mode == "sasl-tls"
    sec = Security()
    if secure:
        store = credentials.create(paths.secrets_dir())
        sec = Security(mode="sasl-tls", secrets_dir=str(store.root), ca_cert=str(store.ca_cert),
                       principals=credentials.PRINCIPALS)
    node = kafka.KafkaNode(name="solo", node_id=1, cloud="aws", cluster="solo",
                           address="127.0.0.1", port=39092, controller_port=39093,
                           roles=["broker", "controller"], voters="1@127.0.0.1:39093",
                           settings=kafka.KafkaSettings(1, 1, num_partitions=3),
                           security=sec.mode, secrets_dir=sec.secrets_dir)
    started = time.monotonic()
    argv = kafka.prepare(node, sans=["localhost"])
    with open(home / "broker.log", "w") as log:
        broker = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    print(f"broker pid {broker.pid} ({mode})", flush=True)
    admin, load = client_security(sec, "broker"), client_security(sec, "load")
    verifier = client_security(sec, "verifier")
    try:
        wait_port(39092)
        step("health round trip as the super user",
             lambda: f"{health.wait_cluster_ready(BOOT, [1], 1, 60, security=admin):.2f} s")
        plan = acls.acl_plan(sec, ["a"], acls.HubNames("riftdrill-hub", "hub"))
        step("the ACL plan created", lambda: acls.create_acls(
            BOOT, admin, [a for rules in plan.values() for a in rules]))
        step("load: reach, create its topic", lambda: (
            lk.check_reachable(BOOT, security=load),
            lk.ensure_topic(BOOT, "riftdrill-check", 3, 1, security=load)))
        time.sleep(2)
        fences = write_fences(BOOT, ["riftdrill-check"], 15, security=load)
        print(f"[ok]   load: fences written (produce): {fences.offsets}", flush=True)
        step("verifier: replay, fast reader", lambda: [(r.partition, r.reader, r.fenced) for r in
             replay_topics(BOOT, "solo", ["riftdrill-check"], fences, security=verifier,
                           timeout_s=60)])
        step("verifier: replay, librdkafka", lambda: [(r.partition, r.reader, r.fenced) for r in
             replay_topics(BOOT, "solo", ["riftdrill-check"], fences, native=False,
                           security=verifier, timeout_s=60)])
        step("verifier: presence (raw Metadata)", lambda: sorted(ask_metadata(
            "127.0.0.1", 39092, ["riftdrill-check"], security=verifier)["riftdrill-check"].partitions))
        step("verifier: DescribeQuorum at the controllers", lambda: kraft.describe_quorum_at(
            "127.0.0.1", 39093, 5, tls=verifier.ssl_context()).leader)
        step("'controller' target", lambda: active_controller(inventory_of(sec)).name)
        if not secure:
            other = credentials.create(home / "other-secrets")
            step("EXPECTED REFUSAL a sasl-tls client at this plaintext broker",
                 lambda: lk.check_reachable(BOOT, security=ClientSecurity.read(
                     other.client_file("load"))))
            return
        step("EXPECTED REFUSAL verifier writes fences", lambda: write_fences(
            BOOT, ["riftdrill-check"], 10, security=verifier))
        step("EXPECTED REFUSAL load creates a topic outside its prefixes",
             lambda: lk.ensure_topic(BOOT, "payments", 1, 1, security=load))
        step("EXPECTED REFUSAL load with a wrong password", lambda: lk.check_reachable(
            BOOT, security=dataclasses.replace(load, password="wrong")))
        step("EXPECTED REFUSAL a plaintext client", lambda: lk.check_reachable(BOOT, security=OFF))
        foreign = credentials.create(home / "foreign-secrets")
        step("EXPECTED REFUSAL a client trusting a foreign CA", lambda: lk.check_reachable(
            BOOT, security=dataclasses.replace(load, ca_cert=str(foreign.ca_cert))))
        step("EXPECTED REFUSAL the fast reader with a wrong password", lambda: Connection(
            "127.0.0.1", 39092, security=dataclasses.replace(verifier, password="wrong")))
        step("EXPECTED REFUSAL the controllers, to a client without a certificate",
             lambda: kraft.describe_quorum_at("127.0.0.1", 39093, 5, tls=load.ssl_context()))
        lk.ensure_topic(BOOT, "riftdrill-bench", 3, 1, security=load)
        step("Java ProducerPerformance as load", lambda: perf(load))
        step("EXPECTED REFUSAL Java ProducerPerformance as verifier", lambda: perf(verifier))
        step("MirrorMaker 2 as mirrormaker", lambda: mirror(
            home, client_security(sec, "mirrormaker"), verifier))
        step("Connect worker (exactly-once source) as connect", lambda: connect_worker(
            home, client_security(sec, "connect")))
    finally:
        os.killpg(broker.pid, signal.SIGTERM)
        try:
            broker.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(broker.pid, signal.SIGKILL)
            broker.wait()
        log_text = (home / "broker.log").read_text()
        leaked = [p for _, p in credentials.scram_credentials(credentials.Secrets(
            paths.secrets_dir()))] if secure else []
        print(f"broker {broker.pid} stopped after {time.monotonic() - started:.0f} s; "
              f"passwords in its log: {sum(p in log_text for p in leaked)}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "sasl-tls")
