"""A Chaos Toolkit user's run, against the real lab: stock `chaos run experiments/link-sever.json`
(no riftdrill runner around it), interrupted with SIGINT while the link is cut. The riftdrill
control declared in the experiment must end the hold at once, heal the link, stop the load and
report the run (summary.json, report.html), whatever chaoslib's rollback strategy (default here:
it skips the rollbacks of an interrupted run).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
import pytest

from riftdrill.inventory import Inventory
from tests.conftest import ROOT, status
from tests.lab.test_drills_lab import assert_lab_healthy

pytestmark = pytest.mark.lab

CHAOS = ROOT / ".riftdrill" / "venv" / "bin" / "chaos"
VARS = ["--var", "hold_s=60", "--var", "rate=100", "--var", "baseline_s=5"]
HEAL_WITHIN_S = 3.0  # SIGINT -> the link's drop rules are gone
EXIT_WITHIN_S = 180.0  # SIGINT -> chaos exited: heal, drain the load, verify, summary, report


def link_drop_rules() -> list[str]:
    """The drop rules in the lab WAN's forward chain (what a sever loads)."""
    from riftdrill.lab import net

    raw = net.ns_run(net.WAN_NS, ["nft", "list", "chain", "inet", net.TABLE, "forward"])
    return [line.strip() for line in raw.splitlines() if " drop" in line]


def new_run_with_fault(since: float) -> Path | None:
    for d in sorted((ROOT / "results" / "runs").glob("*-link-sever"), reverse=True):
        if d.stat().st_mtime < since:
            continue
        f = d / "faults.jsonl"
        if f.exists() and '"start"' in f.read_text():
            return d
    return None


def load_pids(run: Path) -> list[int]:
    pids = []
    try:
        pids.append(int((run / "load" / "pid").read_text()))
        state = json.loads((run / "load" / "state.json").read_text())
        pids += [int(p) for p in (state.get("workers") or {}).values()]
    except (OSError, ValueError):
        pass
    return pids


def alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def recorded_severs() -> list[dict[str, Any]]:
    faults: list[dict[str, Any]] = status()["faults"]  # type: ignore[assignment]
    return [f for f in faults if f["kind"] == "sever_link"]


def activity_end_s(journal: dict[str, Any], name: str) -> float:
    [run] = [r for r in journal["run"] if r["activity"]["name"] == name]
    return datetime.fromisoformat(run["end"]).timestamp()


def test_stock_chaos_run_interrupted_mid_fault_is_healed_and_reported(
        lab: Inventory, tmp_path: Path) -> None:
    # `riftdrill report` rewrites the committed results/index.*: put them back afterwards.
    index = {p: p.read_bytes() for p in (ROOT / "results").glob("index.*")}
    since = time.time() - 1
    proc = subprocess.Popen(
        [str(CHAOS), "--log-file", str(tmp_path / "chaos.log"), "run",
         "--journal-path", str(tmp_path / "journal.json"), *VARS,
         str(ROOT / "experiments" / "link-sever.json")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        stdin=subprocess.DEVNULL, start_new_session=True)
    lines: list[str] = []
    stdout = proc.stdout
    assert stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(iter(stdout.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 180
        run = None
        while run is None or not recorded_severs():
            assert time.monotonic() < deadline, "the link was never cut:\n" + "".join(lines)
            assert proc.poll() is None, "".join(lines)
            time.sleep(0.5)
            run = new_run_with_fault(since)
        assert link_drop_rules(), "the sever is recorded but no drop rule is loaded"
        pids = load_pids(run)
        assert pids and all(alive(p) for p in pids)
        time.sleep(2)  # well inside the 60 s hold

        signalled_at = time.time()
        t0 = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        healed_s = None
        while proc.poll() is None and time.monotonic() - t0 < EXIT_WITHIN_S:
            if healed_s is None and not link_drop_rules():
                healed_s = time.monotonic() - t0
            time.sleep(0.1)
        exit_s = time.monotonic() - t0
        assert proc.poll() is not None, f"chaos still running {EXIT_WITHIN_S:g} s after SIGINT"
        if healed_s is None and not link_drop_rules():
            healed_s = exit_s
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        reader.join(timeout=5)
        for path, data in index.items():
            path.write_bytes(data)
    out = "".join(lines)
    print(f"\nSIGINT -> link healed {healed_s} s, -> chaos exited {exit_s:.2f} s; run {run}")
    assert proc.returncode == 1, out  # chaos's own code for an interrupted run
    assert "Rollbacks strategy: default" in out, out

    # the hold ended at once: chaos's journal stamps the end of the interrupted hold
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert journal["status"] == "interrupted"
    hold_end_s = activity_end_s(journal, "hold-fault")
    assert hold_end_s - signalled_at < 1.0, (hold_end_s - signalled_at, out)
    assert journal["rollbacks"] == []  # the default strategy skipped them: the control healed

    # healed: nothing recorded, no drop rule, the link up, every broker running
    assert healed_s is not None and healed_s < HEAL_WITHIN_S, (healed_s, out)
    assert link_drop_rules() == []
    assert_lab_healthy()
    assert status()["faults"] == []
    # the load is stopped, every process of it
    assert not [p for p in pids if alive(p)], out
    assert json.loads((run / "load" / "state.json").read_text())["state"] == "done"

    # reported, as `riftdrill drill` reports
    summary = json.loads((run / "summary.json").read_text())
    assert summary["experiment"] == "link-sever" and summary["run_id"] == run.name
    assert summary["chaos"]["interrupted_by"] == "SIGINT"
    assert not summary["verdict"]["passed"]
    assert any("interrupted (SIGINT)" in r for r in summary["verdict"]["reasons"])
    [window] = summary["fault_windows"]
    assert window["kind"] == "sever_link" and window["end_s"] is not None
    assert window["healed_by"] == "runner"
    assert summary["verify"]["counts"].get("lost", 0) == 0
    assert (run / "journal.json").exists() and (run / "report.html").exists(), out
    control = json.loads((run / "control.json").read_text())
    assert control["healed"] == [f"sever_link:{lab.links[0].name}"]
    # the broker timeline ran in chaos's own process (the control's begin_drill) until the end
    timeline = summary["cluster_timeline"]
    assert timeline["samples"] >= 5 and (run / "cluster.jsonl").exists()
    assert f"logs/{lab.brokers[0].name}.log" in timeline["logs"]
