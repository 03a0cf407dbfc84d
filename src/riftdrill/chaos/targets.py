"""Which brokers a drill hits: by id or name, by cloud, or by role.

Target strings (every action taking `broker=` or `target=` accepts them):

    "aws-1" | "101"          one broker, by name or node id
    "cloud:gcp"              every broker of a cloud (kill_cloud)
    "leader" | "leader:T"    the broker leading the most partitions of topic T (default: the
                             topic of the drill's running load); ties -> lowest node id
    "controller"             the active KRaft controller (the quorum leader)

The active controller is read from the quorum itself: `MetadataQuorumCommand describe --status`
(Kafka's own tool, run from the jars riftdrill installed) against every controller endpoint of
the inventory, `LeaderId:` line; with security on, the quorum's DescribeQuorum answer over the
controllers' TLS listener (chaos/kraft.py). AdminClient.describe_cluster() is not used for this:
under KRaft, its `controller` is a random live broker the client talks to, not the quorum leader.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from riftdrill.errors import FaultError, RiftdrillError
from riftdrill.inventory import Broker, Inventory
from riftdrill.security.client import OFF, ClientSecurity, client_security

QUORUM_TIMEOUT_S = 60.0
QUORUM_ASK_S = 10.0  # per controller, security on


class TargetError(RiftdrillError):
    """A target string that names nothing in the inventory."""


def leader_of_most(leaders: Mapping[int, int | None]) -> int:
    """Node id leading the most partitions ({partition: leader id or None/-1 if leaderless});
    ties go to the lowest id so a drill is repeatable."""
    counts = Counter(lid for lid in leaders.values() if lid is not None and lid >= 0)
    if not counts:
        raise FaultError("no partition has a leader: there is no leader to target")
    best = max(counts.values())
    return min(lid for lid, n in counts.items() if n == best)


_LEADER_ID = re.compile(r"^LeaderId:\s*(-?\d+)\s*$", re.MULTILINE)


def parse_quorum_leader(status_text: str) -> int:
    """LeaderId from `kafka-metadata-quorum describe --status` output."""
    m = _LEADER_ID.search(status_text)
    if m is None or int(m.group(1)) < 0:
        raise FaultError("the KRaft quorum reports no leader (no `LeaderId:` in its status)")
    return int(m.group(1))


def controller_endpoints(inv: Inventory) -> str:
    eps = [f"{b.address}:{b.controller_port}" for b in inv.brokers
           if "controller" in b.roles and b.controller_port]
    if not eps:
        raise TargetError("the inventory lists no controller endpoints")
    return ",".join(eps)


def active_controller(inv: Inventory) -> Broker:
    """The broker that is the KRaft quorum leader right now."""
    from riftdrill.engines.kafka import jvm_argv, kafka_libs

    if inv.engine != "kafka":
        raise TargetError(f"'controller' targets need a KRaft engine, not {inv.engine}")
    security = client_security(inv.security, "verifier")
    if security.enabled:
        return _quorum_leader(inv, security)
    argv = jvm_argv(kafka_libs(), "org.apache.kafka.tools.MetadataQuorumCommand", 128,
                    ["--bootstrap-controller", controller_endpoints(inv), "describe", "--status"])
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=QUORUM_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise FaultError(f"the KRaft quorum did not answer within {QUORUM_TIMEOUT_S:g} s") from exc
    if proc.returncode != 0:
        raise FaultError(f"kafka-metadata-quorum failed: {proc.stderr.strip()[-300:]}")
    return inv.broker(parse_quorum_leader(proc.stdout))


def _quorum_leader(inv: Inventory, security: ClientSecurity) -> Broker:
    """Security on: the quorum's own DescribeQuorum answer (chaos/kraft.py, as the timeline
    asks it), over the controllers' TLS listener with the verifier's certificate. Kafka's tool
    also sends a request that needs ALTER on the cluster, which the verifier must not hold."""
    from riftdrill.chaos import kraft

    controllers = [(b.address, b.controller_port) for b in inv.brokers
                   if "controller" in b.roles and b.controller_port]
    if not controllers:
        raise TargetError("the inventory lists no controller endpoints")
    try:
        quorum = kraft.describe_quorum(controllers, QUORUM_ASK_S, security.ssl_context())
    except kraft.QuorumError as exc:
        raise FaultError(f"the KRaft quorum named no leader: {exc}") from exc
    return inv.broker(quorum.leader)


def partition_leaders(bootstrap: str, topic: str, timeout_s: float = 10,
                      security: ClientSecurity = OFF) -> dict[int, int]:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.connection.setup.timeout.ms": 5000,
                         **security.librdkafka()})
    md = admin.list_topics(topic, timeout=timeout_s)
    t = md.topics.get(topic)
    if t is None or t.error is not None:
        raise TargetError(f"topic {topic!r} does not exist ({t.error if t else 'no metadata'})")
    return {p.id: p.leader for p in t.partitions.values()}


def node_address(bootstrap: str, node_id: int, timeout_s: float = 10,
                 security: ClientSecurity = OFF) -> tuple[str, int] | None:
    """Where the cluster's metadata says node `node_id` is (host, port)."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.connection.setup.timeout.ms": 5000,
                         **security.librdkafka()})
    b = admin.list_topics(timeout=timeout_s).brokers.get(node_id)
    return (str(b.host), int(b.port)) if b is not None else None


def leader_of_topic(inv: Inventory, topic: str) -> Broker:
    bootstrap = inv.bootstrap(inv.clouds[0].name)
    security = client_security(inv.security, "verifier")  # describes, never writes
    lid = leader_of_most(partition_leaders(bootstrap, topic, security=security))
    if any(b.id == lid for b in inv.brokers):
        return inv.broker(lid)
    # Stateless engines (Tansu 0.6: every broker is node 111 and advertises itself as the leader
    # of everything) name no inventory id: the leader is the broker that answered, by address.
    where = node_address(bootstrap, lid, security=security)
    for b in inv.brokers:
        if where == (b.address, b.port):
            return b
    raise TargetError(f"the leader of {topic} is node {lid} at {where}, which is no broker of the inventory")


def running_load_topic(run_dir: Path | None) -> str:
    """The topic of the drill's load (<run_dir>/load/spec.json)."""
    import json

    spec = run_dir / "load" / "spec.json" if run_dir else None
    if spec is None or not spec.exists():
        raise TargetError("target 'leader' needs a topic: start the load first (start_load) "
                          "or name it, 'leader:<topic>'")
    return str(json.loads(spec.read_text())["topic"])


def resolve(inv: Inventory, target: str, run_dir: Path | None = None) -> list[Broker]:
    """The brokers a target string names (see the module doc); `run_dir` is the drill's, where
    a bare "leader" finds the topic of the running load."""
    target = str(target).strip()
    if target.startswith("cloud:"):
        cloud = inv.cloud(target.split(":", 1)[1]).name
        brokers = inv.brokers_in(cloud)
        if not brokers:
            raise TargetError(f"cloud {cloud} has no brokers")
        return brokers
    if target == "controller":
        return [active_controller(inv)]
    if target == "leader" or target.startswith("leader:"):
        topic = target.split(":", 1)[1] if ":" in target else running_load_topic(run_dir)
        return [leader_of_topic(inv, topic)]
    return [inv.broker(target)]


def resolve_one(inv: Inventory, target: str, run_dir: Path | None = None) -> Broker:
    brokers = resolve(inv, target, run_dir)
    if len(brokers) != 1:
        raise TargetError(f"target {target!r} names {len(brokers)} brokers; this action takes one "
                          "(use kill_cloud for a whole cloud)")
    return brokers[0]
