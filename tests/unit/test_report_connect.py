"""A hub run's Kafka Connect connectors in the report: a row per connector in the timeline
plot (its state per sample from the fault start, the worker running its task, task moves; as
data-* on the image) and a table of summary.json's `cluster_timeline.connectors` in the
Timeline section; runs without `connect` blocks render as before."""

from __future__ import annotations

import html as html_lib
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from riftdrill.chaos import timeline
from riftdrill.report.render import render_all
from riftdrill.report.runs import load_run
from riftdrill.report.series import connect_series, read_jsonl, run_series
from tests.fixtures.report.build import FAULT, T0, build_run

ROOT = Path(__file__).resolve().parents[2]
RUN = "20260528T202710Z-hub-worker-kill"
SOURCE, SINK = "rd-cdc-source", "rd-jdbc-sink"
AWS, GCP = "connect-aws", "connect-gcp"
OFFSET_S = 0.25  # each sample is taken this long after a whole second of the run


def _task(state: str, worker: str) -> dict[str, Any]:
    return {"id": 0, "state": state, "worker_id": f"{worker}:8083", "worker": worker}


def _entry(state: str, task_state: str, worker: str) -> dict[str, Any]:
    return {"state": state, "worker_id": None, "seen_by": GCP, "error": None,
            "tasks": [_task(task_state, worker)]}


UNANSWERED = {"state": None, "worker_id": None, "tasks": [], "seen_by": None,
              "error": "connect-aws: no answer; connect-gcp: no answer"}


def connect_at(t: int) -> dict[str, Any]:
    """The `connect` block t s into the run (the fault, connect-aws stopped, is 30 s -> 45 s):
    the source's task stays RUNNING on the silent aws worker for 10 s, is UNASSIGNED for 2 s,
    runs on gcp, and moves back to aws at 60 s; no worker answers from 50 s to 52 s."""
    aws_silent = FAULT[0] <= t < FAULT[1]
    workers: dict[str, str | None] = {AWS: "no answer: refused" if aws_silent else None,
                                      GCP: None}
    if 50 <= t < 52:
        workers = {AWS: "no answer: timed out", GCP: "no answer: timed out"}
        return {"workers": workers, "connectors": {SOURCE: UNANSWERED, SINK: UNANSWERED}}
    if t < 40:
        source = _entry("RUNNING", "RUNNING", AWS)
    elif t < 42:
        source = _entry("RUNNING", "UNASSIGNED", GCP)
    elif t < 60:
        source = _entry("RUNNING", "RUNNING", GCP)
    else:
        source = _entry("RUNNING", "RUNNING", AWS)
    return {"workers": workers,
            "connectors": {SOURCE: source, SINK: _entry("RUNNING", "RUNNING", GCP)}}


def write_cluster(run: Path, with_connect: bool = True) -> None:
    lines = []
    for t in range(90):
        line: dict[str, Any] = {
            "ts_s": T0 + t + OFFSET_S, "partitions": [], "under_replicated": 0, "offline": 0,
            "controller": 1, "brokers_up": [1, 2, 3], "quorum": None, "error": None}
        if with_connect:
            line["connect"] = connect_at(t)
        lines.append(json.dumps(line))
    (run / "cluster.jsonl").write_text("\n".join(lines) + "\n")


def connect_run(results: Path, with_connect: bool = True, run_id: str = RUN) -> Path:
    """The report fixture's run with a broker timeline; with `connect` blocks, a hub run whose
    summary.json has the timeline's own summary of them."""
    run = build_run(results / "runs", run_id)
    write_cluster(run, with_connect)
    block = timeline.summarize(run)
    assert block is not None
    summary = json.loads((run / "summary.json").read_text())
    summary["cluster_timeline"] = block.model_dump(mode="json")
    (run / "summary.json").write_text(json.dumps(summary, indent=1))
    return run


def img(html: str, name: str) -> dict[str, str]:
    """The data-* attributes of a plot's <img>, unescaped."""
    start = html.index(f'id="plot-{name}"')
    tag = html[html.rindex("<img", 0, start):html.index(">", start)]
    return {k: html_lib.unescape(v) for k, v in re.findall(r'data-([a-z-]+)="([^"]*)"', tag)}


def x(t: int) -> float:
    """The x of the sample t s into the run: seconds from the fault start."""
    return round(t + OFFSET_S - FAULT[0], 3)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    results = tmp_path_factory.mktemp("results")
    run = connect_run(results)
    assert render_all(results, None).skipped == []
    return run


def test_each_connector_is_a_row_of_states_workers_and_moves(tmp_path: Path) -> None:
    run = connect_run(tmp_path)
    loaded = load_run(run)
    s = run_series(run, loaded.summary, loaded.timeline)
    source, sink = s.connectors
    assert (source.name, sink.name) == (SOURCE, SINK)
    assert source.x_s[0] == pytest.approx(x(0)) and len(source.x_s) == 90
    assert [(sp.value, round(sp.start_s, 3), round(sp.end_s, 3))
            for sp in source.state_spans()] == [
        ("running", x(0), x(30)), ("silent", x(30), x(40)), ("not_running", x(40), x(42)),
        ("running", x(42), x(50)), ("unanswered", x(50), x(52)), ("running", x(52), x(89) + 1)]
    # no answer: no worker known; the move is seen when the task is seen somewhere else
    assert [(sp.value, round(sp.start_s, 3), round(sp.end_s, 3))
            for sp in source.worker_spans()] == [
        (AWS, x(0), x(40)), (GCP, x(40), x(50)), (None, x(50), x(52)), (GCP, x(52), x(60)),
        (AWS, x(60), x(89) + 1)]
    assert [(round(m.x_s, 3), m.task, m.from_worker, m.to_worker) for m in source.moves] == [
        (x(40), "0", AWS, GCP), (x(60), "0", GCP, AWS)]
    assert [sp.value for sp in sink.state_spans()] == ["running", "unanswered", "running"]
    assert sink.moves == []


def test_the_rows_add_up_to_the_summary_figures(tmp_path: Path) -> None:
    run = connect_run(tmp_path)
    summary = json.loads((run / "summary.json").read_text())["cluster_timeline"]
    for row in connect_series(read_jsonl(run / "cluster.jsonl"), T0 + FAULT[0]):
        figures = summary["connectors"][row.name]
        spans = row.state_spans()
        assert sum(sp.end_s - sp.start_s for sp in spans if sp.value == "silent") == (
            pytest.approx(figures["on_silent_worker_s"]))
        assert sum(sp.end_s - sp.start_s for sp in spans if sp.value == "not_running") == (
            pytest.approx(figures["not_running_s"]))
        assert len(row.moves) == figures["task_moves"]
        assert row.state.count("unanswered") == figures["unanswered"]


def test_the_timeline_plot_carries_the_rows_as_data(rendered: Path) -> None:
    data = img((rendered / "report.html").read_text(), "timeline")
    assert data["x"] == "seconds from fault start" and data["fault-windows"] == "0.000:15.000"
    assert data["connectors"] == f"{SOURCE},{SINK}"
    states = json.loads(data["connector-states"])
    assert states[SOURCE][:3] == [["running", x(0), x(30)], ["silent", x(30), x(40)],
                                  ["not_running", x(40), x(42)]]
    assert ["unanswered", x(50), x(52)] in states[SINK]
    workers = json.loads(data["connector-workers"])
    assert workers[SINK] == [[GCP, x(0), x(50)], [None, x(50), x(52)], [GCP, x(52), x(89) + 1]]
    assert json.loads(data["connector-moves"]) == {
        SOURCE: [[x(40), "0", AWS, GCP], [x(60), "0", GCP, AWS]], SINK: []}


def test_the_timeline_section_has_the_connectors_table(rendered: Path) -> None:
    md = (rendered / "report.md").read_text()
    section = md[md.index("## Timeline"):md.index("## Verdict")]
    assert "a row per Kafka Connect connector" in section
    assert ("| connector | samples | unanswered | not RUNNING | on a silent worker | task moves "
            "| states seen |") in section
    assert f"| {SOURCE} | 88 | 2 | 2 s | 10 s | 2 | RUNNING, UNASSIGNED |" in section
    assert f"| {SINK} | 88 | 2 | 0 s | 0 s | 0 | RUNNING |" in section
    assert f"Connect workers silent (samples without an answer): {AWS} 17, {GCP} 2." in section
    glossary = md[md.index("## Glossary"):]
    assert ("on a silent worker (on_silent_worker_s): the time Connect still reported the task "
            "RUNNING on a worker that no longer answers, the dead worker's task before the "
            "group rebalances") in glossary
    assert "connector rows (Timeline" in glossary
    html = (rendered / "report.html").read_text()
    assert html.index('id="plot-timeline"') < html.index(f"<td>{SOURCE}</td>") < html.index(
        "<h2>Verdict</h2>")


def test_a_run_without_connect_blocks_renders_as_before(tmp_path: Path) -> None:
    results = tmp_path / "results"
    run = connect_run(results, with_connect=False)
    assert "connectors" not in json.loads((run / "summary.json").read_text())[
        "cluster_timeline"]
    render_all(results, None)
    md = (run / "report.md").read_text()
    assert "Kafka Connect" not in md and "connector" not in md
    data = img((run / "report.html").read_text(), "timeline")
    assert sorted(data) == ["fault-windows", "series", "x"]
    loaded = load_run(run)
    assert run_series(run, loaded.summary, loaded.timeline).connectors == []


def committed_hub_runs() -> list[Path]:
    return sorted(p.parent for p in (ROOT / "results" / "runs").glob("*/cluster.jsonl")
                  if '"connect":' in p.read_text())


def test_every_committed_hub_runs_rows_add_up_to_its_summary() -> None:
    runs = committed_hub_runs()
    assert {r.name for r in runs} >= {"20261202T183538Z-worker-kill",
                                      "20261202T183723Z-link-sever"}
    for run_dir in runs:
        loaded = load_run(run_dir)
        s = run_series(run_dir, loaded.summary, loaded.timeline)
        figures = loaded.summary.cluster_timeline
        assert figures is not None and s.connectors, run_dir
        for row in s.connectors:
            c = figures.connectors[row.name]
            spans = row.state_spans()
            assert sum(sp.end_s - sp.start_s for sp in spans if sp.value == "silent") == (
                pytest.approx(c.on_silent_worker_s, abs=0.01)), (run_dir, row.name)
            assert sum(sp.end_s - sp.start_s for sp in spans if sp.value == "not_running") == (
                pytest.approx(c.not_running_s, abs=0.01)), (run_dir, row.name)
            assert len(row.moves) == c.task_moves, (run_dir, row.name)


def test_a_committed_hub_run_renders_with_its_connector_rows(tmp_path: Path) -> None:
    name = "20261202T183538Z-worker-kill"  # connect-aws stopped 30 s, the source's task on it
    res = tmp_path / "results"
    shutil.copytree(ROOT / "results" / "runs" / name, res / "runs" / name,
                    ignore=shutil.ignore_patterns("*.rdl", "*.rdc", "report.*", "plots"))
    out = render_all(res, None)
    assert out.skipped == []
    run = res / "runs" / name
    md = (run / "report.md").read_text()
    section = md[md.index("## Timeline"):md.index("## Verdict")]
    assert f"| {SOURCE} | 90 | 0 | 3 s | 22.995 s | 2 | RUNNING, UNASSIGNED |" in section
    assert f"| {SINK} | 90 | 0 | 0 s | 0 s | 0 | RUNNING |" in section
    assert f"Connect workers silent (samples without an answer): {AWS} 48, {GCP} 0." in section
    data = img((run / "report.html").read_text(), "timeline")
    assert data["connectors"] == f"{SOURCE},{SINK}"
    states = json.loads(data["connector-states"])
    silent = [sp for sp in states[SOURCE] if sp[0] == "silent"]
    assert len(silent) == 1 and silent[0][1] == pytest.approx(0.55, abs=0.01)
    assert silent[0][2] - silent[0][1] == pytest.approx(22.995, abs=0.01)
    moves = json.loads(data["connector-moves"])[SOURCE]
    assert [(m[2], m[3]) for m in moves] == [(AWS, GCP), (GCP, AWS)]
    assert (run / "plots" / "timeline.png").stat().st_size > 5000
