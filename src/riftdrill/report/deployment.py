"""What a deployment's brokers are when a run or an estimate does not say: read from the
Terraform itself, so the cost report and `riftdrill cloud cost-estimate` price the same machines.

- Machine types: the defaults of infra/modules/aws-cluster and gcp-cluster (`MODULE_VARS`). The
  lab has no machine types; its runs are priced as if their brokers ran on those defaults ("what
  this workload would cost on the cloud modules"). Every engine and topology uses the same
  broker variables today, so the type is per cloud.
- Broker count: a run's own `summary.brokers` first; older runs recorded none, so the default
  `brokers_per_cloud` of the env their target deploys (infra/envs/local or aws-gcp).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel

from riftdrill.cloud import tfconfig
from riftdrill.errors import RiftdrillError, ValidationError

Cloud = Literal["aws", "gcp"]
CLOUDS: tuple[Cloud, ...] = get_args(Cloud)
# The module variables that size each cloud's nodes.
MODULE_VARS: dict[Cloud, dict[str, str]] = {
    "aws": {"module": "aws-cluster", "broker": "broker_instance_type",
            "controller": "controller_instance_type", "disk_gb": "root_volume_size_gb"},
    "gcp": {"module": "gcp-cluster", "broker": "broker_machine_type",
            "controller": "controller_machine_type", "disk_gb": "boot_disk_size_gb"},
}
# The env each target deploys (`riftdrill deploy --target`).
TARGET_ENV: dict[str, str] = {"local": "local", "aws-gcp": "aws-gcp"}


class Deployment(BaseModel):
    """The defaults a run's cost falls back on; `source` says where they were read."""

    broker_types: dict[str, str] = {}  # cloud -> the cluster module's default machine type
    brokers_per_cloud: int | None = None  # the target env's default; None: unknown target
    source: str = ""


def module_type(infra: Path, cloud: Cloud, role: Literal["broker", "controller"]) -> str:
    return tfconfig.string_default(infra / "modules" / MODULE_VARS[cloud]["module"],
                                   MODULE_VARS[cloud][role])


# The env's fallback when `controllers` is null (main.tf, local.controllers): by topology.
_CONTROLLERS_BY_TOPOLOGY = re.compile(
    r'var\.topology\s*==\s*"stretched"\s*\?\s*\{\s*aws\s*=\s*(\d+)\s*,\s*gcp\s*=\s*(\d+)\s*\}'
    r'\s*:\s*\{\s*aws\s*=\s*(\d+)\s*,\s*gcp\s*=\s*(\d+)\s*\}')


def env_node_counts(env: Path) -> tuple[int, dict[Cloud, int]]:
    """The env's default brokers per cloud and controllers per cloud: the `controllers`
    default, or (null) main.tf's fallback for the default topology."""
    brokers = tfconfig.number_default(env, "brokers_per_cloud")
    variables = {v.name: v for v in tfconfig.variables(env)}
    found = variables.get("controllers")
    default = found.default if found is not None else None
    if default is not None and default.strip() != "null":
        counts = {c: re.search(rf"\b{c}\s*=\s*(\d+)", default) for c in CLOUDS}
        if all(counts.values()):
            return brokers, {c: int(m.group(1)) for c, m in counts.items() if m}
    topology = variables.get("topology")
    fallback = _CONTROLLERS_BY_TOPOLOGY.search((env / "main.tf").read_text())
    if topology is None or topology.default is None or fallback is None:
        raise ValidationError(f"{env}: no default for variable 'controllers' nor main.tf's "
                              "fallback by topology: give `controllers` a default in variables.tf")
    stretched = topology.default.strip().strip('"') == "stretched"
    aws, gcp = (fallback.group(1), fallback.group(2)) if stretched else (fallback.group(3),
                                                                          fallback.group(4))
    return brokers, {"aws": int(aws), "gcp": int(gcp)}


def deployment_defaults(infra: Path, target: str) -> Deployment:
    """The cluster modules' broker types and the target env's broker count; what cannot be read
    is left out (the cost then says it is unknown), never guessed."""
    types: dict[str, str] = {}
    for cloud in CLOUDS:
        try:
            types[cloud] = module_type(infra, cloud, "broker")
        except (OSError, RiftdrillError):
            continue
    per_cloud: int | None = None
    env = TARGET_ENV.get(target)
    if env is not None:
        try:
            per_cloud = tfconfig.number_default(infra / "envs" / env, "brokers_per_cloud")
        except (OSError, RiftdrillError):
            per_cloud = None
    return Deployment(broker_types=types, brokers_per_cloud=per_cloud,
                      source=f"infra/envs/{env}" if env and per_cloud is not None else "")


def type_note(cloud: str, role: str, module_default: str, priced: str | None) -> str | None:
    """A note when prices.yaml prices another machine than the module's default."""
    if priced is None or priced.split()[0] == module_default:
        return None
    return (f"{cloud} {role}s: prices.yaml prices {priced.split()[0]}, the module's default is "
            f"{module_default}")
