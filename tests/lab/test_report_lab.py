"""`make drill` leaves a report a reader can use: a real short broker-kill through
scripts/drill.sh (what `make drill` runs), then its report.html in headless Chromium: the
headline box, the timeline with one series per cloud and the shaded fault window (its data-*
attributes and its pixels), no console error; results/index.html rendered by the drill itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from riftdrill.inventory import Inventory
from riftdrill.report.browser import Browser, blend, check_page, plot_pixels, rgb
from riftdrill.report.plots import CLOUD_COLORS, FAULT_ALPHA, FAULT_COLOR
from tests.conftest import ROOT
from tests.lab.test_drills_lab import assert_lab_healthy

pytestmark = pytest.mark.lab

SHORT = "--var hold_s=10 --var baseline_s=5 --var recovery_s=10 --var rate=100 --json"


def test_make_drill_renders_the_run_report_and_the_index(lab: Inventory) -> None:
    started = time.time()
    env = {**os.environ, "RIFTDRILL_HOME": str(ROOT), "RIFTDRILL_DRILL_ARGS": SHORT,
           "RD": str(ROOT / ".riftdrill" / "venv" / "bin" / "riftdrill")}
    # what `make drill EXP=broker-kill` runs after `make setup`, with the lab already deployed
    proc = subprocess.run(["bash", "scripts/drill.sh", "broker-kill"], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=600)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    # deploy and heal may print before the drill's JSON list (indent 2: "[" alone on a line)
    out = proc.stdout
    [summary] = json.loads(out if out.startswith("[") else out[out.rindex("\n[\n") + 1:])
    run = ROOT / "results" / "runs" / summary["run_id"]
    page, index = run / "report.html", ROOT / "results" / "index.html"
    for path in (page, run / "report.md", index, ROOT / "results" / "index.md"):
        assert path.exists() and path.stat().st_mtime >= started, path
    assert f"runs/{summary['run_id']}/report.html" in index.read_text()
    assert_lab_healthy()

    with Browser() as browser:
        check = check_page(browser, page)
        assert check.console_errors == [] and check.external == []
        assert {"plot-timeline", "plot-percentiles"} <= {i["id"] for i in check.images}
        assert browser.evaluate(
            "document.querySelector('section.headline h2').textContent") == "Headline"
        out = plot_pixels(browser, "plot-timeline", {
            "shade": blend(FAULT_COLOR, FAULT_ALPHA), "aws": rgb(CLOUD_COLORS["aws"]),
            "gcp": rgb(CLOUD_COLORS["gcp"])})
    assert out is not None
    data, counts = out["data"], out["counts"]
    # one series per cloud (the load places a producer in each), x from the fault start
    assert data["series"] == "aws,gcp" and data["x"] == "seconds from fault start"
    [window] = data["faultWindows"].split(",")
    start_s, end_s = (float(v) for v in window.split(":"))
    assert start_s == 0.0 and end_s >= 8.0, window  # hold_s=10 until the restart is confirmed
    assert counts["shade"] > 2000, counts
    assert counts["aws"] > 200 and counts["gcp"] > 200, counts
