"""The integration hub on the real lab (TOPOLOGY=hub): PostgreSQL in aws, Debezium's Postgres
source and JDBC sink in one Connect cluster with a worker in each cloud, a PostgreSQL in gcp.
A clean run is verified row by row; rows forged in the sink are found with their keys; the
connectors' lifecycle goes through the REST API; bad input is one line and exit 2.

~4 min: the hub added to the stretched lab (the cluster stays: `deploy.hub_only_change`), a
15 s and a 50 s workload, four verifications.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, riftdrill, status

pytestmark = pytest.mark.lab


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


def test_a_killed_connect_worker_hands_its_tasks_over_and_loses_no_change(
        lab_session: None, tmp_path: Path) -> None:
    """SIGKILL the worker running the CDC source under load: the other cloud's worker takes the
    task over (10 s rebalance delay), the worker comes back with `heal`, and the run is still
    exact row by row (redelivered changes are allowed at-least-once, nothing else)."""
    import subprocess
    import time

    from riftdrill import inventory
    from riftdrill.hub import pipeline
    from tests.conftest import RIFTDRILL

    riftdrill("deploy", "--engine", "kafka", "--topology", "hub", "--brokers-per-cloud", "2",
              "--wan", "inter-region", "--json", timeout=900)
    hub = inventory.load(ROOT / ".riftdrill" / "inventory.json").require_hub()
    rest = pipeline.ConnectRest([w.rest_url for w in hub.workers])
    pipeline.wait_running(rest, hub.source_connector, timeout_s=120)

    def source_worker() -> str:
        tasks = rest.status(hub.source_connector).get("tasks", [])
        return str(tasks[0]["worker_id"]) if tasks else ""

    run_dir = tmp_path / "run"
    load = subprocess.Popen([*RIFTDRILL, "hub", "load", "--run", str(run_dir), "--rate", "40",
                             "--duration-s", "50", "--json"], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(8)
        before = source_worker()
        victim = next(w for w in hub.workers if before.startswith(w.address))
        riftdrill("fault", "kill-worker", victim.name, "--json")
        took_over = ""
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and not took_over:
            try:
                now = source_worker()
            except Exception:  # the killed worker may have been asked: the next is tried
                now = ""
            if now and not now.startswith(victim.address):
                took_over = now
            time.sleep(1)
        riftdrill("heal", "--json")
        out, err = load.communicate(timeout=180)
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()
        riftdrill("heal", "--json", check=False)
    assert load.returncode == 0, err[-2000:]
    assert took_over, f"the source task never left {victim.name}"
    done = json.loads(out)
    assert done["outcomes"]["ok"] == done["attempted"] == 2000
    assert done["change_lag"]["never_visible"] == 0, done["change_lag"]
    pipeline.wait_running(rest, hub.source_connector, timeout_s=120)
    code, report = _verify(run_dir)
    failing = {k: n for k, n in report["totals"].items() if n and k in report["failing_kinds"]}
    assert code == 0 and report["passed"] and not failing, failing
    h = report["hub"]
    assert h["fence_in_cdc"] and h["fence_in_target"] and h["rows_source"] == h["rows_target"]
    assert status()["faults"] == []
