"""AWS fault primitives for target aws-gcp: EC2 brokers, the private NACL, S3 bucket policies.

chaosaws does the instance actions (stop/start); the rest (NACL deny entries, bucket-policy
deny) is what it lacks. Credentials come from boto3's default chain; a broker's
region is its cloud's region in the inventory.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.exceptions import ClientError
from chaosaws.ec2 import actions as ec2_actions

from riftdrill.drivers.base import BrokerState
from riftdrill.errors import FaultError
from riftdrill.inventory import Broker, Direction, Inventory

SEVER_RULE_BASE = 10  # NACL rule numbers 10-19 are reserved for riftdrill (aws-cluster module)
SEVER_RULE_MAX = 19
SEVER_TAG = "riftdrill:sever-link"
BLOCK_SID = "RiftdrillBlock"

_RUNNING = {"pending", "running"}


def region_of(inv: Inventory, cloud: str) -> str:
    """The AWS cloud's region, as the inventory records it."""
    region = inv.cloud(cloud).region
    if not region:
        raise FaultError(f"cloud {cloud!r} has no region in the inventory; redeploy")
    return region


def _client(service: str, region: str) -> Any:
    return boto3.client(service, region_name=region)


def instance_state(region: str, instance_id: str) -> str:
    """EC2 state name of one instance: pending, running, stopping, stopped, terminated..."""
    try:
        res = _client("ec2", region).describe_instances(InstanceIds=[instance_id])
    except ClientError as exc:
        if exc.response["Error"]["Code"].startswith("InvalidInstanceID"):
            return "terminated"
        raise
    for r in res["Reservations"]:
        for i in r["Instances"]:
            return str(i["State"]["Name"])
    return "terminated"


def broker_state(inv: Inventory, broker: Broker) -> BrokerState:
    region = region_of(inv, broker.cloud)
    return "running" if instance_state(region, broker.handle) in _RUNNING else "dead"


def kill_broker(inv: Inventory, broker: Broker) -> None:
    """Force-stop the instance (no OS shutdown; EBS data kept)."""
    region = region_of(inv, broker.cloud)
    if instance_state(region, broker.handle) in ("stopped", "stopping"):
        return
    ec2_actions.stop_instance(instance_id=broker.handle, force=True,
                              configuration={"aws_region": region})


def start_broker(inv: Inventory, broker: Broker) -> None:
    region = region_of(inv, broker.cloud)
    state = instance_state(region, broker.handle)
    if state in _RUNNING:
        return
    if state == "terminated":
        raise FaultError(f"{broker.name} ({broker.handle}) is terminated; run `make deploy` "
                         "to recreate it")
    ec2 = _client("ec2", region)
    if state == "stopping":
        ec2.get_waiter("instance_stopped").wait(InstanceIds=[broker.handle])
    ec2_actions.start_instances(instance_ids=[broker.handle], configuration={"aws_region": region})


def pause_broker(inv: Inventory, broker: Broker) -> None:
    raise FaultError(f"EC2 offers no suspend that keeps {broker.name}'s sockets open; "
                     "use kill_broker on aws brokers (pause works on gcp brokers)")


################################################################################
# Link: stateless DENY entries in the private subnets' network ACL
################################################################################

def sever_entries(directions: set[Direction], aws_is_a: bool, peer_cidrs: list[str]
                  ) -> set[tuple[bool, int, str]]:
    """The (egress, rule number, cidr) DENY entries that realise the severed directions.

    A direction names where packets go: with aws as end a, "a-to-b" drops what leaves aws for
    the peer (NACL egress) and "b-to-a" what arrives from it (ingress).
    """
    out_dir, in_dir = ("a-to-b", "b-to-a") if aws_is_a else ("b-to-a", "a-to-b")
    egress = "both" in directions or out_dir in directions
    ingress = "both" in directions or in_dir in directions
    if len(peer_cidrs) > SEVER_RULE_MAX - SEVER_RULE_BASE + 1:
        raise FaultError("too many peer CIDRs for the reserved NACL rule numbers 10-19")
    entries: set[tuple[bool, int, str]] = set()
    for i, cidr in enumerate(sorted(peer_cidrs)):
        if egress:
            entries.add((True, SEVER_RULE_BASE + i, cidr))
        if ingress:
            entries.add((False, SEVER_RULE_BASE + i, cidr))
    return entries


def find_sever_acl(region: str, link: str) -> dict[str, Any]:
    acls = _client("ec2", region).describe_network_acls(
        Filters=[{"Name": f"tag:{SEVER_TAG}", "Values": [link]}])["NetworkAcls"]
    if len(acls) != 1:
        raise FaultError(f"expected one network ACL tagged {SEVER_TAG}={link} in {region}, "
                         f"found {len(acls)}; was the aws-gcp env applied completely?")
    return dict(acls[0])


def sync_link(inv: Inventory, link: str, aws_cloud: str, peer_cloud: str,
              directions: set[Direction]) -> None:
    """Make the NACL hold exactly the DENY entries `directions` need (idempotent)."""
    lk = inv.link(link)
    region = region_of(inv, aws_cloud)
    acl = find_sever_acl(region, link)
    want = sever_entries(directions, lk.a == aws_cloud, [inv.cloud(peer_cloud).cidr])
    have = {(bool(e["Egress"]), int(e["RuleNumber"]), str(e.get("CidrBlock", "")))
            for e in acl.get("Entries", [])
            if SEVER_RULE_BASE <= int(e["RuleNumber"]) <= SEVER_RULE_MAX}
    ec2 = _client("ec2", region)
    for egress, number, _cidr in have - want:
        ec2.delete_network_acl_entry(NetworkAclId=acl["NetworkAclId"], RuleNumber=number,
                                     Egress=egress)
    for egress, number, cidr in want - have:
        ec2.create_network_acl_entry(NetworkAclId=acl["NetworkAclId"], RuleNumber=number,
                                     Egress=egress, Protocol="-1", RuleAction="deny",
                                     CidrBlock=cidr)


################################################################################
# Object store: a Deny statement for the nodes' role in each bucket's policy
################################################################################

def block_statement(bucket: str, role_arn: str) -> dict[str, Any]:
    arn = f"arn:aws:s3:::{bucket}"
    return {
        "Sid": BLOCK_SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [arn, f"{arn}/*"],
        # PrincipalArn matches every session of the role, i.e. every broker.
        "Condition": {"ArnEquals": {"aws:PrincipalArn": role_arn}},
    }


def _get_policy(s3: Any, bucket: str) -> dict[str, Any]:
    try:
        return dict(json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]))
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "NoSuchBucketPolicy":
            return {"Version": "2012-10-17", "Statement": []}
        raise


def sync_store(inv: Inventory, store: str, blocked: bool) -> None:
    """Add (blocked) or remove the RiftdrillBlock statement; other statements are kept."""
    st = inv.store(store)
    if not st.handle.startswith("arn:"):
        raise FaultError(f"store {st.name} has no IAM role handle; redeploy with this riftdrill")
    s3 = _client("s3", region_of(inv, st.cloud))
    for bucket in st.buckets:
        policy = _get_policy(s3, bucket)
        statements = [s for s in policy.get("Statement", []) if s.get("Sid") != BLOCK_SID]
        if blocked:
            statements.append(block_statement(bucket, st.handle))
        if statements:
            policy["Statement"] = statements
            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
        else:
            s3.delete_bucket_policy(Bucket=bucket)


def caller_account_id(region: str) -> str:
    """The AWS account of the credentials in use (the guard checks it)."""
    return str(_client("sts", region).get_caller_identity()["Account"])


# What the guard reads (drivers/cloud.py: check_deployment): read-only calls only. A resource
# that no longer exists is left out: nothing of it can be changed.

def _tags(items: list[dict[str, Any]]) -> dict[str, str]:
    return {str(t["Key"]): str(t["Value"]) for t in items}


def instances_tags(region: str, instance_ids: list[str]) -> dict[str, dict[str, str]]:
    """Instance id -> tags, for those of `instance_ids` that exist (a filter, so a missing id is
    left out rather than failing the whole call)."""
    if not instance_ids:
        return {}
    pages = _client("ec2", region).get_paginator("describe_instances").paginate(
        Filters=[{"Name": "instance-id", "Values": instance_ids}])
    return {str(i["InstanceId"]): _tags(i.get("Tags", []))
            for page in pages for r in page["Reservations"] for i in r["Instances"]}


def sever_acls_tags(region: str, link: str) -> dict[str, dict[str, str]]:
    """Network ACL id -> tags, of the ACLs a sever of `link` changes (tagged riftdrill:sever-link)."""
    acls = _client("ec2", region).describe_network_acls(
        Filters=[{"Name": f"tag:{SEVER_TAG}", "Values": [link]}])["NetworkAcls"]
    return {str(a["NetworkAclId"]): _tags(a.get("Tags", [])) for a in acls}


def bucket_tags(region: str, bucket: str) -> dict[str, str] | None:
    """The bucket's tags ({} when it has none), None when the bucket does not exist."""
    try:
        return _tags(_client("s3", region).get_bucket_tagging(Bucket=bucket)["TagSet"])
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code == "NoSuchTagSet":
            return {}
        if code == "NoSuchBucket":
            return None
        raise
