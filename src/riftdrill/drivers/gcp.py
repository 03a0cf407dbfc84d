"""GCP fault primitives for target aws-gcp: GCE brokers, sever firewall rules, the HMAC key.

chaosgcp does suspend/resume; stop/start, the firewall switches and the HMAC key are what it
lacks. Credentials are Application Default Credentials. Broker handles are GCE resource paths
(projects/<p>/zones/<z>/instances/<name>), so every call knows its project and zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from chaosgcp.compute import actions as gce_actions
from google.cloud import compute_v1, storage  # type: ignore[attr-defined,unused-ignore]

from riftdrill.drivers.base import BrokerState
from riftdrill.errors import FaultError
from riftdrill.inventory import Broker, Direction, Inventory, ObjectStore

OPERATION_TIMEOUT_S = 300
_INSTANCE = re.compile(r"^projects/([^/]+)/zones/([^/]+)/instances/([^/]+)$")
_HMAC = re.compile(r"^projects/([^/]+)/hmacKeys/([^/]+)$")

_STATE = {
    "PROVISIONING": "running", "STAGING": "running", "RUNNING": "running",
    "REPAIRING": "running", "SUSPENDING": "paused", "SUSPENDED": "paused",
    "STOPPING": "dead", "STOPPED": "dead", "TERMINATED": "dead",
}


@dataclass(frozen=True)
class InstanceRef:
    project: str
    zone: str
    name: str


def instance_ref(broker: Broker) -> InstanceRef:
    m = _INSTANCE.match(broker.handle)
    if not m:
        raise FaultError(f"{broker.name}: handle {broker.handle!r} is not a GCE instance path")
    return InstanceRef(*m.groups())


# Client factories: one place for tests to substitute fakes (no GCP emulator covers Compute).
def instances_client() -> Any:
    return compute_v1.InstancesClient()


def firewalls_client() -> Any:
    return compute_v1.FirewallsClient()


def storage_client(project: str) -> Any:
    return storage.Client(project=project)


def _status(ref: InstanceRef) -> str:
    inst = instances_client().get(project=ref.project, zone=ref.zone, instance=ref.name)
    return str(inst.status)


def instance_labels(ref: InstanceRef) -> dict[str, str] | None:
    """The VM's labels (the guard reads them); None when the VM does not exist."""
    from google.api_core.exceptions import NotFound

    try:
        inst = instances_client().get(project=ref.project, zone=ref.zone, instance=ref.name)
    except NotFound:
        return None
    return dict(inst.labels)


def projects_of_handles(inv: Inventory) -> set[str]:
    """Every GCP project the inventory's GCP handles name (brokers' VMs, stores' HMAC keys):
    where the driver's calls act, so what the guard checks against the allow-list."""
    projects = {instance_ref(b).project for c in inv.clouds if c.provider == "gcp"
                for b in inv.brokers_in(c.name)}
    return projects | {hmac_ref(st)[0] for st in inv.stores
                       if inv.cloud(st.cloud).provider == "gcp"}


def broker_state(inv: Inventory, broker: Broker) -> BrokerState:
    status = _status(instance_ref(broker))
    state = _STATE.get(status)
    if state is None:
        raise FaultError(f"{broker.name}: unexpected GCE status {status}")
    return state  # type: ignore[return-value]


def kill_broker(inv: Inventory, broker: Broker) -> None:
    """Stop the VM (boot disk kept). GCE has no forced stop: the OS gets its shutdown signal."""
    ref = instance_ref(broker)
    if _STATE.get(_status(ref)) == "dead":
        return
    op = instances_client().stop(project=ref.project, zone=ref.zone, instance=ref.name)
    op.result(timeout=OPERATION_TIMEOUT_S)


def start_broker(inv: Inventory, broker: Broker) -> None:
    ref = instance_ref(broker)
    status = _status(ref)
    if _STATE.get(status) == "running":
        return
    if _STATE.get(status) == "paused":
        resume_broker(inv, broker)
        return
    op = instances_client().start(project=ref.project, zone=ref.zone, instance=ref.name)
    op.result(timeout=OPERATION_TIMEOUT_S)


def pause_broker(inv: Inventory, broker: Broker) -> None:
    """Suspend the VM: memory kept, the broker frozen mid-flight (the gray failure)."""
    ref = instance_ref(broker)
    if _STATE.get(_status(ref)) == "paused":
        return
    gce_actions.suspend_vm_instance(project_id=ref.project, zone=ref.zone, instance_name=ref.name)


def resume_broker(inv: Inventory, broker: Broker) -> None:
    ref = instance_ref(broker)
    if _STATE.get(_status(ref)) != "paused":
        return
    gce_actions.resume_vm_instance(project_id=ref.project, zone=ref.zone, instance_name=ref.name)


################################################################################
# Link: the disabled deny firewall rules of the gcp-cluster module
################################################################################

def sever_rules(link: str, directions: set[Direction], gcp_is_a: bool) -> dict[str, bool]:
    """Firewall rule name -> enabled, for the severed directions ("a-to-b": packets a -> b)."""
    out_dir, in_dir = ("a-to-b", "b-to-a") if gcp_is_a else ("b-to-a", "a-to-b")
    return {
        f"{link}-sever-in": "both" in directions or in_dir in directions,
        f"{link}-sever-out": "both" in directions or out_dir in directions,
    }


def project_of(inv: Inventory, cloud: str) -> str:
    for b in inv.brokers_in(cloud):
        m = _INSTANCE.match(b.handle)
        if m:
            return m.group(1)
    raise FaultError(f"no GCE broker in cloud {cloud!r} tells the project; redeploy")


def sync_link(inv: Inventory, link: str, gcp_cloud: str, directions: set[Direction]) -> None:
    project = project_of(inv, gcp_cloud)
    fw = firewalls_client()
    for name, enabled in sever_rules(link, directions, inv.link(link).a == gcp_cloud).items():
        current = fw.get(project=project, firewall=name)
        if bool(current.disabled) == (not enabled):
            continue
        op = fw.patch(project=project, firewall=name,
                      firewall_resource=compute_v1.Firewall(disabled=not enabled))
        op.result(timeout=OPERATION_TIMEOUT_S)


################################################################################
# Object store: AutoMQ reaches GCS with an HMAC key; blocking deactivates it
################################################################################

def hmac_ref(store: ObjectStore) -> tuple[str, str]:
    """(project, access id) of a GCS store's HMAC key handle `projects/<p>/hmacKeys/<id>`."""
    m = _HMAC.match(store.handle)
    if not m:
        raise FaultError(f"store {store.name}: handle {store.handle!r} is not "
                         "projects/<p>/hmacKeys/<id>")
    return m.group(1), m.group(2)


def sync_store(inv: Inventory, store: str, blocked: bool) -> None:
    """Deactivate (blocked) or re-activate the nodes' HMAC key.

    GCS applies HMAC state changes within seconds to a few minutes; drills measure from the
    first failed request, not from this call.
    """
    project, access_id = hmac_ref(inv.store(store))
    key = storage_client(project).get_hmac_key_metadata(access_id, project_id=project)
    want = "INACTIVE" if blocked else "ACTIVE"
    if key.state != want:
        key.state = want
        key.update()
