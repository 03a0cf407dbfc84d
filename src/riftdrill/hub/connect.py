"""Kafka Connect distributed workers for the integration hub, with Debezium's connectors.

The worker's jars (connect-runtime 4.4.0 and what it needs) and each connector's plugin directory
come from Maven Central via `make setup` (scripts/setup/connect-pom.xml, debezium-*-pom.xml)
into the per-user cache; nothing here downloads. The JVM command line is the brokers'
(`engines.kafka.jvm_argv`), with ConnectDistributed as the main class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from riftdrill import paths
from riftdrill.engines import kafka
from riftdrill.errors import SetupError, ValidationError
from riftdrill.security import credentials
from riftdrill.security.client import OFF, ClientSecurity

# Debezium 3.6 is built against Kafka 4.3: on a 4.4 worker its Postgres source fails at start
# (NoClassDefFoundError: org.apache.kafka.common.utils.Sanitizer, gone in 4.4). The workers run
# the Connect release Debezium was built for; the brokers stay on 4.4.
CONNECT_VERSION = "4.3.1"
DEBEZIUM_VERSION = "3.6.1.Final"
# Maven Central serves debezium-connector-jdbc only up to 3.6.0.Final; each plugin has its own
# class loader, and the sink reads the change-event envelope, the same in 3.6.0 and 3.6.1.
DEBEZIUM_JDBC_VERSION = "3.6.0.Final"
MAIN_CLASS = "org.apache.kafka.connect.cli.ConnectDistributed"
POSTGRES_SOURCE_CLASS = "io.debezium.connector.postgresql.PostgresConnector"
JDBC_SINK_CLASS = "io.debezium.connector.jdbc.JdbcSinkConnector"
JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"

ExactlyOnceSource = Literal["disabled", "preparing", "enabled"]


def connect_libs() -> Path:
    return paths.cache_dir() / f"connect-{CONNECT_VERSION}" / "libs"


def debezium_postgres_dir() -> Path:
    """A plugin.path entry: its one subdirectory, libs/, is the Postgres source plugin."""
    return paths.cache_dir() / f"debezium-postgres-{DEBEZIUM_VERSION}"


def debezium_jdbc_dir() -> Path:
    """A plugin.path entry: its one subdirectory, libs/, is the JDBC sink plugin."""
    return paths.cache_dir() / f"debezium-jdbc-{DEBEZIUM_JDBC_VERSION}"


def plugin_dirs() -> list[Path]:
    return [debezium_postgres_dir(), debezium_jdbc_dir()]


def _require(jar: Path, what: str) -> None:
    if not jar.exists():
        raise SetupError(f"{what} missing ({jar}); run `make setup`")


def check_installed() -> None:
    """Java, the worker's jars and both plugins, each jar readable; one line naming what is
    missing and `make setup` otherwise."""
    kafka.java_bin()
    checks = [
        (connect_libs(), f"connect-runtime-{CONNECT_VERSION}.jar", "Kafka Connect runtime"),
        (debezium_postgres_dir() / "libs", f"debezium-connector-postgres-{DEBEZIUM_VERSION}.jar",
         "Debezium's Postgres source plugin"),
        (debezium_jdbc_dir() / "libs", f"debezium-connector-jdbc-{DEBEZIUM_JDBC_VERSION}.jar",
         "Debezium's JDBC sink plugin"),
    ]
    for libs, core_jar, what in checks:
        _require(libs / core_jar, what)
        kafka.check_jars(libs, core_jar)
    # The sink's class loader sees only its own directory: the driver must be there.
    if not any((debezium_jdbc_dir() / "libs").glob("postgresql-*.jar")):
        raise SetupError(f"the PostgreSQL JDBC driver is missing from {debezium_jdbc_dir() / 'libs'}; "
                         "run `make setup`")


@dataclass(frozen=True)
class ConnectWorker:
    name: str  # "connect-aws-1": unique in the lab
    cloud: str
    # The REST listener. Also the address advertised to the other workers, which forward
    # connector requests to the group's leader there: it must be reachable from every cloud.
    address: str
    bootstrap: str  # "198.18.1.11:9092,...", the worker's own cloud's brokers first
    # Of the three internal topics (configs, offsets, status); the cluster's RF, capped by its
    # brokers as Inventory.cluster_rf does.
    replication_factor: int
    rest_port: int = 8083
    group_id: str = "riftdrill-hub"  # one Connect cluster; its workers span both clouds
    heap_mb: int = 512
    # How long a departed worker's connectors and tasks stay unassigned, waiting for it to come
    # back, before the group's leader gives them to the workers that remain (incremental
    # cooperative rebalancing; Connect's default is 300000, five minutes). A worker-kill drill
    # holds its fault for about 30 s: with the default, the tasks would wait out the whole fault
    # and the drill would measure a restart, never a takeover by the other cloud's worker. 10 s
    # after the group notices the loss (session.timeout.ms, 10 s by default), about 20 s after
    # the kill, the survivors take over, within the fault; a worker that is only bounced (back
    # within 10 s) still gets its own tasks back without a second move.
    scheduled_rebalance_max_delay_ms: int = 10_000
    # How often source offsets (the last WAL position Debezium handed over) are committed. What
    # was produced after the last commit is produced again after a crash (at-least-once without
    # exactly-once source support); Connect's default is 60 s.
    offset_flush_interval_ms: int = 10_000
    # KIP-618: source records and their offsets in one transaction ("enabled"), for a run whose
    # contract is exactly-once; "preparing" is the step of a rolling upgrade.
    exactly_once_source: ExactlyOnceSource = "disabled"
    # The connect principal's settings (OFF: plaintext), for the worker's own clients and,
    # with the producer. / consumer. / admin. prefixes, for its connectors' clients.
    security: ClientSecurity = OFF
    overrides: dict[str, str] = field(default_factory=dict)

    @property
    def config_path(self) -> Path:
        return paths.lab_dir() / "config" / f"{self.name}.properties"

    @property
    def rest_url(self) -> str:
        return f"http://{self.address}:{self.rest_port}"


def internal_topics(group_id: str) -> dict[str, str]:
    """The worker's internal topics, named after its group: config, offset and status storage."""
    return {"config": f"{group_id}-configs", "offset": f"{group_id}-offsets",
            "status": f"{group_id}-status"}


def _check_value(key: str, value: str) -> str:
    if "\n" in value or "\r" in value or "\\" in value:
        raise ValidationError(f"Connect worker property {key}: {value!r} has a newline or a backslash")
    return value


def worker_properties(worker: ConnectWorker, plugin_path: Sequence[Path] | None = None) -> dict[str, str]:
    """The worker's configuration, key by key (`render_worker_properties` writes it)."""
    if worker.replication_factor < 1:
        raise ValidationError(f"Connect worker {worker.name}: replication factor "
                              f"{worker.replication_factor} must be at least 1")
    if not 1 <= worker.rest_port <= 65535:
        raise ValidationError(f"Connect worker {worker.name}: REST port {worker.rest_port} is out "
                              "of range (1-65535)")
    if not worker.bootstrap:
        raise ValidationError(f"Connect worker {worker.name}: no bootstrap servers")
    if worker.scheduled_rebalance_max_delay_ms < 0:
        raise ValidationError(f"Connect worker {worker.name}: scheduled rebalance delay must not be "
                              "negative")
    topics = internal_topics(worker.group_id)
    rf = str(worker.replication_factor)
    props = {
        "bootstrap.servers": worker.bootstrap,
        "group.id": worker.group_id,
        "config.storage.topic": topics["config"],
        "config.storage.replication.factor": rf,
        "offset.storage.topic": topics["offset"],
        "offset.storage.replication.factor": rf,
        "status.storage.topic": topics["status"],
        "status.storage.replication.factor": rf,
        # Debezium's JDBC sink reads each field's type from the record's schema: JSON with the
        # schema embedded in every record, keys and values alike (the key is the row's primary key).
        "key.converter": JSON_CONVERTER,
        "key.converter.schemas.enable": "true",
        "value.converter": JSON_CONVERTER,
        "value.converter.schemas.enable": "true",
        "plugin.path": ",".join(str(p) for p in (plugin_path if plugin_path is not None
                                                 else plugin_dirs())),
        # Every plugin in both Debezium directories ships its META-INF/services manifest (checked
        # with Kafka's connect-plugin-path tool: 46 plugins, 46 with manifests), so the worker
        # loads them through ServiceLoader instead of scanning every class: on this 2-core
        # machine that is about 2.5 s instead of about 31 s at each worker start.
        "plugin.discovery": "service_load",
        "listeners": f"http://{worker.address}:{worker.rest_port}",
        "rest.advertised.listener": "http",
        "rest.advertised.host.name": worker.address,
        "rest.advertised.port": str(worker.rest_port),
        "scheduled.rebalance.max.delay.ms": str(worker.scheduled_rebalance_max_delay_ms),
        "offset.flush.interval.ms": str(worker.offset_flush_interval_ms),
        "exactly.once.source.support": worker.exactly_once_source,
        **{k: v for prefix in ("", "producer.", "consumer.", "admin.")
           for k, v in worker.security.java(prefix).items()},
        **worker.overrides,
    }
    return {k: _check_value(k, v) for k, v in props.items()}


def render_worker_properties(worker: ConnectWorker, plugin_path: Sequence[Path] | None = None) -> str:
    props = worker_properties(worker, plugin_path)
    return (f"# Kafka Connect worker {worker.name} ({worker.cloud}), written by riftdrill "
            "(hub/connect.py) at every start.\n" + "".join(f"{k}={v}\n" for k, v in props.items()))


def worker_argv(worker: ConnectWorker) -> list[str]:
    return kafka.jvm_argv(connect_libs(), MAIN_CLASS, worker.heap_mb, [str(worker.config_path)])


def prepare_worker(worker: ConnectWorker) -> list[str]:
    """Jars checked, config written; returns the worker's argv (a foreground JVM)."""
    check_installed()
    worker.config_path.parent.mkdir(parents=True, exist_ok=True)
    # With security on it holds the connect principal's password: its owner's only.
    credentials.write_secret(worker.config_path, render_worker_properties(worker).encode())
    return worker_argv(worker)
