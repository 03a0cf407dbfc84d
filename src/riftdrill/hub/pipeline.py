"""The hub's pipeline: its two connectors, and their lifecycle through Connect's REST API.

The source is Debezium's PostgreSQL connector on the aws database: every table named
`rd_rows_<run>` (one per run, so a run's history starts empty) is captured through a publication
for all tables and written to `<prefix>.public.<table>`, one partition per table (the checker
reads a table's changes in commit order). The sink is Debezium's JDBC connector into the gcp
database: it subscribes to every such topic, drops the `<prefix>.public.` from the topic name
so the target table has the source's name, upserts by the primary key and deletes on delete
events. Workers take records as JSON with their schemas (hub/connect.py), which the sink needs
to create the target table with the source's column types.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from riftdrill.errors import LabError, ValidationError
from riftdrill.hub.connect import JDBC_SINK_CLASS, POSTGRES_SOURCE_CLASS
from riftdrill.security.acls import DEBEZIUM_HEARTBEAT_PREFIX

TABLE_PREFIX = "rd_rows_"
SLOT = "riftdrill"
PUBLICATION = "riftdrill"
REST_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class DatabaseRef:
    address: str
    port: int
    dbname: str = "postgres"
    user: str = "postgres"


@dataclass(frozen=True)
class Pipeline:
    source_connector: str
    sink_connector: str
    topic_prefix: str
    replication_factor: int
    source: DatabaseRef
    sink: DatabaseRef
    # KIP-618: the source's records and offsets in one transaction per poll (the workers must
    # run exactly.once.source.support=enabled); a connector that cannot is refused at creation.
    exactly_once: bool = False

    def topic(self, table: str) -> str:
        return f"{self.topic_prefix}.public.{table}"


def source_config(p: Pipeline) -> dict[str, str]:
    db = p.source
    return {
        "connector.class": POSTGRES_SOURCE_CLASS,
        "tasks.max": "1",  # a replication slot has one reader
        "database.hostname": db.address,
        "database.port": str(db.port),
        "database.user": db.user,
        "database.password": "",  # the lab's pg_hba trusts its own addresses
        "database.dbname": db.dbname,
        "topic.prefix": p.topic_prefix,
        # pgoutput is built into PostgreSQL 10+; Debezium's default (decoderbufs) is a plugin
        # the server would need installed.
        "plugin.name": "pgoutput",
        "slot.name": SLOT,
        "publication.name": PUBLICATION,
        # FOR ALL TABLES: a run's new table is captured without altering the publication.
        "publication.autocreate.mode": "all_tables",
        "table.include.list": rf"public\.{TABLE_PREFIX}.*",
        # The tables are created by the runs, after the connector: nothing to snapshot.
        "snapshot.mode": "no_data",
        # A delete's event carries the row's last version in `before` (the checker needs it);
        # the runs' tables have REPLICA IDENTITY FULL. The tombstone after it is for
        # compaction; readers skip it.
        "tombstones.on.delete": "true",
        # The slot's position advances even while the captured tables are idle.
        "heartbeat.interval.ms": "5000",
        # Its topic, <prefix>.<topic.prefix>, is one the connect principal may write (acls.py).
        "topic.heartbeat.prefix": DEBEZIUM_HEARTBEAT_PREFIX,
        "topic.creation.default.partitions": "1",
        "topic.creation.default.replication.factor": str(p.replication_factor),
        **({"exactly.once.support": "required", "transaction.boundary": "poll"}
           if p.exactly_once else {}),
    }


def sink_config(p: Pipeline) -> dict[str, str]:
    db = p.sink
    return {
        "connector.class": JDBC_SINK_CLASS,
        "tasks.max": "1",
        "topics.regex": rf"{p.topic_prefix}\.public\.{TABLE_PREFIX}.*",
        "connection.url": f"jdbc:postgresql://{db.address}:{db.port}/{db.dbname}",
        "connection.username": db.user,
        "connection.password": "",
        "insert.mode": "upsert",
        "delete.enabled": "true",
        "primary.key.mode": "record_key",
        "schema.evolution": "basic",  # creates each run's target table from the record schema
        "collection.name.format": "${topic}",
        # <prefix>.public.rd_rows_<run> -> rd_rows_<run>: the target table has the source's name.
        "transforms": "table",
        "transforms.table.type": "org.apache.kafka.connect.transforms.RegexRouter",
        "transforms.table.regex": rf"{p.topic_prefix}\.public\.(.*)",
        "transforms.table.replacement": "$1",
    }


class ConnectRest:
    """Kafka Connect's REST API on one or more workers: any worker answers (a follower
    forwards writes to the group's leader); the next is tried when one is unreachable."""

    def __init__(self, urls: Sequence[str], timeout_s: float = REST_TIMEOUT_S) -> None:
        if not urls:
            raise ValidationError("no Connect worker to talk to")
        self.urls = list(urls)
        self.timeout_s = timeout_s

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        last = ""
        for url in self.urls:
            req = urllib.request.Request(url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json",
                                                  "Accept": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    text = resp.read().decode()
                    return json.loads(text) if text else None
            except urllib.error.HTTPError as exc:
                detail = _error_message(exc)
                if exc.code in (404, 400, 409, 422):
                    raise ConnectorError(exc.code, f"{method} {path}: {detail}") from exc
                last = f"{url}: HTTP {exc.code} {detail}"
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                last = f"{url}: {getattr(exc, 'reason', exc)}"
        raise LabError(f"no Connect worker answered {method} {path} (last: {last})")

    # The lifecycle, one call each.
    def put_config(self, name: str, config: dict[str, str]) -> Any:
        """Create or update (PUT is idempotent: a redeploy converges)."""
        return self.call("PUT", f"/connectors/{name}/config", config)

    def validate(self, name: str, config: dict[str, str]) -> list[str]:
        """What the worker would refuse in `config`: one line per field, empty when valid."""
        cls = config["connector.class"].rsplit(".", 1)[-1]
        out = self.call("PUT", f"/connector-plugins/{cls}/config/validate",
                        {**config, "name": name})
        errors: list[str] = []
        for item in (out or {}).get("configs") or []:
            value = item.get("value") or {}
            for err in value.get("errors") or []:
                errors.append(f"{value.get('name')}: {err}")
        return errors

    def status(self, name: str) -> dict[str, Any]:
        out: dict[str, Any] = self.call("GET", f"/connectors/{name}/status")
        return out

    def connectors(self) -> list[str]:
        return list(self.call("GET", "/connectors") or [])

    def pause(self, name: str) -> None:
        self.call("PUT", f"/connectors/{name}/pause")

    def resume(self, name: str) -> None:
        self.call("PUT", f"/connectors/{name}/resume")

    def restart(self, name: str, include_tasks: bool = True) -> None:
        flag = "true" if include_tasks else "false"
        self.call("POST", f"/connectors/{name}/restart?includeTasks={flag}&onlyFailed=false")

    def delete(self, name: str) -> None:
        try:
            self.call("DELETE", f"/connectors/{name}")
        except ConnectorError as exc:
            if exc.code != 404:
                raise


class ConnectorError(LabError):
    """The worker refused a request (bad config, unknown connector): its own message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read().decode() or "{}")
    except (ValueError, OSError):
        return str(exc.reason)
    return str(body.get("message") or exc.reason).splitlines()[0]


def state_of(status: dict[str, Any]) -> tuple[str, list[str]]:
    """(connector state, task states) of a status reply."""
    tasks = [str(t.get("state")) for t in status.get("tasks", [])]
    return str(status.get("connector", {}).get("state")), tasks


def wait_running(rest: ConnectRest, name: str, timeout_s: float = 120.0) -> dict[str, Any]:
    """Until the connector and all its tasks are RUNNING; a FAILED task is an error at once,
    with the worker's trace's first line."""
    deadline = time.monotonic() + timeout_s
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            last = rest.status(name)
        except ConnectorError as exc:
            if exc.code != 404:
                raise
            last = {}
        conn, tasks = state_of(last) if last else ("absent", [])
        failed = [t for t in last.get("tasks", []) if t.get("state") == "FAILED"]
        if conn == "FAILED" or failed:
            trace = str((failed[0] if failed else last.get("connector", {})).get("trace", ""))
            raise LabError(f"connector {name} failed: {trace.splitlines()[0] if trace else conn}")
        if conn == "RUNNING" and tasks and all(t == "RUNNING" for t in tasks):
            return last
        time.sleep(0.5)
    where = state_of(last) if last else "absent"
    raise LabError(f"connector {name} not running after {timeout_s:.0f} s: {where}")


def create(rest: ConnectRest, name: str, config: dict[str, str], *,
           fresh_offsets: bool = False, timeout_s: float = 60.0) -> None:
    """Validate, then create or update: a config the worker rejects is one line naming the
    field and the worker's reason, and nothing is created.

    `fresh_offsets`: the connector starts from no committed source offset. The lab's databases
    are new on every deploy while the Connect cluster's offsets topic outlives them (the Kafka
    cluster stays when the hub is removed and added again), and a source that resumes from an
    LSN of the old database fails. So it is deleted, created stopped (KIP-980), its offsets
    deleted (KIP-875) and resumed."""
    errors = rest.validate(name, config)
    if errors:
        raise ValidationError(f"connector {name}: the worker rejects its config: {errors[0]}"
                              + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""))
    if not fresh_offsets:
        rest.put_config(name, config)
        return
    rest.delete(name)
    body = {"name": name, "config": config, "initial_state": "STOPPED"}
    _retry_conflict(lambda: rest.call("POST", "/connectors", body), timeout_s)
    deadline = time.monotonic() + timeout_s
    while _connector_state(rest, name) != "STOPPED":
        if time.monotonic() > deadline:
            raise LabError(f"connector {name} not STOPPED {timeout_s:.0f} s after its creation")
        time.sleep(0.5)
    _retry_conflict(lambda: rest.call("DELETE", f"/connectors/{name}/offsets"), timeout_s)
    rest.resume(name)


def _connector_state(rest: ConnectRest, name: str) -> str:
    try:
        return state_of(rest.status(name))[0]
    except ConnectorError as exc:
        if exc.code != 404:
            raise
        return "absent"


def _retry_conflict(call: Any, timeout_s: float) -> Any:
    """A write during the group's rebalance (after a delete) answers 409: tried again."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return call()
        except ConnectorError as exc:
            if exc.code != 409 or time.monotonic() > deadline:
                raise
        time.sleep(0.5)
