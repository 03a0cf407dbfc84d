"""Deploy and destroy: Terraform provisions, the inventory records, a sweep guarantees 'gone'."""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, get_args

from riftdrill import inventory, paths
from riftdrill.engines import kafka
from riftdrill.errors import LabError, RiftdrillError, SetupError, ValidationError
from riftdrill.inventory import (
    ONE_CLUSTER,
    CloudEngine,
    ConnectorDelivery,
    Engine,
    Inventory,
    LabEngine,
    SecurityMode,
    Target,
    Topology,
)
from riftdrill.lab import net, procs, stores
from riftdrill.redact import Redactor, secrets_in_dir
from riftdrill.security import credentials
from riftdrill.terraform import Workspace

TARGETS: tuple[Target, ...] = get_args(Target)
ENGINES: tuple[LabEngine, ...] = get_args(LabEngine)
CLOUD_ENGINES: tuple[CloudEngine, ...] = get_args(CloudEngine)
TOPOLOGIES: tuple[Topology, ...] = get_args(Topology)
HUB_DELIVERIES: tuple[ConnectorDelivery, ...] = get_args(ConnectorDelivery)
SECURITY_MODES: tuple[SecurityMode, ...] = get_args(SecurityMode)
# The switch's default (docs/security.md): TLS + SCRAM + ACLs. Where it cannot run (Tansu, the
# clouds for now) a deploy that did not ask for it runs open and says so (plan_deploy).
DEFAULT_SECURITY: SecurityMode = "sasl-tls"
# Engines that can run security sasl-tls. Tansu 0.6 accepts --cert/--key but never wraps a
# connection in TLS (its broker builds the acceptor and leaves it unused), and answers
# CreateAcls without storing or enforcing anything (it has SASL, but no TLS and no ACLs).
SECURE_ENGINES: tuple[Engine, ...] = ("kafka",)
LAB_NAMESPACES = ("rd-aws", "rd-gcp", "rd-wan")
DEFAULT_WAN = "inter-region"  # lab/wan.py DEFAULT_PROFILE (a test holds the two equal)

Progress = Callable[[str], None]
Announce = Callable[[], None]  # called once the checks passed, right before anything changes


@dataclass
class DeploySpec:
    target: Target = "local"
    engine: Engine = "kafka"
    topology: Topology = "stretched"
    brokers_per_cloud: int = 2
    replication_factor: int = 3
    min_insync_replicas: int = 2
    wan: str = DEFAULT_WAN  # the link's weather: a lab/wan.py profile name or field=value list
    broker_heap_mb: int = 512
    hub_delivery: ConnectorDelivery = "at-least-once"  # the CDC source's (topology hub)
    security: SecurityMode = DEFAULT_SECURITY  # TLS + SCRAM + ACLs, or off (docs/security.md)
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        engines = CLOUD_ENGINES if self.target == "aws-gcp" else ENGINES
        choices = {"target": TARGETS, "engine": engines, "topology": TOPOLOGIES}
        for name, allowed in choices.items():
            value = getattr(self, name)
            if value not in allowed:
                raise ValidationError(f"unknown {name} {value!r}; choose one of: {', '.join(allowed)}")
        if self.hub_delivery not in HUB_DELIVERIES:
            raise ValidationError(f"unknown hub delivery {self.hub_delivery!r}; choose one of: "
                                  f"{', '.join(HUB_DELIVERIES)}")
        if self.hub_delivery != "at-least-once" and self.topology != "hub":
            raise ValidationError(f"hub delivery {self.hub_delivery} is for topology hub (asked: "
                                  f"{self.topology}); add --topology hub or leave it out")
        if self.security not in SECURITY_MODES:
            raise ValidationError(f"unknown security {self.security!r}; choose one of: "
                                  f"{', '.join(SECURITY_MODES)}")
        if self.topology == "hub" and (self.target != "local" or self.engine != "kafka"):
            raise ValidationError(
                f"topology hub runs on the lab with kafka only (asked: {self.engine} on "
                f"{self.target}); deploy it with `make deploy TOPOLOGY=hub ENGINE=kafka`")
        unsecurable = security_unsupported(self)
        if unsecurable:
            raise ValidationError(f"security {self.security} is not for {unsecurable} "
                                  "(docs/security.md); deploy with `--security off` "
                                  "(make deploy SECURITY=off)")
        if not 1 <= self.brokers_per_cloud <= 9:
            raise ValidationError("brokers_per_cloud must be 1..9")
        if self.target == "local":
            from riftdrill.lab.wan import parse_profile

            parse_profile(self.wan)  # ValidationError naming the field and its range
        total = self.brokers_per_cloud * 2
        if self.target == "aws-gcp":
            return  # the env's own variable validation covers the rest
        if self.topology in ONE_CLUSTER and self.replication_factor > total:
            raise ValidationError(
                f"replication_factor {self.replication_factor} exceeds the {total} brokers; "
                "lower it or add brokers"
            )
        if not 1 <= self.min_insync_replicas <= self.replication_factor:
            raise ValidationError("min_insync_replicas must be between 1 and replication_factor")
        if self.engine == "kafka" and self.topology in ONE_CLUSTER and self.brokers_per_cloud < 2:
            raise ValidationError(f"{self.topology} needs 2+ brokers per cloud (2 KRaft voters "
                                  "live in aws)")

    def tf_vars(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "engine": self.engine, "topology": self.topology,
            "brokers_per_cloud": self.brokers_per_cloud,
            "replication_factor": self.replication_factor,
            "min_insync_replicas": self.min_insync_replicas,
            "broker_heap_mb": self.broker_heap_mb,
            "riftdrill_python": sys.executable,
            "riftdrill_home": str(paths.project_root()),
        }
        if self.target == "local":
            values["wan_profile"] = self.wan
            values["hub_delivery"] = self.hub_delivery
            values["security"] = self.security
        return {**values, **self.extra}


def security_unsupported(spec: DeploySpec) -> str:
    """Why `spec`'s security cannot be deployed ("" when it can, or is off)."""
    if spec.security == "off":
        return ""
    if spec.target != "local":
        return (f"target {spec.target} yet (the clouds render it, infra variable `security`, "
                "but do not deliver its secrets to the VMs)")
    if spec.engine not in SECURE_ENGINES:
        return f"engine {spec.engine} (Tansu 0.6 has no TLS and enforces no ACLs)"
    return ""


def security_as_default(spec: DeploySpec) -> DeploySpec:
    """`spec` as a deploy that was not asked for a security builds it: where its security
    cannot run (security_unsupported), off. For programs that build specs (compare, bench)."""
    return replace(spec, security="off") if security_unsupported(spec) else spec


def one_security(specs: Sequence[DeploySpec]) -> list[DeploySpec]:
    """`specs` to be compared with each other, in one security mode: the default when every one
    of them can run it, else off (a TLS + SASL reconnect costs time, so an engine secured and
    one open would not be like with like). For programs that deploy several setups (compare,
    bench)."""
    mode: SecurityMode = ("off" if any(security_unsupported(replace(s, security=DEFAULT_SECURITY))
                                       for s in specs) else DEFAULT_SECURITY)
    return [replace(s, security=mode) for s in specs]


# What a cloud deploy takes from the request or the deployed lab; the rest is terraform.tfvars'.
CLOUD_SHAPE = ("engine", "topology", "brokers_per_cloud")


@dataclass(frozen=True)
class DeployRequest:
    """What `riftdrill deploy` was asked for. None = not given: keep what is deployed (or,
    with nothing deployed, the default: DeploySpec's for the lab, terraform.tfvars' for aws-gcp)."""

    target: Target | None = None
    engine: Engine | None = None
    topology: Topology | None = None
    brokers_per_cloud: int | None = None
    replication_factor: int | None = None
    min_insync_replicas: int | None = None
    wan: str | None = None
    hub_delivery: ConnectorDelivery | None = None
    security: SecurityMode | None = None

    def given(self) -> dict[str, Any]:
        return {name: value for name, value in asdict(self).items() if value is not None}


@dataclass(frozen=True)
class DeployPlan:
    """The spec to deploy, and what it changes in the deployed lab (empty: nothing changes)."""

    spec: DeploySpec
    deployed: DeploySpec | None
    changes: tuple[str, ...]
    cloud_vars: frozenset[str]  # aws-gcp: the CLOUD_SHAPE names passed to Terraform
    # Said before deploying, whatever changes: a default the request did not ask for was
    # not applied (Tansu gets security off).
    remarks: tuple[str, ...] = ()

    def notice(self) -> str | None:
        """What a redeploy will do, said before it does it (None: nothing to say)."""
        said = self._change_notice()
        return "; ".join([*self.remarks, *([said] if said else [])]) or None

    def _change_notice(self) -> str | None:
        if not self.changes:
            return None
        what = ", ".join(self.changes)
        if self.deployed is not None and hub_only_change(asdict(self.deployed), self.spec):
            verb = ("rebuilding" if self.deployed.topology == self.spec.topology
                    else "adding" if self.spec.topology == "hub" else "removing")
            return f"{what}: {verb} the integration hub; the cluster and its data stay"
        if self.deployed is not None and self.deployed.target == self.spec.target == "local":
            return (f"the request differs from the deployed lab ({what}): tearing the lab down "
                    "(its faults and data too) and deploying it again")
        return f"the request differs from what is deployed ({what}): deploying again"

    def title(self) -> str:
        """`kafka/stretched on local`; terraform.tfvars decides what the request leaves open."""
        shape = [str(getattr(self.spec, name)) if self.spec.target == "local"
                 or name in self.cloud_vars else "(tfvars)" for name in ("engine", "topology")]
        return f"{'/'.join(shape)} on {self.spec.target}"


def plan_deploy(request: DeployRequest, deployed: DeploySpec | None) -> DeployPlan:
    """Act on what is deployed unless the request asks for something else.

    Unset fields keep the deployed lab's values; a field set to another value is a change,
    named in `changes` so the CLI can say it before tearing anything down."""
    given = request.given()
    target = given.pop("target", deployed.target if deployed else "local")
    base = deployed if deployed is not None and deployed.target == target else None
    changes: tuple[str, ...] = ()
    if base is None:
        spec = DeploySpec(target=target, **given)
        if deployed is not None:
            changes = (f"target {deployed.target} -> {target}",)
    else:
        spec = replace(base, **given)
        changes = tuple(f"{name.replace('_', ' ')} {getattr(base, name)} -> {value}"
                        for name, value in given.items() if getattr(base, name) != value)
        default = replace(spec, security=DEFAULT_SECURITY)
        if ("security" not in given and spec.security != DEFAULT_SECURITY
                and security_unsupported(replace(base, security=DEFAULT_SECURITY))
                and not security_unsupported(default)):
            # The deployed lab ran open only because it could not run the default (Tansu):
            # one that can gets the default back.
            spec = default
            changes += (f"security {base.security} -> {DEFAULT_SECURITY}",)
    remarks: tuple[str, ...] = ()
    unsecurable = security_unsupported(spec)
    if unsecurable and "security" not in given:
        # Only the default (or what was deployed before) asked for it: this one runs open.
        remarks = (f"security {spec.security} is not for {unsecurable}: deploying with "
                   "security off",)
        if base is not None and base.security != "off":
            changes += (f"security {base.security} -> off",)
        spec = replace(spec, security="off")
    # Cloud precedence: CLI flag > terraform.tfvars > the env's default. A -var beats the file,
    # so only what this request gives is passed: the deployed inventory's shape is not (an
    # edited terraform.tfvars must win over what an earlier apply made).
    cloud_vars = frozenset(name for name in CLOUD_SHAPE if name in given)
    return DeployPlan(spec=spec, deployed=deployed, changes=changes, cloud_vars=cloud_vars,
                      remarks=remarks)


def spec_of(inv: Inventory) -> DeploySpec:
    """The shape of a deployed inventory (the lab records its exact spec; see deployed_spec)."""
    first = inv.clouds[0].name if inv.clouds else ""
    per_cloud = sum("broker" in b.roles for b in inv.brokers_in(first))
    return DeploySpec(target=inv.target, engine=inv.engine, topology=inv.topology,
                      brokers_per_cloud=per_cloud, replication_factor=inv.replication_factor,
                      min_insync_replicas=inv.min_insync_replicas, security=inv.security.mode)


def deployed_spec() -> DeploySpec | None:
    """What this checkout has deployed: the lab's recorded spec (also of a half-applied lab),
    else the shape of the inventory; None when nothing is deployed."""
    try:
        inv: Inventory | None = inventory.load()
    except RiftdrillError:  # nothing deployed, or an inventory too broken to trust
        inv = None
    previous = _previous_spec()
    if previous is not None and (inv is None or inv.target == "local"):
        return DeploySpec(**{k: v for k, v in previous.items() if k in DeploySpec.__dataclass_fields__})
    return spec_of(inv) if inv is not None else None


def workspace(target: str = "local") -> Workspace:
    """The target's Terraform root module; its log is redacted of the target's secrets (the
    lab's object-store secret key; for both, every file under .riftdrill/secrets/), known
    before anything is deployed (`drivers.known_secrets` gives the same from an inventory)."""
    known = [*(stores.secrets() if target == "local" else []), *secrets_in_dir(paths.secrets_dir())]
    return Workspace(module_dir=paths.project_root() / "infra" / "envs" / target, name=target,
                     redactor=Redactor(known))


@contextlib.contextmanager
def _deploy_lock() -> Iterator[None]:
    paths.state_dir().mkdir(parents=True, exist_ok=True)
    with open(paths.state_dir() / "deploy.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise LabError("another deploy/destroy is running in this checkout; wait for it") from exc
        yield


def _spec_path() -> Path:
    return paths.state_dir() / "deploy-spec.json"


def _check_namespaces_free() -> None:
    """Before Terraform starts: a foreign namespace is a one-line error, not a failed apply."""
    for ns in LAB_NAMESPACES:
        net.check_namespace_free(ns, str(paths.state_dir()))


def _lab_intact() -> bool:
    return all(ns in net.namespaces() for ns in LAB_NAMESPACES)


def deploy(spec: DeploySpec, progress: Progress | None = None, dry_run: bool = False,
           cloud_vars: frozenset[str] = frozenset(CLOUD_SHAPE),
           announce: Announce | None = None) -> Inventory | None:
    """Deploy `spec`; on aws-gcp only the `cloud_vars` of CLOUD_SHAPE are passed to Terraform
    (the others come from terraform.tfvars, else the env's defaults). `announce` runs after the
    preflight checks, before the first change (DeployPlan.notice)."""
    spec.validate()
    if spec.target == "aws-gcp":
        from riftdrill.cloud import deploy as cloud_deploy

        shape = {name: getattr(spec, name) if name in cloud_vars else None for name in CLOUD_SHAPE}
        return cloud_deploy.deploy(workspace("aws-gcp"), shape["engine"], shape["topology"],
                                   shape["brokers_per_cloud"], dry_run, progress, announce)
    if dry_run:
        raise ValidationError("--dry-run is for cloud targets; the lab is built for real")
    return deploy_lab(spec, progress, announce)


def deploy_lab(spec: DeploySpec, progress: Progress | None = None,
               announce: Announce | None = None) -> Inventory:
    net.preflight()
    if spec.engine == "tansu":
        from riftdrill.engines import tansu

        tansu.check_installed()
        if not (stores.s3proxy_libs() / f"s3proxy-{stores.S3PROXY_VERSION}.jar").exists():
            raise SetupError(f"S3Proxy missing ({stores.s3proxy_libs()}); run `make setup`")
    else:
        kafka.check_installed()
    if not stores.fake_gcs_bin().exists():
        raise LabError(f"fake-gcs-server missing ({stores.fake_gcs_bin()}); run `make setup`")
    with _deploy_lock():
        _check_namespaces_free()
        if announce:
            announce()
        ws = workspace(spec.target)
        previous = _previous_spec()
        stale = previous is not None and previous != asdict(spec) and not hub_only_change(
            previous, spec)
        if ws.has_state() and (not _lab_intact() or stale):
            # State that no longer matches the machine (reboot, orphan sweep, other topology):
            # start clean rather than let Terraform believe in components that are gone.
            if progress:
                progress("lab state out of date: tearing down before deploying")
            _destroy_locked(progress, orphans=False)
        ws.init(progress)
        if spec.security != "off":
            # Before any broker starts: its certificate is issued from this authority and the
            # controllers format their storage with these SCRAM credentials. A new lab (no
            # state: nothing runs) gets new ones; a lab being finished keeps those it runs on.
            credentials.prepare(paths.secrets_dir(), fresh=not ws.has_state())
        # Recorded before applying: if this apply fails half-way, a deploy of another shape
        # must know the machine holds (part of) this one and tear it down first.
        _spec_path().write_text(json.dumps(asdict(spec)))
        ws.apply(spec.tf_vars(), progress)
        inv = Inventory.model_validate(ws.outputs()["inventory"])
        try:
            inv.faults = inventory.load().faults
        except Exception:
            inv.faults = []
        for link in inv.links:  # what the link component applied (lab/components.link_up)
            applied = paths.lab_dir() / "links" / f"{link.name}.json"
            if applied.exists():
                data = json.loads(applied.read_text())
                for name in ("latency_ms", "jitter_ms", "loss_pct", "rate_mbit", "emulated"):
                    setattr(link, name, data[name])
                link.wan = str(data["profile"])
        inventory.save(inv)
        return inv


# Fields added to DeploySpec after labs were deployed, with what such a lab ran: a spec
# recorded before a field existed reads as that value, never as today's default.
LATER_FIELDS: dict[str, Any] = {"hub_delivery": "at-least-once", "security": "off"}


HUB_ONLY = ("topology", "hub_delivery")  # what only the hub's components depend on


def hub_only_change(previous: dict[str, Any], spec: DeploySpec) -> bool:
    """Stretched <-> hub, or the hub's delivery, and nothing else: Terraform adds, removes or
    rebuilds the hub's components and leaves the cluster as it is (no other component depends
    on the topology or the delivery)."""
    now = asdict(spec)
    topologies = {previous.get("topology"), now["topology"]}
    if not topologies <= {"stretched", "hub"} or topologies == {"stretched"}:
        return False
    before = {**LATER_FIELDS, **previous}  # a spec from before they existed
    if all(before[k] == now[k] for k in HUB_ONLY):
        return False
    return {k: v for k, v in before.items() if k not in HUB_ONLY} == {
        k: v for k, v in now.items() if k not in HUB_ONLY}


def _previous_spec() -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(_spec_path().read_text())
    except (OSError, ValueError):
        return None
    return {**LATER_FIELDS, **data}


@dataclass
class DestroyReport:
    terraform_destroyed: bool
    namespaces_removed: list[str]
    processes_killed: list[str]
    seconds: float


def destroy(progress: Progress | None = None, orphans: bool = False) -> DestroyReport:
    with _deploy_lock():
        return _destroy_locked(progress, orphans)


def _destroy_locked(progress: Progress | None, orphans: bool) -> DestroyReport:
    started = time.monotonic()
    owner = str(paths.state_dir())
    ours_before = {ns for ns, o in net.owned_namespaces().items()
                   if orphans or o in (owner, "")} & net.namespaces()
    killed = []
    # The lab's data is about to be deleted: no graceful shutdown to wait for.
    for name in procs.known():
        if procs.pid_of(name) is not None:
            procs.stop(name, grace_s=0)
            killed.append(name)
    ws = workspace("local")
    tf_done = False
    if ws.has_state():
        prev = _previous_spec() or {}
        spec = DeploySpec(**{k: v for k, v in prev.items() if k in DeploySpec.__dataclass_fields__})
        try:
            ws.init(progress)
            ws.destroy(spec.tf_vars(), progress)
            tf_done = True
        except Exception as exc:  # the sweep below still removes everything we own
            if progress:
                progress(f"terraform destroy failed ({exc}); sweeping what riftdrill owns")
    swept = []
    for ns, ns_owner in net.owned_namespaces().items():
        if orphans or ns_owner in (owner, ""):
            net.release_namespace(ns)
            swept.append(ns)
    for ns in swept:
        # The host end of a cloud's veth normally dies with its peer; make sure of it.
        net.run(["ip", "link", "del", f"rdh-{ns.removeprefix('rd-')}"], check=False)
    shutil.rmtree(paths.lab_dir(), ignore_errors=True)
    shutil.rmtree(paths.secrets_dir(), ignore_errors=True)  # they belonged to this lab only
    shutil.rmtree(ws.data_dir, ignore_errors=True)
    ws.state_path.unlink(missing_ok=True)
    ws.state_path.with_name(ws.state_path.name + ".backup").unlink(missing_ok=True)
    ws.apply_record_path.unlink(missing_ok=True)
    _spec_path().unlink(missing_ok=True)
    paths.inventory_path().unlink(missing_ok=True)
    removed = (ours_before | set(swept)) - net.namespaces()
    return DestroyReport(terraform_destroyed=tf_done, namespaces_removed=sorted(removed),
                         processes_killed=killed, seconds=round(time.monotonic() - started, 2))
