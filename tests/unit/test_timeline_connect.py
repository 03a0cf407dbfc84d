"""The broker timeline's hub part: Connect workers asked for their connectors' status each
sample (real HTTP servers on 127.0.0.1 serving Connect-shaped JSON, a worker that refuses, one
that never answers), and the summary per connector."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from riftdrill.chaos import timeline
from riftdrill.inventory import (
    Broker,
    Cloud,
    Cluster,
    ConnectWorker,
    Database,
    Hub,
    Inventory,
)

SOURCE, SINK = "rd-source", "rd-sink"


def status(name: str, state: str, worker: str,
           tasks: list[tuple[int, str, str]]) -> dict[str, Any]:
    """What Connect's GET /connectors/<name>/status answers."""
    return {"name": name, "connector": {"state": state, "worker_id": worker},
            "tasks": [{"id": i, "state": s, "worker_id": w} for i, s, w in tasks],
            "type": "source" if name == SOURCE else "sink"}


class Worker:
    """A Connect worker's REST API on 127.0.0.1: statuses by connector name (a missing one is
    Connect's 404); `delay_s` before every answer."""

    def __init__(self, statuses: dict[str, dict[str, Any]], delay_s: float = 0.0) -> None:
        self.statuses, self.delay_s = statuses, delay_s
        self.paths: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.paths.append(self.path)
                time.sleep(outer.delay_s)
                name = self.path.removeprefix("/connectors/").removesuffix("/status")
                found = outer.statuses.get(name)
                body = json.dumps(found if found is not None else {
                    "error_code": 404, "message": f"No status found for connector {name}"})
                self.send_response(200 if found is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.id = f"127.0.0.1:{self.port}"  # Connect's worker_id: its advertised REST host:port
        self.url = f"http://{self.id}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def workers() -> Iterator[Callable[..., Worker]]:
    made: list[Worker] = []

    def make(statuses: dict[str, dict[str, Any]], delay_s: float = 0.0) -> Worker:
        made.append(Worker(statuses, delay_s))
        return made[-1]

    yield make
    for w in made:
        w.close()


def refusing_url() -> str:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # closed: connections are refused


def test_each_worker_is_asked_and_a_refusing_one_is_recorded(
        workers: Callable[..., Worker]) -> None:
    aws = workers({})
    dead_url = refusing_url()
    dead_id = dead_url.removeprefix("http://")
    aws.statuses.update({
        SOURCE: status(SOURCE, "RUNNING", aws.id, [(0, "RUNNING", aws.id)]),
        # Connect still names the dead worker until the group notices
        SINK: status(SINK, "RUNNING", aws.id, [(0, "RUNNING", dead_id), (1, "FAILED", aws.id)]),
    })
    hub = timeline.HubSource(workers=[("connect-gcp", dead_url), ("connect-aws", aws.url)],
                             connectors=[SOURCE, SINK])
    block = hub.ask()()
    assert block["workers"]["connect-aws"] is None
    assert block["workers"]["connect-gcp"].startswith("no answer:")
    assert "refused" in block["workers"]["connect-gcp"].lower()
    source = block["connectors"][SOURCE]
    assert source == {"state": "RUNNING", "worker_id": aws.id, "seen_by": "connect-aws",
                      "error": None, "tasks": [{"id": 0, "state": "RUNNING",
                                                "worker_id": aws.id, "worker": "connect-aws"}]}
    sink = block["connectors"][SINK]
    assert [(t["id"], t["state"], t["worker"]) for t in sink["tasks"]] == [
        (0, "RUNNING", "connect-gcp"), (1, "FAILED", "connect-aws")]
    assert sorted(aws.paths) == [f"/connectors/{SINK}/status", f"/connectors/{SOURCE}/status"]


def test_a_worker_that_never_answers_does_not_stall_the_sample(
        workers: Callable[..., Worker]) -> None:
    slow = workers({SOURCE: status(SOURCE, "RUNNING", "x:1", [])}, delay_s=3.0)
    hub = timeline.HubSource(workers=[("connect-aws", slow.url)], connectors=[SOURCE, SINK])
    t0 = time.monotonic()
    block = hub.ask()()
    assert time.monotonic() - t0 <= timeline.CONNECT_BUDGET_S + 0.2
    assert timeline.CONNECT_TIMEOUT_S <= timeline.CONNECT_BUDGET_S <= 1.0
    assert block["workers"]["connect-aws"].startswith("no answer")
    assert block["connectors"][SOURCE]["state"] is None
    assert block["connectors"][SOURCE]["error"].startswith("connect-aws: no answer")


def test_a_connector_a_worker_does_not_know_is_an_answer(
        workers: Callable[..., Worker]) -> None:
    aws = workers({})
    block = timeline.HubSource(workers=[("connect-aws", aws.url)],
                               connectors=[SOURCE]).ask()()
    assert block["workers"] == {"connect-aws": None}
    assert block["connectors"][SOURCE]["error"].startswith("connect-aws: HTTP 404")


def test_the_line_keeps_its_fields_and_adds_connect_with_a_hub(
        workers: Callable[..., Worker]) -> None:
    from tests.unit.test_timeline import HEALTHY, FakeAdmin

    aws = workers({SOURCE: status(SOURCE, "RUNNING", "a:1", [(0, "RUNNING", "a:1")])})
    src = [timeline.ClusterSource("main", FakeAdmin(HEALTHY))]
    plain = timeline.sample_line(src, "riftdrill", 5.0)
    assert "connect" not in plain
    line = timeline.sample_line(src, "riftdrill", 5.0,
                                timeline.HubSource([("connect-aws", aws.url)], [SOURCE]))
    assert {k: v for k, v in line.items() if k != "connect"} == plain
    assert line["connect"]["connectors"][SOURCE]["state"] == "RUNNING"


def _line(ts: float, workers: dict[str, str | None],
          connectors: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
    def entry(e: dict[str, Any] | None) -> dict[str, Any]:
        if e is None:
            return {"state": None, "worker_id": None, "tasks": [], "seen_by": None,
                    "error": "connect-aws: no answer"}
        return {"state": e["state"], "worker_id": None, "seen_by": "connect-aws", "error": None,
                "tasks": [{"id": i, "state": s, "worker_id": f"{w}:8083", "worker": w}
                          for i, s, w in e["tasks"]]}

    return {"ts_s": ts, "partitions": [], "under_replicated": 0, "offline": 0,
            "controller": 1, "error": None,
            "connect": {"workers": workers,
                        "connectors": {n: entry(e) for n, e in connectors.items()}}}


def test_the_summary_per_connector(tmp_path: Path) -> None:
    up = {"connect-aws": None, "connect-gcp": None}
    gcp_dead = {"connect-aws": None, "connect-gcp": "no answer: refused"}
    on = lambda w, state="RUNNING": {"state": "RUNNING", "tasks": [(0, state, w)]}  # noqa: E731
    lines = [
        {"ts_s": 99.0, "under_replicated": 0, "controller": 1},  # a line from before the hub
        _line(100.0, up, {SOURCE: on("connect-gcp"), SINK: on("connect-aws")}),
        _line(101.0, gcp_dead, {SOURCE: on("connect-gcp"), SINK: on("connect-aws")}),
        _line(103.0, gcp_dead, {SOURCE: on("connect-aws", "UNASSIGNED"), SINK: None}),
        _line(104.0, up, {SOURCE: on("connect-aws"), SINK: on("connect-aws")}),
        _line(105.0, up, {SOURCE: {"state": "RUNNING", "tasks": []},
                          SINK: on("connect-gcp", "FAILED")}),
    ]
    (tmp_path / "cluster.jsonl").write_text("".join(json.dumps(ln) + "\n" for ln in lines))
    block = timeline.summarize(tmp_path)
    assert block is not None and block.samples == 6
    source, sink = block.connectors[SOURCE], block.connectors[SINK]
    # not RUNNING: UNASSIGNED at 103 (until 104) and no task at 105 (the last: one interval)
    assert (source.samples, source.unanswered, source.not_running_s) == (5, 0, 2.0)
    assert source.on_silent_worker_s == 2.0  # on connect-gcp while it was silent: 101 -> 103
    assert source.task_moves == 1 and source.states_seen == ["RUNNING", "UNASSIGNED"]
    assert (sink.samples, sink.unanswered, sink.not_running_s) == (4, 1, 1.0)
    assert sink.task_moves == 1  # aws -> gcp (the unanswered sample in between is not a move)
    assert block.connect_workers_silent == {"connect-aws": 0, "connect-gcp": 2}


def test_lines_without_connect_sum_up_as_before(tmp_path: Path) -> None:
    (tmp_path / "cluster.jsonl").write_text(json.dumps(
        {"ts_s": 1.0, "under_replicated": 2, "offline": 0, "controller": 1}) + "\n")
    block = timeline.summarize(tmp_path)
    assert block is not None and block.connectors == {} and block.connect_workers_silent == {}
    assert timeline.ClusterTimeline.model_validate({"samples": 3}).connectors == {}


def test_every_committed_runs_timeline_still_sums_up() -> None:
    runs = sorted((Path(__file__).resolve().parents[2] / "results" / "runs").glob(
        "*/cluster.jsonl"))
    for path in runs:
        block = timeline.summarize(path.parent)
        assert block is not None and block.samples > 0, path


def _inventory(hub: Hub | None) -> Inventory:
    return Inventory(
        target="local", engine="kafka", engine_version="4.4.0", topology="hub",
        replication_factor=1, min_insync_replicas=1,
        clouds=[Cloud(name="aws", provider="lab", cidr="198.18.1.0/24")],
        clusters=[Cluster(name="main", clouds=["aws"], brokers=[1],
                          bootstrap={"aws": "198.18.1.10:9092"})],
        brokers=[Broker(id=1, name="aws-1", cloud="aws", cluster="main", address="198.18.1.10",
                        port=9092, roles=["broker"])],
        stores=[], links=[], hub=hub)


def test_the_hub_source_comes_from_the_inventory() -> None:
    assert timeline.hub_source_for(_inventory(None)) is None
    hub = Hub(group="rd-connect", source_connector=SOURCE, sink_connector=SINK,
              topic_prefix="rd", databases=[Database(name="pg-aws", cloud="aws", role="source",
                                                     address="198.18.1.40", port=5432)],
              workers=[ConnectWorker(name="connect-aws", cloud="aws", address="198.18.1.30",
                                     rest_port=8083)])
    source = timeline.hub_source_for(_inventory(hub))
    assert source is not None
    assert list(source.workers) == [("connect-aws", "http://198.18.1.30:8083")]
    assert list(source.connectors) == [SOURCE, SINK]


def test_summary_json_has_the_connectors_only_with_a_hub() -> None:
    from riftdrill.chaos.summary import RunSummary

    def written(block: timeline.ClusterTimeline) -> dict[str, Any]:
        summary = RunSummary(run_id="r", experiment="worker-kill", engine="kafka",
                             started_at="x", ended_at="y", cluster_timeline=block)
        out: dict[str, Any] = json.loads(json.dumps(summary.to_json_dict()))["cluster_timeline"]
        assert RunSummary.model_validate({**summary.to_json_dict(), "cluster_timeline": out}
                                         ).cluster_timeline == block
        return out

    assert "connectors" not in written(timeline.ClusterTimeline(samples=2))
    block = timeline.ClusterTimeline(
        samples=2, connectors={SOURCE: timeline.ConnectorTimeline(samples=2, task_moves=1)},
        connect_workers_silent={"connect-gcp": 1})
    out = written(block)
    assert out["connectors"][SOURCE]["task_moves"] == 1
    assert out["connect_workers_silent"] == {"connect-gcp": 1}
