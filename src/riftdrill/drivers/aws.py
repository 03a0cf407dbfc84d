"""AWS fault primitives for target aws-gcp: EC2 brokers, the private NACL, S3 bucket policies.

chaosaws does the instance actions (stop/start); the rest (NACL deny entries, bucket-policy
deny) is what it lacks. Credentials come from boto3's default chain; a broker's
region is its cloud's region in the inventory.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
from botocore.exceptions import ClientError
from chaosaws.ec2 import actions as ec2_actions

from riftdrill.cloud import reaper
from riftdrill.cloud.reaper import BLOCK_SID, EXPIRES_TAG, SEVER_RULE_BASE, SEVER_RULE_MAX, SEVER_TAG
from riftdrill.drivers.base import BrokerState
from riftdrill.errors import FaultError
from riftdrill.inventory import Broker, Direction, Inventory

__all__ = ["BLOCK_SID", "SEVER_RULE_BASE", "SEVER_RULE_MAX", "SEVER_TAG"]

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


def kill_broker(inv: Inventory, broker: Broker, deadline_s: int) -> None:
    """Force-stop the instance (no OS shutdown; EBS data kept), tagged with its deadline first
    (the reaper starts it after that)."""
    region = region_of(inv, broker.cloud)
    _client("ec2", region).create_tags(Resources=[broker.handle], Tags=[
        {"Key": EXPIRES_TAG, "Value": str(deadline_s)}])
    if instance_state(region, broker.handle) in ("stopped", "stopping"):
        return
    ec2_actions.stop_instance(instance_id=broker.handle, force=True,
                              configuration={"aws_region": region})


def start_broker(inv: Inventory, broker: Broker) -> None:
    region = region_of(inv, broker.cloud)
    state = instance_state(region, broker.handle)
    if state == "terminated":
        raise FaultError(f"{broker.name} ({broker.handle}) is terminated; run `make deploy` "
                         "to recreate it")
    ec2 = _client("ec2", region)
    if state not in _RUNNING:
        if state == "stopping":
            ec2.get_waiter("instance_stopped").wait(InstanceIds=[broker.handle])
        ec2_actions.start_instances(instance_ids=[broker.handle],
                                    configuration={"aws_region": region})
    # Also when already running (the reaper, or someone, started it): the deadline is spent.
    ec2.delete_tags(Resources=[broker.handle], Tags=[{"Key": EXPIRES_TAG}])


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


def side_deadlines(deadlines: dict[Direction, int], aws_is_a: bool) -> dict[bool, int]:
    """Egress? -> the latest deadline of the severed directions that need that side's entries
    (the same direction mapping as sever_entries)."""
    out_dir, in_dir = ("a-to-b", "b-to-a") if aws_is_a else ("b-to-a", "a-to-b")
    out: dict[bool, int] = {}
    for direction, deadline in deadlines.items():
        for egress, own in ((True, out_dir), (False, in_dir)):
            if direction in ("both", own):
                out[egress] = max(out.get(egress, 0), deadline)
    return out


def sync_link(inv: Inventory, link: str, aws_cloud: str, peer_cloud: str,
              deadlines: dict[Direction, int]) -> None:
    """Make the NACL hold exactly the DENY entries the severed directions need (idempotent),
    each side's latest deadline in its tag (reaper.nacl_side_tag), set before an entry is
    added and removed after the side's entries are gone."""
    lk = inv.link(link)
    region = region_of(inv, aws_cloud)
    acl = find_sever_acl(region, link)
    acl_id = acl["NetworkAclId"]
    aws_is_a = lk.a == aws_cloud
    want = sever_entries(set(deadlines), aws_is_a, [inv.cloud(peer_cloud).cidr])
    have = {(bool(e["Egress"]), int(e["RuleNumber"]), str(e.get("CidrBlock", "")))
            for e in acl.get("Entries", [])
            if SEVER_RULE_BASE <= int(e["RuleNumber"]) <= SEVER_RULE_MAX}
    sides = side_deadlines(deadlines, aws_is_a)
    tags = {str(t["Key"]): str(t["Value"]) for t in acl.get("Tags", [])}
    ec2 = _client("ec2", region)
    set_tags = [{"Key": reaper.nacl_side_tag(egress), "Value": str(deadline)}
                for egress, deadline in sorted(sides.items())
                if tags.get(reaper.nacl_side_tag(egress)) != str(deadline)]
    if set_tags:
        ec2.create_tags(Resources=[acl_id], Tags=set_tags)
    for egress, number, _cidr in have - want:
        ec2.delete_network_acl_entry(NetworkAclId=acl_id, RuleNumber=number, Egress=egress)
    for egress, number, cidr in want - have:
        ec2.create_network_acl_entry(NetworkAclId=acl_id, RuleNumber=number,
                                     Egress=egress, Protocol="-1", RuleAction="deny",
                                     CidrBlock=cidr)
    unset = [{"Key": reaper.nacl_side_tag(egress)} for egress in (True, False)
             if egress not in sides and reaper.nacl_side_tag(egress) in tags]
    if unset:
        ec2.delete_tags(Resources=[acl_id], Tags=unset)


################################################################################
# Object store: a Deny statement for the nodes' role in each bucket's policy
################################################################################

def block_statement(bucket: str, role_arn: str, deadline_s: int) -> dict[str, Any]:
    arn = f"arn:aws:s3:::{bucket}"
    return {
        "Sid": reaper.block_sid(deadline_s),  # the reaper removes it after that
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


def sync_store(inv: Inventory, store: str, deadline_s: int | None) -> None:
    """Blocked until `deadline_s` (None: not blocked). A store deployed with an FIS outage
    template is blocked by that experiment (timeouts, what an outage looks like); otherwise by
    the RiftdrillBlock statement in each bucket policy (403s), other statements kept."""
    st = inv.store(store)
    if st.outage_template:
        sync_outage(region_of(inv, st.cloud), st.outage_template, deadline_s)
        return
    if not st.handle.startswith("arn:"):
        raise FaultError(f"store {st.name} has no IAM role handle; redeploy with this riftdrill")
    s3 = _client("s3", region_of(inv, st.cloud))
    for bucket in st.buckets:
        policy = _get_policy(s3, bucket)
        statements = [s for s in policy.get("Statement", [])
                      if reaper.sid_deadline(str(s.get("Sid", ""))) is None]
        if deadline_s is not None:
            statements.append(block_statement(bucket, st.handle, deadline_s))
        if statements:
            policy["Statement"] = statements
            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
        else:
            s3.delete_bucket_policy(Bucket=bucket)


def running_outages(fis: Any, template_id: str) -> list[dict[str, Any]]:
    """The template's experiments that are pending, initiating or running."""
    found = fis.list_experiments(experimentTemplateId=template_id).get("experiments", [])
    return [e for e in found if e["state"]["status"] in reaper.FIS_ACTIVE]


def sync_outage(region: str, template_id: str, deadline_s: int | None) -> None:
    """An FIS disrupt-connectivity (scope s3) experiment runs until `deadline_s` (None: none
    runs). Started tagged with its deadline (the reaper stops it then; the template's duration
    is the ceiling); an experiment already running gets the later deadline."""
    fis = _client("fis", region)
    running = running_outages(fis, template_id)
    if deadline_s is None:
        for exp in running:
            fis.stop_experiment(id=exp["id"])
        return
    if not running:
        fis.start_experiment(experimentTemplateId=template_id, clientToken=uuid.uuid4().hex,
                             tags={EXPIRES_TAG: str(deadline_s), reaper.DRILL_TARGET_TAG: "true"})
        return
    for exp in running:
        fis.tag_resource(resourceArn=exp["arn"], tags={EXPIRES_TAG: str(deadline_s)})


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
