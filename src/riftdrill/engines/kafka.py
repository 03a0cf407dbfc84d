"""Apache Kafka (KRaft) engine: render a node's config, format its storage, start it.

The jars come from Maven Central via `make setup` (scripts/setup/kafka-pom.xml) into the
per-user cache; nothing here downloads.
"""

from __future__ import annotations

import base64
import fcntl
import shutil
import subprocess
import uuid
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from riftdrill import paths
from riftdrill.engines.templates import render, templates_dir
from riftdrill.errors import SetupError
from riftdrill.inventory import SecurityMode
from riftdrill.security import credentials
from riftdrill.security.client import OFF, ClientSecurity

KAFKA_VERSION = "4.4.0"

# Compat workflows (riftdrill.compat.workflows) this engine does not support, each with why:
# `riftdrill compat` never runs them and shows the reason. Kafka is the reference: none.
COMPAT_UNSUPPORTED: dict[str, str] = {}
MIRRORMAKER_VERSION = "4.3.1"  # the newest connect-mirror Maven Central serves


def kafka_libs() -> Path:
    return paths.cache_dir() / f"kafka-{KAFKA_VERSION}" / "libs"


def mirrormaker_libs() -> Path:
    return paths.cache_dir() / f"mirrormaker-{MIRRORMAKER_VERSION}" / "libs"


def java_bin() -> str:
    java = shutil.which("java")
    if java is None:
        raise SetupError("Java (17+) is not installed; run `make setup`")
    return java


def check_jars(libs: Path, core_jar: str) -> None:
    """Missing or truncated jars make the JVM fail obscurely; say `make setup` instead."""
    core = libs / core_jar
    if not libs.is_dir() or not core.exists():
        raise SetupError(f"Kafka jars missing ({core}); run `make setup`")
    for jar in libs.glob("*.jar"):
        try:
            with zipfile.ZipFile(jar) as z:
                z.namelist()
        except (zipfile.BadZipFile, OSError) as exc:
            raise SetupError(f"jar {jar.name} is corrupt ({exc}); run `make setup`") from exc


def check_installed() -> None:
    java_bin()
    check_jars(kafka_libs(), f"kafka_2.13-{KAFKA_VERSION}.jar")


@dataclass(frozen=True)
class KafkaSettings:
    """The durability and sizing values of server.properties.tftpl, named as its variables.

    The cloud modules take the same fields as Terraform's `kafka_settings` object; the defaults
    are the lab's (the cloud env sets its own).
    """

    replication_factor: int
    min_insync_replicas: int
    num_partitions: int = 6
    network_threads: int = 2
    io_threads: int = 4
    segment_bytes: int = 64 * 1024 * 1024
    retention_hours: int = 24
    # Lab defaults: a dead broker leaves the ISR within seconds, as in a tuned cluster.
    broker_session_timeout_ms: int = 6000
    broker_heartbeat_interval_ms: int = 1000
    replica_lag_time_max_ms: int = 10000


@dataclass(frozen=True)
class KafkaNode:
    name: str  # "aws-1"
    node_id: int
    cloud: str
    cluster: str
    address: str
    port: int
    controller_port: int
    roles: list[str]
    voters: str  # "101@198.18.1.11:9093,..."
    settings: KafkaSettings
    heap_mb: int = 512
    # broker.rack; "" = the cloud (a lab cloud is one zone, so replicas spread over clouds).
    zone: str = ""
    # Where the listeners bind; "" = the node's own address (lab brokers share a namespace).
    # A cloud VM runs one node and listens on 0.0.0.0 (infra/modules/node-layout).
    listen_address: str = ""
    # security sasl-tls: TLS on every listener, SCRAM for clients and brokers, an authorizer;
    # its files are under secrets_dir (security/credentials.py lays it out).
    security: SecurityMode = "off"
    secrets_dir: str = ""
    overrides: dict[str, str] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return paths.lab_dir() / "data" / f"broker-{self.name}"

    @property
    def config_path(self) -> Path:
        return paths.lab_dir() / "config" / f"broker-{self.name}.properties"


AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
BROKER_PRINCIPAL = credentials.PRINCIPALS["broker"]


def security_values(node: KafkaNode) -> dict[str, str]:
    """The security values of the broker templates: sasl-tls names the SASL_SSL listener (clients
    and brokers, SCRAM-SHA-512) and the controllers' TLS listener (brokers' certificates), turns
    the authorizer on and makes the broker principal its super user; off leaves PLAINTEXT
    listeners, and the template's listener.name.sasl_ssl settings then name no listener."""
    if node.security == "off":
        return {"listener_security_protocol_map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                "inter_broker_listener_name": "PLAINTEXT", "authorizer_class_name": "",
                "super_users": "", "broker_sasl_jaas_config": "", "ssl_keystore_location": "",
                "ssl_truststore_location": ""}
    secrets = node.secrets_dir
    return {
        "listener_security_protocol_map": "CONTROLLER:SSL,SASL_SSL:SASL_SSL",
        "inter_broker_listener_name": "SASL_SSL",
        "authorizer_class_name": AUTHORIZER,
        "super_users": f"User:{BROKER_PRINCIPAL}",
        # Read by the brokers' FileConfigProvider: the password stays in the secrets directory.
        "broker_sasl_jaas_config": f"${{file:{secrets}/broker-jaas.properties:sasl.jaas.config}}",
        "ssl_keystore_location": f"{secrets}/brokers/{node.name}.pem",
        "ssl_truststore_location": f"{secrets}/ca.pem",
    }


def template_values(node: KafkaNode, log_dirs: str) -> dict[str, object]:
    """The values of server.properties.tftpl for one node: the same rule as
    infra/modules/node-layout's `template_values` (tests/unit/test_node_layout.py runs both)."""
    listen = node.listen_address or node.address
    broker_listener = "PLAINTEXT" if node.security == "off" else "SASL_SSL"
    ports = [(broker_listener, node.port)] if "broker" in node.roles else []
    ports += [("CONTROLLER", node.controller_port)] if "controller" in node.roles else []
    return {
        **asdict(node.settings),
        "process_roles": ",".join(node.roles),
        "node_id": node.node_id,
        "rack": node.zone or node.cloud,
        "controller_quorum_voters": node.voters,
        "listeners": ",".join(f"{name}://{listen}:{port}" for name, port in ports),
        "advertised_listeners": ",".join(f"{name}://{node.address}:{port}" for name, port in ports),
        "log_dirs": log_dirs,
        **security_values(node),
    }


def render_properties(node: KafkaNode, log_dirs: str | None = None) -> str:
    text = render(templates_dir() / "kafka" / "server.properties.tftpl",
                  template_values(node, log_dirs or str(node.data_dir)))
    if node.overrides:
        text += "\n# overrides\n" + "".join(f"{k}={v}\n" for k, v in node.overrides.items())
    return text


def cluster_id(cluster: str) -> str:
    """One id per cluster, made by whichever node formats first (nodes start in parallel)."""
    path = paths.lab_dir() / "clusters" / f"{cluster}.id"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            path.write_text(new_cluster_id())
        return path.read_text().strip()


def new_cluster_id() -> str:
    """Base64url of a random UUID, never starting with '-': the storage tool's argument parser
    would read such an id as an option (1 in 64 ids; Kafka's own generator avoids it too)."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def formatted_cluster_id(data_dir: Path) -> str | None:
    try:
        for line in (data_dir / "meta.properties").read_text().splitlines():
            if line.startswith("cluster.id="):
                return line.split("=", 1)[1].strip()
    except OSError:
        return None
    return None


def jvm_argv(libs: Path, main_class: str, heap_mb: int, args: list[str]) -> list[str]:
    log4j = templates_dir() / "kafka" / "log4j2.properties"
    return [
        java_bin(), f"-Xms{heap_mb}m", f"-Xmx{heap_mb}m", "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20", "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{libs}/*", main_class, *args,
    ]


def prepare(node: KafkaNode, sans: list[str] | None = None) -> list[str]:
    """Write config, format storage if new; returns the broker's argv. With security on, the
    node's certificate is issued first, for its address and `sans`."""
    check_installed()
    node.config_path.parent.mkdir(parents=True, exist_ok=True)
    scram: list[tuple[str, str]] = []
    if node.security != "off":
        store = credentials.Secrets(Path(node.secrets_dir))
        credentials.issue_broker(store, node.name, [node.address, *(sans or [])],
                                 principal=BROKER_PRINCIPAL)
        scram = credentials.scram_credentials(store)
    node.config_path.write_text(render_properties(node))
    existing = formatted_cluster_id(node.data_dir)
    if existing is not None and existing != cluster_id(node.cluster):
        # Left by a lab of another shape (e.g. per-cloud before stretched): not this cluster's.
        shutil.rmtree(node.data_dir)
    if not (node.data_dir / "meta.properties").exists():
        # The SCRAM credentials go into the bootstrap metadata the controllers write: brokers
        # log in to each other with theirs before any client could create one.
        format_storage(node.name, node.data_dir, node.config_path, node.cluster,
                       scram if "controller" in node.roles else [])
    return jvm_argv(kafka_libs(), "kafka.Kafka", node.heap_mb, [str(node.config_path)])


def format_storage(name: str, data_dir: Path, config_path: Path, cluster: str,
                   scram: list[tuple[str, str]] | None = None) -> None:
    """KRaft storage format (meta.properties, and the bootstrap checkpoint on controllers, with
    the `scram` users' SCRAM-SHA-512 credentials)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    add_scram = [arg for user, password in scram or [] for arg in (
        "--add-scram", f"{credentials.SCRAM_MECHANISM}=[name={user},password={password}]")]
    fmt = jvm_argv(kafka_libs(), "kafka.tools.StorageTool", 256,
                   ["format", f"--cluster-id={cluster_id(cluster)}", "-c", str(config_path),
                    "--ignore-formatted", *add_scram])
    proc = subprocess.run(fmt, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        # Not the bootstrap records it prints: they hold the credentials' salted keys.
        said = "\n".join(ln for ln in (proc.stdout + proc.stderr).splitlines()
                         if "UserScramCredentialRecord" not in ln)
        raise SetupError(f"formatting {name}'s storage failed: {said[-600:]}")


@dataclass(frozen=True)
class MirrorSpec:
    name: str
    source_name: str
    source_bootstrap: str
    target_name: str
    target_bootstrap: str
    topics: str
    replication_factor: int
    heap_mb: int = 384
    # The mirrormaker principal's settings, for every client of both clusters (OFF: plaintext).
    security: ClientSecurity = OFF

    @property
    def config_path(self) -> Path:
        return paths.lab_dir() / "config" / f"mirror-{self.name}.properties"


def render_mirror(spec: MirrorSpec) -> str:
    s, t = spec.source_name, spec.target_name
    rf = spec.replication_factor
    lines = [
        f"clusters = {s}, {t}",
        f"{s}.bootstrap.servers = {spec.source_bootstrap}",
        f"{t}.bootstrap.servers = {spec.target_bootstrap}",
        f"{s}->{t}.enabled = true",
        f"{s}->{t}.topics = {spec.topics}",
        f"{t}->{s}.enabled = false",
        f"replication.factor = {rf}",
        *(f"{k}.replication.factor = {rf}" for k in (
            "checkpoints.topic", "heartbeats.topic", "offset-syncs.topic",
            "offset.storage", "status.storage", "config.storage")),
        # Lab pace: new topics and records show up in the mirror within seconds.
        "refresh.topics.interval.seconds = 5",
        "refresh.groups.interval.seconds = 5",
        "emit.heartbeats.interval.seconds = 5",
        # Consumer failover starts from the group's checkpoints (chaos/failover.py): emitted
        # every 5 s instead of 60. offset.lag.max is MirrorMaker 2's default, written out: an
        # offset sync (and so a translation point) at most every 100 records per partition,
        # the granularity that makes a failed-over group read some records twice.
        "emit.checkpoints.interval.seconds = 5",
        "offset.lag.max = 100",
        "sync.topic.configs.enabled = true",
        # Every cluster of the lab gets the same ACLs from the deploy (security/acls.py), so
        # there are none to copy. And Tansu 0.6 answers CreateAcls with a response the Java
        # client cannot parse: the exception kills MM2's admin thread, after which it silently
        # stops discovering new topics.
        "sync.topic.acls.enabled = false",
        "tasks.max = 2",
        # The target herder's worker finds MirrorMaker 2's connectors through their
        # ServiceLoader manifests instead of a reflection scan of the whole classpath, which
        # MirrorMaker 2 runs twice at start: 6.6 s on an idle lab, far more on a loaded one,
        # all of it added to every restart's replication lag (mirror-kill). KIP-898's
        # recommended mode. The first scan reads the top-level setting; worker settings reach
        # the herder only with the target's prefix.
        "plugin.discovery = service_load",
        f"{t}.plugin.discovery = service_load",
        # The herder commits how far it has copied every 5 s instead of Connect's 60: a
        # restarted MirrorMaker 2 copies again everything after its last commit, so with 60 s
        # a kill within a minute of a topic's creation re-copied the whole topic before any new
        # record (14 s of a lab test's 59 s lag). The same pace as the checkpoints above.
        f"{t}.offset.flush.interval.ms = 5000",
        f"{t}.producer.acks = all",
        f"{t}.producer.enable.idempotence = true",
        # A cluster's settings reach every client MirrorMaker 2 makes for it.
        *(f"{k} = {v}" for alias in (s, t) for k, v in spec.security.java(f"{alias}.").items()),
    ]
    return "\n".join(lines) + "\n"


def prepare_mirror(spec: MirrorSpec) -> list[str]:
    java_bin()
    check_jars(mirrormaker_libs(), f"connect-mirror-{MIRRORMAKER_VERSION}.jar")
    spec.config_path.parent.mkdir(parents=True, exist_ok=True)
    # With security on it holds the mirrormaker principal's password: its owner's only.
    credentials.write_secret(spec.config_path, render_mirror(spec).encode())
    return jvm_argv(mirrormaker_libs(), "org.apache.kafka.connect.mirror.MirrorMaker",
                    spec.heap_mb, [str(spec.config_path), "--clusters", spec.target_name])
