"""What each principal may do: the ACLs the deploy creates once a secured cluster is up.

One plan for every cluster of the lab (a per-cloud pair runs the same principals, and
MirrorMaker 2 needs its source's and its target's rights on both sides of the pair). The broker
principal is a super user (server.properties' super.users) and needs none.

- load: its topics, groups and transactional ids by prefix (LOAD_PREFIXES, and the mirror
  topics of each MirrorMaker 2 source alias, read by the failover consumer): read, write,
  create, delete (the benches remove theirs), describe; idempotent writes on the cluster.
- verifier: read and describe every topic and group, describe the cluster (the quorum too):
  it judges what is there and can write nothing.
- mirrormaker: read and describe every topic (its source side), everything on its own topics
  (the mirror topics `<source>.*`, `mm2-*` internals, heartbeats), describe every group (the
  checkpoints translate them), its own herder's group, idempotent writes.
- connect (the integration hub): everything on its internal topics (`<group>-*`) and the CDC
  topics (`<prefix>.*`), its group and its sink connector's (`connect-*`), its transactional
  ids (KIP-618 exactly-once source), idempotent writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from riftdrill.errors import LabError
from riftdrill.inventory import Inventory, Role, Security
from riftdrill.security.client import ClientSecurity

if TYPE_CHECKING:
    from confluent_kafka.admin import AclBinding  # type: ignore[attr-defined]

ResourceKind = Literal["topic", "group", "cluster", "transactional-id"]
PatternKind = Literal["literal", "prefixed"]
Operation = Literal["all", "read", "write", "create", "delete", "describe", "describe-configs",
                    "alter-configs", "idempotent-write"]

# Topic, group and transactional-id prefixes of the load (load.spec topics default to
# "riftdrill", drills to "drill-<run>", the benches to "riftdrill-bench" / "rd-bench-verify-";
# groups to "riftdrill-<run>" and "<group>.failover").
LOAD_PREFIXES = ("riftdrill", "rd-", "drill-", "mirror")
CLUSTER = "kafka-cluster"  # the one name of the cluster resource


@dataclass(frozen=True, order=True)
class Acl:
    principal: str  # "load": the ACL's principal is User:load
    resource: ResourceKind
    name: str  # "*" with literal: every name
    pattern: PatternKind
    operation: Operation

    def describe(self) -> str:
        where = "every" if self.name == "*" else (f"{self.name}*" if self.pattern == "prefixed"
                                                  else self.name)
        return f"User:{self.principal} {self.operation} {self.resource} {where}"


def _grant(principal: str, resource: ResourceKind, names: Iterable[str], pattern: PatternKind,
           operations: Sequence[Operation]) -> list[Acl]:
    return [Acl(principal, resource, name, pattern, op) for name in names for op in operations]


@dataclass(frozen=True)
class HubNames:
    group: str  # the Connect cluster's group.id, which also names its internal topics
    topic_prefix: str  # the CDC topics are <prefix>.<schema>.<table>


def acl_plan(sec: Security, mirror_sources: Sequence[str] = (),
             hub: HubNames | None = None) -> dict[Role, list[Acl]]:
    """Every principal's ACLs (none when security is off): `mirror_sources` are the clusters
    MirrorMaker 2 copies from (their alias prefixes the mirror topics), `hub` the integration
    hub's names. The lab's `ready` component gets these from Terraform, before an inventory
    exists; `inventory_plan` takes them from one."""
    if not sec.enabled:
        return {}
    load, verifier = sec.principal("load"), sec.principal("verifier")
    mirrormaker, connect = sec.principal("mirrormaker"), sec.principal("connect")
    mirror_prefixes = sorted({f"{source}." for source in mirror_sources})
    load_topics = [*LOAD_PREFIXES, *mirror_prefixes]
    plan: dict[Role, list[Acl]] = {
        "load": [
            *_grant(load, "topic", load_topics, "prefixed",
                    ["read", "write", "create", "delete", "describe", "describe-configs"]),
            *_grant(load, "group", LOAD_PREFIXES, "prefixed", ["read", "describe"]),
            *_grant(load, "transactional-id", LOAD_PREFIXES, "prefixed", ["write", "describe"]),
            *_grant(load, "cluster", [CLUSTER], "literal", ["idempotent-write", "describe"]),
        ],
        "verifier": [
            *_grant(verifier, "topic", ["*"], "literal", ["read", "describe"]),
            *_grant(verifier, "group", ["*"], "literal", ["read", "describe"]),
            *_grant(verifier, "cluster", [CLUSTER], "literal", ["describe"]),
        ],
        "mirrormaker": [
            *_grant(mirrormaker, "topic", ["*"], "literal",
                    ["read", "describe", "describe-configs"]),
            *_grant(mirrormaker, "topic", ["mm2-", "heartbeats", *mirror_prefixes], "prefixed",
                    ["all"]),
            *_grant(mirrormaker, "group", ["*"], "literal", ["describe"]),
            # The dedicated MirrorMaker 2's herder joins "<source>-mm2" per flow.
            *_grant(mirrormaker, "group", [f"{source}-mm2" for source in sorted(mirror_sources)],
                    "literal", ["read", "describe"]),
            *_grant(mirrormaker, "cluster", [CLUSTER], "literal",
                    ["describe", "describe-configs", "idempotent-write"]),
        ],
    }
    if hub is not None:
        plan["connect"] = [
            *_grant(connect, "topic", [f"{hub.group}-", f"{hub.topic_prefix}."], "prefixed",
                    ["all"]),
            *_grant(connect, "group", [hub.group], "literal", ["read", "describe"]),
            *_grant(connect, "group", ["connect-"], "prefixed", ["read", "describe"]),
            # KIP-618: the tasks' ids start with the group's name, the leader's is
            # connect-cluster-<group>.
            *_grant(connect, "transactional-id", [hub.group, f"connect-cluster-{hub.group}"],
                    "prefixed", ["write", "describe"]),
            *_grant(connect, "cluster", [CLUSTER], "literal", ["describe", "idempotent-write"]),
        ]
    return plan


def inventory_plan(inv: Inventory) -> dict[Role, list[Acl]]:
    """The plan of a deployed inventory (what its deploy created)."""
    hub = HubNames(inv.hub.group, inv.hub.topic_prefix) if inv.hub is not None else None
    return acl_plan(inv.security, [m.source for m in inv.mirrors], hub)


def bindings(acls: Iterable[Acl]) -> list[AclBinding]:
    from confluent_kafka.admin import (  # type: ignore[attr-defined]
        AclBinding,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    resources = {"topic": ResourceType.TOPIC, "group": ResourceType.GROUP,
                 "cluster": ResourceType.BROKER, "transactional-id": ResourceType.TRANSACTIONAL_ID}
    patterns = {"literal": ResourcePatternType.LITERAL, "prefixed": ResourcePatternType.PREFIXED}
    operations = {"all": AclOperation.ALL, "read": AclOperation.READ, "write": AclOperation.WRITE,
                  "create": AclOperation.CREATE, "delete": AclOperation.DELETE,
                  "describe": AclOperation.DESCRIBE,
                  "describe-configs": AclOperation.DESCRIBE_CONFIGS,
                  "alter-configs": AclOperation.ALTER_CONFIGS,
                  "idempotent-write": AclOperation.IDEMPOTENT_WRITE}
    return [AclBinding(resources[a.resource], a.name, patterns[a.pattern], f"User:{a.principal}",
                       "*", operations[a.operation], AclPermissionType.ALLOW) for a in acls]


def create_acls(bootstrap: str, admin: ClientSecurity, acls: Sequence[Acl],
                timeout_s: float = 30) -> int:
    """Create `acls` on the cluster at `bootstrap` as `admin` (a super user) and wait until a
    broker lists them all; creating an ACL that exists changes nothing, so this is idempotent.
    Returns how many were asked for."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    if not acls:
        return 0
    client = AdminClient({"bootstrap.servers": bootstrap, "log_level": 2, **admin.librdkafka()})
    failures = []
    unique = sorted(set(acls))
    futures = client.create_acls(bindings(unique), request_timeout=timeout_s)
    for acl, future in zip(unique, futures.values(), strict=True):  # in the order asked
        try:
            future.result(timeout=timeout_s)
        except KafkaException as exc:
            failures.append(f"{acl.describe()}: {exc.args[0]}")
    if failures:
        raise LabError(f"creating ACLs at {bootstrap} failed ({len(failures)} of {len(acls)}): "
                       + "; ".join(failures[:3]))
    _await_listed(client, unique, bootstrap, timeout_s)
    return len(acls)


def _key(binding: AclBinding) -> tuple[str, str, str, str, str]:
    return (str(binding.restype), binding.name, str(binding.resource_pattern_type),
            binding.principal, str(binding.operation))


def _await_listed(client: Any, acls: Sequence[Acl], bootstrap: str, timeout_s: float) -> None:
    """The controller has committed the ACLs when CreateAcls answers; a broker authorizes with
    them once it has replayed the metadata. A client started right after (MirrorMaker 2, a
    Connect worker creating its internal topics, the first load) must not be refused meanwhile."""
    import time

    from confluent_kafka import KafkaException
    from confluent_kafka.admin import (  # type: ignore[attr-defined]
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    wanted = {_key(b) for b in bindings(acls)}
    anything: Any = None  # the filter's "any name, principal, host" (its stub says str)
    every = AclBindingFilter(ResourceType.ANY, anything, ResourcePatternType.ANY, anything,
                             anything, AclOperation.ANY, AclPermissionType.ANY)
    deadline = time.monotonic() + timeout_s
    missing = len(wanted)
    while time.monotonic() < deadline:
        try:
            listed = {_key(b) for b in client.describe_acls(every, request_timeout=5).result(10)}
            missing = len(wanted - listed)
        except KafkaException:
            pass
        if not missing:
            return
        time.sleep(0.2)
    raise LabError(f"{missing} of {len(wanted)} ACLs created at {bootstrap} are still not listed "
                   f"after {timeout_s:g} s")
