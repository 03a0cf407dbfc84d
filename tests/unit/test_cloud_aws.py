"""AWS side of the cloud driver against a moto server (EC2, S3, IAM).

The real services are unreachable here; moto is the one place a fake is right. chaosaws and
riftdrill's own boto3 calls reach it through AWS_ENDPOINT_URL, as they would reach AWS. moto's
account (123456789012) is allow-listed and every resource is tagged, so the driver's guard
passes here; test_cloud_guard.py is where it refuses.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from riftdrill import guard
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
TAGS = [{"Key": "riftdrill:drill-target", "Value": "true"}]


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


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
        block = [s for s in policy["Statement"] if s["Sid"] == aws.BLOCK_SID]
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
