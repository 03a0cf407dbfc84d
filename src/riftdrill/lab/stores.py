"""Object-storage servers of the lab: an S3 API in aws, a GCS API in gcp.

S3: moto's server by default, because it honours If-Match / If-None-Match conditional writes
atomically and records requests (the cost report counts them). For shared-storage engines
(Tansu) S3Proxy 4 on its filesystem backend instead: it honours the same conditional writes,
and answers Tansu's many small writes in milliseconds where moto takes seconds (measured on
loopback at 200 rec/s: produce p50 9 ms on S3Proxy, 3.4 s on moto). GCS: fake-gcs-server (built
from the Go module proxy by `make setup`), because unlike gcp-storage-emulator it honours
generation preconditions, so a conditional-write bug shows up in the lab, not in production.
"""

from __future__ import annotations

import shutil
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from riftdrill import paths
from riftdrill.errors import LabError, SetupError
from riftdrill.lab import procs
from riftdrill.redact import Secret

FAKE_GCS_VERSION = "1.52.3"
S3PROXY_VERSION = "4.1.0"
S3_SERVERS = ("moto", "s3proxy")
# moto accepts any key and S3Proxy is configured with these: lab-only placeholders, yet the secret
# one is handled as a secret (`secrets()`), so redaction is tested on the one deployment it runs on.
LAB_S3_KEY = "riftdrill"
LAB_S3_SECRET = "riftdrill-lab"
LAB_REGION = "us-east-1"


def secrets() -> list[Secret]:
    """The lab's object-store credentials that are secret, for redaction (`drivers.known_secrets`):
    the secret key every S3 client sends and S3Proxy checks. Not the access key id: an id, sent in
    the clear in every request's Authorization header, and here the project's own name, which is
    in every path."""
    return [Secret("object-store secret key (lab S3)", LAB_S3_SECRET)]


@dataclass(frozen=True)
class StoreSpec:
    name: str  # "aws-s3"
    cloud: str
    namespace: str
    api: str  # "s3" | "gcs"
    address: str
    port: int
    buckets: list[str]
    s3_port: int = 0  # gcs only: an S3-compatible endpoint on the same address (0: none)
    server: str = "moto"  # which S3 server plays an S3 API: moto or s3proxy

    @property
    def endpoint(self) -> str:
        """What clients use: the weather proxy in front of the server (lab/storeweather.py)."""
        return f"http://{self.address}:{self.port}"

    @property
    def server_port(self) -> int:
        """Where the store server itself listens, behind the proxy."""
        from riftdrill.lab.storeweather import internal_port

        return internal_port(self.port)

    @property
    def proc_name(self) -> str:
        return f"store-{self.name}"

    @property
    def proxy_name(self) -> str:
        return f"storeweather-{self.name}"

    @property
    def control_socket(self) -> Path:
        from riftdrill.lab.storeweather import control_socket

        return control_socket(self.name)

    def s3_interop(self) -> StoreSpec | None:
        """GCS's S3 interoperability API, played by a moto server beside fake-gcs-server.

        Its buckets have the GCS store's names but are separate objects: in the lab an object
        written through one API is not visible through the other (in GCS it would be).
        """
        if self.api != "gcs" or not self.s3_port:
            return None
        return StoreSpec(name=f"{self.name}-s3", cloud=self.cloud, namespace=self.namespace,
                         api="s3", address=self.address, port=self.s3_port, buckets=self.buckets,
                         server=self.server)


def fake_gcs_bin() -> Path:
    return paths.cache_dir() / "bin" / f"fake-gcs-server-{FAKE_GCS_VERSION}"


def _moto_bin() -> str:
    candidate = Path(sys.executable).with_name("moto_server")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("moto_server")
    if not found:
        raise SetupError("moto_server is missing from the riftdrill venv; run `make setup`")
    return found


def s3proxy_libs() -> Path:
    return paths.cache_dir() / f"s3proxy-{S3PROXY_VERSION}" / "libs"


def _s3proxy_argv(spec: StoreSpec) -> list[str]:
    from riftdrill.engines.kafka import java_bin
    from riftdrill.engines.templates import templates_dir

    libs = s3proxy_libs()
    if not (libs / f"s3proxy-{S3PROXY_VERSION}.jar").exists():
        raise SetupError(f"S3Proxy {S3PROXY_VERSION} is missing ({libs}); run `make setup`")
    root = paths.lab_dir() / "data" / spec.proc_name
    root.mkdir(parents=True, exist_ok=True)
    conf = paths.lab_dir() / "config" / f"{spec.proc_name}.properties"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text("\n".join([
        f"s3proxy.endpoint=http://{spec.address}:{spec.server_port}",
        "s3proxy.authorization=aws-v2-or-v4",
        f"s3proxy.identity={LAB_S3_KEY}",
        f"s3proxy.credential={LAB_S3_SECRET}",
        # filesystem-nio2: the backend whose If-Match / If-None-Match writes are atomic.
        "jclouds.provider=filesystem-nio2",
        f"jclouds.filesystem.basedir={root}",
    ]) + "\n")
    logback = templates_dir() / "s3proxy" / "logback.xml"
    return [java_bin(), "-Xms64m", "-Xmx256m", "-XX:+ExitOnOutOfMemoryError",
            f"-Dlogback.configurationFile={logback}", "-cp", f"{libs}/*",
            "org.gaul.s3proxy.Main", "--properties", str(conf)]


def argv(spec: StoreSpec) -> list[str]:
    if spec.api == "s3" and spec.server == "s3proxy":
        return _s3proxy_argv(spec)
    if spec.api == "s3":
        return [_moto_bin(), "-H", spec.address, "-p", str(spec.server_port)]
    binary = fake_gcs_bin()
    if not binary.exists():
        raise SetupError(f"fake-gcs-server is missing ({binary}); run `make setup`")
    root = paths.lab_dir() / "data" / spec.proc_name
    root.mkdir(parents=True, exist_ok=True)
    return [str(binary), "-scheme", "http", "-host", spec.address, "-port", str(spec.server_port),
            "-backend", "filesystem", "-filesystem-root", str(root),
            "-public-host", f"{spec.address}:{spec.port}", "-log-level", "warn"]


def proxy_argv(spec: StoreSpec) -> list[str]:
    """The weather proxy on the store's public address, in front of its server."""
    from riftdrill.lab.gotools import build

    return [str(build("storeweather")), "-listen", f"{spec.address}:{spec.port}",
            "-upstream", f"{spec.address}:{spec.server_port}", "-api", spec.api,
            "-control", str(spec.control_socket)]


def wait_listening(address: str, port: int, proc_name: str, timeout_s: float) -> None:
    """Until a TCP connect succeeds; if the process dies first, show the tail of its log."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if procs.state(proc_name) == "dead":
            raise LabError(f"{proc_name} exited while starting; log tail:\n{procs.tail(proc_name)}")
        try:
            with socket.create_connection((address, port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise LabError(f"{proc_name} did not listen on {address}:{port} in {timeout_s:.0f}s; "
                   f"log tail:\n{procs.tail(proc_name)}")


def create_buckets(spec: StoreSpec) -> None:
    if spec.api == "s3":
        s3 = s3_client(spec.endpoint)
        for bucket in spec.buckets:
            s3.create_bucket(Bucket=bucket)
        return
    client = gcs_client(spec.endpoint)
    for bucket in spec.buckets:
        if client.lookup_bucket(bucket) is None:
            client.create_bucket(bucket)


def s3_client(endpoint: str):  # type: ignore[no-untyped-def]
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=LAB_S3_KEY,
        aws_secret_access_key=LAB_S3_SECRET, region_name=LAB_REGION,
        config=Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 1}),
    )


def gcs_client(endpoint: str):  # type: ignore[no-untyped-def]
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage  # type: ignore[attr-defined,unused-ignore]

    return storage.Client(project="riftdrill-lab", credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                          client_options={"api_endpoint": endpoint})
