"""The cloud guard on every change of target aws-gcp: fault, heal, drill start and destroy each
check the caller's AWS account and the deployment's GCP project against the allow-list, and the
drill-target tag of every resource they may change, before their first changing call.

AWS is a moto server whose every request is recorded as it arrives (moto's own WSGI app behind
a recorder), so "nothing changed" is read off what reached the server: only Describe*/Get*/List*
(and S3 GET) calls. GCP is a stub at the client boundary that records every call the same way.
Faults, heals and destroy go through the real CLI; the drill starts through the runner.
"""

from __future__ import annotations

import io
import json
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import boto3
import pytest
from chaosgcp.compute import actions as gce_actions
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from typer.testing import CliRunner, Result
from werkzeug.serving import make_server

from riftdrill import cli, guard, inventory
from riftdrill.chaos import control, runner
from riftdrill.cloud import reaper
from riftdrill.drivers import aws, gcp, observer_for
from riftdrill.guard import GuardError
from riftdrill.inventory import Broker, Cloud, Cluster, Inventory, Link, ObjectStore

ROOT = Path(__file__).resolve().parents[2]
APP = cli.mounted_app()
REGION = "eu-west-1"
MOTO_ACCOUNT = "123456789012"  # the account moto answers GetCallerIdentity with
PROJECT = "rd-drills-1234"
ZONE = "europe-west1-b"
LINK = "rd-aws-gcp"
TAGS = [{"Key": "riftdrill:drill-target", "Value": "true"},
        {"Key": "riftdrill:deployment", "Value": "rd"}]
ALLOWED = f"{MOTO_ACCOUNT},{PROJECT}"
READS = ("Describe", "Get", "List")


# ---- AWS: a moto server that records every request -----------------------------------------

def _aws_call(environ: dict[str, Any]) -> str:
    """The API call a request makes: the Action (query protocol), the X-Amz-Target operation
    (JSON protocol), else the method and path (S3's REST API)."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return str(target).rsplit(".", 1)[-1]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)  # moto reads it again
    query = environ.get("QUERY_STRING", "")
    action = (parse_qs(body.decode("utf-8", "replace")).get("Action")
              or parse_qs(query).get("Action"))
    if action:
        return action[0]
    return f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')}" + (f"?{query}" if query else "")


def changes(calls: list[str]) -> list[str]:
    """The calls that could change something: all but Describe*/Get*/List* and S3 GET/HEAD."""
    return [c for c in calls if not c.startswith(READS) and not c.startswith(("GET ", "HEAD "))]


@dataclass
class Moto:
    endpoint: str
    calls: list[str]


@pytest.fixture(scope="module")
def moto_server() -> Iterator[Moto]:
    app = DomainDispatcherApplication(create_backend_app)
    calls: list[str] = []

    def recording(environ: dict[str, Any], start_response: Any) -> Any:
        if not str(environ.get("PATH_INFO", "")).startswith("/moto-api"):
            calls.append(_aws_call(environ))
        return app(environ, start_response)

    server = make_server("127.0.0.1", 0, recording, threaded=True,
                         request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Moto(f"http://127.0.0.1:{server.server_port}", calls)
    server.shutdown()
    thread.join()


# ---- GCP: stub clients that record every call ----------------------------------------------

class _Op:
    error_code = None

    def result(self, timeout: float | None = None) -> None:
        return None


@dataclass
class _Vm:
    status: str = "RUNNING"
    labels: dict[str, str] = field(default_factory=lambda: {"riftdrill-drill-target": "true"})
    label_fingerprint: str = "fp"


@dataclass
class _Firewall:
    disabled: bool = True
    description: str = ""


class FakeGcp:
    """Compute's instances and firewalls, Storage's HMAC key: state like the API's, every call
    recorded as "<resource>.<verb>"."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.vms = {"rd-gcp-broker-1": _Vm()}
        self.rules = {f"{LINK}-sever-in": _Firewall(), f"{LINK}-sever-out": _Firewall()}
        self.hmac_state = "ACTIVE"
        self.marker: str | None = None
        self.instances, self.firewalls, self.storage = _Instances(self), _Firewalls(self), _Storage(self)

    def changes(self) -> list[str]:
        return [c for c in self.calls
                if not c.endswith((".get", ".get_hmac_key_metadata", ".exists"))]


class _Instances:
    def __init__(self, g: FakeGcp) -> None:
        self.g = g

    def get(self, project: str, zone: str, instance: str) -> _Vm:
        self.g.calls.append("instances.get")
        assert (project, zone) == (PROJECT, ZONE)
        return self.g.vms[instance]

    def _set(self, verb: str, instance: str, status: str) -> _Op:
        self.g.calls.append(f"instances.{verb}")
        self.g.vms[instance].status = status
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
        self.g.calls.append("instances.set_labels")
        self.g.vms[instance].labels = dict(instances_set_labels_request_resource.labels)
        return _Op()


class _Firewalls:
    def __init__(self, g: FakeGcp) -> None:
        self.g = g

    def get(self, project: str, firewall: str) -> _Firewall:
        self.g.calls.append("firewalls.get")
        return self.g.rules[firewall]

    def patch(self, project: str, firewall: str, firewall_resource: Any) -> _Op:
        self.g.calls.append("firewalls.patch")
        self.g.rules[firewall].disabled = bool(firewall_resource.disabled)
        self.g.rules[firewall].description = str(firewall_resource.description)
        return _Op()


class _HmacKey:
    def __init__(self, g: FakeGcp) -> None:
        self.g, self.state = g, g.hmac_state

    def update(self) -> None:
        self.g.calls.append("hmac.update")
        self.g.hmac_state = self.state


class _Storage:
    def __init__(self, g: FakeGcp) -> None:
        self.g = g

    def get_hmac_key_metadata(self, access_id: str, project_id: str) -> _HmacKey:
        self.g.calls.append("hmac.get_hmac_key_metadata")
        return _HmacKey(self.g)

    def bucket(self, name: str) -> _Bucket:
        return _Bucket(self.g)


class _Bucket:
    """The store's ops bucket, where a block leaves its deadline marker."""

    def __init__(self, g: FakeGcp) -> None:
        self.g = g

    def blob(self, name: str) -> _Marker:
        return _Marker(self.g)


class _Marker:
    def __init__(self, g: FakeGcp) -> None:
        self.g = g

    def upload_from_string(self, data: str, content_type: str) -> None:
        self.g.calls.append("marker.upload")
        self.g.marker = data

    def exists(self) -> bool:
        self.g.calls.append("marker.exists")
        return self.g.marker is not None

    def delete(self) -> None:
        self.g.calls.append("marker.delete")
        self.g.marker = None


# ---- one aws-gcp deployment: a broker, a store, the link --------------------------------------

@dataclass
class Cloudy:
    moto: Moto
    gcp: FakeGcp
    ec2: Any
    s3: Any
    acl: str
    instance: str
    untagged_instance: str
    buckets: list[str]
    home: Path

    def inventory(self, aws_handle: str | None = None) -> Inventory:
        return Inventory(
            target="aws-gcp", engine="automq", engine_version="1.5.5", topology="per-cloud",
            replication_factor=1, min_insync_replicas=1,
            clouds=[Cloud(name="aws", provider="aws", cidr="10.40.0.0/16", region=REGION),
                    Cloud(name="gcp", provider="gcp", cidr="10.50.0.0/20", region="europe-west1")],
            clusters=[Cluster(name="aws", clouds=["aws"], brokers=[11],
                              bootstrap={"aws": "10.40.0.20:9092"}),
                      Cluster(name="gcp", clouds=["gcp"], brokers=[111],
                              bootstrap={"gcp": "10.50.0.20:9092"})],
            brokers=[Broker(id=11, name="aws-broker-1", cloud="aws", cluster="aws",
                            address="10.40.0.20", port=9092, roles=["broker"],
                            handle=aws_handle or self.instance),
                     Broker(id=111, name="gcp-broker-1", cloud="gcp", cluster="gcp",
                            address="10.50.0.20", port=9092, roles=["broker"],
                            handle=f"projects/{PROJECT}/zones/{ZONE}/instances/rd-gcp-broker-1")],
            stores=[ObjectStore(name="aws-s3", cloud="aws", api="s3",
                                endpoint=f"https://s3.{REGION}.amazonaws.com",
                                address=f"s3.{REGION}.amazonaws.com", port=443,
                                buckets=self.buckets,
                                handle=f"arn:aws:iam::{MOTO_ACCOUNT}:role/rd-aws-nodes"),
                    ObjectStore(name="gcp-gcs", cloud="gcp", api="gcs",
                                endpoint="https://storage.googleapis.com",
                                address="storage.googleapis.com", port=443,
                                buckets=["rd-gcp-data-1a2b"],
                                handle=f"projects/{PROJECT}/hmacKeys/GOOG1EXAMPLE")],
            links=[Link(name=LINK, a="aws", b="gcp")],
        )

    def deploy(self, aws_handle: str | None = None) -> Inventory:
        inv = self.inventory(aws_handle)
        inventory.save(inv)
        self.moto.calls.clear()
        self.gcp.calls.clear()
        return inv

    def instance_state(self) -> str:
        res = self.ec2.describe_instances(InstanceIds=[self.instance])
        return str(res["Reservations"][0]["Instances"][0]["State"]["Name"])

    def deny_entries(self) -> list[dict[str, Any]]:
        acl = self.ec2.describe_network_acls(NetworkAclIds=[self.acl])["NetworkAcls"][0]
        return [e for e in acl["Entries"] if 10 <= e["RuleNumber"] <= 19]

    def recorded(self) -> list[tuple[str, str]]:
        return [(f.kind, f.target) for f in inventory.load().faults]


@pytest.fixture
def clouds(moto_server: Moto, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Cloudy:
    monkeypatch.setenv("RIFTDRILL_HOME", str(tmp_path))
    monkeypatch.setenv(guard.ALLOWED_ENV, ALLOWED)
    monkeypatch.setenv(guard.ALLOWED_FILE_ENV, str(tmp_path / "no-allow-file"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    boto3.DEFAULT_SESSION = None
    urllib.request.urlopen(urllib.request.Request(f"{moto_server.endpoint}/moto-api/reset",
                                                  method="POST"), timeout=10).close()
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.0.0/20")["Subnet"]["SubnetId"]
    acl = ec2.create_network_acl(VpcId=vpc, TagSpecifications=[{
        "ResourceType": "network-acl",
        "Tags": [{"Key": "riftdrill:sever-link", "Value": LINK}, *TAGS]}])["NetworkAcl"]
    ami = "ami-12c6146b"  # one of moto's built-in images
    tagged = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, SubnetId=subnet,
                               TagSpecifications=[{"ResourceType": "instance", "Tags": TAGS}])
    untagged = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, SubnetId=subnet)
    s3 = boto3.client("s3", region_name=REGION)
    buckets = [f"rd-aws-{kind}-guard" for kind in ("data", "ops")]
    for name in buckets:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": TAGS})

    fake = FakeGcp()
    monkeypatch.setattr(gcp, "instances_client", lambda: fake.instances)
    monkeypatch.setattr(gcp, "firewalls_client", lambda: fake.firewalls)
    monkeypatch.setattr(gcp, "storage_client", lambda project: fake.storage)
    monkeypatch.setattr(gce_actions.compute_v1, "InstancesClient",
                        lambda credentials=None: fake.instances)
    monkeypatch.setattr(gce_actions, "wait_on_extended_operation", lambda op: None)
    c = Cloudy(moto=moto_server, gcp=fake, ec2=ec2, s3=s3, acl=acl["NetworkAclId"],
               instance=tagged["Instances"][0]["InstanceId"],
               untagged_instance=untagged["Instances"][0]["InstanceId"], buckets=buckets,
               home=tmp_path)
    c.deploy()
    return c


def riftdrill(*args: str) -> Result:
    return CliRunner().invoke(APP, list(args))


def assert_refused(result: Result, needle: str) -> None:
    """Exit 2 and one line saying why (after what a command shows before it starts: `drill`
    names the drill it runs)."""
    assert result.exit_code == 2, result.output
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("riftdrill: error: ")]
    assert len(errors) == 1 and needle in errors[0], result.stderr
    assert result.stderr.strip().splitlines()[-1] == errors[0], result.stderr


def assert_nothing_changed(c: Cloudy) -> None:
    assert changes(c.moto.calls) == [], c.moto.calls
    assert c.gcp.changes() == [], c.gcp.calls


FAULTS = [
    ["fault", "kill", "aws-broker-1"],
    ["fault", "kill", "gcp-broker-1"],
    ["fault", "pause", "gcp-broker-1"],
    ["fault", "sever", "--direction", "a-to-b"],
    ["fault", "block-store", "aws-s3"],
    ["fault", "block-store", "gcp-gcs"],
    ["fault", "restart", "aws-broker-1"],
]


# ---- fault ----------------------------------------------------------------------------------

@pytest.mark.parametrize("args", FAULTS, ids=" ".join)
def test_a_fault_in_an_aws_account_off_the_allow_list_is_refused_before_any_change(
        clouds: Cloudy, monkeypatch: pytest.MonkeyPatch, args: list[str]) -> None:
    monkeypatch.setenv(guard.ALLOWED_ENV, f"111111111111,{PROJECT}")
    assert_refused(riftdrill(*args), f"AWS account {MOTO_ACCOUNT} is not on the allow-list")
    assert clouds.moto.calls == ["GetCallerIdentity"]  # who is calling, then nothing more
    assert clouds.gcp.calls == []
    assert clouds.recorded() == []  # refused before it was recorded, too
    assert clouds.instance_state() == "running"


@pytest.mark.parametrize("args", FAULTS, ids=" ".join)
def test_a_fault_in_a_gcp_project_off_the_allow_list_is_refused_before_any_change(
        clouds: Cloudy, monkeypatch: pytest.MonkeyPatch, args: list[str]) -> None:
    monkeypatch.setenv(guard.ALLOWED_ENV, f"{MOTO_ACCOUNT},rd-other-5678")
    assert_refused(riftdrill(*args), f"GCP project {PROJECT} is not on the allow-list")
    assert_nothing_changed(clouds)
    assert clouds.gcp.calls == []
    assert clouds.recorded() == []


def test_an_untagged_instance_refuses_every_fault_before_any_change(clouds: Cloudy) -> None:
    clouds.deploy(aws_handle=clouds.untagged_instance)
    for args in FAULTS:
        assert_refused(riftdrill(*args),
                       f"not a drill target: ec2 instance aws-broker-1 ({clouds.untagged_instance})")
    assert any(c.startswith("DescribeInstances") for c in clouds.moto.calls)
    assert_nothing_changed(clouds)
    assert clouds.recorded() == []


def test_an_untagged_bucket_network_acl_or_gce_instance_is_named(clouds: Cloudy) -> None:
    clouds.s3.delete_bucket_tagging(Bucket=clouds.buckets[1])
    clouds.ec2.delete_tags(Resources=[clouds.acl], Tags=[{"Key": "riftdrill:drill-target"}])
    clouds.gcp.vms["rd-gcp-broker-1"].labels = {}
    clouds.moto.calls.clear()
    result = riftdrill("fault", "block-store", "aws-s3")
    assert_refused(result, "not a drill target: ")
    for name in (f"network acl {clouds.acl} (link {LINK})", f"s3 bucket {clouds.buckets[1]}",
                 "gce instance gcp-broker-1"):
        assert name in result.stderr
    assert "make deploy TARGET=aws-gcp" in result.stderr  # the fix
    assert_nothing_changed(clouds)
    assert clouds.recorded() == []


def test_on_the_allow_list_and_tagged_the_faults_apply(clouds: Cloudy) -> None:
    assert riftdrill("fault", "kill", "aws-broker-1").exit_code == 0
    assert riftdrill("fault", "pause", "gcp-broker-1").exit_code == 0
    assert riftdrill("fault", "sever", "--direction", "a-to-b").exit_code == 0
    assert riftdrill("fault", "block-store", "aws-s3").exit_code == 0
    assert clouds.instance_state() == "stopped"
    assert clouds.gcp.vms["rd-gcp-broker-1"].status == "SUSPENDED"
    assert [e["Egress"] for e in clouds.deny_entries()] == [True]
    # what the recorder calls a change is what changed: the refusals above are not vacuous
    assert {"StopInstances", "CreateNetworkAclEntry", f"PUT /{clouds.buckets[0]}?policy",
            f"PUT /{clouds.buckets[1]}?policy"} <= set(changes(clouds.moto.calls))
    # the pause labels its deadline on the VM first (riftdrill.cloud.reaper)
    assert clouds.gcp.changes() == ["instances.set_labels", "instances.suspend", "firewalls.patch"]
    assert clouds.recorded() == [("kill_broker", "aws-broker-1"), ("pause_broker", "gcp-broker-1"),
                                 ("sever_link", LINK), ("block_object_store", "aws-s3")]


def test_a_driver_got_for_reading_still_guards_a_change(clouds: Cloudy,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(guard.ALLOWED_ENV, f"111111111111,{PROJECT}")
    inv = clouds.inventory()
    drv: Any = observer_for(inv)  # the read side: no guard to get it ...
    assert drv.broker_state(inv, inv.brokers[0]) == "running"
    with pytest.raises(GuardError, match=f"AWS account {MOTO_ACCOUNT}"):
        drv.kill_broker(inv, inv.brokers[0])  # ... but a change through it is guarded
    assert_nothing_changed(clouds)


# ---- heal -----------------------------------------------------------------------------------

def _fault_everything(c: Cloudy) -> None:
    for args in (["fault", "kill", "aws-broker-1"], ["fault", "pause", "gcp-broker-1"],
                 ["fault", "sever"], ["fault", "block-store", "aws-s3"], ["fault", "block-store", "gcp-gcs"]):
        result = riftdrill(*args)
        assert result.exit_code == 0, result.output
    assert clouds_faulted(c)
    c.moto.calls.clear()
    c.gcp.calls.clear()


def clouds_faulted(c: Cloudy) -> bool:
    policy = json.loads(c.s3.get_bucket_policy(Bucket=c.buckets[0])["Policy"])
    return (c.instance_state() == "stopped" and c.gcp.vms["rd-gcp-broker-1"].status == "SUSPENDED"
            and len(c.deny_entries()) == 2 and c.gcp.hmac_state == "INACTIVE"
            and not any(r.disabled for r in c.gcp.rules.values())
            and [s["Sid"][:len(aws.BLOCK_SID)] for s in policy["Statement"]] == [aws.BLOCK_SID])


@pytest.mark.parametrize("allowed", [f"111111111111,{PROJECT}", f"{MOTO_ACCOUNT},rd-other-5678"],
                         ids=["aws account", "gcp project"])
def test_heal_off_the_allow_list_is_refused_and_forgets_nothing(
        clouds: Cloudy, monkeypatch: pytest.MonkeyPatch, allowed: str) -> None:
    _fault_everything(clouds)
    before = clouds.recorded()
    monkeypatch.setenv(guard.ALLOWED_ENV, allowed)
    assert_refused(riftdrill("heal"), "is not on the allow-list")
    assert_refused(riftdrill("fault", "heal-link"), "is not on the allow-list")
    assert_refused(riftdrill("fault", "unblock-store", "aws-s3"), "is not on the allow-list")
    assert_refused(riftdrill("fault", "restart", "aws-broker-1"), "is not on the allow-list")
    assert_nothing_changed(clouds)
    assert clouds.recorded() == before  # still recorded: a later heal undoes them
    assert clouds_faulted(clouds)


def test_heal_of_an_untagged_resource_is_refused_and_forgets_nothing(clouds: Cloudy) -> None:
    _fault_everything(clouds)
    before = clouds.recorded()
    clouds.ec2.delete_tags(Resources=[clouds.instance], Tags=[{"Key": "riftdrill:drill-target"}])
    clouds.moto.calls.clear()
    assert_refused(riftdrill("heal"), "not a drill target: ec2 instance aws-broker-1")
    assert_nothing_changed(clouds)
    assert clouds.recorded() == before and clouds_faulted(clouds)


def test_heal_on_the_allow_list_undoes_everything(clouds: Cloudy,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _fault_everything(clouds)
    monkeypatch.setenv(guard.ALLOWED_ENV, f"111111111111,{PROJECT}")
    assert riftdrill("heal").exit_code == 2
    monkeypatch.setenv(guard.ALLOWED_ENV, ALLOWED)  # the right account again
    result = riftdrill("heal", "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["healed"]) == 5
    assert clouds.recorded() == []
    assert clouds.instance_state() in ("pending", "running")
    assert clouds.gcp.vms["rd-gcp-broker-1"].status == "RUNNING"
    assert clouds.deny_entries() == [] and all(r.disabled for r in clouds.gcp.rules.values())
    assert clouds.gcp.hmac_state == "ACTIVE"
    assert {"StartInstances", "DeleteNetworkAclEntry"} <= set(clouds.moto.calls)


def test_heal_after_the_aws_reaper_finds_it_healed_and_succeeds(clouds: Cloudy) -> None:
    _fault_everything(clouds)
    deadline = max(f.expires_at or 0 for f in inventory.load().faults)  # by hand: hold 900 s
    scope = reaper.AwsScope(region=REGION, deployment="rd", buckets=tuple(clouds.buckets))
    assert reaper.reap_aws(scope, deadline - 60).reaped == []  # still ahead: untouched
    report = reaper.reap_aws(scope, deadline + 1)  # the runner died; the reaper's minute came
    assert report.errors == [] and len(report.reaped) == 5  # 2 NACL sides, 2 policies, 1 start
    assert clouds.deny_entries() == [] and clouds.instance_state() in ("pending", "running")
    result = riftdrill("heal", "--json")  # still recorded: heal forgets them, changes nothing more
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["healed"]) == 5 and clouds.recorded() == []
    assert clouds.deny_entries() == [] and clouds.gcp.hmac_state == "ACTIVE"
    assert "CreateNetworkAclEntry" not in clouds.moto.calls


# ---- drill start ----------------------------------------------------------------------------

@pytest.fixture
def drill_home(clouds: Cloudy, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The checkout's experiments and SLOs in the test's RIFTDRILL_HOME; chaos must not run."""
    (clouds.home / "experiments").symlink_to(ROOT / "experiments")
    (clouds.home / "slo.yaml").symlink_to(ROOT / "slo.yaml")

    def no_chaos(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("chaos ran")

    monkeypatch.setattr(runner, "run_chaos", no_chaos)
    monkeypatch.setattr(runner, "start_timeline", lambda run_dir, inv: None)
    return clouds.home


@pytest.mark.parametrize(("allowed", "untagged", "needle"), [
    (f"111111111111,{PROJECT}", False, f"AWS account {MOTO_ACCOUNT} is not on the allow-list"),
    (f"{MOTO_ACCOUNT},rd-other-5678", False, f"GCP project {PROJECT} is not on the allow-list"),
    (ALLOWED, True, "not a drill target: ec2 instance aws-broker-1"),
], ids=["aws account", "gcp project", "untagged"])
def test_a_drill_is_refused_before_it_starts(clouds: Cloudy, drill_home: Path,
                                             monkeypatch: pytest.MonkeyPatch, allowed: str,
                                             untagged: bool, needle: str) -> None:
    if untagged:
        clouds.deploy(aws_handle=clouds.untagged_instance)
    monkeypatch.setenv(guard.ALLOWED_ENV, allowed)
    assert_refused(riftdrill("drill", "broker-kill", "--var", "hold_s=1"), needle)
    assert_nothing_changed(clouds)
    assert clouds.recorded() == []
    assert not list((drill_home / "results" / "runs").glob("*"))  # no run was left behind


def test_a_stock_chaos_run_refused_by_the_guard_stops_before_its_method(
        clouds: Cloudy, drill_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from chaoslib.exceptions import InterruptExecution

    monkeypatch.setenv(guard.ALLOWED_ENV, f"111111111111,{PROJECT}")
    experiment = json.loads((ROOT / "experiments" / "broker-kill.json").read_text())
    configuration: dict[str, Any] = {"run_dir": "", "owner_pid": 0, "hold_s": "1"}
    state = control.begin_run(configuration, experiment, runs_dir=drill_home / "runs")
    assert state.start is None and state.refused is not None
    assert f"AWS account {MOTO_ACCOUNT}" in state.refused
    monkeypatch.setattr(control, "_RUN", state)
    with pytest.raises(InterruptExecution, match="the drill stops before any fault"):
        control.before_method_control(experiment)
    assert_nothing_changed(clouds)


# ---- destroy --------------------------------------------------------------------------------

@dataclass
class FakeWorkspace:
    """Terraform's side of destroy: only what the guard lets through reaches it."""

    calls: list[str] = field(default_factory=list)
    log_path: Path = Path("/nonexistent")
    name: str = "aws-gcp"
    data_dir: Path = Path("/nonexistent/terraform/aws-gcp")

    def has_state(self) -> bool:
        return "destroy" not in self.calls

    def init(self, progress: Any) -> None:
        self.calls.append("init")

    def destroy(self, variables: dict[str, Any], progress: Any) -> None:
        self.calls.append("destroy")


@pytest.fixture
def workspace(clouds: Cloudy, monkeypatch: pytest.MonkeyPatch) -> FakeWorkspace:
    import riftdrill.deploy

    ws = FakeWorkspace()
    monkeypatch.setattr(riftdrill.deploy, "workspace", lambda target: ws)
    creds = clouds.home / "gcp.json"
    creds.write_text("{}")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(creds))
    monkeypatch.setenv("RIFTDRILL_GCP_PROJECT", PROJECT)
    return ws


@pytest.mark.parametrize(("allowed", "untagged", "needle"), [
    (f"111111111111,{PROJECT}", False,
     f"AWS credentials are for account {MOTO_ACCOUNT}, not the allow-listed account 111111111111"),
    (ALLOWED, True, "not a drill target: ec2 instance aws-broker-1"),
], ids=["aws account", "untagged"])
def test_destroy_is_refused_before_terraform_runs(clouds: Cloudy, workspace: FakeWorkspace,
                                                  monkeypatch: pytest.MonkeyPatch, allowed: str,
                                                  untagged: bool, needle: str) -> None:
    if untagged:
        clouds.deploy(aws_handle=clouds.untagged_instance)
    monkeypatch.setenv(guard.ALLOWED_ENV, allowed)
    assert_refused(riftdrill("destroy", "--target", "aws-gcp", "--yes"), needle)
    assert workspace.calls == []
    assert_nothing_changed(clouds)


def test_destroy_on_the_allow_list_of_tagged_resources_runs_terraform(
        clouds: Cloudy, workspace: FakeWorkspace) -> None:
    result = riftdrill("destroy", "--target", "aws-gcp", "--yes")
    assert result.exit_code == 0, result.output
    assert workspace.calls == ["init", "destroy"]
    assert clouds.moto.calls[0] == "GetCallerIdentity"
    assert_nothing_changed(clouds)  # the guard itself only read
