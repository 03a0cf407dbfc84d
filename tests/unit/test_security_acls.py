"""What each principal may do: the plan the deploy creates, per principal."""

from __future__ import annotations

from collections.abc import Iterable
from typing import get_args

from riftdrill.inventory import Hub, Inventory, MirrorMaker, Role, Security
from riftdrill.security import acls, credentials
from riftdrill.security.acls import Acl, HubNames, acl_plan, bindings, inventory_plan
from tests.unit.test_inventory import sample

SECURED = Security(mode="sasl-tls", secrets_dir="/s", ca_cert="/s/ca.pem",
                   principals=credentials.PRINCIPALS)
WRITES = {"write", "create", "delete", "all", "alter-configs", "idempotent-write"}


def ops(rules: Iterable[Acl], resource: str, name: str | None = None) -> set[str]:
    return {a.operation for a in rules if a.resource == resource and name in (None, a.name)}


def test_security_off_has_no_plan() -> None:
    assert acl_plan(Security()) == {}


def test_load_produces_and_consumes_its_own_topics_groups_and_transactions() -> None:
    load = acl_plan(SECURED, mirror_sources=["aws"])["load"]
    assert {a.principal for a in load} == {"load"}
    topics = {a.name for a in load if a.resource == "topic"}
    assert topics == {*acls.LOAD_PREFIXES, "aws."}  # aws.<topic>: the mirror it fails over to
    assert all(a.pattern == "prefixed" for a in load if a.resource != "cluster")
    assert ops(load, "topic", "riftdrill") == {"read", "write", "create", "delete", "describe",
                                              "describe-configs"}
    assert ops(load, "group", "riftdrill") == {"read", "describe"}
    assert ops(load, "transactional-id", "riftdrill") == {"write", "describe"}
    assert ops(load, "cluster") == {"idempotent-write", "describe"}


def test_the_verifier_reads_and_describes_everything_and_writes_nothing() -> None:
    verifier = acl_plan(SECURED)["verifier"]
    assert {a.operation for a in verifier} == {"read", "describe"}
    assert not {a.operation for a in verifier} & WRITES
    assert ops(verifier, "topic", "*") == {"read", "describe"}
    assert ops(verifier, "group", "*") == {"read", "describe"}  # committed offsets, the hub's
    assert ops(verifier, "cluster") == {"describe"}  # and the quorum (chaos/kraft.py)


def test_mirrormaker_reads_every_topic_and_owns_only_its_own() -> None:
    mm = acl_plan(SECURED, mirror_sources=["aws"])["mirrormaker"]
    assert ops(mm, "topic", "*") == {"read", "describe", "describe-configs"}
    owned = {a.name for a in mm if a.resource == "topic" and a.operation == "all"}
    assert owned == {"mm2-", "heartbeats", "aws."}
    assert ops(mm, "group", "*") == {"describe"}
    assert ops(mm, "group", "aws-mm2") == {"read", "describe"}
    assert "idempotent-write" in ops(mm, "cluster")


def test_connect_exists_only_with_a_hub_and_owns_its_topics_groups_and_transactions() -> None:
    assert "connect" not in acl_plan(SECURED)
    connect = acl_plan(SECURED, hub=HubNames("riftdrill-hub", "hub"))["connect"]
    assert {a.name for a in connect if a.resource == "topic"} == {
        "riftdrill-hub-", "hub.", "__debezium-heartbeat.hub"}  # internal, CDC, CDC heartbeats
    assert ops(connect, "group", "riftdrill-hub") == {"read", "describe"}
    assert ops(connect, "group", "connect-") == {"read", "describe"}  # the sink's consumers
    assert {a.name for a in connect if a.resource == "transactional-id"} == {
        "riftdrill-hub", "connect-cluster-riftdrill-hub"}
    assert not any(a.name == "*" for a in connect)


def test_one_principal_per_role_and_the_broker_needs_none() -> None:
    plan = acl_plan(SECURED, ["aws"], HubNames("g", "hub"))
    assert set(plan) == set(get_args(Role)) - {"broker"}
    for role, rules in plan.items():
        assert {a.principal for a in rules} == {credentials.PRINCIPALS[role]}


def test_the_inventory_plan_takes_the_mirrors_and_the_hub() -> None:
    inv: Inventory = sample().model_copy(update={"security": SECURED})
    inv.mirrors = [MirrorMaker(name="aws-to-gcp", cloud="gcp", source="aws", target="gcp",
                               topics="drill-.*")]
    inv.hub = Hub(group="riftdrill-hub", source_connector="s", sink_connector="k",
                  topic_prefix="hub", databases=[], workers=[])
    plan = inventory_plan(inv)
    assert plan == acl_plan(SECURED, ["aws"], HubNames("riftdrill-hub", "hub"))


def test_bindings_are_confluent_kafka_acl_bindings() -> None:
    from confluent_kafka.admin import (  # type: ignore[attr-defined]
        AclOperation,
        ResourcePatternType,
        ResourceType,
    )

    [topic, cluster] = bindings([Acl("load", "topic", "riftdrill", "prefixed", "write"),
                                 Acl("verifier", "cluster", acls.CLUSTER, "literal", "describe")])
    assert (topic.restype, topic.name, topic.resource_pattern_type, topic.principal,
            topic.operation) == (ResourceType.TOPIC, "riftdrill", ResourcePatternType.PREFIXED,
                                 "User:load", AclOperation.WRITE)
    assert (cluster.restype, cluster.name) == (ResourceType.BROKER, "kafka-cluster")
    assert Acl("load", "topic", "riftdrill", "prefixed", "write").describe() == (
        "User:load write topic riftdrill*")
