"""The integration hub's lab components: databases, Connect workers, the pipeline.

Like every component, `up` and `down` are idempotent and `up` on an existing one rebuilds it.
"""

from __future__ import annotations

import shutil
import time
import urllib.error
import urllib.request
from typing import Any

from riftdrill.errors import LabError
from riftdrill.hub import connect, pipeline, postgres
from riftdrill.inventory import Security
from riftdrill.lab import net, procs
from riftdrill.security.client import client_security

Spec = dict[str, Any]


def database_proc(name: str) -> str:
    return f"database-{name}"


def connect_proc(name: str) -> str:
    return f"connect-{name}"


def _node(spec: Spec) -> postgres.PostgresNode:
    return postgres.PostgresNode(name=str(spec["name"]), address=str(spec["address"]),
                                 port=int(spec["port"]))


def database_up(spec: Spec) -> None:
    node = _node(spec)
    name = database_proc(node.name)
    procs.stop(name, grace_s=15, stop_signal=postgres.FAST_SHUTDOWN)
    # A fresh cluster each deploy: the runs' tables, the slot and the publication start empty.
    shutil.rmtree(node.pgdata, ignore_errors=True)
    net.add_host_address(spec["namespace"], node.address)
    argv = postgres.prepare(node)
    procs.start(procs.ProcSpec(name=name, namespace=spec["namespace"], argv=argv))
    postgres.wait_ready(node.address, node.port, timeout_s=float(spec.get("timeout_s", 60)),
                        alive=lambda: procs.state(name) != "dead")
    if spec.get("role") == "source":
        postgres.check_logical_replication(node.address, node.port)


def database_down(spec: Spec) -> None:
    node = _node(spec)
    procs.stop(database_proc(node.name), grace_s=15, stop_signal=postgres.FAST_SHUTDOWN)
    shutil.rmtree(node.pgdata, ignore_errors=True)
    net.remove_host_address(spec["namespace"], node.address)


def _worker(spec: Spec) -> connect.ConnectWorker:
    exactly_once = bool(spec.get("exactly_once", False))
    return connect.ConnectWorker(
        name=str(spec["name"]), cloud=str(spec["cloud"]), address=str(spec["address"]),
        bootstrap=str(spec["bootstrap"]), replication_factor=int(spec["replication_factor"]),
        rest_port=int(spec["rest_port"]), group_id=str(spec["group"]),
        # A sink subscribed by pattern finds a run's new topic at its next metadata refresh:
        # every 5 s, not the consumer's default 5 min.
        # A source task's producer keeps one request in flight (Connect's default, for order):
        # with 16 KiB batches of schema-bearing JSON and acks=all across the cloud link, a
        # one-partition CDC topic fell behind 150 changes/s. Batches of 1 MiB lift the cap.
        overrides={"consumer.metadata.max.age.ms": "5000", "producer.batch.size": "1048576",
                   # exactly-once: the sink must not apply a source transaction that aborted
                   **({"consumer.isolation.level": "read_committed"} if exactly_once else {})},
        exactly_once_source="enabled" if exactly_once else "disabled",
        security=client_security(Security.model_validate(spec.get("security") or {}), "connect"),
    )


def wait_rest(url: str, name: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url + "/", timeout=3):
                return
        except (urllib.error.URLError, TimeoutError, ConnectionError):
            pass
        if procs.state(name) == "dead":
            raise LabError(f"Connect worker {name} exited while starting; log tail:\n"
                           f"{procs.tail(name)}")
        if time.monotonic() > deadline:
            raise LabError(f"Connect worker {name}: REST API at {url} not up after "
                           f"{timeout_s:.0f} s; log tail:\n{procs.tail(name)}")
        time.sleep(0.5)


def connect_up(spec: Spec) -> None:
    worker = _worker(spec)
    name = connect_proc(worker.name)
    procs.stop(name, grace_s=10)
    net.add_host_address(spec["namespace"], worker.address)
    argv = connect.prepare_worker(worker)
    procs.start(procs.ProcSpec(name=name, namespace=spec["namespace"], argv=argv))
    wait_rest(worker.rest_url, name, float(spec.get("timeout_s", 120)))


def connect_down(spec: Spec) -> None:
    procs.stop(connect_proc(str(spec["name"])), grace_s=10)
    net.remove_host_address(spec["namespace"], spec["address"])


def _pipeline(spec: Spec) -> pipeline.Pipeline:
    def db(d: Spec) -> pipeline.DatabaseRef:
        return pipeline.DatabaseRef(address=str(d["address"]), port=int(d["port"]))

    return pipeline.Pipeline(
        source_connector=str(spec["source_connector"]), sink_connector=str(spec["sink_connector"]),
        topic_prefix=str(spec["topic_prefix"]), replication_factor=int(spec["replication_factor"]),
        source=db(spec["source"]), sink=db(spec["sink"]),
        exactly_once=bool(spec.get("exactly_once", False)))


def pipeline_up(spec: Spec) -> None:
    p = _pipeline(spec)
    rest = pipeline.ConnectRest(list(spec["workers"]))
    postgres.check_logical_replication(p.source.address, p.source.port)
    timeout_s = float(spec.get("timeout_s", 180))
    # The source database is new on every `up` (database_up): its connector must not resume
    # from an offset of the old one. The sink keeps its group's offsets: an old run's CDC topic
    # is not copied again into the new sink database.
    for name, config, fresh in ((p.source_connector, pipeline.source_config(p), True),
                                (p.sink_connector, pipeline.sink_config(p), False)):
        pipeline.create(rest, name, config, fresh_offsets=fresh)
        pipeline.wait_running(rest, name, timeout_s)


def pipeline_down(spec: Spec) -> None:
    """Delete the connectors where a worker still answers; with none up there is nothing left
    to delete (the databases go with their own components; the Connect cluster's internal topics
    stay in Kafka, so pipeline_up starts the source from fresh offsets)."""
    p = _pipeline(spec)
    rest = pipeline.ConnectRest(list(spec["workers"]), timeout_s=5)
    for name in (p.sink_connector, p.source_connector):
        try:
            rest.delete(name)
        except LabError:
            return


ACTIONS = {
    ("up", "database"): database_up, ("down", "database"): database_down,
    ("up", "connect"): connect_up, ("down", "connect"): connect_down,
    ("up", "pipeline"): pipeline_up, ("down", "pipeline"): pipeline_down,
}
