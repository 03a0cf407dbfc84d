"""The in-cloud reaper: undoes every riftdrill fault whose deadline has passed, without the
runner's inventory.

Each cloud object a fault changes carries the fault's deadline (epoch seconds, the rule is
riftdrill.expiry), written by the driver *before* it changes the object and removed after it
healed it. Where several faults share an object, the object carries the latest of their
deadlines, so the reaper never undoes what a fault whose deadline is ahead still needs:

- AWS link sever: the NACL tagged `riftdrill:sever-link`; tags `riftdrill:expires-at:egress`
  and `:ingress`, one per side of DENY entries 10-19;
- AWS store block, 403 path: each bucket's policy; the statement's Sid
  `RiftdrillBlockUntil<epoch>`;
- AWS store outage, FIS path: the running FIS experiment; tag `riftdrill:expires-at` (the
  template's duration is the ceiling);
- AWS broker kill: the stopped EC2 instance; tag `riftdrill:expires-at`;
- GCP link sever: the enabled `<link>-sever-in/out` firewall rule; ` riftdrill:expires-at=<epoch>`
  at the end of its description (firewall rules carry no labels);
- GCP store block: the enabled `<name>-store-outage` firewall rule, marked like the sever
  rules; in a deployment without it, the deactivated HMAC key (no labels either) and the marker
  object `riftdrill/expiry/hmac-<access id>` in the store's ops bucket;
- GCP broker kill / pause: the stopped / suspended GCE instance; label `riftdrill-expires-at`.

This module is what the AWS Lambda (infra/modules/fault-reaper-aws) and the GCP Cloud Function
(infra/modules/fault-reaper-gcp) run, so it imports only the standard library and boto3 (the
Lambda runtime's), and the google-cloud clients inside the GCP functions; the drivers import
its markers. It reaps only what its scope names: one deployment's tagged resources, buckets,
FIS templates, firewall rules.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# ---- the markers (shared with riftdrill.drivers.aws / gcp) -----------------------------------

EXPIRES_TAG = "riftdrill:expires-at"
DEPLOYMENT_TAG = "riftdrill:deployment"
DRILL_TARGET_TAG = "riftdrill:drill-target"
SEVER_TAG = "riftdrill:sever-link"
SEVER_RULE_BASE = 10  # NACL rule numbers 10-19 are riftdrill's (aws-cluster module)
SEVER_RULE_MAX = 19
BLOCK_SID = "RiftdrillBlock"  # the Sid prefix of the store-block statement
FIS_ACTIVE = ("pending", "initiating", "running")

GCP_EXPIRES_LABEL = "riftdrill-expires-at"
GCP_DEPLOYMENT_LABEL = "riftdrill-deployment"
HMAC_MARKER_PREFIX = "riftdrill/expiry/hmac-"
_FIREWALL_MARKER = re.compile(r"\s*riftdrill:expires-at=(\d+)$")
_SID = re.compile(rf"^{BLOCK_SID}(?:Until(\d+))?$")


def nacl_side_tag(egress: bool) -> str:
    """The NACL tag that holds the deadline of one side's DENY entries."""
    return f"{EXPIRES_TAG}:{'egress' if egress else 'ingress'}"


def block_sid(deadline_s: int) -> str:
    return f"{BLOCK_SID}Until{deadline_s}"


def sid_deadline(sid: str) -> int | None:
    """The deadline a store-block Sid carries; None when the statement is not riftdrill's. A
    bare `RiftdrillBlock` (written before deadlines existed) counts as expired (0)."""
    m = _SID.match(sid)
    if not m:
        return None
    return int(m.group(1) or 0)


def with_deadline(description: str, deadline_s: int | None) -> str:
    """A firewall rule's description with its deadline marker set (or removed: None)."""
    base = _FIREWALL_MARKER.sub("", description or "")
    return base if deadline_s is None else f"{base} {EXPIRES_TAG}={deadline_s}"


def description_deadline(description: str) -> int | None:
    m = _FIREWALL_MARKER.search(description or "")
    return int(m.group(1)) if m else None


def expired(deadline_s: int | str | None, now_s: float) -> bool:
    """Past its deadline. A marker that is not a number is treated as expired: nothing a
    riftdrill driver writes, so nothing a live fault relies on."""
    try:
        return int(str(deadline_s)) <= now_s
    except ValueError:
        return True


@dataclass(frozen=True)
class Reaped:
    """One object the reaper healed."""

    kind: str  # "nacl-egress", "bucket-policy", "fis-experiment", "ec2-instance", ...
    resource: str
    deadline_s: int | None


@dataclass
class Report:
    reaped: list[Reaped] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({"reaped": [r.__dict__ for r in self.reaped], "errors": self.errors})


def _each(report: Report, what: str, fn: Callable[..., None], *args: Any) -> None:
    """One object's heal, `fn(*args)`; its failure is reported and the others still run (next
    minute's run tries it again)."""
    try:
        fn(*args)
    except Exception as exc:  # one bad object must not stop the rest
        report.errors.append(f"{what}: {type(exc).__name__}: {str(exc).splitlines()[0]}")


# ---- AWS -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AwsScope:
    """What one deployment's reaper may touch (the Lambda's environment, set by Terraform)."""

    region: str
    deployment: str  # the riftdrill:deployment tag (the env's name_prefix)
    buckets: tuple[str, ...] = ()
    fis_templates: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AwsScope:
        def items(key: str) -> tuple[str, ...]:
            return tuple(x for x in env.get(key, "").split(",") if x)

        return cls(region=env["AWS_REGION"], deployment=env["RIFTDRILL_DEPLOYMENT"],
                   buckets=items("RIFTDRILL_BUCKETS"),
                   fis_templates=items("RIFTDRILL_FIS_TEMPLATES"))


def _tags(items: list[dict[str, Any]]) -> dict[str, str]:
    return {str(t["Key"]): str(t["Value"]) for t in items}


def reap_aws(scope: AwsScope, now_s: float, client: Callable[[str], Any] | None = None) -> Report:
    """Heal every expired fault of the deployment in `scope`; `client(service)` makes boto3
    clients (default: the region's)."""
    if client is None:
        import boto3

        def client(service: str) -> Any:
            return boto3.client(service, region_name=scope.region)

    report = Report()
    ec2 = client("ec2")
    _reap_nacls(ec2, scope, now_s, report)
    _reap_instances(ec2, scope, now_s, report)
    if scope.buckets:
        _reap_bucket_policies(client("s3"), scope, now_s, report)
    if scope.fis_templates:
        _reap_experiments(client("fis"), scope, now_s, report)
    return report


def _reap_nacls(ec2: Any, scope: AwsScope, now_s: float, report: Report) -> None:
    acls = ec2.describe_network_acls(Filters=[
        {"Name": f"tag:{DEPLOYMENT_TAG}", "Values": [scope.deployment]},
        {"Name": "tag-key", "Values": [SEVER_TAG]}])["NetworkAcls"]
    for acl in acls:
        acl_id = str(acl["NetworkAclId"])
        tags = _tags(acl.get("Tags", []))
        for egress in (True, False):
            key = nacl_side_tag(egress)
            ours = [int(e["RuleNumber"]) for e in acl.get("Entries", [])
                    if bool(e["Egress"]) == egress
                    and SEVER_RULE_BASE <= int(e["RuleNumber"]) <= SEVER_RULE_MAX]
            # Entries without a deadline tag are left alone: Terraform owns the NACL's tags, and
            # an apply mid-drill drops them; such a sever waits for `riftdrill heal` rather than
            # risk undoing a fault whose deadline is ahead.
            if key not in tags or not expired(tags[key], now_s):
                continue

            _each(report, f"network acl {acl_id}", _heal_nacl_side, ec2, acl_id, egress, ours,
                  _int(tags.get(key)), report)


def _heal_nacl_side(ec2: Any, acl_id: str, egress: bool, numbers: list[int],
                    deadline: int | None, report: Report) -> None:
    for number in numbers:
        ec2.delete_network_acl_entry(NetworkAclId=acl_id, RuleNumber=number, Egress=egress)
    ec2.delete_tags(Resources=[acl_id], Tags=[{"Key": nacl_side_tag(egress)}])
    report.reaped.append(Reaped(f"nacl-{'egress' if egress else 'ingress'}", acl_id, deadline))


def _reap_instances(ec2: Any, scope: AwsScope, now_s: float, report: Report) -> None:
    pages = ec2.get_paginator("describe_instances").paginate(Filters=[
        {"Name": f"tag:{DEPLOYMENT_TAG}", "Values": [scope.deployment]},
        {"Name": "tag-key", "Values": [EXPIRES_TAG]}])
    for page in pages:
        for r in page["Reservations"]:
            for inst in r["Instances"]:
                iid, state = str(inst["InstanceId"]), str(inst["State"]["Name"])
                deadline = _tags(inst.get("Tags", [])).get(EXPIRES_TAG)
                if not expired(deadline, now_s) or state in ("stopping", "shutting-down"):
                    continue  # stopping: started on a later run, once it is stopped

                _each(report, f"ec2 instance {iid}", _heal_instance, ec2, iid, state,
                      _int(deadline), report)


def _heal_instance(ec2: Any, iid: str, state: str, deadline: int | None, report: Report) -> None:
    if state == "stopped":
        ec2.start_instances(InstanceIds=[iid])
        report.reaped.append(Reaped("ec2-instance", iid, deadline))
    ec2.delete_tags(Resources=[iid], Tags=[{"Key": EXPIRES_TAG}])


def _reap_bucket_policies(s3: Any, scope: AwsScope, now_s: float, report: Report) -> None:
    for bucket in scope.buckets:
        _each(report, f"s3 bucket {bucket}", _heal_bucket_policy, s3, bucket, now_s, report)


def _heal_bucket_policy(s3: Any, bucket: str, now_s: float, report: Report) -> None:
    try:
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except Exception as exc:
        if "NoSuchBucketPolicy" in str(exc):
            return
        raise
    statements = policy.get("Statement", [])
    gone = [s for s in statements
            if (d := sid_deadline(str(s.get("Sid", "")))) is not None and d <= now_s]
    if not gone:
        return
    kept = [s for s in statements if s not in gone]
    if kept:
        policy["Statement"] = kept
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    else:
        s3.delete_bucket_policy(Bucket=bucket)
    for s in gone:
        report.reaped.append(Reaped("bucket-policy", bucket, sid_deadline(s["Sid"])))


def _reap_experiments(fis: Any, scope: AwsScope, now_s: float, report: Report) -> None:
    for template in scope.fis_templates:
        for exp in fis.list_experiments(experimentTemplateId=template).get("experiments", []):
            deadline = (exp.get("tags") or {}).get(EXPIRES_TAG)
            if exp["state"]["status"] not in FIS_ACTIVE or not expired(deadline, now_s):
                continue

            _each(report, f"fis experiment {exp['id']}", _stop_experiment, fis,
                  str(exp["id"]), _int(deadline), report)


def _stop_experiment(fis: Any, exp_id: str, deadline: int | None, report: Report) -> None:
    fis.stop_experiment(id=exp_id)
    report.reaped.append(Reaped("fis-experiment", exp_id, deadline))


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda's entry point (EventBridge schedule, every minute)."""
    report = reap_aws(AwsScope.from_env(os.environ), time.time())
    print(report.to_json())  # CloudWatch Logs: what was healed, what failed
    if report.errors:
        raise RuntimeError(f"{len(report.errors)} object(s) not healed; see the log")
    return {"reaped": len(report.reaped)}


# ---- GCP -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GcpScope:
    """What one deployment's reaper may touch (the function's environment, set by Terraform)."""

    project: str
    deployment: str  # the riftdrill-deployment label
    firewalls: tuple[str, ...] = ()  # the link's sever rules and the store-outage rule
    marker_buckets: tuple[str, ...] = ()  # where store blocks leave their marker objects

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GcpScope:
        def items(key: str) -> tuple[str, ...]:
            return tuple(x for x in env.get(key, "").split(",") if x)

        return cls(project=env["RIFTDRILL_GCP_PROJECT"], deployment=env["RIFTDRILL_DEPLOYMENT"],
                   firewalls=items("RIFTDRILL_FIREWALLS"),
                   marker_buckets=items("RIFTDRILL_MARKER_BUCKETS"))


@dataclass
class GcpClients:
    instances: Any
    firewalls: Any
    storage: Any

    @classmethod
    def default(cls, project: str) -> GcpClients:
        from google.cloud import compute_v1, storage  # type: ignore[attr-defined,unused-ignore]

        return cls(compute_v1.InstancesClient(), compute_v1.FirewallsClient(),
                   storage.Client(project=project))


OPERATION_TIMEOUT_S = 120


def reap_gcp(scope: GcpScope, now_s: float, clients: GcpClients | None = None) -> Report:
    c = clients or GcpClients.default(scope.project)
    report = Report()
    _reap_gce(c.instances, scope, now_s, report)
    _reap_firewalls(c.firewalls, scope, now_s, report)
    _reap_hmac(c.storage, scope, now_s, report)
    return report


def _reap_gce(instances: Any, scope: GcpScope, now_s: float, report: Report) -> None:
    listing = instances.aggregated_list(request={
        "project": scope.project,
        "filter": f"labels.{GCP_DEPLOYMENT_LABEL}={scope.deployment}"})
    for _zone, scoped in listing:
        for inst in getattr(scoped, "instances", None) or []:
            labels = dict(inst.labels)
            if labels.get(GCP_DEPLOYMENT_LABEL) != scope.deployment:
                continue
            deadline = labels.get(GCP_EXPIRES_LABEL)
            if deadline is None or not expired(deadline, now_s) or inst.status in (
                    "STOPPING", "SUSPENDING"):
                continue
            zone = str(inst.zone).rsplit("/", 1)[-1]
            _each(report, f"gce instance {inst.name}", _heal_gce, instances, scope.project,
                  zone, inst, _int(deadline), report)


def _heal_gce(instances: Any, project: str, zone: str, inst: Any, deadline: int | None,
              report: Report) -> None:
    from google.cloud import compute_v1  # type: ignore[attr-defined,unused-ignore]

    ref = {"project": project, "zone": zone, "instance": inst.name}
    status, fingerprint = str(inst.status), inst.label_fingerprint
    labels = {k: v for k, v in dict(inst.labels).items() if k != GCP_EXPIRES_LABEL}
    if status == "TERMINATED":
        instances.start(**ref).result(timeout=OPERATION_TIMEOUT_S)
    elif status == "SUSPENDED":
        instances.resume(**ref).result(timeout=OPERATION_TIMEOUT_S)
    if status in ("TERMINATED", "SUSPENDED"):
        report.reaped.append(Reaped("gce-instance", inst.name, deadline))
    # Running again, the deadline is spent (a stopped VM's label would be reaped next run).
    instances.set_labels(**ref, instances_set_labels_request_resource=(
        compute_v1.InstancesSetLabelsRequest(labels=labels, label_fingerprint=fingerprint)))


def _reap_firewalls(firewalls: Any, scope: GcpScope, now_s: float, report: Report) -> None:

    for name in scope.firewalls:
        _each(report, f"firewall {name}", _heal_firewall, firewalls, scope.project, name,
              now_s, report)


def _heal_firewall(firewalls: Any, project: str, name: str, now_s: float,
                   report: Report) -> None:
    from google.cloud import compute_v1  # type: ignore[attr-defined,unused-ignore]

    rule = firewalls.get(project=project, firewall=name)
    deadline = description_deadline(rule.description)
    # An enabled rule without a deadline is expired: a driver marks it in the same patch.
    if rule.disabled or (deadline is not None and not expired(deadline, now_s)):
        return
    firewalls.patch(project=project, firewall=name, firewall_resource=compute_v1.Firewall(
        disabled=True, description=with_deadline(rule.description, None),
    )).result(timeout=OPERATION_TIMEOUT_S)
    report.reaped.append(Reaped("gce-firewall", name, deadline))


def _reap_hmac(storage: Any, scope: GcpScope, now_s: float, report: Report) -> None:
    for bucket in scope.marker_buckets:
        for blob in storage.list_blobs(bucket, prefix=HMAC_MARKER_PREFIX):
            _each(report, f"hmac marker gs://{bucket}/{blob.name}", _heal_hmac, storage,
                  scope.project, blob, now_s, report)


def _heal_hmac(storage: Any, project: str, blob: Any, now_s: float, report: Report) -> None:
    deadline = blob.download_as_text().strip()
    if not expired(deadline, now_s):
        return
    access_id = blob.name.removeprefix(HMAC_MARKER_PREFIX)
    key = storage.get_hmac_key_metadata(access_id, project_id=project)
    if key.state == "INACTIVE":
        key.state = "ACTIVE"
        key.update()
    blob.delete()
    report.reaped.append(Reaped("hmac-key", access_id, _int(deadline)))


def gcp_handler(request: Any) -> tuple[str, int]:
    """The Cloud Function's entry point (HTTP, called by Cloud Scheduler every minute)."""
    report = reap_gcp(GcpScope.from_env(os.environ), time.time())
    print(report.to_json())  # Cloud Logging
    return report.to_json(), 500 if report.errors else 200
