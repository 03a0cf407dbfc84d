"""Lab components as Terraform sees them: each has `up` and `down`, both idempotent.

infra/envs/local declares one terraform_data resource per component whose create / destroy
provisioners run `python -m riftdrill.lab up|down <kind>` with the component's spec (JSON, in
RIFTDRILL_SPEC). `up` on a component that already exists rebuilds it, so a deploy interrupted
by Ctrl-C is finished by the next one.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from riftdrill import paths
from riftdrill.engines import kafka
from riftdrill.errors import LabError
from riftdrill.inventory import Security
from riftdrill.lab import hubparts, net, procs, stores, wan
from riftdrill.security.client import client_security

Spec = dict[str, Any]


def _owner() -> str:
    return str(paths.state_dir())


def _cloud(spec: Spec) -> net.CloudNet:
    return net.CloudNet(name=spec["name"], namespace=spec["namespace"], cidr=spec["cidr"],
                        index=int(spec["index"]))


def cloud_up(spec: Spec) -> None:
    net.cloud_up(_cloud(spec), _owner())


def cloud_down(spec: Spec) -> None:
    net.cloud_down(_cloud(spec))


def wan_proc(link: str) -> str:
    return f"wan-{link}"


def wan_socket(link: str) -> Path:
    return paths.lab_dir() / f"wan-{link}.sock"


def link_up(spec: Spec) -> None:
    """The router namespace, and the link's weather (lab/wan.py): the emulator runs whenever
    the profile asks for any latency, jitter, loss or rate limit."""
    a, b = _cloud(spec["a"]), _cloud(spec["b"])
    text = str(spec.get("wan") or wan.DEFAULT_PROFILE)
    profile = wan.parse_profile(text)
    name = str(spec["name"])
    procs.stop(wan_proc(name), grace_s=2)
    net.link_up(a, b, _owner())
    status = paths.lab_dir() / "links" / f"{name}.json"
    status.parent.mkdir(parents=True, exist_ok=True)
    if profile.emulated:
        net.wan_tun_up(a, b)
        sock = wan_socket(name)
        procs.start(procs.ProcSpec(name=wan_proc(name), namespace=net.WAN_NS, argv=[
            str(wan.binary()), "-tun", net.WAN_TUN, "-control", str(sock), "-a", a.cidr,
            "-b", b.cidr, "-profile", json.dumps(profile.both())]))
        wan.wait_socket(sock)
    status.write_text(json.dumps({"profile": text, **profile.to_json(),
                                  "emulated": profile.emulated}) + "\n")


def link_down(spec: Spec) -> None:
    a, b = _cloud(spec["a"]), _cloud(spec["b"])
    procs.stop(wan_proc(str(spec["name"])), grace_s=2)
    net.wan_tun_down(a, b)
    net.link_down(a, b)


def _store(spec: Spec) -> stores.StoreSpec:
    return stores.StoreSpec(name=spec["name"], cloud=spec["cloud"], namespace=spec["namespace"],
                            api=spec["api"], address=spec["address"], port=int(spec["port"]),
                            buckets=list(spec["buckets"]), s3_port=int(spec.get("s3_port") or 0),
                            server=str(spec.get("server") or "moto"))


def store_up(spec: Spec) -> None:
    main = _store(spec)
    servers = _servers(main)
    for st in servers:
        procs.stop(st.proxy_name, grace_s=2)
        procs.stop(st.proc_name, grace_s=2)
    net.add_host_address(main.namespace, main.address)
    for st in servers:
        procs.start(procs.ProcSpec(name=st.proc_name, namespace=st.namespace, argv=stores.argv(st)))
        stores.wait_listening(st.address, st.server_port, st.proc_name, timeout_s=60)
        # Clients reach the server through its weather proxy (transparent until a brownout).
        procs.start(procs.ProcSpec(name=st.proxy_name, namespace=st.namespace,
                                   argv=stores.proxy_argv(st)))
        stores.wait_listening(st.address, st.port, st.proxy_name, timeout_s=30)
        stores.create_buckets(st)


def _servers(main: stores.StoreSpec) -> list[stores.StoreSpec]:
    """The store's server, and the S3 interoperability server beside it if it has one."""
    interop = main.s3_interop()
    return [main] if interop is None else [main, interop]


def store_down(spec: Spec) -> None:
    main = _store(spec)
    for st in reversed(_servers(main)):
        procs.stop(st.proxy_name, grace_s=2)
        procs.stop(st.proc_name, grace_s=2)
    net.remove_host_address(main.namespace, main.address)


def security_of(spec: Spec) -> Security:
    """The inventory's security block, which Terraform gives every component that connects
    (absent: off)."""
    return Security.model_validate(spec.get("security") or {})


def _node(spec: Spec) -> kafka.KafkaNode:
    sec = security_of(spec)
    return kafka.KafkaNode(
        name=spec["name"], node_id=int(spec["id"]), cloud=spec["cloud"], cluster=spec["cluster"],
        address=spec["address"], port=int(spec["port"]),
        controller_port=int(spec["controller_port"]), roles=list(spec["roles"]),
        voters=spec["voters"],
        settings=kafka.KafkaSettings(replication_factor=int(spec["replication_factor"]),
                                     min_insync_replicas=int(spec["min_insync_replicas"]),
                                     num_partitions=int(spec.get("partitions", 6))),
        heap_mb=int(spec.get("heap_mb", 512)),
        security=sec.mode, secrets_dir=sec.secrets_dir,
    )


def broker_proc(name: str) -> str:
    return f"broker-{name}"


def broker_up(spec: Spec) -> None:
    engine = spec.get("engine", "kafka")
    if engine == "tansu":
        _tansu_broker_up(spec)
        return
    if engine != "kafka":
        raise LabError(f"engine {engine!r} has no lab broker; engines: kafka, tansu")
    node = _node(spec)
    name = broker_proc(node.name)
    procs.stop(name, grace_s=5)
    net.add_host_address(spec["namespace"], node.address)
    argv = kafka.prepare(node, sans=[node.name])
    procs.start(procs.ProcSpec(name=name, namespace=spec["namespace"], argv=argv))
    # A combined node listens once the quorum has formed, which needs its peers: they start in
    # parallel (Terraform runs these resources concurrently), so waiting here is safe.
    port = node.port if "broker" in node.roles else node.controller_port
    stores.wait_listening(node.address, port, name, timeout_s=float(spec.get("timeout_s", 150)))


def _tansu_broker_up(spec: Spec) -> None:
    from riftdrill.engines import tansu

    node = tansu.TansuNode(name=spec["name"], cloud=spec["cloud"], cluster=spec["cluster"],
                           address=spec["address"], port=int(spec["port"]), bucket=spec["bucket"],
                           s3_endpoint=spec["s3_endpoint"])
    name = broker_proc(node.name)
    procs.stop(name, grace_s=5)
    argv = tansu.argv()
    env = tansu.render_env(node)
    tansu.check_conditional_writes(node.s3_endpoint, node.bucket, stores.LAB_S3_KEY,
                                   stores.LAB_S3_SECRET)
    net.add_host_address(spec["namespace"], node.address)
    env |= {"AWS_ACCESS_KEY_ID": stores.LAB_S3_KEY, "AWS_SECRET_ACCESS_KEY": stores.LAB_S3_SECRET}
    procs.start(procs.ProcSpec(name=name, namespace=spec["namespace"], argv=argv, env=env))
    stores.wait_listening(node.address, node.port, name, timeout_s=float(spec.get("timeout_s", 60)))
    ensure_durable(name)


STORAGE_LINE_WAIT_S = 15.0


def ensure_durable(proc_name: str) -> None:
    """Stop a Tansu broker that came up on anything but its S3 bucket.

    Only this start's output counts, and Tansu may accept connections before it prints its
    `storage:` line (a replaced broker once was refused for it): wait for the line a while.
    """
    from riftdrill.engines import tansu

    deadline = time.monotonic() + STORAGE_LINE_WAIT_S
    while True:
        since_start = procs.tail(proc_name, 400).rsplit(procs.START_MARKER, 1)[-1]
        printed = any(ln.startswith("storage: ") for ln in since_start.splitlines())
        if printed or time.monotonic() > deadline or procs.state(proc_name) == "dead":
            break
        time.sleep(0.2)
    try:
        tansu.check_durable(proc_name, since_start)
    except LabError:
        procs.stop(proc_name, grace_s=0)
        raise


def broker_down(spec: Spec) -> None:
    procs.stop(broker_proc(spec["name"]), grace_s=float(spec.get("grace_s", 10)))
    net.remove_host_address(spec["namespace"], spec["address"])


def _mirror(spec: Spec) -> kafka.MirrorSpec:
    return kafka.MirrorSpec(
        name=spec["name"], source_name=spec["source"], source_bootstrap=spec["source_bootstrap"],
        target_name=spec["target"], target_bootstrap=spec["target_bootstrap"],
        topics=spec["topics"], replication_factor=int(spec["replication_factor"]),
        security=client_security(security_of(spec), "mirrormaker"),
    )


def mirror_up(spec: Spec) -> None:
    mm = _mirror(spec)
    name = f"mirror-{mm.name}"
    procs.stop(name, grace_s=5)
    procs.start(procs.ProcSpec(name=name, namespace=spec["namespace"], argv=kafka.prepare_mirror(mm)))
    time.sleep(2)
    if procs.state(name) == "dead":
        raise LabError(f"MirrorMaker {mm.name} exited while starting; log tail:\n{procs.tail(name)}")


def mirror_down(spec: Spec) -> None:
    procs.stop(f"mirror-{spec['name']}", grace_s=5)


def ready_up(spec: Spec) -> None:
    """Every broker of every cluster registered, and a produce/consume round trip succeeds;
    with security on, every principal's ACLs are created first (security/acls.py, the plan
    in the spec), so the parts after `ready` (MirrorMaker 2, Connect) find them."""
    from riftdrill.lab import health
    from riftdrill.security import acls

    sec = security_of(spec)
    admin = client_security(sec, "broker")  # the super user
    hub = spec.get("hub")
    plan = [acl for role_acls in acls.acl_plan(
        sec, list(spec.get("mirror_sources") or []),
        acls.HubNames(str(hub["group"]), str(hub["topic_prefix"])) if hub else None).values()
        for acl in role_acls]
    for cluster in spec["clusters"]:
        if spec.get("engine") == "tansu":
            # Stateless brokers share one log in the bucket: each must serve a round trip alone.
            for server in cluster["bootstrap"].split(","):
                health.round_trip(server, 1, timeout_s=float(spec.get("timeout_s", 60)))
            continue
        health.wait_cluster_ready(cluster["bootstrap"], [int(i) for i in cluster["broker_ids"]],
                                  replication_factor=int(cluster["replication_factor"]),
                                  timeout_s=float(spec.get("timeout_s", 120)), security=admin)
        acls.create_acls(cluster["bootstrap"], admin, plan)


def ready_down(spec: Spec) -> None:
    return None


ACTIONS = {
    ("up", "cloud"): cloud_up, ("down", "cloud"): cloud_down,
    ("up", "link"): link_up, ("down", "link"): link_down,
    ("up", "store"): store_up, ("down", "store"): store_down,
    ("up", "broker"): broker_up, ("down", "broker"): broker_down,
    ("up", "mirror"): mirror_up, ("down", "mirror"): mirror_down,
    ("up", "ready"): ready_up, ("down", "ready"): ready_down,
    **hubparts.ACTIONS,
}
