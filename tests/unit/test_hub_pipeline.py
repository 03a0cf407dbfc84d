"""The hub's pipeline pieces that need no lab: connector configs, the REST client against a
local stand-in, CDC event decoding, the workload's bookkeeping, the topology's validation."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest

from riftdrill.deploy import DeploySpec
from riftdrill.errors import LabError, RiftdrillError, ValidationError
from riftdrill.hub import pipeline
from riftdrill.hub.observe import decode_event
from riftdrill.load import rows

P = pipeline.Pipeline("src", "sink", "hub", 3, pipeline.DatabaseRef("198.18.1.21", 5432),
                      pipeline.DatabaseRef("198.18.2.21", 5432))


def test_source_captures_every_run_table_through_pgoutput_into_one_partition() -> None:
    c = pipeline.source_config(P)
    assert c["plugin.name"] == "pgoutput"
    assert c["table.include.list"] == r"public\.rd_rows_.*"
    assert c["topic.creation.default.partitions"] == "1"  # one order per table
    assert c["topic.creation.default.replication.factor"] == "3"
    assert c["database.hostname"] == "198.18.1.21"
    assert c["tasks.max"] == "1"


def test_the_source_heartbeats_into_a_topic_the_connect_principal_may_write() -> None:
    """Found by the secured hub: Debezium's heartbeat topic was outside connect's ACLs, so the
    source connector failed with "Not authorized to describe topic(s)"."""
    from riftdrill.inventory import Security
    from riftdrill.security import acls, credentials

    sec = Security(mode="sasl-tls", secrets_dir="/s", ca_cert="/s/ca.pem",
                   principals=credentials.PRINCIPALS)
    heartbeat = f"{pipeline.source_config(P)['topic.heartbeat.prefix']}.{P.topic_prefix}"
    plan = acls.acl_plan(sec, hub=acls.HubNames("riftdrill-hub", P.topic_prefix))["connect"]
    assert any(a.resource == "topic" and a.operation == "all"
               and (a.name == heartbeat if a.pattern == "literal" else heartbeat.startswith(a.name))
               for a in plan)


def test_sink_writes_each_topic_into_the_source_table_name() -> None:
    c = pipeline.sink_config(P)
    assert c["topics.regex"] == r"hub\.public\.rd_rows_.*"
    assert c["connection.url"] == "jdbc:postgresql://198.18.2.21:5432/postgres"
    assert (c["insert.mode"], c["delete.enabled"], c["primary.key.mode"]) == (
        "upsert", "true", "record_key")
    assert c["transforms.table.regex"] == r"hub\.public\.(.*)"
    assert c["transforms.table.replacement"] == "$1"
    assert P.topic("rd_rows_x") == "hub.public.rd_rows_x"


class _Connect(BaseHTTPRequestHandler):
    """A worker's REST API, as far as the client uses it."""

    configs: ClassVar[dict[str, dict[str, str]]] = {}

    def log_message(self, *args: Any) -> None:
        return None

    def _reply(self, code: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"] or 0)) or b"{}")
        if self.path.endswith("/config/validate"):
            bad = body.get("tasks.max") == "0"
            self._reply(200, {"error_count": int(bad), "configs": [
                {"definition": {}, "value": {"name": "tasks.max", "errors": (
                    ["Invalid value 0 for configuration tasks.max"] if bad else [])}},
                {"definition": {}, "value": None}]})
        elif self.path.endswith("/config"):
            self.configs[self.path.split("/")[2]] = body
            self._reply(201, {"name": self.path.split("/")[2]})
        else:
            self._reply(202, None)

    def do_GET(self) -> None:
        name = self.path.split("/")[2] if self.path.count("/") >= 3 else ""
        if self.path == "/connectors":
            self._reply(200, sorted(self.configs))
        elif name in self.configs:
            self._reply(200, {"name": name, "connector": {"state": "RUNNING", "worker_id": "w"},
                              "tasks": [{"id": 0, "state": "RUNNING"}]})
        else:
            self._reply(404, {"error_code": 404, "message": f"Connector {name} not found"})


@pytest.fixture()
def worker() -> Iterator[str]:
    _Connect.configs = {}
    server = HTTPServer(("127.0.0.1", 0), _Connect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_create_validates_first_and_a_rejected_config_creates_nothing(worker: str) -> None:
    rest = pipeline.ConnectRest([worker])
    with pytest.raises(ValidationError, match=r"rd-bad: the worker rejects its config: "
                                              r"tasks\.max: Invalid value 0"):
        pipeline.create(rest, "rd-bad", {**pipeline.sink_config(P), "tasks.max": "0"})
    assert rest.connectors() == []
    pipeline.create(rest, "sink", pipeline.sink_config(P))
    assert rest.connectors() == ["sink"]
    assert pipeline.wait_running(rest, "sink", timeout_s=5)["tasks"][0]["state"] == "RUNNING"
    with pytest.raises(pipeline.ConnectorError, match="Connector nope not found") as err:
        rest.status("nope")
    assert err.value.code == 404


def test_an_unreachable_worker_is_skipped_and_none_left_is_one_error(worker: str) -> None:
    dead = "http://127.0.0.1:9"  # discard: nothing listens
    assert pipeline.ConnectRest([dead, worker], timeout_s=2).connectors() == []
    with pytest.raises(LabError, match="no Connect worker answered GET /connectors"):
        pipeline.ConnectRest([dead], timeout_s=2).connectors()


def _event(op: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> bytes:
    return json.dumps({"schema": {}, "payload": {"op": op, "before": before, "after": after,
                                                 "source": {}}}).encode()


def test_debezium_events_decode_into_ledger_versions() -> None:
    assert decode_event(_event("c", None, {"id": 7, "version": 1, "payload": "x"})) == (
        7, 1, "insert")
    assert decode_event(_event("u", {"id": 7, "version": 1}, {"id": 7, "version": 2})) == (
        7, 2, "update")
    # a delete is numbered one past the row it removed
    assert decode_event(_event("d", {"id": 7, "version": 2}, None)) == (7, 3, "delete")
    assert decode_event(None) is None  # tombstone
    assert decode_event(json.dumps({"payload": {"op": "t"}}).encode()) is None  # truncate


def test_workload_versions_never_restart_and_its_table_is_its_own() -> None:
    live: dict[int, int] = {}
    dead: dict[int, int] = {}
    rows._apply("insert", 1, 1, live, dead)
    rows._apply("update", 1, 2, live, dead)
    rows._apply("delete", 1, 3, live, dead)
    assert (live, dead) == ({}, {1: 3})
    rng = random.Random(3)
    picks = {rows._choose(rng, live, dead, next_id=2) for _ in range(200)}
    assert ("insert", 1, 4) in picks  # a re-insert continues after the delete
    assert ("insert", 2, 1) in picks
    assert rows.table_for("20261202T150000Z-hub", 1_764_633_600_000_000_000) == (
        f"rd_rows_20261202t150000zhub_{1_764_633_600_000:x}")
    assert rows.table_for("run", 1) != rows.table_for("run", 2_000_000)


def test_workload_bad_input_is_one_line() -> None:
    spec = rows.RowsSpec(table="rd_rows_x", source=P.source, source_cloud="aws", rate_per_s=0,
                         duration_s=10)
    with pytest.raises(ValidationError, match=r"rate 0/s out of range"):
        spec.validate()
    spec.rate_per_s, spec.duration_s = 10, 0
    with pytest.raises(ValidationError, match=r"duration 0 s out of range"):
        spec.validate()
    spec.duration_s, spec.table = 10, "users; DROP TABLE x"
    with pytest.raises(ValidationError, match="captures tables named rd_rows_"):
        spec.validate()


def test_hub_topology_is_the_lab_with_kafka_only() -> None:
    DeploySpec(topology="hub").validate()
    with pytest.raises(ValidationError, match="topology hub runs on the lab with kafka only"):
        DeploySpec(topology="hub", engine="tansu").validate()
    with pytest.raises(ValidationError, match="hub needs 2\\+ brokers per cloud"):
        DeploySpec(topology="hub", brokers_per_cloud=1, replication_factor=2).validate()


def test_a_lab_without_a_hub_says_how_to_get_one() -> None:
    from tests.unit.test_chaos_targets import inv

    with pytest.raises(RiftdrillError, match="deploy one with `make deploy TOPOLOGY=hub`"):
        inv().require_hub()


def test_sink_tail_records_first_sights_and_deletes() -> None:
    from pathlib import Path

    from riftdrill.hub.sinktail import Sight, SinkTail

    tail = SinkTail(P.sink, "rd_rows_x", Path("/nonexistent"))
    assert tail.observe({1: 1, 2: 1}, 10) == [Sight(1, 1, "upsert", 10), Sight(2, 1, "upsert", 10)]
    assert tail.observe({1: 1, 2: 1}, 20) == []  # nothing new
    # id 1 updated, id 2 deleted (the delete is numbered one past the row it removed)
    assert tail.observe({1: 2}, 30) == [Sight(1, 2, "upsert", 30), Sight(2, 2, "delete", 30)]


NS = 1_000_000_000


def ok(op: str, row_id: int, version: int, done_s: float) -> Any:
    """A committed change of the row ledger, done `done_s` after t0."""
    from riftdrill.hub.rows import RowChange, row_crc

    crc = None if op == "delete" else row_crc(row_id, version)
    return RowChange(op=op, id=row_id, version=version, payload_crc=crc,  # type: ignore[arg-type]
                     intended_ns=0, start_ns=0, done_ns=int(done_s * NS), outcome="ok")


def test_change_lag_from_commit_to_first_sight() -> None:
    from riftdrill.hub.lag import compute_change_lag
    from riftdrill.hub.sinktail import Sight

    s = NS

    changes = [ok("insert", 1, 1, 0.1), ok("update", 1, 2, 0.2), ok("update", 1, 3, 1.5),
               ok("insert", 2, 1, 1.6), ok("delete", 2, 2, 2.0), ok("insert", 3, 1, 2.5)]
    sights = [Sight(1, 1, "upsert", int(0.4 * s)),  # v2 overwritten before a poll saw it
              Sight(1, 3, "upsert", int(4.5 * s)), Sight(2, 1, "upsert", int(1.7 * s)),
              Sight(2, 2, "delete", int(2.2 * s))]  # id 3 never shown
    lag = compute_change_lag(changes, sights, t0_ns=0, poll_interval_s=0.2)
    assert (lag.committed, lag.seen, lag.overwritten, lag.never_visible) == (6, 4, 1, 1)
    assert lag.max_s == 3.0
    assert [(p.t_s, p.committed, p.max_lag_s) for p in lag.series] == [
        (0.0, 2, 0.3), (1.0, 2, 3.0), (2.0, 2, 0.2)]


def test_a_delete_is_seen_whatever_version_the_tail_names_and_an_unseen_row_is_not_late() -> None:
    """The tail names a delete one past the last version it saw present; it cannot see a row
    go that it never saw: neither is a change the sink never showed."""
    from riftdrill.hub.lag import compute_change_lag
    from riftdrill.hub.sinktail import Sight

    s = NS

    changes = [ok("insert", 1, 1, 0.1), ok("update", 1, 2, 0.2), ok("delete", 1, 3, 0.3),
               ok("insert", 2, 1, 1.0), ok("delete", 2, 2, 1.05),  # between two polls
               ok("insert", 4, 1, 2.0), ok("delete", 4, 2, 2.1), ok("insert", 4, 3, 2.2),
               ok("delete", 4, 4, 3.0),
               ok("insert", 5, 1, 4.0), ok("delete", 5, 2, 4.5)]
    sights = [Sight(1, 1, "upsert", int(0.15 * s)),
              Sight(1, 2, "delete", int(0.5 * s)),  # v2 missed: the tail names the delete v2
              Sight(4, 1, "upsert", int(2.05 * s)), Sight(4, 2, "delete", int(2.15 * s)),
              Sight(4, 3, "upsert", int(2.3 * s)), Sight(4, 4, "delete", int(3.4 * s)),
              Sight(5, 1, "upsert", int(4.1 * s))]  # id 5 seen present, never seen gone
    lag = compute_change_lag(changes, sights, t0_ns=0, poll_interval_s=0.2)
    assert lag.never_visible == 1  # id 5's delete: the sink still showed the row
    # overwritten: id 1 v2 (missed), id 2 v1 and its delete (never seen present)
    assert (lag.committed, lag.seen, lag.overwritten) == (11, 7, 3)
    assert lag.max_s == 0.4  # id 4's last delete, seen 0.4 s after its commit


def test_adding_or_removing_the_hub_keeps_the_cluster() -> None:
    from dataclasses import asdict

    from riftdrill.deploy import DeployRequest, hub_only_change, plan_deploy

    stretched = DeploySpec(topology="stretched")
    assert hub_only_change(asdict(stretched), DeploySpec(topology="hub"))
    assert hub_only_change(asdict(DeploySpec(topology="hub")), stretched)
    assert not hub_only_change(asdict(stretched), DeploySpec(topology="hub", brokers_per_cloud=3))
    assert not hub_only_change(asdict(DeploySpec(topology="per-cloud")), DeploySpec(topology="hub"))
    plan = plan_deploy(DeployRequest(topology="hub"), stretched)
    assert plan.notice() == ("topology stretched -> hub: adding the integration hub; the cluster "
                             "and its data stay")
    plan = plan_deploy(DeployRequest(topology="per-cloud"), stretched)
    assert "tearing the lab down" in (plan.notice() or "")
    # The hub's delivery is the hub's alone: rebuilt in place, the cluster stays.
    hub = DeploySpec(topology="hub")
    eos = DeploySpec(topology="hub", hub_delivery="exactly-once")
    assert hub_only_change(asdict(hub), eos) and hub_only_change(asdict(eos), stretched)
    legacy = {k: v for k, v in asdict(hub).items() if k != "hub_delivery"}  # an older record
    assert hub_only_change(legacy, eos) and not hub_only_change(legacy, hub)
    assert not hub_only_change(asdict(stretched), stretched)
    plan = plan_deploy(DeployRequest(hub_delivery="exactly-once"), hub)
    assert plan.notice() == ("hub delivery at-least-once -> exactly-once: rebuilding the "
                             "integration hub; the cluster and its data stay")
    assert plan.spec.tf_vars()["hub_delivery"] == "exactly-once"


def test_exactly_once_hub_asks_kip_618_of_workers_source_and_sink() -> None:
    from riftdrill.hub import connect
    from riftdrill.lab import hubparts

    spec = {"name": "connect-aws", "cloud": "aws", "address": "198.18.1.31",
            "bootstrap": "198.18.1.11:9092", "replication_factor": 3, "rest_port": 8083,
            "group": "g", "exactly_once": True}
    props = connect.worker_properties(hubparts._worker(spec), plugin_path=[])
    assert props["exactly.once.source.support"] == "enabled"
    assert props["consumer.isolation.level"] == "read_committed"
    plain = connect.worker_properties(hubparts._worker({**spec, "exactly_once": False}),
                                      plugin_path=[])
    assert plain["exactly.once.source.support"] == "disabled"
    assert "consumer.isolation.level" not in plain
    db = pipeline.DatabaseRef("198.18.1.21", 5432)
    p = pipeline.Pipeline("s", "k", "hub", 3, db, db, exactly_once=True)
    assert pipeline.source_config(p)["exactly.once.support"] == "required"
    assert "exactly.once.support" not in pipeline.source_config(replace(p, exactly_once=False))
