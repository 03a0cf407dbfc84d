"""The inventory: the one contract between deploy and every other command.

`riftdrill deploy` writes `.riftdrill/inventory.json` from Terraform's outputs; load, drills,
verify and report only read it. The one exception is fault primitives, which append to
`faults` what they injected so that `riftdrill heal` (or a later process) can undo it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Collection, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from riftdrill import paths
from riftdrill.errors import NotDeployedError, RiftdrillError

SCHEMA_VERSION = 1

# The allowed values, defined once: tuples of them come from typing.get_args.
Target = Literal["local", "aws-gcp"]
LabEngine = Literal["kafka", "tansu"]  # what the local lab runs
CloudEngine = Literal["automq", "kafka"]  # what the aws-gcp target runs
Engine = Literal[LabEngine, CloudEngine]  # kafka, tansu, automq
# hub: a stretched cluster plus the integration hub (issue 16): a PostgreSQL in each cloud and
# Kafka Connect workers in both running Debezium's CDC source (aws) and JDBC sink (gcp).
Topology = Literal["stretched", "per-cloud", "hub"]
# Topologies whose brokers form one cluster across both clouds.
ONE_CLUSTER: tuple[Topology, ...] = ("stretched", "hub")
# The deployment patterns `riftdrill compare` builds: an engine in a topology (report.compare)
SetupName = Literal["kafka", "kafka-per-cloud", "tansu"]
FaultKind = Literal[
    "kill_broker", "pause_broker", "sever_link", "degrade_link", "block_object_store",
    "brownout_store", "stop_mirror", "stop_worker", "stop_database", "pause_database",
    "pause_connector", "revoke_acl", "rotate_scram"
]
Direction = Literal["both", "a-to-b", "b-to-a"]
# What protects the clusters (docs/security.md): nothing, or TLS on every listener with
# SASL/SCRAM-SHA-512 for clients and an authorizer with ACLs per principal.
SecurityMode = Literal["off", "sasl-tls"]
# Who connects: one principal per role. broker is the super user (brokers, and the deploy's own
# checks); the others get only the ACLs of security/acls.py.
Role = Literal["broker", "load", "verifier", "mirrormaker", "connect"]


class Cloud(BaseModel):
    name: str  # "aws" | "gcp"
    provider: Literal["lab", "aws", "gcp"]
    cidr: str  # where this cloud's hosts live
    namespace: str | None = None  # lab: the network namespace that is this cloud
    region: str | None = None  # cloud targets: region or zone


class Broker(BaseModel):
    id: int  # node.id
    name: str  # "aws-1"
    cloud: str
    cluster: str  # stretched: "main"; per-cloud: the cloud's name
    address: str  # host the clients connect to
    port: int
    roles: list[Literal["broker", "controller"]]
    controller_port: int | None = None
    handle: str = ""  # driver's name for the machine/process: lab name, EC2 id, GCE name

    @property
    def bootstrap(self) -> str:
        return f"{self.address}:{self.port}"


class ObjectStore(BaseModel):
    name: str  # "aws-s3"
    cloud: str
    api: Literal["s3", "gcs"]
    endpoint: str  # http://198.18.1.5:9000
    address: str
    port: int
    buckets: list[str]
    handle: str = ""
    # A GCS store's S3-compatible (interoperability) API on the same address: what S3-only
    # engines (Tansu) use in gcp. Blocking the store blocks it too.
    s3_port: int | None = None
    server: str = ""  # the lab's server for the S3 API: moto or s3proxy ("" in clouds)
    # aws: the FIS experiment template that cuts the nodes' subnets off S3 (disrupt-connectivity
    # scope s3): a block then times out like an outage; "" = the bucket-policy deny (403s)
    outage_template: str = ""
    # gcp: the disabled egress deny from the nodes to GCS's private VIP that a block enables
    # (timeouts, like an outage); "" = the HMAC key deactivated (403s)
    outage_firewall: str = ""

    @property
    def ports(self) -> list[int]:
        return [self.port] + ([self.s3_port] if self.s3_port else [])

    @property
    def s3_endpoint(self) -> str | None:
        if self.api == "s3":
            return self.endpoint
        return f"http://{self.address}:{self.s3_port}" if self.s3_port else None


class Link(BaseModel):
    name: str  # "aws-gcp"
    a: str  # cloud name on one end
    b: str
    # The link's weather as deployed (lab: src/riftdrill/lab/wan.py; a cloud link has its own)
    wan: str = "none"  # the profile asked for: a name or field=value list
    latency_ms: float = 0.0  # one way
    jitter_ms: float = 0.0
    loss_pct: float = 0.0
    rate_mbit: float = 0.0  # 0: unlimited
    emulated: bool = False  # True: the lab's emulator applies the numbers above


class Cluster(BaseModel):
    name: str
    clouds: list[str]
    brokers: list[int]
    bootstrap: dict[str, str]  # cloud -> "host:port,host:port" preferred by clients in that cloud
    # The cluster's own, when the deploy says (per-cloud: capped by its brokers); None: an
    # inventory written before it did (Inventory.cluster_rf then caps the deploy's the same way)
    replication_factor: int | None = None
    min_insync_replicas: int | None = None


# A Connect application's delivery (KIP-618 exactly.once.source.support, or not): MirrorMaker 2
# is one, and so is the integration hub's CDC source connector.
Delivery = Literal["at-least-once", "exactly-once"]
MirrorDelivery = Delivery
ConnectorDelivery = Delivery


class MirrorMaker(BaseModel):
    name: str
    cloud: str
    source: str  # cluster names
    target: str
    topics: str  # regex of replicated topics
    handle: str = ""
    # Its delivery contract (verify/contract.py): the lab's runs without exactly-once source
    # support, so a restart may copy records again.
    delivery: MirrorDelivery = "at-least-once"


class Database(BaseModel):
    """A PostgreSQL of the integration hub: the CDC source or the sink's target."""

    name: str  # "pg-aws"
    cloud: str
    role: Literal["source", "sink"]
    address: str
    port: int
    dbname: str = "postgres"
    handle: str = ""


class ConnectWorker(BaseModel):
    name: str  # "connect-aws"
    cloud: str
    address: str
    rest_port: int
    handle: str = ""

    @property
    def rest_url(self) -> str:
        return f"http://{self.address}:{self.rest_port}"


class Hub(BaseModel):
    """The integration hub: one Connect cluster (workers in both clouds) moving the source
    database's changes through Kafka into the sink database."""

    group: str  # the Connect cluster's group.id
    source_connector: str
    sink_connector: str
    topic_prefix: str  # Debezium's topic.prefix: CDC topics are <prefix>.public.<table>
    databases: list[Database]
    workers: list[ConnectWorker]
    # Without exactly.once.source.support (KIP-618) a restarted source re-sends what it had not
    # committed: the contract allows duplicated changes, nothing else (verify/contract.py).
    delivery: ConnectorDelivery = "at-least-once"

    def database(self, name_or_role: str) -> Database:
        """By name ("pg-aws") or role ("source", "sink")."""
        for d in self.databases:
            if name_or_role in (d.name, d.role):
                return d
        names = ", ".join(f"{d.name} ({d.role})" for d in self.databases)
        raise RiftdrillError(f"the hub has no database {name_or_role!r}; databases are: {names}")

    def connector(self, name_or_role: str) -> str:
        """By name, or role ("source", "sink"; "" is the source)."""
        roles = {"": self.source_connector, "source": self.source_connector,
                 "sink": self.sink_connector}
        name = roles.get(name_or_role, name_or_role)
        if name not in (self.source_connector, self.sink_connector):
            raise RiftdrillError(f"no connector {name_or_role!r} in the hub; connectors are: "
                                 f"{self.source_connector} (source), {self.sink_connector} (sink)")
        return name

    def worker(self, name_or_cloud: str) -> ConnectWorker:
        for w in self.workers:
            if name_or_cloud in (w.name, w.cloud):
                return w
        names = ", ".join(w.name for w in self.workers)
        raise RiftdrillError(f"no Connect worker {name_or_cloud!r}; workers are: {names}")


# How riftdrill reaches a cloud target's load VM: AWS SSM Run Command, GCP IAP ssh (OS Login).
LoadTransport = Literal["ssm", "iap"]


class LoadNode(BaseModel):
    """A VM inside a cloud that runs the load and the verifier's final read next to the brokers
    (cloud targets, whose brokers have private addresses only: riftdrill.load.remote)."""

    name: str  # "rd-aws-load"
    cloud: str
    address: str  # private
    handle: str  # EC2 instance id, or GCE projects/<p>/zones/<z>/instances/<name>
    transport: LoadTransport
    carrier: str  # the bucket prefix that carries runs in and results out: s3://b/p/, gs://b/p/


class Security(BaseModel):
    """What protects the deployed clusters: paths and principal names only, never a secret
    (those stay in `secrets_dir`, read by security/client.py)."""

    mode: SecurityMode = "off"
    mechanism: Literal["SCRAM-SHA-512"] = "SCRAM-SHA-512"
    secrets_dir: str = ""  # .riftdrill/secrets (0700): CA and broker keys, passwords (0600)
    ca_cert: str = ""  # the certificate authority every client trusts
    principals: dict[Role, str] = {}  # role -> principal (its SCRAM user, certificate CN)

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    def principal(self, role: Role) -> str:
        try:
            return self.principals[role]
        except KeyError:
            raise RiftdrillError(f"the inventory's security ({self.mode}) names no principal for "
                                 f"role {role!r}; redeploy with this riftdrill (`make deploy`)") from None


class Fault(BaseModel):
    """One injected fault, recorded before it is applied so a crash cannot orphan it."""

    id: str
    kind: FaultKind
    target: str  # broker, link, store or mirror name; revoke_acl, rotate_scram: the role
    direction: Direction = "both"
    started_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())
    # The drill runner that owns the fault (the run context's owner_pid); 0 = injected by hand,
    # kept until healed. A fault whose owner died was never healed by it: commands warn about it.
    by_pid: int = 0
    # degrade_link: the weather per direction ("a-to-b"/"b-to-a" -> lab/wan.py WanProfile
    # fields); brownout_store: lab/storeweather.py StoreWeather fields
    weather: dict[str, Any] | None = None
    # Epoch second after which the clouds' reapers may undo it (riftdrill.expiry); None: a
    # fault recorded before deadlines existed (counted as one injected by hand)
    expires_at: int | None = None


class Inventory(BaseModel):
    schema_version: int = SCHEMA_VERSION
    target: Target
    engine: Engine
    engine_version: str
    topology: Topology
    replication_factor: int
    min_insync_replicas: int
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())
    clouds: list[Cloud]
    clusters: list[Cluster]
    brokers: list[Broker]
    stores: list[ObjectStore]
    links: list[Link]
    mirrors: list[MirrorMaker] = []
    hub: Hub | None = None  # topology hub only
    load_nodes: list[LoadNode] = []  # cloud targets: where the load runs (none: the operator's)
    security: Security = Security()  # an inventory from before it: off
    faults: list[Fault] = []

    # Lookups by name: each raises a RiftdrillError naming what exists, for CLI and drill users.
    def broker(self, name_or_id: str | int) -> Broker:
        for b in self.brokers:
            if str(b.id) == str(name_or_id) or b.name == name_or_id:
                return b
        names = ", ".join(b.name for b in self.brokers)
        raise RiftdrillError(f"no broker {name_or_id!r} in the inventory; brokers are: {names}")

    def cloud(self, name: str) -> Cloud:
        for c in self.clouds:
            if c.name == name:
                return c
        names = ", ".join(c.name for c in self.clouds)
        raise RiftdrillError(f"no cloud {name!r} in the inventory; clouds are: {names}")

    def store(self, name_or_cloud: str) -> ObjectStore:
        for s in self.stores:
            if name_or_cloud in (s.name, s.cloud):
                return s
        names = ", ".join(s.name for s in self.stores)
        raise RiftdrillError(f"no object store {name_or_cloud!r}; stores are: {names}")

    def load_node(self, cloud: str) -> LoadNode:
        for n in self.load_nodes:
            if n.cloud == cloud:
                return n
        names = ", ".join(n.cloud for n in self.load_nodes) or "none"
        raise RiftdrillError(f"no load VM in cloud {cloud!r} (clouds with one: {names}); "
                             "re-apply the env (`make deploy TARGET=aws-gcp`) to create it")

    def link(self, name: str | None = None) -> Link:
        for lk in self.links:
            if name in (None, lk.name):
                return lk
        names = ", ".join(lk.name for lk in self.links)
        raise RiftdrillError(f"no link {name!r} in the inventory; links are: {names}")

    def mirror(self, name: str = "") -> MirrorMaker:
        """A MirrorMaker 2 by name, or the first one for ""."""
        for m in self.mirrors:
            if name in ("", m.name):
                return m
        names = ", ".join(m.name for m in self.mirrors) or "none (deploy TOPOLOGY=per-cloud)"
        raise RiftdrillError(f"no MirrorMaker 2 {name!r} in the inventory; mirrors are: {names}")

    def mirror_from(self, cloud: str) -> MirrorMaker:
        """The MirrorMaker 2 that copies the cluster serving `cloud` to another cluster."""
        source = self.cluster_of(cloud).name
        for m in self.mirrors:
            if m.source == source:
                return m
        raise RiftdrillError(
            f"no MirrorMaker 2 copies cluster {source!r} (cloud {cloud}) to another cluster: this "
            f"lab is {self.engine} {self.topology}; deploy a cluster per cloud with "
            "`make deploy TOPOLOGY=per-cloud`")

    def require_hub(self) -> Hub:
        if self.hub is None:
            raise RiftdrillError(f"this lab is {self.engine} {self.topology}: it has no "
                                 "integration hub; deploy one with `make deploy TOPOLOGY=hub`")
        return self.hub

    def cluster_of(self, cloud: str) -> Cluster:
        for c in self.clusters:
            if cloud in c.clouds:
                return c
        raise RiftdrillError(f"no cluster serves cloud {cloud!r}")

    def bootstrap(self, cloud: str, cluster: str | None = None) -> str:
        """Bootstrap servers a client placed in `cloud` should use (its own cloud's brokers first)."""
        c = self.cluster_of(cloud) if cluster is None else self.cluster_named(cluster)
        return c.bootstrap.get(cloud) or next(iter(c.bootstrap.values()))

    def cluster_rf(self, name: str) -> tuple[int, int]:
        """(replication factor, min ISR) topics get in cluster `name`: the cluster's own, else
        the deploy's capped as infra/envs/local/main.tf caps them (cluster_rf, cluster_min_isr)."""
        c = self.cluster_named(name)
        rf = c.replication_factor or min(self.replication_factor, len(c.brokers))
        isr = c.min_insync_replicas or min(self.min_insync_replicas, max(1, rf - 1))
        return rf, isr

    def cluster_named(self, name: str) -> Cluster:
        for c in self.clusters:
            if c.name == name:
                return c
        names = ", ".join(c.name for c in self.clusters)
        raise RiftdrillError(f"no cluster {name!r}; clusters are: {names}")

    def brokers_in(self, cloud: str) -> list[Broker]:
        return [b for b in self.brokers if b.cloud == cloud]

    def faults_on(self, kind: FaultKind | Collection[FaultKind],
                  target: str | None = None) -> list[Fault]:
        """The recorded faults of one kind (or any of several) on `target` (None: any target)."""
        kinds = {kind} if isinstance(kind, str) else set(kind)
        return [f for f in self.faults if f.kind in kinds and target in (None, f.target)]


def load(path: Path | None = None) -> Inventory:
    """Read the inventory; a missing file means nothing is deployed."""
    p = path or paths.inventory_path()
    if not p.exists():
        raise NotDeployedError("nothing is deployed (no .riftdrill/inventory.json); run `make deploy`")
    try:
        data = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RiftdrillError(
            f"inventory {p} is unreadable ({exc}); run `riftdrill destroy` then `make deploy`"
        ) from exc
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise RiftdrillError(
            f"inventory schema {version} is not {SCHEMA_VERSION}; redeploy with this riftdrill"
        )
    return Inventory.model_validate(data)


def save(inv: Inventory, path: Path | None = None) -> None:
    """Write atomically (tmp + rename) so a reader never sees half a file."""
    p = path or paths.inventory_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".json.tmp")
    tmp.write_text(inv.model_dump_json(indent=2) + "\n")
    os.replace(tmp, p)


@contextlib.contextmanager
def locked(path: Path | None = None) -> Iterator[Inventory]:
    """Read-modify-write under an exclusive lock: concurrent fault primitives must not lose faults."""
    p = path or paths.inventory_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        inv = load(p)
        yield inv
        save(inv, p)
