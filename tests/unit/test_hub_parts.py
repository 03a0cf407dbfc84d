"""The integration hub's parts: PostgreSQL and Kafka Connect configuration, and their error paths.

Nothing here starts a server; tests/lab/test_hub_postgres_lab.py runs a real PostgreSQL.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from riftdrill.engines import kafka
from riftdrill.errors import LabError, SetupError, ValidationError
from riftdrill.hub import connect, postgres

ROOT = Path(__file__).resolve().parents[2]
NOBODY = postgres.OsUser(name="pgtest", uid=54321, gid=54321, groups=(54321,))


@pytest.fixture()
def open_tmp() -> Iterator[Path]:
    """A directory every user can reach (pytest's own tmp_path sits in a 0700 directory)."""
    base = Path(tempfile.mkdtemp(prefix="rd-hub-", dir="/tmp"))
    os.chmod(base, 0o755)
    yield base
    shutil.rmtree(base)


def conf(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


# --- PostgreSQL -------------------------------------------------------------------------------

def test_bin_dir_is_the_newest_installed_server(tmp_path: Path) -> None:
    for major in ("9", "15", "13"):
        (tmp_path / major / "bin").mkdir(parents=True)
        (tmp_path / major / "bin" / "postgres").touch()
    (tmp_path / "common" / "bin").mkdir(parents=True)  # not a version: ignored
    (tmp_path / "common" / "bin" / "postgres").touch()
    assert postgres.pg_bin_dir(tmp_path) == tmp_path / "15" / "bin"
    assert postgres.server_major(tmp_path / "15" / "bin") == 15


def test_no_server_says_run_make_setup(tmp_path: Path) -> None:
    (tmp_path / "15" / "bin").mkdir(parents=True)  # client only, no server binary
    with pytest.raises(SetupError, match=r"not installed .*run `make setup`"):
        postgres.pg_bin_dir(tmp_path)


def test_postgresql_conf_is_for_logical_replication_and_durable(tmp_path: Path) -> None:
    settings = postgres.PostgresSettings(max_replication_slots=4, max_wal_senders=6)
    c = conf(postgres.render_postgresql_conf("198.18.1.50", 5433, tmp_path / "pg", settings))
    assert c["wal_level"] == "logical"
    assert c["max_replication_slots"] == "4"
    assert c["max_wal_senders"] == "6"
    assert c["listen_addresses"] == "'198.18.1.50'"
    assert c["port"] == "5433"
    assert c["unix_socket_directories"] == f"'{tmp_path / 'pg'}'"
    assert c["fsync"] == "on"
    assert c["synchronous_commit"] == "on"
    assert c["full_page_writes"] == "on"
    assert c["logging_collector"] == "off"  # stderr: the supervisor's log


@pytest.mark.parametrize(("address", "port", "socket_dir", "message"), [
    ("aws-pg", 5432, "/tmp/x", "not an IP address"),
    ("198.18.1.50", 0, "/tmp/x", "out of range"),
    ("198.18.1.50", 70000, "/tmp/x", "out of range"),
    ("198.18.1.50", 5432, "/tmp/it's", "cannot be quoted"),
    ("198.18.1.50", 5432, "/tmp/" + "d" * 100, "longer than a unix socket path"),
])
def test_postgresql_conf_refuses_bad_values(address: str, port: int, socket_dir: str,
                                            message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        postgres.render_postgresql_conf(address, port, Path(socket_dir))


def test_postgresql_conf_refuses_no_replication_slots() -> None:
    with pytest.raises(ValidationError, match="max_replication_slots must be at least 1"):
        postgres.render_postgresql_conf("127.0.0.1", 5432, Path("/tmp/x"),
                                        postgres.PostgresSettings(max_replication_slots=0))


def test_pg_hba_trusts_the_lab_and_loopback_only() -> None:
    rows = [line.split() for line in postgres.render_pg_hba().splitlines()
            if line and not line.startswith("#")]
    hosts = {(r[1], r[3]) for r in rows if r[0] == "host"}
    assert hosts == {("all", "198.18.0.0/15"), ("replication", "198.18.0.0/15"),
                     ("all", "127.0.0.1/32"), ("replication", "127.0.0.1/32")}
    assert all(r[-1] == "trust" for r in rows)
    assert {r[0] for r in rows} == {"local", "host"}


def test_pg_hba_refuses_an_address_that_is_not_a_network() -> None:
    with pytest.raises(ValidationError, match="not a network"):
        postgres.render_pg_hba(["198.18.0.1/15"])


def test_as_user_uses_setpriv_as_root_nothing_as_the_user_and_refuses_others() -> None:
    prefix = postgres.as_user_argv(NOBODY, euid=0)
    assert Path(prefix[0]).name == "setpriv"
    assert f"--reuid={NOBODY.uid}" in prefix and f"--regid={NOBODY.gid}" in prefix
    assert prefix[-1] == "--"  # setpriv execs the server: the supervisor's pid is the postmaster
    assert postgres.as_user_argv(NOBODY, euid=NOBODY.uid) == []
    with pytest.raises(SetupError, match="needs root"):
        postgres.as_user_argv(NOBODY, euid=1000)


def test_server_argv_runs_postgres_in_the_foreground_as_the_user(tmp_path: Path) -> None:
    argv = postgres.server_argv(Path("/usr/lib/postgresql/15/bin"), tmp_path / "pg", NOBODY, euid=0)
    assert argv[-3:] == ["/usr/lib/postgresql/15/bin/postgres", "-D", str(tmp_path / "pg")]
    assert Path(argv[0]).name == "setpriv"


def test_unreachable_dir_names_the_directory_the_user_cannot_enter(open_tmp: Path) -> None:
    private = open_tmp / "private"
    (private / "lab").mkdir(parents=True)
    os.chmod(private, 0o700)
    assert postgres.unreachable_dir(private / "lab" / "pg", NOBODY) == private
    os.chmod(private, 0o711)
    assert postgres.unreachable_dir(private / "lab" / "pg", NOBODY) is None
    gid = os.stat(private).st_gid
    group = postgres.OsUser(name="g", uid=54321, gid=gid, groups=(gid,))
    os.chmod(private, 0o710)
    assert postgres.unreachable_dir(private / "lab" / "pg", group) is None


def fake_bin(tmp_path: Path, major: str = "15") -> Path:
    bin_dir = tmp_path / "pgroot" / major / "bin"
    bin_dir.mkdir(parents=True)
    return bin_dir


def test_initdb_reuses_a_cluster_of_the_same_version(tmp_path: Path) -> None:
    data = tmp_path / "data" / "pg-aws"
    data.mkdir(parents=True)
    (data / "PG_VERSION").write_text("15\n")
    # No initdb binary exists in the fake bin dir: reuse must not run one.
    assert postgres.initdb(data, fake_bin(tmp_path), NOBODY) is False


def test_initdb_refuses_a_cluster_of_another_version(tmp_path: Path) -> None:
    data = tmp_path / "pg"
    data.mkdir()
    (data / "PG_VERSION").write_text("13\n")
    with pytest.raises(LabError, match="PostgreSQL 13 cluster and the server is PostgreSQL 15"):
        postgres.initdb(data, fake_bin(tmp_path), NOBODY)


def test_initdb_refuses_a_directory_that_holds_something_else(tmp_path: Path) -> None:
    data = tmp_path / "pg"
    data.mkdir()
    (data / "notes.txt").write_text("mine")
    with pytest.raises(LabError, match="holds no PostgreSQL cluster"):
        postgres.initdb(data, fake_bin(tmp_path), NOBODY)
    assert (data / "notes.txt").read_text() == "mine"


def test_initdb_names_a_directory_the_postgres_user_cannot_enter(open_tmp: Path) -> None:
    private = open_tmp / "home"
    private.mkdir()
    os.chmod(private, 0o700)
    with pytest.raises(LabError, match=rf"cannot enter {re.escape(str(private))} \(mode 700\).*chmod o\+x"):
        postgres.initdb(private / "lab" / "pg", fake_bin(open_tmp), NOBODY)
    assert not (private / "lab" / "pg.initdb").exists()


def test_missing_postgres_user_says_run_make_setup() -> None:
    with pytest.raises(SetupError, match=r"no system user 'no-such-user-rd'.*make setup"):
        postgres.pg_user("no-such-user-rd")


def test_node_data_dir_defaults_to_the_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIFTDRILL_HOME", str(tmp_path))
    assert postgres.PostgresNode("pg-aws", "198.18.1.50").pgdata == tmp_path / ".riftdrill/lab/data/pg-aws"
    assert postgres.PostgresNode("pg-aws", "198.18.1.50", data_dir=Path("/x")).pgdata == Path("/x")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_readiness_probe_gives_up_with_the_reason() -> None:
    port = closed_port()
    with pytest.raises(LabError, match=rf"PostgreSQL at 127.0.0.1:{port} is not ready after"):
        postgres.wait_ready("127.0.0.1", port, timeout_s=0.3)


def test_readiness_probe_stops_waiting_when_the_server_died() -> None:
    with pytest.raises(LabError, match="exited while starting"):
        postgres.wait_ready("127.0.0.1", closed_port(), timeout_s=60, alive=lambda: False)


def test_logical_replication_check_names_an_unreachable_database() -> None:
    port = closed_port()
    with pytest.raises(LabError, match=rf"127.0.0.1:{port} is not reachable"):
        postgres.check_logical_replication("127.0.0.1", port)


# --- Kafka Connect ----------------------------------------------------------------------------

WORKER = connect.ConnectWorker(name="connect-aws-1", cloud="aws", address="198.18.1.60",
                               bootstrap="198.18.1.11:9092,198.18.2.11:9092", replication_factor=3)


def test_worker_properties_for_debezium(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIFTDRILL_CACHE", str(tmp_path / "cache"))
    p = conf(connect.render_worker_properties(WORKER))
    assert p["bootstrap.servers"] == "198.18.1.11:9092,198.18.2.11:9092"
    assert p["group.id"] == "riftdrill-hub"
    assert (p["config.storage.topic"], p["offset.storage.topic"], p["status.storage.topic"]) == (
        "riftdrill-hub-configs", "riftdrill-hub-offsets", "riftdrill-hub-status")
    for kind in ("config", "offset", "status"):
        assert p[f"{kind}.storage.replication.factor"] == "3"
    for side in ("key", "value"):
        assert p[f"{side}.converter"] == "org.apache.kafka.connect.json.JsonConverter"
        assert p[f"{side}.converter.schemas.enable"] == "true"  # the JDBC sink needs the schemas
    assert p["plugin.path"].split(",") == [
        str(tmp_path / "cache" / "debezium-postgres-3.6.1.Final"),
        str(tmp_path / "cache" / "debezium-jdbc-3.6.0.Final")]
    assert p["plugin.discovery"] == "service_load"
    assert p["listeners"] == "http://198.18.1.60:8083"
    assert (p["rest.advertised.host.name"], p["rest.advertised.port"]) == ("198.18.1.60", "8083")
    assert p["scheduled.rebalance.max.delay.ms"] == "10000"
    assert p["exactly.once.source.support"] == "disabled"
    assert WORKER.rest_url == "http://198.18.1.60:8083"


def test_worker_overrides_come_last_and_win() -> None:
    overrides = {"group.id": "other", "task.shutdown.graceful.timeout.ms": "1000"}
    worker = connect.ConnectWorker(**{**WORKER.__dict__, "overrides": overrides})
    p = conf(connect.render_worker_properties(worker, plugin_path=[Path("/plugins")]))
    assert p["group.id"] == "other"
    assert p["task.shutdown.graceful.timeout.ms"] == "1000"
    assert p["plugin.path"] == "/plugins"


@pytest.mark.parametrize(("change", "message"), [
    ({"replication_factor": 0}, "replication factor 0"),
    ({"rest_port": 0}, "REST port 0"),
    ({"bootstrap": ""}, "no bootstrap servers"),
    ({"scheduled_rebalance_max_delay_ms": -1}, "must not be negative"),
    ({"group_id": "a\nb"}, "newline"),
])
def test_worker_refuses_bad_values(change: dict[str, object], message: str) -> None:
    worker = connect.ConnectWorker(**{**WORKER.__dict__, **change})  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=message):
        connect.render_worker_properties(worker, plugin_path=[])


def test_worker_argv_is_connect_distributed_on_the_connect_jars(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIFTDRILL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RIFTDRILL_HOME", str(tmp_path / "home"))
    argv = connect.worker_argv(WORKER)
    assert argv[-2:] == ["org.apache.kafka.connect.cli.ConnectDistributed", str(WORKER.config_path)]
    assert argv[argv.index("-cp") + 1] == f"{tmp_path / 'cache' / 'connect-4.3.1' / 'libs'}/*"
    assert "-Xmx512m" in argv
    assert WORKER.config_path == tmp_path / "home" / ".riftdrill/lab/config/connect-aws-1.properties"


def jar(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")


def test_check_installed_names_each_missing_part(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("RIFTDRILL_CACHE", str(cache))
    monkeypatch.setenv("RIFTDRILL_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(kafka, "java_bin", lambda: "/usr/bin/java")
    with pytest.raises(SetupError, match=r"Kafka Connect runtime missing .*run `make setup`"):
        connect.check_installed()
    jar(cache / "connect-4.3.1/libs/connect-runtime-4.3.1.jar")
    with pytest.raises(SetupError, match="Debezium's Postgres source plugin missing"):
        connect.check_installed()
    jar(cache / "debezium-postgres-3.6.1.Final/libs/debezium-connector-postgres-3.6.1.Final.jar")
    with pytest.raises(SetupError, match="Debezium's JDBC sink plugin missing"):
        connect.check_installed()
    jar(cache / "debezium-jdbc-3.6.0.Final/libs/debezium-connector-jdbc-3.6.0.Final.jar")
    with pytest.raises(SetupError, match="PostgreSQL JDBC driver is missing"):
        connect.check_installed()
    driver = cache / "debezium-jdbc-3.6.0.Final/libs/postgresql-42.7.11.jar"
    driver.write_bytes(b"truncated")
    with pytest.raises(SetupError, match="corrupt"):
        connect.check_installed()
    jar(driver)
    connect.check_installed()
    argv = connect.prepare_worker(WORKER)
    assert WORKER.config_path.read_text().startswith("# Kafka Connect worker connect-aws-1 (aws)")
    assert argv[-1] == str(WORKER.config_path)


def pom_property(pom: str, name: str) -> str:
    match = re.search(rf"<{re.escape(name)}>([^<]+)</", (ROOT / "scripts/setup" / pom).read_text())
    assert match, f"{pom} has no <{name}>"
    return match.group(1)


def test_versions_agree_with_make_setup() -> None:
    """The Python side looks where scripts/setup.sh puts the jars."""
    setup = (ROOT / "scripts/setup.sh").read_text()
    assert f'DEBEZIUM_VERSION="{connect.DEBEZIUM_VERSION}"' in setup
    assert f'DEBEZIUM_JDBC_VERSION="{connect.DEBEZIUM_JDBC_VERSION}"' in setup
    assert pom_property("debezium-postgres-pom.xml", "debezium.version") == connect.DEBEZIUM_VERSION
    assert pom_property("debezium-jdbc-pom.xml", "debezium.version") == connect.DEBEZIUM_JDBC_VERSION
    assert pom_property("connect-pom.xml", "kafka.version") == connect.CONNECT_VERSION
    assert f'CONNECT_VERSION="{connect.CONNECT_VERSION}"' in setup
    assert f'KAFKA_VERSION="{kafka.KAFKA_VERSION}"' in setup
