"""GCP side of the cloud driver with stub Compute and Storage clients.

No emulator covers Compute Engine and there is no network here, so the clients are replaced by
small fakes that keep state like the API does; the tests assert on that state. The driver's
guard is stubbed out here (it also asks AWS who the caller is): test_cloud_guard.py tests it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from chaosgcp.compute import actions as gce_actions

from riftdrill.cloud import reaper
from riftdrill.drivers import cloud, gcp
from riftdrill.drivers.cloud import CloudDriver
from riftdrill.errors import FaultError
from riftdrill.inventory import Broker, Cloud, Cluster, Fault, Inventory, Link, ObjectStore

PROJECT = "rd-drills-1234"
ZONE = "europe-west1-b"
LINK = "rd-aws-gcp"


class _Op:
    def result(self, timeout: float | None = None) -> None:
        return None

    error_code = None


@dataclass
class _Instance:
    name: str = "rd-gcp-broker-1"
    status: str = "RUNNING"
    labels: dict[str, str] = field(default_factory=lambda: {"riftdrill-drill-target": "true",
                                                            "riftdrill-deployment": "rd"})
    zone: str = f"https://www.googleapis.com/compute/v1/projects/{PROJECT}/zones/{ZONE}"
    label_fingerprint: str = "fp"


class FakeInstances:
    def __init__(self) -> None:
        self.vms: dict[str, _Instance] = {}
        self.calls: list[str] = []

    def get(self, project: str, zone: str, instance: str) -> _Instance:
        assert (project, zone) == (PROJECT, ZONE)
        return self.vms[instance]

    def _set(self, verb: str, instance: str, status: str) -> _Op:
        self.calls.append(f"{verb} {instance}")
        self.vms[instance].status = status
        return _Op()

    def stop(self, project: str, zone: str, instance: str) -> _Op:
        return self._set("stop", instance, "TERMINATED")

    def start(self, project: str, zone: str, instance: str) -> _Op:
        return self._set("start", instance, "RUNNING")

    def suspend(self, project: str, zone: str, instance: str) -> _Op:
        return self._set("suspend", instance, "SUSPENDED")

    def resume(self, project: str, zone: str, instance: str) -> _Op:
        return self._set("resume", instance, "RUNNING")

    def set_labels(self, project: str, zone: str, instance: str,
                   instances_set_labels_request_resource: Any) -> _Op:
        req = instances_set_labels_request_resource
        assert req.label_fingerprint == self.vms[instance].label_fingerprint
        self.vms[instance].labels = dict(req.labels)
        return _Op()

    def aggregated_list(self, request: dict[str, Any]) -> list[tuple[str, Any]]:
        assert request["project"] == PROJECT
        return [(f"zones/{ZONE}", SimpleNamespace(instances=list(self.vms.values())))]


@dataclass
class _Firewall:
    disabled: bool = True
    description: str = "riftdrill link-sever drill (ingress)"


class FakeFirewalls:
    def __init__(self) -> None:
        self.rules = {f"{LINK}-sever-in": _Firewall(), f"{LINK}-sever-out": _Firewall()}
        self.patches = 0

    def get(self, project: str, firewall: str) -> _Firewall:
        assert project == PROJECT
        return self.rules[firewall]

    def patch(self, project: str, firewall: str, firewall_resource: Any) -> _Op:
        self.patches += 1
        self.rules[firewall].disabled = bool(firewall_resource.disabled)
        self.rules[firewall].description = str(firewall_resource.description)
        return _Op()


class FakeHmacKey:
    def __init__(self) -> None:
        self.state = "ACTIVE"
        self.saved_state = "ACTIVE"

    def update(self) -> None:
        self.saved_state = self.state


class FakeBlob:
    def __init__(self, objects: dict[str, str], name: str) -> None:
        self.objects, self.name = objects, name

    def upload_from_string(self, data: str, content_type: str = "") -> None:
        self.objects[self.name] = data

    def download_as_text(self) -> str:
        return self.objects[self.name]

    def exists(self) -> bool:
        return self.name in self.objects

    def delete(self) -> None:
        del self.objects[self.name]


class FakeBucket:
    def __init__(self, objects: dict[str, str]) -> None:
        self.objects = objects

    def blob(self, name: str) -> FakeBlob:
        return FakeBlob(self.objects, name)


class FakeStorage:
    """The HMAC key, and the objects of the ops bucket (where block markers go)."""

    def __init__(self) -> None:
        self.key = FakeHmacKey()
        self.objects: dict[str, dict[str, str]] = {"rd-gcp-ops-1a2b": {}}

    def get_hmac_key_metadata(self, access_id: str, project_id: str) -> FakeHmacKey:
        assert (access_id, project_id) == ("GOOG1EXAMPLE", PROJECT)
        return self.key

    def bucket(self, name: str) -> FakeBucket:
        return FakeBucket(self.objects[name])

    def list_blobs(self, bucket: str, prefix: str = "") -> list[FakeBlob]:
        return [FakeBlob(self.objects[bucket], n) for n in sorted(self.objects[bucket])
                if n.startswith(prefix)]


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    instances, firewalls, store = FakeInstances(), FakeFirewalls(), FakeStorage()
    instances.vms["rd-gcp-broker-1"] = _Instance()
    monkeypatch.setattr(gcp, "instances_client", lambda: instances)
    monkeypatch.setattr(gcp, "firewalls_client", lambda: firewalls)
    monkeypatch.setattr(gcp, "storage_client", lambda project: store)
    # chaosgcp builds its own InstancesClient and waits on the operation: point both at the fake.
    monkeypatch.setattr(gce_actions.compute_v1, "InstancesClient", lambda credentials=None: instances)
    monkeypatch.setattr(gce_actions, "wait_on_extended_operation", lambda op: None)
    monkeypatch.setattr(cloud, "check_deployment", lambda inv: None)
    return {"instances": instances, "firewalls": firewalls, "storage": store}


def _inventory() -> Inventory:
    return Inventory(
        target="aws-gcp", engine="automq", engine_version="1.5.5", topology="per-cloud",
        replication_factor=1, min_insync_replicas=1,
        clouds=[Cloud(name="aws", provider="aws", cidr="10.40.0.0/16", region="eu-west-1"),
                Cloud(name="gcp", provider="gcp", cidr="10.50.0.0/20", region="europe-west1")],
        clusters=[Cluster(name="gcp", clouds=["gcp"], brokers=[111],
                          bootstrap={"gcp": "10.50.0.20:9092"})],
        brokers=[Broker(id=111, name="gcp-broker-1", cloud="gcp", cluster="gcp",
                        address="10.50.0.20", port=9092, roles=["broker"],
                        handle=f"projects/{PROJECT}/zones/{ZONE}/instances/rd-gcp-broker-1")],
        stores=[ObjectStore(name="gcp-gcs", cloud="gcp", api="gcs",
                            endpoint="https://storage.googleapis.com",
                            address="storage.googleapis.com", port=443,
                            buckets=["rd-gcp-data-1a2b", "rd-gcp-ops-1a2b"],
                            handle=f"projects/{PROJECT}/hmacKeys/GOOG1EXAMPLE")],
        links=[Link(name=LINK, a="aws", b="gcp")],
    )


def test_kill_start_pause_resume_drive_the_vm(fakes: dict[str, Any]) -> None:
    inv, drv = _inventory(), CloudDriver()
    broker = inv.brokers[0]
    vm = fakes["instances"].vms["rd-gcp-broker-1"]
    drv.kill_broker(inv, broker)
    assert vm.status == "TERMINATED" and drv.broker_state(inv, broker) == "dead"
    drv.kill_broker(inv, broker)  # idempotent: no second stop
    drv.start_broker(inv, broker)
    assert drv.broker_state(inv, broker) == "running"
    drv.pause_broker(inv, broker)  # through chaosgcp's suspend_vm_instance
    assert vm.status == "SUSPENDED" and drv.broker_state(inv, broker) == "paused"
    drv.start_broker(inv, broker)  # start of a paused broker resumes it
    assert drv.broker_state(inv, broker) == "running"
    assert fakes["instances"].calls == ["stop rd-gcp-broker-1", "start rd-gcp-broker-1",
                                        "suspend rd-gcp-broker-1", "resume rd-gcp-broker-1"]


def test_sync_link_enables_exactly_the_severed_directions(fakes: dict[str, Any],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from riftdrill.drivers import aws

    monkeypatch.setattr(aws, "sync_link", lambda *a: None)
    inv, drv = _inventory(), CloudDriver()
    rules = fakes["firewalls"].rules

    def enabled() -> set[str]:
        return {n.removeprefix(f"{LINK}-") for n, r in rules.items() if not r.disabled}

    inv.faults.append(Fault(id="s1", kind="sever_link", target=LINK, direction="a-to-b"))
    drv.sync_link(inv, LINK)
    assert enabled() == {"sever-in"}  # aws -> gcp dropped on arrival in gcp
    inv.faults.append(Fault(id="s2", kind="sever_link", target=LINK, direction="b-to-a"))
    drv.sync_link(inv, LINK)
    assert enabled() == {"sever-in", "sever-out"}
    patches = fakes["firewalls"].patches
    drv.sync_link(inv, LINK)
    assert fakes["firewalls"].patches == patches  # nothing to change, nothing patched
    inv.faults = []
    drv.sync_link(inv, LINK)
    assert enabled() == set()


def test_sync_store_deactivates_and_reactivates_the_hmac_key(fakes: dict[str, Any]) -> None:
    inv, drv = _inventory(), CloudDriver()
    inv.faults.append(Fault(id="b", kind="block_object_store", target="gcp-gcs"))
    drv.sync_store(inv, "gcp-gcs")
    assert fakes["storage"].key.saved_state == "INACTIVE"
    inv.faults = []
    drv.sync_store(inv, "gcp-gcs")
    assert fakes["storage"].key.saved_state == "ACTIVE"


OUTAGE_RULE = "rd-gcp-store-outage"


def test_a_deployment_with_the_outage_rule_blocks_the_store_by_enabling_it(
        fakes: dict[str, Any]) -> None:
    """The egress deny to GCS's private VIP (requests time out, like an outage) is the block;
    the HMAC key is left alone; heal disables the rule and removes its deadline."""
    rules = fakes["firewalls"].rules
    rules[OUTAGE_RULE] = _Firewall(description="riftdrill block-object-store drill")
    inv, drv = _inventory(), CloudDriver()
    inv.stores[0].outage_firewall = OUTAGE_RULE
    deadline = int(time.time()) + 600
    inv.faults.append(Fault(id="b", kind="block_object_store", target="gcp-gcs",
                            expires_at=deadline))
    drv.sync_store(inv, "gcp-gcs")
    assert not rules[OUTAGE_RULE].disabled
    assert reaper.description_deadline(rules[OUTAGE_RULE].description) == deadline
    assert fakes["storage"].key.saved_state == "ACTIVE" and fakes["storage"].objects == {
        "rd-gcp-ops-1a2b": {}}
    patches = fakes["firewalls"].patches
    drv.sync_store(inv, "gcp-gcs")
    assert fakes["firewalls"].patches == patches  # already so: no call
    inv.faults = []
    drv.sync_store(inv, "gcp-gcs")
    assert rules[OUTAGE_RULE].disabled
    assert rules[OUTAGE_RULE].description == "riftdrill block-object-store drill"


def test_the_reaper_disables_an_outage_rule_past_its_deadline(fakes: dict[str, Any]) -> None:
    rules = fakes["firewalls"].rules
    rules[OUTAGE_RULE] = _Firewall(description="riftdrill block-object-store drill")
    inv, drv = _inventory(), CloudDriver()
    inv.stores[0].outage_firewall = OUTAGE_RULE
    soon = int(time.time()) + 100
    inv.faults.append(Fault(id="b", kind="block_object_store", target="gcp-gcs", expires_at=soon))
    drv.sync_store(inv, "gcp-gcs")
    scope = reaper.GcpScope(project=PROJECT, deployment="rd", firewalls=(OUTAGE_RULE,),
                            marker_buckets=("rd-gcp-ops-1a2b",))
    clients = reaper.GcpClients(fakes["instances"], fakes["firewalls"], fakes["storage"])
    assert reaper.reap_gcp(scope, soon - 50, clients).reaped == []
    report = reaper.reap_gcp(scope, soon + 1, clients)
    assert [(r.kind, r.resource) for r in report.reaped] == [("gce-firewall", OUTAGE_RULE)]
    assert rules[OUTAGE_RULE].disabled


def test_bad_handle_is_one_clear_error(fakes: dict[str, Any]) -> None:
    inv = _inventory()
    inv.brokers[0].handle = "rd-gcp-broker-1"
    with pytest.raises(FaultError, match="not a GCE instance path"):
        CloudDriver().kill_broker(inv, inv.brokers[0])


def test_missing_google_credentials_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from google.auth.exceptions import DefaultCredentialsError

    def no_credentials() -> Any:
        raise DefaultCredentialsError("File /x was not found.\nsecond line")

    monkeypatch.setattr(gcp, "instances_client", no_credentials)
    inv = _inventory()
    with pytest.raises(Exception, match="no Google credentials") as err:
        CloudDriver().broker_state(inv, inv.brokers[0])
    assert "\n" not in str(err.value)


def test_an_api_error_becomes_one_redacted_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from google.api_core.exceptions import Forbidden

    def forbidden() -> Any:
        raise Forbidden("permission denied; token=ya29.secretstuff\nmore")

    monkeypatch.setattr(gcp, "instances_client", forbidden)
    inv = _inventory()
    with pytest.raises(FaultError) as err:
        CloudDriver().broker_state(inv, inv.brokers[0])
    assert "ya29" not in str(err.value) and "\n" not in str(err.value)


def test_target_aws_gcp_gets_the_cloud_driver(fakes: dict[str, Any]) -> None:
    from riftdrill.drivers import driver_for, observer_for

    assert isinstance(driver_for(_inventory()), CloudDriver)
    assert isinstance(observer_for(_inventory()), CloudDriver)


# ---- expiry: the deadlines the driver leaves on the objects, the reaper that reads them --------

def _reap(fakes: dict[str, Any], now_s: float) -> reaper.Report:
    scope = reaper.GcpScope(project=PROJECT, deployment="rd",
                            firewalls=(f"{LINK}-sever-in", f"{LINK}-sever-out"),
                            marker_buckets=("rd-gcp-ops-1a2b",))
    return reaper.reap_gcp(scope, now_s, reaper.GcpClients(
        fakes["instances"], fakes["firewalls"], fakes["storage"]))


def test_the_reaper_heals_exactly_the_expired_faults(fakes: dict[str, Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from riftdrill.drivers import aws

    monkeypatch.setattr(aws, "sync_link", lambda *a: None)
    inv, drv = _inventory(), CloudDriver()
    now = int(time.time())
    soon, later = now + 100, now + 1000
    broker = inv.brokers[0]
    inv.faults += [
        # aws is end a: a-to-b is dropped on arrival in gcp (sever-in), b-to-a on the way out
        Fault(id="s1", kind="sever_link", target=LINK, direction="a-to-b", expires_at=soon),
        Fault(id="s2", kind="sever_link", target=LINK, direction="b-to-a", expires_at=later),
        Fault(id="b", kind="block_object_store", target="gcp-gcs", expires_at=soon),
        Fault(id="k", kind="kill_broker", target=broker.name, expires_at=soon),
    ]
    drv.sync_link(inv, LINK)
    drv.sync_store(inv, "gcp-gcs")
    drv.kill_broker(inv, broker)
    rules, vm = fakes["firewalls"].rules, fakes["instances"].vms["rd-gcp-broker-1"]
    assert reaper.description_deadline(rules[f"{LINK}-sever-in"].description) == soon
    assert reaper.description_deadline(rules[f"{LINK}-sever-out"].description) == later
    assert vm.labels[reaper.GCP_EXPIRES_LABEL] == str(soon)
    marker = f"{reaper.HMAC_MARKER_PREFIX}GOOG1EXAMPLE"
    assert fakes["storage"].objects["rd-gcp-ops-1a2b"] == {marker: str(soon)}

    assert _reap(fakes, now + 50).reaped == []  # every deadline ahead: untouched
    assert not rules[f"{LINK}-sever-in"].disabled and vm.status == "TERMINATED"

    report = _reap(fakes, soon + 1)
    assert report.errors == []
    assert sorted(r.kind for r in report.reaped) == ["gce-firewall", "gce-instance", "hmac-key"]
    assert rules[f"{LINK}-sever-in"].disabled
    assert rules[f"{LINK}-sever-in"].description == "riftdrill link-sever drill (ingress)"
    assert not rules[f"{LINK}-sever-out"].disabled  # s2's deadline is still ahead
    assert vm.status == "RUNNING" and reaper.GCP_EXPIRES_LABEL not in vm.labels
    assert fakes["storage"].key.saved_state == "ACTIVE"
    assert fakes["storage"].objects["rd-gcp-ops-1a2b"] == {}
    assert _reap(fakes, soon + 1).reaped == []  # nothing left to reap

    # `riftdrill heal` after the reaper: forget everything, sync; nothing left to undo, no error
    inv.faults = []
    drv.sync_link(inv, LINK)
    drv.sync_store(inv, "gcp-gcs")
    drv.start_broker(inv, broker)
    assert all(r.disabled for r in rules.values()) and vm.status == "RUNNING"
    assert fakes["storage"].key.saved_state == "ACTIVE"


def test_a_recorded_fault_past_its_deadline_is_not_applied_again(fakes: dict[str, Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from riftdrill.drivers import aws

    monkeypatch.setattr(aws, "sync_link", lambda *a: None)
    inv, drv = _inventory(), CloudDriver()
    inv.faults.append(Fault(id="old", kind="sever_link", target=LINK, direction="both",
                            expires_at=int(time.time()) - 1))
    drv.sync_link(inv, LINK)
    assert all(r.disabled for r in fakes["firewalls"].rules.values())


def test_an_enabled_sever_rule_without_a_deadline_is_reaped(fakes: dict[str, Any]) -> None:
    rule = fakes["firewalls"].rules[f"{LINK}-sever-out"]
    rule.disabled = False  # enabled by a riftdrill before deadlines, or by hand
    assert [r.resource for r in _reap(fakes, time.time()).reaped] == [f"{LINK}-sever-out"]
    assert rule.disabled
