"""A run's report with the integration hub (summary.json `hub`): the Hub section's figures, its
plot from the fault start with the fault shaded and the recovery marked, and the hub's
anomalies with example rows from verify.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from riftdrill.chaos import windows
from riftdrill.chaos.hubfigures import hub_figures
from riftdrill.chaos.runner import verify_block
from riftdrill.hub.lag import ChangeLagFile, LagPointFile
from riftdrill.report.render import render_all
from riftdrill.report.runs import load_run
from riftdrill.report.series import run_series
from riftdrill.verify.anomalies import ANOMALY_KINDS, HUB_KINDS
from riftdrill.verify.hub import HubAnomaly, HubExample, HubReport
from riftdrill.verify.report import VerifyReport
from tests.fixtures.report.build import FAULT, T0, build_run

NS = 1_000_000_000
RUN = "20260528T202710Z-hub-worker-kill"


def lag_at(t: int) -> float:
    """Highest lag of the changes committed t s after the row workload started (= the run's
    start, T0): 0.3 s before the fault (30 s -> 45 s), rising during it, back after 48 s."""
    if t < FAULT[0]:
        return 0.3
    if t < FAULT[1]:
        return float(t - FAULT[0] + 1)
    return {45: 6.0, 46: 2.0, 47: 0.8}.get(t, 0.3)


def hub_run(results: Path, with_verify_hub: bool = True) -> Path:
    run = build_run(results / "runs", RUN)
    lag = ChangeLagFile(committed=900, seen=880, overwritten=20, never_visible=0, max_s=15.0,
                        p99_s=6.0, median_s=0.3, poll_interval_s=0.2, drain_s=0.6,
                        series=[LagPointFile(t_s=float(t), committed=10, max_lag_s=lag_at(t),
                                             p99_lag_s=min(lag_at(t), 5.0)) for t in range(90)])
    report = HubReport(
        counts={**dict.fromkeys(HUB_KINDS, 0), "row_stale": 7, "change_duplicate": 3},
        anomalies={"row_stale": HubAnomaly(
            definition=ANOMALY_KINDS["row_stale"], count=7,
            examples=[HubExample(id=i, version=2, detail="the sink holds version 1")
                      for i in range(7)]),
            "change_duplicate": HubAnomaly(
            definition=ANOMALY_KINDS["change_duplicate"], count=3,
            examples=[HubExample(id=40, version=1, detail="read again",
                                 at=["hub.public.rd_rows_x[0]@12"])])},
        changes=910, rows_source=300, rows_target=300, cdc_events=903, fence_in_cdc=True,
        fence_in_target=True)
    verify = VerifyReport.model_validate_json((run / "verify.json").read_text())
    assert verify.contract is not None
    verify.hub = report
    verify.finish(verify.contract.model_copy(update={"connector_delivery": "at-least-once"}))
    if with_verify_hub:
        (run / "verify.json").write_text(verify.model_dump_json(indent=1))
    else:
        (run / "verify.json").unlink()
    summary = json.loads((run / "summary.json").read_text())
    wins = [windows.FaultWindow(kind="stop_worker", target="connect-aws",
                                start_ns=(T0 + FAULT[0]) * NS, end_ns=(T0 + FAULT[1]) * NS)]
    summary["fault_windows"] = [w.to_summary() for w in wins]
    summary |= {"topology": "hub", "verify": verify_block(verify),
                "hub": hub_figures(lag, T0 * NS, wins, report).model_dump(mode="json")}
    (run / "summary.json").write_text(json.dumps(summary, indent=1))
    return run


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    results = tmp_path_factory.mktemp("results")
    run = hub_run(results)
    assert render_all(results, None).skipped == []
    return run


def test_the_hub_section_shows_the_change_lag_figures(rendered: Path) -> None:
    md = (rendered / "report.md").read_text()
    hub = md[md.index("## Hub"):md.index("## Load")]
    for row in ("| changes committed in the source | 900 |",
                "| overwritten before a poll saw them (lag unknown) | 20 |",
                "| change lag: highest / p99 / median (whole run) | 15 s / 6 s / 0.3 s |",
                "| highest before the fault (baseline) | 0.3 s |",
                "| highest since the fault start | 15 s |",
                # the last second over 0.3 + 0.2 s is 47 s (0.8 s): back at 48 s, 3 s after 45
                "| back under the baseline after the heal | 3 s |",
                "| drain after the load (sink showing every final state) | 0.6 s |",
                "| sink's table equals the source's, row by row | no |",
                "| rows in the source / the sink | 300 / 300 |",
                "![Hub change lag](plots/hub.png)"):
        assert row in hub, row
    assert "hub change lag up to 15 s, back under its baseline 3 s after the heal" in md
    assert "hub change lag: a change's commit" in md[md.index("## Glossary"):]


def test_the_hub_anomalies_show_example_rows_and_what_fails(rendered: Path) -> None:
    md = (rendered / "report.md").read_text()
    hub = md[md.index("## Hub"):md.index("## Load")]
    assert ("| row_stale | 7 | yes | id 0 v2: the sink holds version 1; id 1 v2: the sink "
            "holds version 1; id 2 v2: the sink holds version 1; id 3 v2: the sink holds "
            "version 1; id 4 v2: the sink holds version 1 ... 2 more in verify.json |") in hub
    # at-least-once connectors may deliver a change twice: reported, not failing
    assert "| change_duplicate | 3 | no | id 40 v1: read again |" in hub
    assert "| row_missing | 0 | yes | — |" in hub
    assert "the fence row reached the CDC topic and reached the sink" in hub


def test_the_hub_plot_counts_from_the_fault_with_it_shaded(rendered: Path) -> None:
    html = (rendered / "report.html").read_text()
    start = html.index('id="plot-hub"')
    img = html[html.rindex("<img", 0, start):html.index(">", start)]
    for attr in ('data-x="seconds from fault start"', 'data-series="highest,p99"',
                 'data-fault-windows="0.000:15.000"', 'data-points="90"',
                 'data-baseline-bound-s="0.5"', 'data-recovered-x-s="18.000"'):
        assert attr in img, attr
    assert (rendered / "plots" / "hub.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    run = load_run(rendered)
    hub = run_series(run.run_dir, run.summary, run.timeline).hub
    assert hub is not None
    assert hub.x_s[0] == -29.5 and hub.x_s[30] == 0.5  # each second of commit at its middle
    assert hub.max_lag_s[44] == 15.0 and hub.recovered_x_s == 18.0


def test_without_verify_json_the_counts_come_from_the_summary(tmp_path: Path) -> None:
    run = hub_run(tmp_path / "results", with_verify_hub=False)
    render_all(tmp_path / "results", None)
    md = (run / "report.md").read_text()
    hub = md[md.index("## Hub"):md.index("## Load")]
    assert "verify.json is missing: counts from summary.json, no examples." in hub
    assert "| row_stale | 7 | yes |" in hub and "| change_duplicate | 3 | no |" in hub


def test_a_run_without_the_hub_has_no_hub_section(rendered: Path, tmp_path: Path) -> None:
    run = build_run(tmp_path / "results" / "runs", "20260528T202710Z-sever-link")
    render_all(tmp_path / "results", None)
    md = (run / "report.md").read_text()
    assert "## Hub" not in md and "hub change lag" not in md
    assert not (run / "plots" / "hub.png").exists()
