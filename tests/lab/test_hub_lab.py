"""The integration hub on the real lab (TOPOLOGY=hub): PostgreSQL in aws, Debezium's Postgres
source and JDBC sink in one Connect cluster with a worker in each cloud, a PostgreSQL in gcp.
A clean run is verified row by row; rows forged in the sink are found with their keys; the
connectors' lifecycle goes through the REST API; bad input is one line and exit 2.

~5 min: the hub added to the stretched lab (the cluster stays: `deploy.hub_only_change`), a
15 s workload and its verifications, then the worker-kill drill.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, riftdrill, status

pytestmark = [pytest.mark.lab, pytest.mark.lab_hub]


def _json(*args: str) -> Any:
    return json.loads(riftdrill(*args, "--json").stdout)


def _verify(run_dir: Path) -> tuple[int, dict[str, Any]]:
    proc = riftdrill("verify", "--run", str(run_dir), "--json", check=False, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    report: dict[str, Any] = json.loads(proc.stdout)
    return proc.returncode, report


def test_hub_pipeline_is_verified_row_by_row(lab_session: None, tmp_path: Path) -> None:
    import psycopg

    from riftdrill import inventory
    from riftdrill.errors import ValidationError
    from riftdrill.hub import pipeline

    riftdrill("deploy", "--engine", "kafka", "--topology", "hub", "--brokers-per-cloud", "2",
              "--wan", "inter-region", "--json", timeout=900)
    inv = inventory.load(ROOT / ".riftdrill" / "inventory.json")
    hub = inv.require_hub()
    assert {d.cloud: d.role for d in hub.databases} == {"aws": "source", "gcp": "sink"}
    assert sorted(w.cloud for w in hub.workers) == ["aws", "gcp"]
    status = _json("hub", "connector", "status")
    assert {n: s["state"] for n, s in status.items()} == {
        hub.source_connector: "RUNNING", hub.sink_connector: "RUNNING"}

    run_dir = tmp_path / "run"
    out = _json("hub", "load", "--run", str(run_dir), "--rate", "40", "--duration-s", "15")
    assert out["outcomes"] == {"ok": out["attempted"], "failed": 0, "unknown": 0}
    assert out["attempted"] == 600
    # The tail saw the sink show every change's final state; the rest were overwritten first.
    lag = out["change_lag"]
    assert lag["never_visible"] == 0 and lag["drain_s"] is not None, lag
    assert lag["seen"] + lag["overwritten"] == lag["committed"] == 600
    assert lag["seen"] > 0 and lag["max_s"] is not None and lag["max_s"] >= lag["median_s"] >= 0
    saved = json.loads((run_dir / "load" / "hub" / "change-lag.json").read_text())
    assert sum(p["committed"] for p in saved["series"]) == 600
    code, report = _verify(run_dir)
    h = report["hub"]
    assert code == 0 and report["passed"], report["totals"]
    assert not any(report["totals"].values())
    assert report["contract"]["connector_delivery"] == "at-least-once"
    assert h["changes"] == 600 and h["cdc_events"] == 600
    assert h["fence_in_cdc"] and h["fence_in_target"]
    assert h["rows_source"] == h["rows_target"] > 0

    # Forged in the sink: one row deleted, one row's payload changed, with their keys.
    sink = hub.database("sink")
    table = out["table"]
    with psycopg.connect(f"host={sink.address} port={sink.port} dbname=postgres user=postgres",
                         autocommit=True) as conn:
        gone, changed = [r[0] for r in conn.execute(
            f"SELECT id FROM {table} WHERE id >= 0 ORDER BY id LIMIT 2").fetchall()]
        conn.execute(f"DELETE FROM {table} WHERE id = %s", (gone,))
        conn.execute(f"UPDATE {table} SET payload = 'forged' WHERE id = %s", (changed,))
    code, report = _verify(run_dir)
    assert code == 1 and not report["passed"]
    assert {k: n for k, n in report["totals"].items() if n} == {"row_missing": 1,
                                                                "row_corrupt": 1}
    examples = report["hub"]["anomalies"]
    assert [e["id"] for e in examples["row_missing"]["examples"]] == [gone]
    assert [e["id"] for e in examples["row_corrupt"]["examples"]] == [changed]

    # The lifecycle, through the REST API.
    paused = _json("hub", "connector", "pause", hub.sink_connector)
    assert paused[hub.sink_connector]["state"] in ("PAUSED", "RUNNING")  # pausing is async
    rest = pipeline.ConnectRest([w.rest_url for w in hub.workers])
    _wait_state(rest, hub.sink_connector, "PAUSED")
    _json("hub", "connector", "resume", hub.sink_connector)
    _wait_state(rest, hub.sink_connector, "RUNNING")
    _json("hub", "connector", "restart", hub.source_connector)
    pipeline.wait_running(rest, hub.source_connector, timeout_s=120)

    # A config the worker rejects: one line naming the field, nothing created.
    bad = {**pipeline.sink_config(pipeline.Pipeline(
        hub.source_connector, hub.sink_connector, hub.topic_prefix, 3,
        pipeline.DatabaseRef(sink.address, sink.port), pipeline.DatabaseRef(sink.address, sink.port))),
        "tasks.max": "0"}
    with pytest.raises(ValidationError, match=r"rejects its config: tasks\.max"):
        pipeline.create(rest, "rd-rejected", bad)
    assert "rd-rejected" not in rest.connectors()

    # Bad input: one line, exit 2, nothing written.
    proc = riftdrill("hub", "load", "--run", str(tmp_path / "bad"), "--rate", "0", check=False)
    assert proc.returncode == 2 and "rate 0.0/s out of range" in proc.stderr
    assert not (tmp_path / "bad").exists()
    proc = riftdrill("hub", "connector", "explode", check=False)
    assert proc.returncode == 2 and "unknown action 'explode'" in proc.stderr


def _wait_state(rest: Any, name: str, state: str, timeout_s: float = 60) -> None:
    import time

    from riftdrill.hub.pipeline import state_of

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if state_of(rest.status(name))[0] == state:
            return
        time.sleep(0.5)
    raise AssertionError(f"{name} never {state}: {rest.status(name)}")


def test_the_worker_kill_drill_moves_the_source_task_and_reports_the_change_lag(
        lab_session: None) -> None:
    """`riftdrill drill worker-kill` on the hub: the worker running the CDC source's task is
    SIGKILLed under load (the drill's producers and the row workload), the other cloud's worker
    takes the task over, the drill restarts it; the verdict judges the hub row by row (changes
    read twice allowed at-least-once, nothing else) and summary.json and the report carry the
    change lag from the fault start."""
    from riftdrill import inventory
    from riftdrill.hub import pipeline
    from tests.lab.test_drills_lab import SHORT, drill

    riftdrill("deploy", "--engine", "kafka", "--topology", "hub", "--brokers-per-cloud", "2",
              "--wan", "inter-region", "--json", timeout=900)
    hub = inventory.load(ROOT / ".riftdrill" / "inventory.json").require_hub()
    rest = pipeline.ConnectRest([w.rest_url for w in hub.workers])
    pipeline.wait_running(rest, hub.source_connector, timeout_s=120)
    rc, summary = drill("worker-kill", "--var", "hold_s=20", *SHORT)
    [w] = summary["fault_windows"]
    assert (w["kind"], w["end_s"] is not None) == ("stop_worker", True)
    h = summary["hub"]
    assert h["committed"] > 0 and h["never_visible"] == 0 and h["drain_s"] is not None, h
    assert h["since_fault_max_s"] is not None and h["baseline_max_s"] is not None
    v = h["verify"]
    assert v["rows_equal"] is True and v["rows_source"] == v["rows_target"]
    failing = {k: n for k, n in v["anomalies"].items() if n and k != "change_duplicate"}
    assert not failing, failing
    # The task left the dead worker: the timeline saw it move.
    source = summary["cluster_timeline"]["connectors"][hub.source_connector]
    assert source["task_moves"] >= 1, source
    assert rc == 0 and summary["verdict"]["passed"], summary["verdict"]
    run = ROOT / "results" / "runs" / summary["run_id"]
    html = (run / "report.html").read_text()
    assert "data-baseline-bound-s" in html and (run / "plots" / "hub.png").is_file()
    assert (run / "logs" / "connect-aws.log").is_file()  # the workers' lines kept
    pipeline.wait_running(rest, hub.source_connector, timeout_s=120)
    assert status()["faults"] == []
