"""The fault driver of target aws-gcp: each primitive dispatches on the broker's cloud provider.

Link and store faults are declarative like the lab's: `sync_link` / `sync_store` read which
faults `inv.faults` holds and make both clouds match, so healing one of two overlapping faults
keeps the other in force. Every fault's deadline (riftdrill.expiry) goes onto the cloud object
it changes, for the in-cloud reaper (riftdrill.cloud.reaper); a recorded fault past its deadline
is left out of the sync (the reaper may have undone it: it must not come back). Cloud errors
become one-line RiftdrillErrors (exit 2), redacted.

The guard (`check_deployment`) runs before a driver's first change: `drivers.driver_for` runs it
as it makes the driver (so a fault is refused before it is even recorded, a heal before it
forgets anything), and every changing method runs it again if the driver has not passed it, so
no way of getting a CloudDriver can change a cloud unguarded. It only reads: STS
GetCallerIdentity, EC2/Auto Scaling Describe*, S3 GetBucketTagging, GCE instances.get.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from riftdrill import expiry, guard
from riftdrill.drivers import aws, gcp
from riftdrill.drivers.base import BrokerState, Effect
from riftdrill.drivers.usage import LinkCounters, StoreSnapshots
from riftdrill.errors import FaultError, RiftdrillError
from riftdrill.inventory import (
    Broker,
    ConnectWorker,
    Database,
    Direction,
    Inventory,
    MirrorMaker,
)
from riftdrill.redact import Secret

F = TypeVar("F", bound=Callable[..., Any])
API_RETURNED = "api returned"  # the cloud's confirmation: its API accepted the change


def _one_line_errors(fn: F) -> F:
    """Missing credentials, wrong region, API refusals: one clear line, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RiftdrillError:
            raise
        except Exception as exc:
            raise _translate(exc) from exc

    return cast(F, wrapper)


def _translate(exc: Exception) -> RiftdrillError:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
    from google.api_core.exceptions import GoogleAPIError
    from google.auth.exceptions import DefaultCredentialsError

    if isinstance(exc, NoCredentialsError):
        return guard.CredentialsError("no AWS credentials found; set AWS_PROFILE or run "
                                      "`aws sso login` for the allow-listed drill account")
    if isinstance(exc, DefaultCredentialsError):
        return guard.CredentialsError("no Google credentials found; run "
                                      "`gcloud auth application-default login`")
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return FaultError(guard.redact(f"AWS {err.get('Code', '?')}: {err.get('Message', exc)}"))
    if isinstance(exc, BotoCoreError | GoogleAPIError):
        return FaultError(guard.redact(f"{type(exc).__name__}: {exc}").splitlines()[0])
    return FaultError(guard.redact(f"{type(exc).__name__}: {exc}").splitlines()[0])


NO_CLOUD_MIRROR = ("MirrorMaker 2 faults are lab-only: the aws-gcp target deploys no MirrorMaker 2 "
                   "(run the drill on the lab: `make deploy TOPOLOGY=per-cloud`)")
NO_CLOUD_HUB = ("Connect worker and hub database faults are lab-only: the aws-gcp target deploys "
                "no integration hub (run it on the lab: `make deploy TOPOLOGY=hub`)")


def _provider(inv: Inventory, cloud: str) -> str:
    provider = inv.cloud(cloud).provider
    if provider not in ("aws", "gcp"):
        raise FaultError(f"cloud {cloud!r} has provider {provider!r}; the cloud driver needs aws/gcp")
    return provider


def _broker_deadline_s(inv: Inventory, broker: Broker) -> int:
    """The latest deadline of the broker's recorded kill/pause (recorded before it is applied)."""
    recorded = inv.faults_on(("kill_broker", "pause_broker"), broker.name)
    if not recorded:  # the driver called directly, no fault recorded: the by-hand deadline
        return expiry.deadline_s(time.time(), None)
    return max(expiry.fault_deadline_s(f) for f in recorded)


def _direction_deadlines(inv: Inventory, link: str) -> dict[Direction, int]:
    """Each severed direction of the link -> the latest deadline among its live severs."""
    out: dict[Direction, int] = {}
    for f in expiry.live(inv.faults_on("sever_link", link)):
        out[f.direction] = max(out.get(f.direction, 0), expiry.fault_deadline_s(f))
    return out


class CloudDriver:
    """Driver protocol (riftdrill.drivers.base.Driver) over EC2/S3 and GCE/GCS."""

    def __init__(self) -> None:
        self._guard_passed = False

    def authorize(self, inv: Inventory) -> None:
        """The guard (check_deployment), unless this driver passed it already: before the first
        change, by every changing method."""
        if not self._guard_passed:
            check_deployment(inv)
            self._guard_passed = True

    @_one_line_errors
    def broker_state(self, inv: Inventory, broker: Broker) -> BrokerState:
        if _provider(inv, broker.cloud) == "aws":
            return aws.broker_state(inv, broker)
        return gcp.broker_state(inv, broker)

    # Best effort on the effect: each call returns when the provider's API did (an instance
    # stop or firewall change may take effect later), and the Effect says exactly that.

    @_one_line_errors
    def kill_broker(self, inv: Inventory, broker: Broker) -> Effect:
        self.authorize(inv)
        requested = time.time_ns()
        if _provider(inv, broker.cloud) == "aws":
            aws.kill_broker(inv, broker, _broker_deadline_s(inv, broker))
        else:
            gcp.kill_broker(inv, broker, _broker_deadline_s(inv, broker))
        return Effect.since(requested, API_RETURNED)

    @_one_line_errors
    def pause_broker(self, inv: Inventory, broker: Broker) -> Effect:
        self.authorize(inv)
        requested = time.time_ns()
        if _provider(inv, broker.cloud) == "aws":
            aws.pause_broker(inv, broker)
        else:
            gcp.pause_broker(inv, broker, _broker_deadline_s(inv, broker))
        return Effect.since(requested, API_RETURNED)

    @_one_line_errors
    def resume_broker(self, inv: Inventory, broker: Broker) -> Effect:
        self.authorize(inv)
        requested = time.time_ns()
        if _provider(inv, broker.cloud) == "gcp":
            gcp.resume_broker(inv, broker)
        # aws brokers are never paused (EC2 has no suspend): nothing to resume
        return Effect.since(requested, API_RETURNED)

    @_one_line_errors
    def start_broker(self, inv: Inventory, broker: Broker) -> Effect:
        self.authorize(inv)
        requested = time.time_ns()
        if _provider(inv, broker.cloud) == "aws":
            aws.start_broker(inv, broker)
        else:
            gcp.start_broker(inv, broker)
        return Effect.since(requested, API_RETURNED)

    def kill_mirror(self, inv: Inventory, mirror: MirrorMaker) -> Effect:
        raise FaultError(NO_CLOUD_MIRROR)

    def start_mirror(self, inv: Inventory, mirror: MirrorMaker) -> Effect:
        raise FaultError(NO_CLOUD_MIRROR)

    def kill_worker(self, inv: Inventory, worker: ConnectWorker) -> Effect:
        raise FaultError(NO_CLOUD_HUB)

    def start_worker(self, inv: Inventory, worker: ConnectWorker) -> Effect:
        raise FaultError(NO_CLOUD_HUB)

    def kill_database(self, inv: Inventory, database: Database) -> Effect:
        raise FaultError(NO_CLOUD_HUB)

    def pause_connector(self, inv: Inventory, connector: str) -> Effect:
        raise FaultError(NO_CLOUD_HUB)

    def resume_connector(self, inv: Inventory, connector: str) -> Effect:
        raise FaultError(NO_CLOUD_HUB)

    def start_database(self, inv: Inventory, database: Database) -> Effect:
        raise FaultError(NO_CLOUD_HUB)

    def pause_database(self, inv: Inventory, database: Database) -> Effect:
        raise FaultError(NO_CLOUD_HUB)

    def resume_database(self, inv: Inventory, database: Database) -> Effect:
        raise FaultError(NO_CLOUD_HUB)

    @_one_line_errors
    def sync_link(self, inv: Inventory, link: str) -> Effect:
        self.authorize(inv)
        requested = time.time_ns()
        lk = inv.link(link)
        deadlines = _direction_deadlines(inv, lk.name)
        for cloud, peer in ((lk.a, lk.b), (lk.b, lk.a)):
            if _provider(inv, cloud) == "aws":
                aws.sync_link(inv, lk.name, cloud, peer, deadlines)
            else:
                gcp.sync_link(inv, lk.name, cloud, deadlines)
        return Effect.since(requested, API_RETURNED)

    def sync_weather(self, inv: Inventory, link: str) -> Effect:
        raise FaultError("the link's weather cannot be changed on aws-gcp: the clouds' network "
                         "is theirs (degrade_link runs on the local lab)")

    def sync_store_weather(self, inv: Inventory, store: str) -> Effect:
        raise FaultError("a store brownout cannot be injected on aws-gcp: S3 and GCS are the "
                         "providers' (brownout_store runs on the local lab)")

    @_one_line_errors
    def sync_store(self, inv: Inventory, store: str) -> Effect:
        self.authorize(inv)
        requested = time.time_ns()
        st = inv.store(store)
        live = expiry.live(inv.faults_on("block_object_store", st.name))
        deadline = max((expiry.fault_deadline_s(f) for f in live), default=None)
        if _provider(inv, st.cloud) == "aws":
            aws.sync_store(inv, st.name, deadline)
        else:
            gcp.sync_store(inv, st.name, deadline)
        return Effect.since(requested, API_RETURNED)

    # Cloud link bytes (flow logs) and store requests come from the clouds' own billing and
    # logs, not from a drill's snapshots: nothing is measured here (the cost report says so).
    def link_counters(self, inv: Inventory) -> LinkCounters:
        return {}

    def link_rtt(self, inv: Inventory, link: str) -> dict[str, Any]:
        return {"error": "not measured on aws-gcp (no agent runs inside the VPCs)"}

    def start_store_recording(self, inv: Inventory) -> None:
        return None

    def store_snapshot(self, inv: Inventory) -> StoreSnapshots:
        return {}

    def log_files(self, inv: Inventory) -> dict[str, Path]:
        return {}  # the brokers' logs stay on their VMs (journald); a drill notes it copied none

    def known_secrets(self, inv: Inventory) -> list[Secret]:
        # None is held here: the GCS HMAC secret stays in Secret Manager (the nodes fetch it at
        # boot), the VPN pre-shared keys in Terraform's state; clients use IAM and ADC.
        return []


def deployment_resources(inv: Inventory) -> list[guard.TaggedResource]:
    """Every resource a fault or heal of `inv` may change that can carry a tag, with its tags
    as the cloud reports them now: the broker VMs (EC2 instances, or their auto scaling groups;
    GCE instances), the network ACLs a link sever edits, the S3 buckets a store block edits. A
    resource that no longer exists is left out (nothing of it can change; the fault or heal
    that needs it fails naming it). GCE firewall rules and HMAC keys carry no labels in GCP:
    the allow-listed project is their guard."""
    found: list[guard.TaggedResource] = []
    for cloud in inv.clouds:
        if cloud.provider == "aws":
            found += _aws_resources(inv, cloud.name)
        elif cloud.provider == "gcp":
            found += _gcp_resources(inv, cloud.name)
    return found


def _aws_resources(inv: Inventory, cloud: str) -> list[guard.TaggedResource]:
    region = aws.region_of(inv, cloud)
    brokers = inv.brokers_in(cloud)
    by_id = {b.handle: b for b in brokers}
    found = [guard.TaggedResource("ec2 instance", f"{by_id[iid].name} ({iid})", tags)
              for iid, tags in aws.instances_tags(region, sorted(by_id)).items()]
    for lk in inv.links:
        if cloud in (lk.a, lk.b):
            found += [guard.TaggedResource("network acl", f"{acl} (link {lk.name})", tags)
                      for acl, tags in aws.sever_acls_tags(region, lk.name).items()]
    for st in inv.stores:
        if st.cloud == cloud:
            for bucket in st.buckets:
                tags = aws.bucket_tags(region, bucket)
                if tags is not None:
                    found.append(guard.TaggedResource("s3 bucket", bucket, tags))
    return found


def _gcp_resources(inv: Inventory, cloud: str) -> list[guard.TaggedResource]:
    found: list[guard.TaggedResource] = []
    for b in inv.brokers_in(cloud):
        labels = gcp.instance_labels(gcp.instance_ref(b))
        if labels is not None:
            found.append(guard.TaggedResource("gce instance", b.name, labels))
    return found


@_one_line_errors
def check_deployment(inv: Inventory) -> None:
    """The guard of every change on aws-gcp (fault, heal, drill start, destroy), before the
    first call that changes anything; raises GuardError, one line naming the problem and the fix.

    1. The AWS account of the credentials in use (STS, asked in each AWS cloud's region) and
       every GCP project the inventory's handles name are on the allow-list;
    2. only then, every resource a fault or heal may change carries the drill-target tag
       (`deployment_resources`).
    """
    aws_clouds = [c.name for c in inv.clouds if c.provider == "aws"]
    accounts = {aws.caller_account_id(aws.region_of(inv, c)) for c in aws_clouds}
    guard.check_ids(sorted(accounts), sorted(gcp.projects_of_handles(inv)))
    guard.check_drill_target_tags(deployment_resources(inv))
