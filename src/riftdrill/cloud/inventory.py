"""Build the inventory of target "aws-gcp" from `terraform output -json` of infra/envs/aws-gcp.

The env's `riftdrill` output carries everything; see infra/envs/aws-gcp/outputs.tf. Handles
the drivers rely on:
- broker: EC2 instance id, or the GCE resource path
  `projects/<p>/zones/<z>/instances/<name>`;
- load node: the VM `riftdrill load` runs on in each cloud (riftdrill.load.remote):
  EC2 instance id (SSM) or GCE resource path (IAP), and its carrier bucket prefix;
- store: AWS = the nodes' IAM role ARN (the principal a block denies),
  GCP = `projects/<p>/hmacKeys/<access id>` (the key a block deactivates); an AWS store's
  `outage_template` is the FIS template its block runs instead (timeouts, not 403s), a GCP
  store's `outage_firewall` the egress deny rule its block enables instead.
"""

from __future__ import annotations

from typing import Any, Literal, cast

from pydantic import BaseModel, ValidationError

from riftdrill.errors import RiftdrillError
from riftdrill.inventory import (
    Broker,
    Cloud,
    CloudEngine,
    Cluster,
    Inventory,
    Link,
    LoadNode,
    LoadTransport,
    ObjectStore,
    Topology,
)


class _Node(BaseModel):
    name: str
    node_id: int
    roles: Literal["broker", "controller", "broker,controller"]
    zone: str
    address: str
    port: int
    handle: str


class _Store(BaseModel):
    api: Literal["s3", "gcs"]
    endpoint: str
    buckets: list[str]
    handle: str
    outage_template: str = ""  # aws: the FIS store-outage template (fault-reaper-aws)
    outage_firewall: str = ""  # gcp: the store-outage deny rule (gcp-cluster)


class _LoadNode(BaseModel):
    name: str
    handle: str
    address: str
    transport: LoadTransport
    carrier: str


class _Cloud(BaseModel):
    provider: Literal["aws", "gcp"]
    account_id: str
    region: str
    cidr: str
    nodes: list[_Node]
    bootstrap: str
    store: _Store
    sever: dict[str, Any]
    load_node: _LoadNode | None = None  # an output from before the load VMs: none


class _Link(BaseModel):
    name: str
    a: str
    b: str


class _Outputs(BaseModel):
    target: Literal["aws-gcp"]
    engine: CloudEngine
    engine_version: str
    topology: Topology
    replication_factor: int
    min_insync_replicas: int
    kafka_port: int
    controller_port: int
    clouds: dict[str, _Cloud]
    link: _Link


def parse_outputs(outputs: dict[str, Any]) -> _Outputs:
    """The `riftdrill` output, from `terraform output -json` (or its bare value)."""
    raw = outputs.get("riftdrill", outputs)
    if isinstance(raw, dict) and "value" in raw and "type" in raw:
        raw = raw["value"]
    if not raw:
        raise RiftdrillError(
            "terraform state of aws-gcp has no `riftdrill` output (partial apply?); "
            "run `riftdrill status`, then `make deploy TARGET=aws-gcp` again or `riftdrill destroy`"
        )
    try:
        return _Outputs.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RiftdrillError(f"aws-gcp output `riftdrill.{where}`: {first['msg']}") from exc


def account_ids(outputs: dict[str, Any]) -> dict[str, str]:
    """Cloud name -> AWS account id / GCP project id (what the guard checks)."""
    return {name: c.account_id for name, c in parse_outputs(outputs).clouds.items()}


def inventory_from_outputs(outputs: dict[str, Any]) -> Inventory:
    out = parse_outputs(outputs)
    clouds: list[Cloud] = []
    brokers: list[Broker] = []
    stores: list[ObjectStore] = []
    load_nodes: list[LoadNode] = []
    for name, c in out.clouds.items():
        clouds.append(Cloud(name=name, provider=c.provider, cidr=c.cidr, region=c.region))
        cluster = "main" if out.topology == "stretched" else name
        for n in c.nodes:
            roles = cast(list[Literal["broker", "controller"]], n.roles.split(","))
            controller_port = out.controller_port if "controller" in roles else None
            # Inventory names are short and cloud-prefixed like the lab's ("aws-broker-1").
            short = n.name.split(f"-{name}-", 1)[-1]
            brokers.append(Broker(
                id=n.node_id, name=f"{name}-{short}", cloud=name, cluster=cluster,
                address=n.address, port=n.port, roles=roles,
                controller_port=controller_port, handle=n.handle,
            ))
        if c.load_node is not None:
            load_nodes.append(LoadNode(cloud=name, **c.load_node.model_dump()))
        host, _, port = c.store.endpoint.removeprefix("https://").partition(":")
        stores.append(ObjectStore(
            name=f"{name}-{c.store.api}", cloud=name, api=c.store.api, endpoint=c.store.endpoint,
            address=host, port=int(port or 443), buckets=c.store.buckets, handle=c.store.handle,
            outage_template=c.store.outage_template, outage_firewall=c.store.outage_firewall,
        ))
    brokers.sort(key=lambda b: b.id)
    return Inventory(
        target="aws-gcp", engine=out.engine, engine_version=out.engine_version,
        topology=out.topology, replication_factor=out.replication_factor,
        min_insync_replicas=out.min_insync_replicas, clouds=clouds,
        clusters=_clusters(out, brokers), brokers=brokers, stores=stores,
        links=[Link(name=out.link.name, a=out.link.a, b=out.link.b)], load_nodes=load_nodes,
    )


def _clusters(out: _Outputs, brokers: list[Broker]) -> list[Cluster]:
    def serving(cloud_names: list[str]) -> list[int]:
        return [b.id for b in brokers if b.cloud in cloud_names and "broker" in b.roles]

    if out.topology == "stretched":
        names = list(out.clouds)
        return [Cluster(name="main", clouds=names, brokers=serving(names),
                        bootstrap={n: c.bootstrap for n, c in out.clouds.items()})]
    return [Cluster(name=n, clouds=[n], brokers=serving([n]), bootstrap={n: c.bootstrap})
            for n, c in out.clouds.items()]
