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

The ACL drill (`revoke_acl` faults, faults.py) takes a role's writes away and gives them back:
`writes_of` is what it revokes, `revocable` refuses what it cannot revoke, and `apply_acls`
makes one cluster list exactly the ACLs it should (as the super user, through the Admin API)
and waits until DescribeAcls shows it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

from riftdrill.errors import FaultError, LabError
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
# The CDC source's heartbeat topic is <this>.<topic prefix> (hub/pipeline.py sets the prefix:
# Debezium's own default, named here so the ACL and the connector cannot drift apart).
DEBEZIUM_HEARTBEAT_PREFIX = "__debezium-heartbeat"


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
            *_grant(connect, "topic", [f"{DEBEZIUM_HEARTBEAT_PREFIX}.{hub.topic_prefix}"],
                    "literal", ["all"]),
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

    if not acls:
        return 0
    client = admin_client(bootstrap, admin)
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


def _every() -> Any:
    from confluent_kafka.admin import (  # type: ignore[attr-defined]
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    anything: Any = None  # the filter's "any name, principal, host" (its stub says str)
    return AclBindingFilter(ResourceType.ANY, anything, ResourcePatternType.ANY, anything,
                            anything, AclOperation.ANY, AclPermissionType.ANY)


def _listed(client: Any) -> set[tuple[str, str, str, str, str]]:
    """The keys of every ACL a broker of the cluster lists now (DescribeAcls)."""
    return {_key(b) for b in client.describe_acls(_every(), request_timeout=5).result(10)}


def _await_listed(client: Any, acls: Sequence[Acl], bootstrap: str, timeout_s: float,
                  absent: Sequence[Acl] = ()) -> int:
    """The controller has committed the ACLs when CreateAcls answers; a broker authorizes with
    them once it has replayed the metadata. A client started right after (MirrorMaker 2, a
    Connect worker creating its internal topics, the first load) must not be refused meanwhile.
    With `absent`, also until none of those is listed (a DeleteAcls replayed). Returns the
    epoch ns at which a broker listed it so."""
    from confluent_kafka import KafkaException

    wanted = {_key(b) for b in bindings(acls)}
    gone = {_key(b) for b in bindings(absent)}
    deadline = time.monotonic() + timeout_s
    missing, left = len(wanted), len(gone)
    while time.monotonic() < deadline:
        try:
            listed = _listed(client)
            missing, left = len(wanted - listed), len(gone & listed)
        except KafkaException:
            pass
        if not missing and not left:
            return time.time_ns()
        time.sleep(0.2)
    if missing:
        raise LabError(f"{missing} of {len(wanted)} ACLs created at {bootstrap} are still not "
                       f"listed after {timeout_s:g} s")
    raise LabError(f"{left} of {len(gone)} ACLs deleted at {bootstrap} are still listed after "
                   f"{timeout_s:g} s")


def cluster_bootstraps(inv: Inventory) -> list[str]:
    """One bootstrap per cluster for its Admin API: its brokers (not its controllers)."""
    out = []
    for cluster in inv.clusters:
        members = [b.bootstrap for b in inv.brokers
                   if b.cluster == cluster.name and "broker" in b.roles]
        out.append(",".join(members) or ",".join(dict.fromkeys(cluster.bootstrap.values())))
    return out


def admin_client(bootstrap: str, admin: ClientSecurity) -> Any:
    """An Admin API client as `admin` (the super user); the one place riftdrill makes one for
    ACLs, so a test fakes the cluster here."""
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": bootstrap, "log_level": 2, **admin.librdkafka()})


# ---- the ACL drill: a role's writes revoked, then restored ----------------------------------

# What a revoke takes: the WRITE ACLs (topics, transactional ids). The cluster's IDEMPOTENT_WRITE
# stays: without it a producer's InitProducerId fails with CLUSTER_AUTHORIZATION_FAILED, which
# librdkafka retries until the sends time out (_MSG_TIMED_OUT, not a refusal), while a Produce
# without WRITE on its topic is refused at once with TOPIC_AUTHORIZATION_FAILED, a permanent
# error per send: what the drill wants the producers to see.
WRITE_OPERATIONS: tuple[Operation, ...] = ("write",)
ROLES: tuple[Role, ...] = get_args(Role)


def writes_of(rules: Iterable[Acl]) -> list[Acl]:
    """The ACLs of `rules` a revoke takes away."""
    return [a for a in rules if a.operation in WRITE_OPERATIONS]


def revocable(inv: Inventory, role: str) -> Role:
    """`role`, when its writes can be revoked on this deploy; else FaultError in one line
    (nothing is recorded or changed: callers check before they record)."""
    if not inv.security.enabled:
        raise FaultError("revoking an ACL needs the authorizer: this lab was deployed with "
                         f"security {inv.security.mode}; deploy with SECURITY=sasl-tls "
                         "(`make deploy SECURITY=sasl-tls`)")
    r = next((r for r in ROLES if r == role), None)
    if r is None:
        raise FaultError(f"unknown role {role!r}; roles are: {', '.join(ROLES)}")
    if r == "broker":
        raise FaultError("role broker is the super user (super.users): no ACL grants it "
                         "anything, so none can be revoked; revoke load's")
    rules = inventory_plan(inv).get(r, [])
    if any(a.operation == "all" for a in rules):
        raise FaultError(f"role {r}'s writes come with its 'all' ACLs, which a revoke does not "
                         "split; revoke load's (`riftdrill acls` lists each role's)")
    if not writes_of(rules):
        raise FaultError(f"role {r} has no write ACL to revoke on this lab (`riftdrill acls` "
                         "lists each role's)")
    return r


@dataclass(frozen=True)
class AclSync:
    """What apply_acls did on one cluster."""

    bootstrap: str
    created: int
    deleted: int
    confirmed_ns: int  # when a broker's DescribeAcls first listed the wanted state
    # Just before the first CreateAcls / DeleteAcls was sent (confirmed_ns when nothing changed):
    # a broker may apply a change before any DescribeAcls lists it.
    changed_ns: int = 0


def apply_acls(bootstrap: str, admin: ClientSecurity, present: Sequence[Acl],
               absent: Sequence[Acl], timeout_s: float = 30) -> AclSync:
    """Make the cluster at `bootstrap` list every ACL of `present` and none of `absent`, as
    `admin` (the super user): listed first, then only the difference created or deleted, then
    listed again until it holds (LabError naming what is not, after `timeout_s`). ACLs in
    neither (an operator's own) are left alone. Idempotent."""
    from confluent_kafka import KafkaException

    client = admin_client(bootstrap, admin)
    try:
        listed = _listed(client)
    except KafkaException as exc:
        raise LabError(f"listing the ACLs at {bootstrap} failed: {exc.args[0]}") from None
    create = sorted({a for a in present if _key(bindings([a])[0]) not in listed})
    delete = sorted({a for a in absent if _key(bindings([a])[0]) in listed})
    failures: list[str] = []
    changed_ns = time.time_ns()
    if create:
        futures = client.create_acls(bindings(create), request_timeout=timeout_s)
        for acl, future in zip(create, futures.values(), strict=True):
            try:
                future.result(timeout=timeout_s)
            except KafkaException as exc:
                failures.append(f"creating {acl.describe()}: {exc.args[0]}")
    if delete:
        futures = client.delete_acls(filters(delete), request_timeout=timeout_s)
        for acl, future in zip(delete, futures.values(), strict=True):
            try:
                future.result(timeout=timeout_s)
            except KafkaException as exc:
                failures.append(f"deleting {acl.describe()}: {exc.args[0]}")
    if failures:
        raise LabError(f"changing ACLs at {bootstrap} failed ({len(failures)} of "
                       f"{len(create) + len(delete)}): " + "; ".join(failures[:3]))
    confirmed = _await_listed(client, present, bootstrap, timeout_s, absent)
    return AclSync(bootstrap, len(create), len(delete), confirmed,
                   changed_ns if create or delete else confirmed)


def filters(acls: Iterable[Acl]) -> list[Any]:
    """One DeleteAcls filter per ACL, matching exactly that ACL."""
    from confluent_kafka.admin import AclBindingFilter  # type: ignore[attr-defined]

    return [AclBindingFilter(b.restype, b.name, b.resource_pattern_type, b.principal, b.host,
                             b.operation, b.permission_type) for b in bindings(acls)]
