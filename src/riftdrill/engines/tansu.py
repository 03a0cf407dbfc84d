"""Tansu engine: stateless Kafka-compatible brokers whose log lives in an S3 bucket.

Built from the Rust crate registry by `make setup` (cargo install tansu --features dynostore).
Tansu's S3 engine relies on conditional writes (If-Match / If-None-Match) for its metadata, so
the store is probed before a broker starts: without them two brokers could silently overwrite
each other's writes, and riftdrill refuses rather than risk acknowledged data.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from pathlib import Path

from riftdrill import paths
from riftdrill.engines.templates import render, templates_dir
from riftdrill.errors import LabError, SetupError

TANSU_VERSION = "0.6.0"

# Compat workflows (riftdrill.compat.workflows) Tansu does not support, each with why:
# `riftdrill compat` never runs them and shows the reason. Only what the engine lacks goes
# here; a workflow Tansu answers wrongly stays in the matrix as a failure.
_NO_TXN = ("Tansu 0.6 offers no EndTxn (KIP-98) in ApiVersions: librdkafka refuses with "
           "_UNSUPPORTED_FEATURE before sending, so there are no transactions to test")
COMPAT_UNSUPPORTED: dict[str, str] = {
    "transaction-commit": _NO_TXN,
    "transaction-abort": _NO_TXN,
    "read-committed-lso": _NO_TXN,
    "zombie-fencing": _NO_TXN,
    "consume-transform-produce": _NO_TXN,
    "tls": "Tansu 0.6 has no TLS listener",
    "acl-enforcement": "Tansu 0.6 has no authorizer: it enforces no ACL",
}


def tansu_bin() -> Path:
    return paths.cache_dir() / f"tansu-{TANSU_VERSION}" / "bin" / "tansu"


def check_installed() -> None:
    if not tansu_bin().exists():
        raise SetupError(f"Tansu {TANSU_VERSION} is not built ({tansu_bin()}); "
                         "run `make setup ENGINE=tansu`")


@dataclass(frozen=True)
class TansuNode:
    name: str
    cloud: str
    cluster: str
    address: str
    port: int
    bucket: str
    s3_endpoint: str
    s3_region: str = "us-east-1"


def render_env(node: TansuNode) -> dict[str, str]:
    text = render(templates_dir() / "tansu" / "broker.env.tftpl", {
        "cluster_id": node.cluster, "address": node.address, "port": node.port,
        "bucket": node.bucket, "s3_endpoint": node.s3_endpoint, "s3_region": node.s3_region,
        "s3_allow_http": str(node.s3_endpoint.startswith("http://")).lower(), "log_level": "warn",
    })
    env = dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    if not env["STORAGE_ENGINE"].startswith("s3://"):
        # memory:// would ack records it loses on restart: never let a lab broker run on it.
        raise LabError(f"tansu {node.name}: storage {env['STORAGE_ENGINE']} is not durable; refusing")
    return env


def check_conditional_writes(endpoint: str, bucket: str, access_key: str, secret_key: str) -> None:
    """Two If-None-Match:* puts of one key: the second must fail with 412, or we refuse."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=access_key,
                      aws_secret_access_key=secret_key, region_name="us-east-1",
                      config=Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 2}))
    key = f"riftdrill/conditional-probe/{uuid.uuid4().hex}"
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=b"1", IfNoneMatch="*")
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=b"2", IfNoneMatch="*")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
                return
            raise
        raise LabError(f"the S3 server at {endpoint} ignores If-None-Match; Tansu would lose "
                       "writes on it, so riftdrill refuses to start Tansu there")
    except (BotoCoreError, ClientError) as exc:
        raise LabError(f"cannot probe conditional writes at {endpoint}/{bucket}: {exc}") from exc
    finally:
        with contextlib.suppress(BotoCoreError, ClientError):
            s3.delete_object(Bucket=bucket, Key=key)


def check_durable(name: str, log_tail: str) -> None:
    """Tansu prints `storage: <url>` at start; anything but s3:// is a broker that loses acks."""
    lines = [ln for ln in log_tail.splitlines() if ln.startswith("storage: ")]
    if not lines or not lines[-1].startswith("storage: s3://"):
        found = lines[-1] if lines else "no storage line"
        raise LabError(f"tansu {name} started on non-durable storage ({found}); refused and stopped")


def argv() -> list[str]:
    check_installed()
    return [str(tansu_bin()), "broker"]
