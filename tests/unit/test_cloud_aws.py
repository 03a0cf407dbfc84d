"""AWS side of the cloud driver against a moto server (EC2, S3, IAM).

The real services are unreachable here; moto is the one place a fake is right. chaosaws and
riftdrill's own boto3 calls reach it through AWS_ENDPOINT_URL, as they would reach AWS. moto's
account (123456789012) is allow-listed and every resource is tagged, so the driver's guard
passes here; test_cloud_guard.py is where it refuses.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import boto3
import pytest

from riftdrill import guard
from riftdrill.cloud import reaper
from riftdrill.drivers import aws
from riftdrill.drivers.cloud import CloudDriver, check_deployment
from riftdrill.errors import FaultError, RiftdrillError
from riftdrill.guard import GuardError
from riftdrill.inventory import (
    Broker,
    Cloud,
    Cluster,
    Fault,
    Inventory,
    Link,
    ObjectStore,
)

REGION = "eu-west-1"
LINK = "rd-aws-gcp"
GCP_CIDR = "10.50.0.0/20"
TAGS = [{"Key": "riftdrill:drill-target", "Value": "true"},
        {"Key": "riftdrill:deployment", "Value": "rd"}]



@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> dict[str, Any]:
    monkeypatch.setenv(guard.ALLOWED_ENV, "123456789012")  # moto's account
    monkeypatch.setenv(guard.ALLOWED_FILE_ENV, str(tmp_path / "no-allow-file"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    boto3.DEFAULT_SESSION = None
    # Each test starts from an empty account.
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset",
                                                  method="POST"), timeout=10).close()
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.0.0/20")["Subnet"]["SubnetId"]
    acl = ec2.create_network_acl(VpcId=vpc, TagSpecifications=[{
        "ResourceType": "network-acl",
        "Tags": [{"Key": "riftdrill:sever-link", "Value": LINK}, *TAGS]}])["NetworkAcl"]
    ami = "ami-12c6146b"  # one of moto's built-in images; listing them all is slow
    inst = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, SubnetId=subnet,
                             TagSpecifications=[{"ResourceType": "instance", "Tags": TAGS}])
    untagged = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, SubnetId=subnet)
    s3 = boto3.client("s3", region_name=REGION)
    buckets = []
    for kind in ("data", "ops"):
        name = f"rd-aws-{kind}-{acl['NetworkAclId'][-8:]}"
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": TAGS})
        buckets.append(name)
    tls = {"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{buckets[0]}", f"arn:aws:s3:::{buckets[0]}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}
    s3.put_bucket_policy(Bucket=buckets[0], Policy=json.dumps(tls))
    role = boto3.client("iam", region_name=REGION).create_role(
        RoleName=f"rd-aws-nodes-{acl['NetworkAclId'][-8:]}",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    return {"ec2": ec2, "s3": s3, "acl": acl["NetworkAclId"], "buckets": buckets, "role": role,
            "instance": inst["Instances"][0]["InstanceId"],
            "untagged": untagged["Instances"][0]["InstanceId"], "subnet": subnet, "ami": ami}


def _inventory(env: dict[str, Any], handle: str | None = None) -> Inventory:
    return Inventory(
        target="aws-gcp", engine="automq", engine_version="1.5.5", topology="per-cloud",
        replication_factor=1, min_insync_replicas=1,
        clouds=[Cloud(name="aws", provider="aws", cidr="10.40.0.0/16", region=REGION),
                Cloud(name="gcp", provider="gcp", cidr=GCP_CIDR, region="europe-west1")],
        clusters=[Cluster(name="aws", clouds=["aws"], brokers=[11],
                          bootstrap={"aws": "10.40.0.20:9092"})],
        brokers=[Broker(id=11, name="aws-broker-1", cloud="aws", cluster="aws",
                        address="10.40.0.20", port=9092, roles=["broker"],
                        handle=handle or env["instance"])],
        stores=[ObjectStore(name="aws-s3", cloud="aws", api="s3",
                            endpoint=f"https://s3.{REGION}.amazonaws.com",
                            address=f"s3.{REGION}.amazonaws.com", port=443,
                            buckets=env["buckets"], handle=env["role"])],
        links=[Link(name=LINK, a="aws", b="gcp")],
    )


def _state(env: dict[str, Any]) -> str:
    res = env["ec2"].describe_instances(InstanceIds=[env["instance"]])
    return str(res["Reservations"][0]["Instances"][0]["State"]["Name"])


def test_kill_then_start_broker_stops_and_starts_the_instance(aws_env: dict[str, Any]) -> None:
    inv = _inventory(aws_env)
    drv = CloudDriver()
    broker = inv.brokers[0]
    assert drv.broker_state(inv, broker) == "running"
    drv.kill_broker(inv, broker)
    assert _state(aws_env) == "stopped"
    assert drv.broker_state(inv, broker) == "dead"
    drv.kill_broker(inv, broker)  # idempotent
    drv.start_broker(inv, broker)
    assert _state(aws_env) in ("pending", "running")
    assert drv.broker_state(inv, broker) == "running"


def test_pause_on_ec2_is_refused_with_one_line(aws_env: dict[str, Any]) -> None:
    inv = _inventory(aws_env)
    with pytest.raises(FaultError, match="no suspend"):
        CloudDriver().pause_broker(inv, inv.brokers[0])


def test_start_of_a_terminated_broker_says_to_redeploy(aws_env: dict[str, Any]) -> None:
    inv = _inventory(aws_env)
    aws_env["ec2"].terminate_instances(InstanceIds=[aws_env["instance"]])
    with pytest.raises(FaultError, match="make deploy"):
        CloudDriver().start_broker(inv, inv.brokers[0])


def _sever_entries(env: dict[str, Any]) -> set[tuple[bool, int, str, str]]:
    acl = env["ec2"].describe_network_acls(NetworkAclIds=[env["acl"]])["NetworkAcls"][0]
    return {(e["Egress"], e["RuleNumber"], e["CidrBlock"], e["RuleAction"])
            for e in acl["Entries"] if 10 <= e["RuleNumber"] <= 19}


def test_sync_link_follows_the_recorded_sever_faults(aws_env: dict[str, Any],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from riftdrill.drivers import gcp

    gcp_calls: list[set[str]] = []
    monkeypatch.setattr(gcp, "sync_link",
                        lambda inv, link, cloud, directions: gcp_calls.append(set(directions)))
    inv = _inventory(aws_env)
    drv = CloudDriver()
    inv.faults.append(Fault(id="f1", kind="sever_link", target=LINK, direction="a-to-b"))
    drv.sync_link(inv, LINK)
    # aws is end a: a-to-b drops what leaves aws for gcp, i.e. NACL egress only.
    assert _sever_entries(aws_env) == {(True, 10, GCP_CIDR, "deny")}

    inv.faults.append(Fault(id="f2", kind="sever_link", target=LINK, direction="both"))
    drv.sync_link(inv, LINK)
    drv.sync_link(inv, LINK)  # idempotent
    assert _sever_entries(aws_env) == {(True, 10, GCP_CIDR, "deny"), (False, 10, GCP_CIDR, "deny")}

    inv.faults = [f for f in inv.faults if f.id != "f2"]  # healing one keeps the other
    drv.sync_link(inv, LINK)
    assert _sever_entries(aws_env) == {(True, 10, GCP_CIDR, "deny")}

    inv.faults = []
    drv.sync_link(inv, LINK)
    assert _sever_entries(aws_env) == set()
    assert gcp_calls == [{"a-to-b"}, {"a-to-b", "both"}, {"a-to-b", "both"}, {"a-to-b"}, set()]


def test_sync_store_adds_and_removes_only_the_block_statement(aws_env: dict[str, Any]) -> None:
    inv = _inventory(aws_env)
    drv = CloudDriver()
    inv.faults.append(Fault(id="b1", kind="block_object_store", target="aws-s3"))
    drv.sync_store(inv, "aws-s3")
    for bucket in aws_env["buckets"]:
        policy = json.loads(aws_env["s3"].get_bucket_policy(Bucket=bucket)["Policy"])
        block = [s for s in policy["Statement"] if s["Sid"].startswith(aws.BLOCK_SID)]
        assert block and block[0]["Effect"] == "Deny"
        assert block[0]["Condition"]["ArnEquals"]["aws:PrincipalArn"] == aws_env["role"]

    inv.faults = []
    drv.sync_store(inv, "aws-s3")
    data = json.loads(aws_env["s3"].get_bucket_policy(Bucket=aws_env["buckets"][0])["Policy"])
    assert [s["Sid"] for s in data["Statement"]] == ["DenyInsecureTransport"]
    with pytest.raises(Exception, match="NoSuchBucketPolicy"):
        aws_env["s3"].get_bucket_policy(Bucket=aws_env["buckets"][1])


def test_guard_refuses_untagged_instances(aws_env: dict[str, Any]) -> None:
    check_deployment(_inventory(aws_env))
    with pytest.raises(GuardError, match="ec2 instance aws-broker-1"):
        check_deployment(_inventory(aws_env, handle=aws_env["untagged"]))


def test_missing_credentials_is_one_line(aws_env: dict[str, Any],
                                         monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    inv = _inventory(aws_env)
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    boto3.DEFAULT_SESSION = None
    with pytest.raises(RiftdrillError, match="no AWS credentials") as err:
        CloudDriver().broker_state(inv, inv.brokers[0])
    assert "\n" not in str(err.value)


def test_sever_entries_direction_mapping() -> None:
    cidrs = ["10.50.0.0/20"]
    assert aws.sever_entries({"b-to-a"}, aws_is_a=True, peer_cidrs=cidrs) == {
        (False, 10, "10.50.0.0/20")}
    assert aws.sever_entries({"a-to-b"}, aws_is_a=False, peer_cidrs=cidrs) == {
        (False, 10, "10.50.0.0/20")}
    assert aws.sever_entries(set(), aws_is_a=True, peer_cidrs=cidrs) == set()


# ---- expiry: the deadlines the driver leaves on the objects, the reaper that reads them --------

def _reap(env: dict[str, Any], now_s: float, templates: tuple[str, ...] = ()) -> reaper.Report:
    scope = reaper.AwsScope(region=REGION, deployment="rd", buckets=tuple(env["buckets"]),
                            fis_templates=templates)
    return reaper.reap_aws(scope, now_s)


def _acl_tags(env: dict[str, Any]) -> dict[str, str]:
    acl = env["ec2"].describe_network_acls(NetworkAclIds=[env["acl"]])["NetworkAcls"][0]
    return {t["Key"]: t["Value"] for t in acl.get("Tags", [])}


def _instance_tags(env: dict[str, Any]) -> dict[str, str]:
    res = env["ec2"].describe_instances(InstanceIds=[env["instance"]])
    return {t["Key"]: t["Value"] for t in res["Reservations"][0]["Instances"][0].get("Tags", [])}


def _sids(env: dict[str, Any], bucket: str) -> list[str]:
    try:
        policy = json.loads(env["s3"].get_bucket_policy(Bucket=bucket)["Policy"])
    except Exception:
        return []
    return [s["Sid"] for s in policy["Statement"]]


def test_the_reaper_heals_exactly_the_expired_faults(aws_env: dict[str, Any],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from riftdrill.drivers import gcp

    monkeypatch.setattr(gcp, "sync_link", lambda *a: None)
    inv, drv = _inventory(aws_env), CloudDriver()
    now = int(time.time())
    soon, later = now + 100, now + 1000
    broker = inv.brokers[0]
    inv.faults += [
        # aws is end a: a-to-b is the NACL's egress side, b-to-a its ingress side
        Fault(id="s1", kind="sever_link", target=LINK, direction="a-to-b", expires_at=soon),
        Fault(id="s2", kind="sever_link", target=LINK, direction="b-to-a", expires_at=later),
        Fault(id="b", kind="block_object_store", target="aws-s3", expires_at=soon),
        Fault(id="k", kind="kill_broker", target=broker.name, expires_at=soon),
    ]
    drv.sync_link(inv, LINK)
    drv.sync_store(inv, "aws-s3")
    drv.kill_broker(inv, broker)
    tags = _acl_tags(aws_env)
    assert (tags[reaper.nacl_side_tag(True)], tags[reaper.nacl_side_tag(False)]) == (
        str(soon), str(later))
    assert _instance_tags(aws_env)[reaper.EXPIRES_TAG] == str(soon)
    assert _sids(aws_env, aws_env["buckets"][1]) == [reaper.block_sid(soon)]

    assert _reap(aws_env, now + 50).reaped == []  # every deadline ahead: untouched
    assert len(_sever_entries(aws_env)) == 2 and _state(aws_env) == "stopped"

    report = _reap(aws_env, soon + 1)
    assert report.errors == []
    assert sorted(r.kind for r in report.reaped) == [
        "bucket-policy", "bucket-policy", "ec2-instance", "nacl-egress"]
    # s2's ingress entry stays: its deadline is still ahead
    assert _sever_entries(aws_env) == {(False, 10, GCP_CIDR, "deny")}
    assert reaper.nacl_side_tag(True) not in _acl_tags(aws_env)
    assert _acl_tags(aws_env)[reaper.nacl_side_tag(False)] == str(later)
    assert _sids(aws_env, aws_env["buckets"][0]) == ["DenyInsecureTransport"]
    assert _sids(aws_env, aws_env["buckets"][1]) == []
    assert _state(aws_env) in ("pending", "running")
    assert reaper.EXPIRES_TAG not in _instance_tags(aws_env)
    assert _reap(aws_env, soon + 1).reaped == []  # nothing left to reap

    report = _reap(aws_env, later + 1)
    assert [r.kind for r in report.reaped] == ["nacl-ingress"] and _sever_entries(aws_env) == set()

    # `riftdrill heal` after the reaper: forget everything, sync, restart; no error, nothing left
    inv.faults = []
    drv.sync_link(inv, LINK)
    drv.sync_store(inv, "aws-s3")
    drv.start_broker(inv, broker)
    assert _sever_entries(aws_env) == set() and reaper.nacl_side_tag(False) not in _acl_tags(aws_env)
    assert _sids(aws_env, aws_env["buckets"][0]) == ["DenyInsecureTransport"]


def test_overlapping_severs_keep_the_later_deadline(aws_env: dict[str, Any],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from riftdrill.drivers import gcp

    monkeypatch.setattr(gcp, "sync_link", lambda *a: None)
    inv, drv = _inventory(aws_env), CloudDriver()
    now = int(time.time())
    inv.faults += [
        Fault(id="s1", kind="sever_link", target=LINK, direction="both", expires_at=now + 100),
        Fault(id="s2", kind="sever_link", target=LINK, direction="a-to-b", expires_at=now + 1000),
    ]
    drv.sync_link(inv, LINK)
    assert _acl_tags(aws_env)[reaper.nacl_side_tag(True)] == str(now + 1000)
    _reap(aws_env, now + 200)  # s1 is over: its ingress side goes, s2's egress stays
    assert _sever_entries(aws_env) == {(True, 10, GCP_CIDR, "deny")}
    inv.faults = [f for f in inv.faults if f.id == "s2"]  # the runner heals s1: same record
    drv.sync_link(inv, LINK)
    assert _sever_entries(aws_env) == {(True, 10, GCP_CIDR, "deny")}


def test_a_store_outage_runs_as_an_fis_experiment_the_reaper_stops(
        aws_env: dict[str, Any]) -> None:
    fis = boto3.client("fis", region_name=REGION)
    template = fis.create_experiment_template(
        clientToken="t1", description="rd-aws store outage", roleArn=aws_env["role"],
        stopConditions=[{"source": "none"}],
        targets={"subnets": {"resourceType": "aws:ec2:subnet", "selectionMode": "ALL",
                             "resourceArns": [f"arn:aws:ec2:{REGION}:123456789012:subnet/"
                                              f"{aws_env['subnet']}"]}},
        actions={"outage": {"actionId": "aws:network:disrupt-connectivity",
                            "parameters": {"duration": "PT20M", "scope": "s3"},
                            "targets": {"Subnets": "subnets"}}},
        tags={"riftdrill:drill-target": "true"})["experimentTemplate"]["id"]
    inv, drv = _inventory(aws_env), CloudDriver()
    inv.stores[0].outage_template = template
    now = int(time.time())
    inv.faults.append(Fault(id="b1", kind="block_object_store", target="aws-s3",
                            expires_at=now + 100))
    drv.sync_store(inv, "aws-s3")
    inv.faults.append(Fault(id="b2", kind="block_object_store", target="aws-s3",
                            expires_at=now + 300))
    drv.sync_store(inv, "aws-s3")  # one experiment, the later deadline
    running = aws.running_outages(fis, template)
    assert len(running) == 1
    assert running[0]["tags"][reaper.EXPIRES_TAG] == str(now + 300)
    assert _sids(aws_env, aws_env["buckets"][1]) == []  # no 403 path: the store times out

    assert _reap(aws_env, now + 200, (template,)).reaped == []
    report = _reap(aws_env, now + 301, (template,))
    assert [r.kind for r in report.reaped] == ["fis-experiment"]
    assert aws.running_outages(fis, template) == []

    inv.faults = []
    drv.sync_store(inv, "aws-s3")  # `riftdrill heal` after the reaper: nothing to stop
    inv.faults.append(Fault(id="b3", kind="block_object_store", target="aws-s3",
                            expires_at=now + 100))
    drv.sync_store(inv, "aws-s3")
    inv.faults = []
    drv.sync_store(inv, "aws-s3")  # the runner's own heal stops it
    assert aws.running_outages(fis, template) == []
