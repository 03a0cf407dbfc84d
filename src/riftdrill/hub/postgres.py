"""PostgreSQL for the integration hub: the source database Debezium reads by logical decoding
(pgoutput, built into the server) and the sink database Debezium's JDBC sink writes into.

The server comes from Debian's packages (`make setup`); it refuses to run as root, so the data
directory belongs to the `postgres` system user the package creates and the server runs as that
user through setpriv, which execs (no fork): the supervisor's pid is the postmaster's own.

Stopping it: SIGTERM is PostgreSQL's "smart" shutdown, which waits for every session to end, and
Debezium's replication connection never does; `FAST_SHUTDOWN` (SIGINT) ends the sessions and
checkpoints. A kill drill sends `CRASH_SHUTDOWN` (SIGQUIT: every server process exits at once,
WAL replay at the next start). SIGKILL of the postmaster alone leaves its backends holding the
shared memory, and the next start can refuse until they are gone (PostgreSQL's docs, "Shutting
Down the Server"): signal the process group if it must be SIGKILL.
"""

from __future__ import annotations

import ipaddress
import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from riftdrill import paths
from riftdrill.errors import LabError, SetupError, ValidationError

PG_ROOT = Path("/usr/lib/postgresql")  # Debian: /usr/lib/postgresql/<major>/bin
PG_USER = "postgres"
# The lab's clouds (198.18.0.0/15) and loopback: a closed network of namespaces on one machine,
# where a password would protect nothing. A cloud deploy needs scram-sha-256 instead.
TRUSTED_CIDRS = ("198.18.0.0/15", "127.0.0.1/32")
UNIX_PATH_MAX = 107  # sun_path is 108 bytes with its terminating NUL
FAST_SHUTDOWN = signal.SIGINT
CRASH_SHUTDOWN = signal.SIGQUIT


def pg_bin_dir(root: Path = PG_ROOT) -> Path:
    """The newest installed server's bin directory."""
    found = [p.parent for p in root.glob("*/bin/postgres") if p.parent.parent.name.isdigit()]
    if not found:
        raise SetupError(f"the PostgreSQL server is not installed (no {root}/*/bin/postgres); "
                         "run `make setup`")
    return max(found, key=server_major)


def server_major(bin_dir: Path) -> int:
    """The major version of the server in `bin_dir` (/usr/lib/postgresql/<major>/bin)."""
    return int(bin_dir.parent.name)


@dataclass(frozen=True)
class OsUser:
    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]  # primary and supplementary


def pg_user(name: str = PG_USER) -> OsUser:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise SetupError(f"there is no system user {name!r} (Debian's PostgreSQL package creates "
                         "it); run `make setup`") from None
    return OsUser(name=name, uid=entry.pw_uid, gid=entry.pw_gid,
                  groups=tuple(os.getgrouplist(name, entry.pw_gid)))


def as_user_argv(user: OsUser, euid: int | None = None) -> list[str]:
    """The prefix that runs a command as `user`: nothing if we already are that user."""
    euid = os.geteuid() if euid is None else euid
    if euid == user.uid:
        return []
    if euid != 0:
        raise SetupError(f"PostgreSQL runs as user {user.name} and switching to it needs root; "
                         "run riftdrill as root (the lab needs it anyway)")
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise SetupError("setpriv (Debian package util-linux) is not installed; run `make setup`")
    return [setpriv, f"--reuid={user.uid}", f"--regid={user.gid}", "--init-groups", "--reset-env",
            "--"]


def unreachable_dir(path: Path, user: OsUser) -> Path | None:
    """The first existing directory from / down to `path` that `user` cannot enter, or None."""
    path = path.resolve()
    for d in [*reversed(path.parents), path]:
        try:
            st = d.stat()
        except FileNotFoundError:
            return None
        if st.st_uid == user.uid:
            bit = 0o100
        elif st.st_gid in user.groups:
            bit = 0o010
        else:
            bit = 0o001
        if not st.st_mode & bit:
            return d
    return None


@dataclass(frozen=True)
class PostgresSettings:
    """postgresql.conf values riftdrill sets; everything else is the server's default."""

    # Debezium's source holds one slot and one WAL sender; a drill that restarts the connector,
    # a test's own slot and pg_recvlogical by hand need a few more.
    max_replication_slots: int = 10
    max_wal_senders: int = 10
    max_connections: int = 100
    shared_buffers_mb: int = 128


@dataclass(frozen=True)
class PostgresNode:
    name: str  # "pg-aws": unique in the lab, names the data directory
    address: str  # the address it listens on
    port: int = 5432
    settings: PostgresSettings = field(default_factory=PostgresSettings)
    # None: the lab's data directory (.riftdrill/lab/data/<name>).
    data_dir: Path | None = None

    @property
    def pgdata(self) -> Path:
        return self.data_dir or paths.lab_dir() / "data" / self.name


def _conf_value(name: str, value: str) -> str:
    if "'" in value or "\n" in value or "\\" in value:
        raise ValidationError(f"postgresql.conf {name}: {value!r} cannot be quoted "
                              "(no quote, backslash or newline)")
    return f"'{value}'"


def render_postgresql_conf(listen_address: str, port: int, socket_dir: Path,
                           settings: PostgresSettings | None = None) -> str:
    """postgresql.conf for logical replication on a durable server. The socket directory is
    the node's own: namespaces do not separate files, and two nodes on one port would otherwise
    share /var/run/postgresql/.s.PGSQL.<port>."""
    s = settings or PostgresSettings()
    if listen_address != "*":
        try:
            ipaddress.ip_address(listen_address)
        except ValueError:
            raise ValidationError(f"PostgreSQL listen address {listen_address!r} is not an IP "
                                  "address (or '*')") from None
    if not 1 <= port <= 65535:
        raise ValidationError(f"PostgreSQL port {port} is out of range (1-65535)")
    socket_path = f"{socket_dir}/.s.PGSQL.{port}"
    if len(socket_path.encode()) > UNIX_PATH_MAX:
        raise ValidationError(f"PostgreSQL's socket {socket_path} is longer than a unix socket path "
                              f"may be ({UNIX_PATH_MAX} bytes); use a shorter data directory")
    for name in ("max_replication_slots", "max_wal_senders", "max_connections", "shared_buffers_mb"):
        if getattr(s, name) < 1:
            raise ValidationError(f"PostgreSQL {name} must be at least 1, not {getattr(s, name)}")
    return "\n".join([
        "# Written by riftdrill (hub/postgres.py) at every start; edits here are lost.",
        f"listen_addresses = {_conf_value('listen_addresses', listen_address)}",
        f"port = {port}",
        f"unix_socket_directories = {_conf_value('unix_socket_directories', str(socket_dir))}",
        f"max_connections = {s.max_connections}",
        f"shared_buffers = {s.shared_buffers_mb}MB",
        "# Logical decoding for Debezium's Postgres source (plugin pgoutput).",
        "wal_level = logical",
        f"max_replication_slots = {s.max_replication_slots}",
        f"max_wal_senders = {s.max_wal_senders}",
        "# Durable: a commit the workload recorded survives a crash of the server or the machine.",
        "fsync = on",
        "synchronous_commit = on",
        "full_page_writes = on",
        "# To stderr, which the lab supervisor sends to .riftdrill/lab/logs/.",
        "logging_collector = off",
        "log_destination = 'stderr'",
        "log_line_prefix = '%m [%p] '",
        "log_replication_commands = on",
        "lc_messages = 'C'",
        "timezone = 'UTC'",
        "",
    ])


def render_pg_hba(trusted_cidrs: Sequence[str] = TRUSTED_CIDRS) -> str:
    """Trust on the local socket and from `trusted_cidrs`, for sessions and replication; nothing
    else may connect. (`replication` matches physical replication only; Debezium's logical
    replication connection names a database and matches `all`.)"""
    lines = ["# Written by riftdrill (hub/postgres.py) at every start; edits here are lost.",
             "# TYPE  DATABASE     USER  ADDRESS            METHOD",
             "local   all          all                      trust",
             "local   replication  all                      trust"]
    for cidr in trusted_cidrs:
        try:
            net = ipaddress.ip_network(cidr, strict=True)
        except ValueError as exc:
            raise ValidationError(f"pg_hba address {cidr!r} is not a network ({exc})") from None
        lines += [f"host    all          all   {net!s:<18} trust",
                  f"host    replication  all   {net!s:<18} trust"]
    return "\n".join(lines) + "\n"


def initdb(data_dir: Path, bin_dir: Path, user: OsUser) -> bool:
    """A cluster in `data_dir` owned by `user`: made here (True) or the one already there (False).

    initdb writes into a sibling directory that is renamed into place when it succeeded, so a
    cluster found in `data_dir` is always a complete one."""
    version_file = data_dir / "PG_VERSION"
    major = server_major(bin_dir)
    if version_file.exists():
        have = version_file.read_text().strip()
        if have != str(major):
            raise LabError(f"{data_dir} holds a PostgreSQL {have} cluster and the server is "
                           f"PostgreSQL {major}; remove the directory (or redeploy) to start afresh")
        return False
    if data_dir.exists() and any(data_dir.iterdir()):
        raise LabError(f"{data_dir} is not empty and holds no PostgreSQL cluster; remove it")
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    blocked = unreachable_dir(data_dir.parent, user)
    if blocked is not None:
        raise LabError(f"user {user.name} cannot enter {blocked} (mode "
                       f"{blocked.stat().st_mode & 0o777:o}), on the way to PostgreSQL's data "
                       f"directory {data_dir}; move the checkout out of it or `chmod o+x {blocked}`")
    tmp = data_dir.with_name(data_dir.name + ".initdb")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(mode=0o700)
    os.chown(tmp, user.uid, user.gid)
    argv = [*as_user_argv(user), str(bin_dir / "initdb"), "-D", str(tmp), f"--username={user.name}",
            "--auth=trust", "--encoding=UTF8", "--locale=C", "--data-checksums"]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise LabError(f"initdb {data_dir} did not finish in {exc.timeout:.0f} s") from exc
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise LabError(f"initdb {data_dir} failed: {(proc.stdout + proc.stderr).strip()[-600:]}")
    if data_dir.exists():
        data_dir.rmdir()  # empty, checked above
    os.rename(tmp, data_dir)
    return True


def _write_owned(path: Path, text: str, user: OsUser) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o600)
    os.chown(tmp, user.uid, user.gid)
    os.replace(tmp, path)


def write_config(node: PostgresNode, user: OsUser) -> None:
    """postgresql.conf and pg_hba.conf into the node's data directory (over initdb's)."""
    _write_owned(node.pgdata / "postgresql.conf",
                 render_postgresql_conf(node.address, node.port, node.pgdata, node.settings), user)
    _write_owned(node.pgdata / "pg_hba.conf", render_pg_hba(), user)


def server_argv(bin_dir: Path, data_dir: Path, user: OsUser, euid: int | None = None) -> list[str]:
    """The server in the foreground, as `user`, logging to stderr."""
    return [*as_user_argv(user, euid), str(bin_dir / "postgres"), "-D", str(data_dir)]


def prepare(node: PostgresNode) -> list[str]:
    """Cluster made or reused, configuration written; returns the server's argv."""
    bin_dir = pg_bin_dir()
    user = pg_user()
    as_user_argv(user)  # fails early, before initdb, when we cannot switch to the user
    initdb(node.pgdata, bin_dir, user)
    write_config(node, user)
    return server_argv(bin_dir, node.pgdata, user)


def conninfo(host: str, port: int, dbname: str = "postgres", user: str = PG_USER,
             connect_timeout_s: int = 3) -> str:
    from psycopg.conninfo import make_conninfo

    text: str = make_conninfo(host=host, port=port, dbname=dbname, user=user,
                              connect_timeout=connect_timeout_s)
    return text


def wait_ready(host: str, port: int, timeout_s: float = 60.0, dbname: str = "postgres",
               alive: Callable[[], bool] | None = None) -> None:
    """Until a session runs `SELECT 1`; `alive` (the supervisor's view of the process) turns a
    server that died while starting into an error at once instead of at the deadline."""
    import psycopg

    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while True:
        try:
            with psycopg.connect(conninfo(host, port, dbname), autocommit=True) as conn:
                conn.execute("SELECT 1")
                return
        except psycopg.Error as exc:
            last = exc
        if alive is not None and not alive():
            raise LabError(f"PostgreSQL at {host}:{port} exited while starting ({last})")
        if time.monotonic() >= deadline:
            raise LabError(f"PostgreSQL at {host}:{port} is not ready after {timeout_s:.0f} s: "
                           f"{str(last).strip()}")
        time.sleep(0.2)


def check_logical_replication(host: str, port: int, dbname: str = "postgres") -> None:
    """A database Debezium's source can read: wal_level = logical and room for a slot and a WAL
    sender. One line naming what is wrong and the fix otherwise."""
    import psycopg

    try:
        with psycopg.connect(conninfo(host, port, dbname), autocommit=True) as conn:
            values = {name: str((conn.execute(f"SHOW {name}").fetchone() or ("",))[0])
                      for name in ("wal_level", "max_replication_slots", "max_wal_senders")}
    except psycopg.Error as exc:
        raise LabError(f"PostgreSQL at {host}:{port} is not reachable: {str(exc).strip()}") from exc
    if values["wal_level"] != "logical":
        raise LabError(f"PostgreSQL at {host}:{port} has wal_level = {values['wal_level']}; "
                       "Debezium's source needs wal_level = logical (set it and restart the server)")
    for name in ("max_replication_slots", "max_wal_senders"):
        if int(values[name] or 0) < 1:
            raise LabError(f"PostgreSQL at {host}:{port} has {name} = {values[name]}; Debezium's "
                           f"source needs at least 1 (set it and restart the server)")
