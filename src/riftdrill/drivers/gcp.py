"""GCP fault primitives for target aws-gcp: GCE brokers, the sever and store-outage firewall
rules, the HMAC key.

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

from riftdrill.cloud import reaper
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


def set_deadline(ref: InstanceRef, deadline_s: int | None) -> None:
    """The VM's riftdrill-expires-at label set (None: removed), the others kept."""
    client = instances_client()
    inst = client.get(project=ref.project, zone=ref.zone, instance=ref.name)
    labels = dict(inst.labels)
    if deadline_s is None:
        if labels.pop(reaper.GCP_EXPIRES_LABEL, None) is None:
            return
    else:
        labels[reaper.GCP_EXPIRES_LABEL] = str(deadline_s)
    op = client.set_labels(project=ref.project, zone=ref.zone, instance=ref.name,
                           instances_set_labels_request_resource=compute_v1.InstancesSetLabelsRequest(
                               labels=labels, label_fingerprint=inst.label_fingerprint))
    op.result(timeout=OPERATION_TIMEOUT_S)


def kill_broker(inv: Inventory, broker: Broker, deadline_s: int) -> None:
    """Stop the VM (boot disk kept), labelled with its deadline first (the reaper starts it
    after that). GCE has no forced stop: the OS gets its shutdown signal."""
    ref = instance_ref(broker)
    set_deadline(ref, deadline_s)
    if _STATE.get(_status(ref)) == "dead":
        return
    op = instances_client().stop(project=ref.project, zone=ref.zone, instance=ref.name)
    op.result(timeout=OPERATION_TIMEOUT_S)


def start_broker(inv: Inventory, broker: Broker) -> None:
    ref = instance_ref(broker)
    status = _status(ref)
    if _STATE.get(status) == "paused":
        resume_broker(inv, broker)
        return
    if _STATE.get(status) != "running":
        op = instances_client().start(project=ref.project, zone=ref.zone, instance=ref.name)
        op.result(timeout=OPERATION_TIMEOUT_S)
    set_deadline(ref, None)  # also when already running (the reaper started it)


def pause_broker(inv: Inventory, broker: Broker, deadline_s: int) -> None:
    """Suspend the VM: memory kept, the broker frozen mid-flight (the gray failure); labelled
    with its deadline first (the reaper resumes it after that)."""
    ref = instance_ref(broker)
    set_deadline(ref, deadline_s)
    if _STATE.get(_status(ref)) == "paused":
        return
    gce_actions.suspend_vm_instance(project_id=ref.project, zone=ref.zone, instance_name=ref.name)


def resume_broker(inv: Inventory, broker: Broker) -> None:
    ref = instance_ref(broker)
    if _STATE.get(_status(ref)) == "paused":
        gce_actions.resume_vm_instance(project_id=ref.project, zone=ref.zone,
                                       instance_name=ref.name)
    set_deadline(ref, None)


################################################################################
# Link: the disabled deny firewall rules of the gcp-cluster module
################################################################################

def sever_rules(link: str, directions: set[Direction], gcp_is_a: bool) -> dict[str, bool]:
    """Firewall rule name -> enabled, for the severed directions ("a-to-b": packets a -> b)."""
    return {name: d is not None
            for name, d in rule_deadlines(link, dict.fromkeys(directions, 0), gcp_is_a).items()}


def rule_deadlines(link: str, deadlines: dict[Direction, int], gcp_is_a: bool
                   ) -> dict[str, int | None]:
    """Firewall rule name -> the latest deadline of the severed directions that need it
    enabled (None: disabled)."""
    out_dir, in_dir = ("a-to-b", "b-to-a") if gcp_is_a else ("b-to-a", "a-to-b")
    out: dict[str, int | None] = {}
    for name, own in ((f"{link}-sever-in", in_dir), (f"{link}-sever-out", out_dir)):
        needed = [d for direction, d in deadlines.items() if direction in ("both", own)]
        out[name] = max(needed) if needed else None
    return out


def project_of(inv: Inventory, cloud: str) -> str:
    for b in inv.brokers_in(cloud):
        m = _INSTANCE.match(b.handle)
        if m:
            return m.group(1)
    raise FaultError(f"no GCE broker in cloud {cloud!r} tells the project; redeploy")


def sync_link(inv: Inventory, link: str, gcp_cloud: str,
              deadlines: dict[Direction, int]) -> None:
    """Enable exactly the rules the severed directions need, each rule's latest deadline at
    the end of its description (rules carry no labels), in the same patch."""
    project = project_of(inv, gcp_cloud)
    fw = firewalls_client()
    for name, deadline in rule_deadlines(link, deadlines, inv.link(link).a == gcp_cloud).items():
        set_rule(fw, project, name, deadline)


def set_rule(fw: Any, project: str, name: str, deadline_s: int | None) -> None:
    """A deny rule enabled until `deadline_s`, the deadline at the end of its description, in
    one patch (None: disabled, the marker removed); no call when it already is so."""
    current = fw.get(project=project, firewall=name)
    description = reaper.with_deadline(current.description, deadline_s)
    if bool(current.disabled) == (deadline_s is None) and current.description == description:
        return
    op = fw.patch(project=project, firewall=name,
                  firewall_resource=compute_v1.Firewall(disabled=deadline_s is None,
                                                        description=description))
    op.result(timeout=OPERATION_TIMEOUT_S)


################################################################################
# Object store: an egress deny to GCS's private VIP (timeouts), or, in a deployment without
# it, the HMAC key AutoMQ reaches GCS with deactivated (403s)
################################################################################

def hmac_ref(store: ObjectStore) -> tuple[str, str]:
    """(project, access id) of a GCS store's HMAC key handle `projects/<p>/hmacKeys/<id>`."""
    m = _HMAC.match(store.handle)
    if not m:
        raise FaultError(f"store {store.name}: handle {store.handle!r} is not "
                         "projects/<p>/hmacKeys/<id>")
    return m.group(1), m.group(2)


def sync_store(inv: Inventory, store: str, deadline_s: int | None) -> None:
    """Take GCS away from the nodes until `deadline_s` (None: give it back): the store's
    outage rule (gcp-cluster's store_outage firewall: requests to GCS time out, as in an
    outage) when the deployment has one, else the HMAC key."""
    st = inv.store(store)
    if st.outage_firewall:
        set_rule(firewalls_client(), hmac_ref(st)[0], st.outage_firewall, deadline_s)
    else:
        sync_hmac_key(st, deadline_s)


def sync_hmac_key(st: ObjectStore, deadline_s: int | None) -> None:
    """Deactivate the nodes' HMAC key until `deadline_s` (None: re-activate it). HMAC keys
    carry no labels: the deadline is the marker object `riftdrill/expiry/hmac-<access id>` in
    the store's ops bucket, written before the key is deactivated, deleted after it is active.

    GCS applies HMAC state changes within seconds to a few minutes; drills measure from the
    first failed request, not from this call.
    """
    project, access_id = hmac_ref(st)
    client = storage_client(project)
    marker = client.bucket(st.buckets[-1]).blob(f"{reaper.HMAC_MARKER_PREFIX}{access_id}")
    if deadline_s is not None:
        marker.upload_from_string(str(deadline_s), content_type="text/plain")
    key = client.get_hmac_key_metadata(access_id, project_id=project)
    want = "INACTIVE" if deadline_s is not None else "ACTIVE"
    if key.state != want:
        key.state = want
        key.update()
    if deadline_s is None and marker.exists():
        marker.delete()
