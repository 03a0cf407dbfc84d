"""GCP side of the cloud driver with stub Compute and Storage clients.

No emulator covers Compute Engine and there is no network here, so the clients are replaced by
small fakes that keep state like the API does; the tests assert on that state. The driver's
guard is stubbed out here (it also asks AWS who the caller is): test_cloud_guard.py tests it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from chaosgcp.compute import actions as gce_actions

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
    status: str = "RUNNING"
    labels: dict[str, str] = field(default_factory=lambda: {"riftdrill-drill-target": "true"})


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


@dataclass
class _Firewall:
    disabled: bool = True


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
        return _Op()


class FakeHmacKey:
    def __init__(self) -> None:
        self.state = "ACTIVE"
        self.saved_state = "ACTIVE"

    def update(self) -> None:
        self.saved_state = self.state


class FakeStorage:
    def __init__(self) -> None:
        self.key = FakeHmacKey()

    def get_hmac_key_metadata(self, access_id: str, project_id: str) -> FakeHmacKey:
        assert (access_id, project_id) == ("GOOG1EXAMPLE", PROJECT)
        return self.key


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
