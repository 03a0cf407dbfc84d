"""The broker timeline without a lab: samples from a fake admin client, a sampler that is
bounded and never raises, the summary block, the KRaft DescribeQuorum codec against a fake
controller, and a drill's log lines cut to its time span."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from riftdrill.chaos import brokerlogs, kraft, runner, timeline
from riftdrill.chaos.summary import RunSummary
from riftdrill.redact import PATTERNS_ONLY

# ---- samples ---------------------------------------------------------------------------


def _md(partitions: dict[str, dict[int, tuple[int, list[int], list[int]]]],
        brokers: list[int], controller: int = 1) -> Any:
    topics = {name: SimpleNamespace(partitions={
        pid: SimpleNamespace(id=pid, leader=leader, isrs=isr, replicas=replicas)
        for pid, (leader, isr, replicas) in parts.items()}) for name, parts in partitions.items()}
    return SimpleNamespace(topics=topics, brokers={b: object() for b in brokers},
                           controller_id=controller)


class FakeAdmin:
    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.timeouts: list[float] = []

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any:
        self.timeouts.append(timeout)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


HEALTHY = _md({"riftdrill": {0: (1, [1, 2, 3], [1, 2, 3]), 1: (2, [2, 3, 1], [2, 3, 1])},
               "aws.riftdrill": {0: (3, [3, 1, 2], [3, 1, 2])},
               "__consumer_offsets": {0: (1, [1], [1, 2, 3])},
               "other": {0: (-1, [], [1, 2, 3])}}, brokers=[1, 2, 3])
BROKER_2_DEAD = _md({"riftdrill": {0: (1, [1, 3], [1, 2, 3]), 1: (3, [3, 1], [2, 3, 1])},
                     "aws.riftdrill": {0: (-1, [], [3, 1, 2])}}, brokers=[3, 1], controller=3)


def _quorum(leader: int = 1) -> kraft.Quorum:
    return kraft.Quorum(leader=leader, epoch=4, high_watermark=100,
                        voters=[kraft.Replica(1, 100, 0), kraft.Replica(2, 90, 0)],
                        observers=[kraft.Replica(3, 100, 0)])


def test_a_sample_has_the_drill_topics_counts_brokers_and_the_quorum_leader() -> None:
    src = timeline.ClusterSource("main", FakeAdmin(BROKER_2_DEAD), quorum=lambda: _quorum(2))
    line = timeline.sample_line([src], "riftdrill", 1000.0)
    assert [(p["topic"], p["partition"]) for p in line["partitions"]] == [
        ("aws.riftdrill", 0), ("riftdrill", 0), ("riftdrill", 1)]  # mirror copy in, others out
    assert line["partitions"][1] == {"cluster": "main", "topic": "riftdrill", "partition": 0,
                                     "leader": 1, "isr": [1, 3], "replicas": [1, 2, 3]}
    assert (line["under_replicated"], line["offline"]) == (3, 1)
    assert line["brokers_up"] == [1, 3] and line["error"] is None
    # KRaft: the active controller is the quorum's leader, not the metadata's random broker
    assert line["controller"] == 2
    assert line["quorum"] == {"leader": 2, "epoch": 4, "high_watermark": 100,
                              "voters": [{"id": 1, "lag": 0}, {"id": 2, "lag": 10}],
                              "observers": [{"id": 3, "lag": 0}]}
    assert line["ts_s"] == 1000.0 and "clusters" not in line


def test_errors_go_in_the_line_never_out_of_it() -> None:
    def no_quorum() -> kraft.Quorum:
        raise kraft.QuorumError("no controller described the quorum")

    src = timeline.ClusterSource("main", FakeAdmin(RuntimeError("Failed while waiting")),
                                 quorum=no_quorum)
    line = timeline.sample_line([src], "riftdrill", 5.0)
    assert line["partitions"] == [] and line["controller"] == -1 and line["quorum"] is None
    assert line["error"] == ("main metadata: Failed while waiting; "
                             "main quorum: no controller described the quorum")
    # without a quorum (Tansu) the metadata's controller stands
    line = timeline.sample_line([timeline.ClusterSource("main", FakeAdmin(HEALTHY))],
                                "riftdrill", 5.0)
    assert line["controller"] == 1 and line["quorum"] is None and line["error"] is None


def test_several_clusters_add_up_and_each_is_kept() -> None:
    aws = timeline.ClusterSource("aws", FakeAdmin(BROKER_2_DEAD), quorum=lambda: _quorum(1))
    gcp = timeline.ClusterSource("gcp", FakeAdmin(HEALTHY))
    line = timeline.sample_line([aws, gcp], "riftdrill", 5.0)
    assert line["under_replicated"] == 3 and line["offline"] == 1
    assert line["brokers_up"] == [1, 2, 3] and line["controller"] == 1
    assert {p["cluster"] for p in line["partitions"]} == {"aws", "gcp"}
    assert line["clusters"]["gcp"] == {"controller": 1, "under_replicated": 0, "offline": 0,
                                       "quorum": None}


def test_the_topic_is_the_loads_once_it_wrote_its_spec(tmp_path: Path) -> None:
    assert timeline.topic_of(tmp_path) == "riftdrill"
    (tmp_path / "load").mkdir()
    (tmp_path / "load" / "spec.json").write_text(json.dumps({"topic": "orders"}))
    assert timeline.topic_of(tmp_path) == "orders"
    assert timeline.drill_topic("gcp.orders", "orders")
    assert not timeline.drill_topic("orders-2", "orders")


# ---- the sampler thread ----------------------------------------------------------------

def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in path.read_text().splitlines()]


def test_the_sampler_writes_a_line_per_interval_until_stopped(tmp_path: Path) -> None:
    admin = FakeAdmin(HEALTHY, BROKER_2_DEAD, HEALTHY)
    sampler = timeline.Sampler(path=tmp_path / "cluster.jsonl",
                               sources=[timeline.ClusterSource("main", admin)],
                               topic=lambda: "riftdrill", interval_s=0.02).start()
    deadline = time.monotonic() + 5
    while sampler.samples < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    t0 = time.monotonic()
    sampler.stop()
    sampler.stop()  # idempotent: every exit path calls it
    assert time.monotonic() - t0 < 1.0  # a stop does not wait out an interval
    lines = _lines(tmp_path / "cluster.jsonl")
    assert len(lines) == sampler.samples >= 4
    assert [ln["under_replicated"] for ln in lines[:4]] == [0, 3, 0, 0]
    assert admin.timeouts[0] == timeline.METADATA_TIMEOUT_S
    samples = sampler.samples
    time.sleep(0.1)
    assert sampler.samples == samples  # stopped means stopped


def test_the_sampler_stops_by_itself_at_its_caps(tmp_path: Path) -> None:
    src = [timeline.ClusterSource("main", FakeAdmin(HEALTHY))]
    by_count = timeline.Sampler(path=tmp_path / "a.jsonl", sources=src, topic=lambda: "riftdrill",
                                interval_s=0.001, max_samples=3).start()
    by_time = timeline.Sampler(path=tmp_path / "b.jsonl", sources=src, topic=lambda: "riftdrill",
                               interval_s=0.01, max_s=0.1).start()
    for s in (by_count, by_time):
        assert s._thread is not None
        s._thread.join(5)
        assert not s._thread.is_alive()
    assert len(_lines(tmp_path / "a.jsonl")) == 3
    assert 1 <= len(_lines(tmp_path / "b.jsonl")) <= 12


def test_a_broken_source_still_gives_a_line_with_the_error(tmp_path: Path) -> None:
    def topic() -> str:
        raise ValueError("spec unreadable")

    sampler = timeline.Sampler(path=tmp_path / "c.jsonl",
                               sources=[timeline.ClusterSource("main", FakeAdmin(HEALTHY))],
                               topic=topic, interval_s=0.001, max_samples=2).start()
    assert sampler._thread is not None
    sampler._thread.join(5)
    [first, _] = _lines(tmp_path / "c.jsonl")
    assert first["error"] == "sample failed: spec unreadable" and first["partitions"] == []


def test_the_summary_block_counts_samples_peaks_and_controller_changes(tmp_path: Path) -> None:
    assert timeline.summarize(tmp_path) is None
    lines = [{"under_replicated": 0, "offline": 0, "controller": 1, "error": None},
             {"under_replicated": 4, "offline": 1, "controller": -1, "error": "quorum: x"},
             {"under_replicated": 6, "offline": 0, "controller": 2, "error": None},
             {"under_replicated": 0, "offline": 0, "controller": 2, "error": None}]
    (tmp_path / "cluster.jsonl").write_text(
        "".join(json.dumps(ln) + "\n" for ln in lines) + '{"cut short')
    block = timeline.summarize(tmp_path)
    assert block is not None
    assert (block.samples, block.max_under_replicated, block.max_offline,
            block.controller_changes, block.sample_errors) == (4, 6, 1, 1, 1)
    summary = RunSummary(run_id="r", experiment="broker-kill", engine="kafka", started_at="x",
                         ended_at="y", cluster_timeline=block)
    assert summary.to_json_dict()["cluster_timeline"]["file"] == "cluster.jsonl"


# ---- KRaft DescribeQuorum --------------------------------------------------------------

def _uv(n: int) -> bytes:
    return kraft._uvarint(n)


def _replica(rid: int, leo: int) -> bytes:
    return struct.pack(">iqqq", rid, leo, 1, 2) + _uv(0)


def describe_quorum_response(correlation_id: int, leader: int = 102, error: int = 0) -> bytes:
    """A DescribeQuorum v1 response as a controller writes it (flexible encoding)."""
    topic = kraft.METADATA_TOPIC.encode()
    partition = (struct.pack(">ihiiq", 0, error, leader, 7, 500)
                 + _uv(3) + _replica(101, 500) + _replica(102, 480)
                 + _uv(2) + _replica(111, 499) + _uv(0))
    body = (struct.pack(">h", 0) + _uv(2) + _uv(len(topic) + 1) + topic
            + _uv(2) + partition + _uv(0) + _uv(0))
    return struct.pack(">i", correlation_id) + _uv(0) + body


def test_describe_quorum_decodes_the_leaders_answer() -> None:
    q = kraft.decode_response(describe_quorum_response(9), 9)
    assert (q.leader, q.epoch, q.high_watermark) == (102, 7, 500)
    assert [(r.id, r.log_end_offset) for r in q.voters] == [(101, 500), (102, 480)]
    assert q.to_line()["voters"] == [{"id": 101, "lag": 0}, {"id": 102, "lag": 20}]
    assert q.to_line()["observers"] == [{"id": 111, "lag": 1}]
    with pytest.raises(kraft.QuorumError, match="not the leader"):
        kraft.decode_response(describe_quorum_response(9, error=6), 9)
    with pytest.raises(kraft.QuorumError, match="another request"):
        kraft.decode_response(describe_quorum_response(8), 9)
    with pytest.raises(kraft.QuorumError, match="truncated"):
        kraft.decode_response(describe_quorum_response(9)[:20], 9)


def test_the_request_is_describe_quorum_v1_for_the_metadata_partition() -> None:
    raw = kraft.encode_request(5)
    (size,) = struct.unpack(">i", raw[:4])
    assert size == len(raw) - 4
    api, version, corr, client_len = struct.unpack(">hhih", raw[4:14])
    assert (api, version, corr) == (55, 1, 5)
    rest = raw[14 + client_len:]
    topic = kraft.METADATA_TOPIC.encode()
    assert rest == (_uv(0) + _uv(2) + _uv(len(topic) + 1) + topic + _uv(2)
                    + struct.pack(">i", 0) + _uv(0) + _uv(0) + _uv(0))


def _fake_controller(is_leader: bool, delay_s: float = 0.0) -> socket.socket:
    """A controller answering one DescribeQuorum: as the leader, or with NOT_LEADER (6), after
    `delay_s`."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            (size,) = struct.unpack(">i", conn.recv(4))
            request = b""
            while len(request) < size:
                request += conn.recv(size - len(request))
            (corr,) = struct.unpack(">i", request[4:8])
            payload = describe_quorum_response(corr, error=0 if is_leader else 6)
            time.sleep(delay_s)
            conn.sendall(struct.pack(">i", len(payload)) + payload)

    threading.Thread(target=serve, daemon=True).start()
    return server


def test_the_voters_are_asked_in_turn_until_the_leader_answers() -> None:
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))  # bound, not listening: refused
    follower, leader = _fake_controller(False), _fake_controller(True)
    try:
        q = kraft.describe_quorum([dead.getsockname(), follower.getsockname(),
                                   leader.getsockname()], timeout_s=2)
        assert q.leader == 102
        # a watch asks the controller that answered first next time
        again = _fake_controller(True)
        watch = kraft.QuorumWatch([dead.getsockname(), again.getsockname()], 2)
        assert watch().leader == 102 and watch.controllers[1] == dead.getsockname()
        again.close()
        with pytest.raises(kraft.QuorumError, match="no controller described the quorum"):
            kraft.describe_quorum([dead.getsockname()], timeout_s=0.5)
    finally:
        for s in (dead, follower, leader):
            s.close()


def test_the_leader_asked_first_gets_the_longer_timeout_the_others_the_short_one() -> None:
    slow = _fake_controller(True, delay_s=0.5)
    try:
        watch = kraft.QuorumWatch([slow.getsockname()], 0.1, first_timeout_s=2.0)
        assert watch().leader == 102
    finally:
        slow.close()
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    slow = _fake_controller(True, delay_s=0.5)
    try:  # second in line: only the short timeout
        watch = kraft.QuorumWatch([dead.getsockname(), slow.getsockname()], 0.1,
                                  first_timeout_s=2.0)
        with pytest.raises(kraft.QuorumError, match="timed out"):
            watch()
    finally:
        for s in (dead, slow):
            s.close()


# ---- the run's log lines ---------------------------------------------------------------

def _log4j(ts: float, text: str) -> str:
    stamp = datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S,") + f"{int(ts * 1000) % 1000:03d}"
    return f"[{stamp}] INFO {text} (kafka.server.KafkaServer)\n"


def test_log_stamps_log4j_local_and_iso_utc() -> None:
    ts = 1764633963.25
    assert brokerlogs.line_ts(_log4j(ts, "x").encode()) == pytest.approx(ts, abs=0.001)
    iso = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.250000Z")
    assert brokerlogs.line_ts(f"\x1b[2m{iso}\x1b[0m  INFO tansu".encode()) == pytest.approx(ts)
    assert brokerlogs.line_ts(b"\tat kafka.Foo.bar(Foo.java:1)") is None
    assert brokerlogs.line_ts(b"--- riftdrill start 2026-12-02T00:06:03: ip netns") is None


def test_the_span_is_found_in_a_long_log_with_its_unstamped_lines(tmp_path: Path) -> None:
    t0 = 1764633963.0
    lines = [_log4j(t0 + i * 0.1, f"line {i}") for i in range(20000)]  # ~1.6 MB, 2000 s
    lines.insert(15001, "java.io.IOException: broken\n\tat kafka.Foo(Foo.java:1)\n")
    log = tmp_path / "broker-aws-2.log"
    log.write_text("".join(lines))
    got = brokerlogs.span_lines(log, t0 + 1500.0, t0 + 1510.0).decode().splitlines()
    assert got[0].endswith("line 15000 (kafka.server.KafkaServer)")
    assert got[-1].endswith("line 15100 (kafka.server.KafkaServer)")
    assert "\tat kafka.Foo(Foo.java:1)" in got and len(got) == 101 + 2


def test_copy_logs_names_each_file_and_says_what_it_could_not(tmp_path: Path) -> None:
    t0 = time.time()
    src = tmp_path / "lab.log"
    src.write_text(_log4j(t0 - 100, "before") + _log4j(t0, "during") + _log4j(t0 + 100, "after"))
    run = tmp_path / "run"
    run.mkdir()
    copied = brokerlogs.copy_logs({"aws-1": src, "gone": tmp_path / "missing.log"}, run,
                                  since_s=t0 - 5, until_s=t0 + 5, redactor=PATTERNS_ONLY)
    assert copied.files == ["logs/aws-1.log"]
    assert "during" in (run / "logs" / "aws-1.log").read_text()
    assert "before" not in (run / "logs" / "aws-1.log").read_text()
    assert copied.note is not None and copied.note.startswith("not copied: gone:")
    none = brokerlogs.copy_logs({}, run, since_s=t0, until_s=t0, redactor=PATTERNS_ONLY)
    assert none.files == [] and none.note is not None and "none copied" in none.note


def test_a_large_copy_is_kept_gzipped_and_redacted(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip

    t0 = time.time()
    src = tmp_path / "lab.log"
    src.write_text(_log4j(t0, "during password=hunter2x") * 50)
    run = tmp_path / "run"
    run.mkdir()
    monkeypatch.setattr(brokerlogs, "GZIP_ABOVE_BYTES", 1000)
    copied = brokerlogs.copy_logs({"aws-1": src}, run, since_s=t0 - 5, until_s=t0 + 5,
                                  redactor=PATTERNS_ONLY)
    assert copied.files == ["logs/aws-1.log.gz"] and copied.note is None
    assert sorted(p.name for p in (run / "logs").iterdir()) == ["aws-1.log.gz"]
    text = gzip.decompress((run / "logs" / "aws-1.log.gz").read_bytes()).decode()
    assert text.count("during") == 50
    assert "hunter2x" not in text


# ---- the runner: the block in summary.json, and the sampler stopped on every path -------

class NoLogs:
    """A driver that measures nothing and has no log_files (an older fake): noted, not raised."""

    def link_counters(self, inv: Any) -> dict[str, Any]:
        return {}

    def start_store_recording(self, inv: Any) -> None:
        return None

    def store_snapshot(self, inv: Any) -> dict[str, Any]:
        return {}


def _finish(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, driver: Any,
            started_at: str = "2026-01-01T00:00:00+00:00") -> tuple[Path, dict[str, Any]]:
    from riftdrill.chaos.slo import ExperimentSlo, Tolerance
    from riftdrill.chaos.verdict import Verdict
    from tests.unit.test_chaos_targets import inv

    monkeypatch.setattr(runner, "observer_for", lambda inv: driver)
    # verdict, recovery, verify report, violations, fault windows, sends, end to end
    monkeypatch.setattr(runner, "judge", lambda *a: runner.Judgement(
        Verdict(passed=True), None, None, [], [], None, None))
    run = tmp_path / "runs" / "20260101T000000Z-broker-kill"
    stopped: list[bool] = []
    start = runner.DrillStart(
        name="broker-kill", experiment={"title": "T"}, params={"hold_s": 1}, inv=inv(),
        bounds=ExperimentSlo(), tolerance=Tolerance(), started_at=started_at,
        counters_before={}, stores_before={}, redactor=PATTERNS_ONLY,
        timeline=SimpleNamespace(stop=lambda: stopped.append(True)))  # type: ignore[arg-type]
    runner.finish_drill(run, start, runner.ChaosOutcome(returncode=0, interrupted_by=None,
                                                        seconds=1))
    assert stopped  # finish_drill stops the sampler before it sums the timeline up
    return run, json.loads((run / "summary.json").read_text())


def test_finish_drill_writes_the_block_with_the_copied_logs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    now = time.time()
    log = tmp_path / "aws-2.log"
    log.write_text(_log4j(now - 20, "before the drill") + _log4j(now - 1, "Shutting down"))

    class WithLogs(NoLogs):
        def log_files(self, inv: Any) -> dict[str, Path]:
            return {"aws-2": log}

    run_dir = tmp_path / "runs" / "20260101T000000Z-broker-kill"
    run_dir.mkdir(parents=True)
    (run_dir / "cluster.jsonl").write_text(json.dumps(
        {"under_replicated": 2, "offline": 0, "controller": 101, "error": None}) + "\n")
    started = datetime.fromtimestamp(now - 10).astimezone().isoformat()
    run, written = _finish(tmp_path, monkeypatch, WithLogs(), started)
    assert written["cluster_timeline"] == {
        "file": "cluster.jsonl", "samples": 1, "max_under_replicated": 2, "max_offline": 0,
        "controller_changes": 0, "sample_errors": 0, "logs": ["logs/aws-2.log"],
        "logs_note": None}
    assert (run / "logs" / "aws-2.log").read_text() == _log4j(now - 1, "Shutting down")


def test_a_drill_without_timeline_or_logs_has_no_block(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "runs" / "20260101T000000Z-broker-kill").mkdir(parents=True)
    _, written = _finish(tmp_path, monkeypatch, NoLogs())
    assert "cluster_timeline" not in written


def test_run_drill_stops_the_sampler_when_chaos_raises(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    stopped: list[bool] = []

    class Start:
        def __init__(self) -> None:
            self.params: dict[str, Any] = {}
            self.redactor = PATTERNS_ONLY

        def stop_timeline(self) -> None:
            stopped.append(True)

    def boom(*a: Any, **k: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "begin_drill", lambda *a, **k: Start())
    monkeypatch.setattr(runner, "run_chaos", boom)
    plan = runner.DrillPlan(name="broker-kill", path=tmp_path / "x.json", experiment={},
                            given={})
    with pytest.raises(KeyboardInterrupt):
        runner.run_drill(plan, runs_dir=tmp_path / "runs", chaos_bin="chaos")
    assert stopped == [True]


def test_a_drill_that_cannot_begin_leaves_no_run_dir(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*a: Any, **k: Any) -> Any:
        raise runner.ExperimentError("nothing is deployed")

    monkeypatch.setattr(runner, "begin_drill", fail)
    plan = runner.DrillPlan(name="broker-kill", path=tmp_path / "x.json", experiment={},
                            given={})
    with pytest.raises(runner.ExperimentError):
        runner.run_drill(plan, runs_dir=tmp_path / "runs")
    assert list((tmp_path / "runs").iterdir()) == []
