"""Render a cloud node's cloud-init exactly as the Terraform cluster modules do.

infra/modules/{aws,gcp}-cluster call templatefile() on the same two files: the engine's
`server.properties.tftpl`, then `cloud-init/broker.yaml.tftpl` with those properties embedded as
base64. Doing the same here lets the lab boot a broker from the very properties a cloud node
would get, so the lab exercises the cloud configuration.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, get_args

import yaml

from riftdrill.engines.templates import render, templates_dir
from riftdrill.errors import RiftdrillError
from riftdrill.inventory import CloudEngine

CLOUD_ENGINES: tuple[CloudEngine, ...] = get_args(CloudEngine)
PROPERTIES_PATH = "/etc/riftdrill/server.properties"
# What AWS nodes get: the instance profile signs S3 requests, so there is nothing to fetch.
NO_CREDENTIALS_SCRIPT = "#!/bin/sh\nexit 0\n"
# The cluster modules' default var.secrets_dir: where a node finds its security files.
SECRETS_DIR = "/etc/riftdrill/secrets"
# Where the data disk is looked for first (aws-cluster maps it there; on Nitro instances it shows
# up as NVMe instead and the cloud-init finds it as the second disk). gcp-cluster passes
# GCP_DATA_DEVICE, the by-id name of its attached disk "data".
DATA_DEVICE = "/dev/sdf"
GCP_DATA_DEVICE = "/dev/disk/by-id/google-data"


def render_properties(engine: str, values: Mapping[str, object]) -> str:
    """The engine's server.properties for one node (raises on a missing variable)."""
    if engine not in CLOUD_ENGINES:
        raise RiftdrillError(f"no cloud template for engine {engine!r}; engines: kafka, automq")
    return render(templates_dir() / engine / "server.properties.tftpl", values)


def render_cloud_init(engine: str, values: Mapping[str, object]) -> str:
    """The cloud-init user data of one node.

    `values` holds the properties template's variables plus the cloud-init's: engine_version,
    engine_url, engine_sha256, cluster_id, node_name, heap_opts and optionally
    credentials_script (plain text; default: none needed), secrets_dir (default: the
    modules' own) and data_device (default: the AWS module's DATA_DEVICE).
    """
    props = render_properties(engine, values)
    script = str(values.get("credentials_script", NO_CREDENTIALS_SCRIPT))
    merged: dict[str, object] = {
        "secrets_dir": SECRETS_DIR,
        "data_device": DATA_DEVICE,
        **values,
        "engine": engine,
        "server_properties_b64": _b64(props),
        "credentials_script_b64": _b64(script),
    }
    return render(templates_dir() / "cloud-init" / "broker.yaml.tftpl", merged)


def properties_from_cloud_init(text: str) -> str:
    """The server.properties a cloud-init document writes (the inverse of render_cloud_init)."""
    try:
        doc: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RiftdrillError(f"cloud-init is not valid YAML: {exc}") from exc
    for entry in (doc or {}).get("write_files", []):
        if entry.get("path") == PROPERTIES_PATH:
            content = str(entry.get("content", ""))
            if entry.get("encoding") in ("b64", "base64"):
                return base64.b64decode(content).decode()
            return content
    raise RiftdrillError(f"cloud-init writes no {PROPERTIES_PATH}")


def _b64(text: str) -> str:
    # Terraform's base64encode() encodes the UTF-8 bytes with padding: the same bytes here.
    return base64.b64encode(text.encode()).decode()
