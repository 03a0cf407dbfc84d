"""`riftdrill report` on fixture runs: what a reader of the reports and the index relies on."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from riftdrill.redact import PATTERNS_ONLY
from riftdrill.report import columns
from riftdrill.report.compare import build_compare, load_compare, write_compare
from riftdrill.report.cost import load_prices
from riftdrill.report.render import render_all
from riftdrill.report.runs import RunInputError, load_run
from tests.fixtures.report.build import build_results, build_run

ROOT = Path(__file__).resolve().parents[2]
CAPTURED = ROOT / "tests" / "fixtures" / "runs"  # real drill runs committed by the drill runner
KAFKA = "20260528T202710Z-sever-link-kafka"
LOSSY = "20260528T212710Z-sever-link-lossy"
BROKEN = "20260528T222710Z-broken"


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    res = tmp_path_factory.mktemp("results")
    runs = build_results(res)
    write_compare(build_compare("sever-engines", [load_run(r) for r in runs], "kafka vs tansu"), res,
                  PATTERNS_ONLY)
    return res


@pytest.fixture(scope="module")
def rendered(results: Path) -> dict[str, object]:
    return render_all(results, load_prices(ROOT / "prices.yaml")).to_json()


def test_every_run_and_comparison_gets_md_html_and_plots(results: Path,
                                                        rendered: dict[str, object]) -> None:
    kinds = sorted((r["kind"], r["id"]) for r in rendered["rendered"])  # type: ignore[attr-defined]
    assert kinds == [("compare", "sever-engines"), ("index", "index"), ("run", KAFKA), ("run", LOSSY)]
    for run in (KAFKA, LOSSY):
        d = results / "runs" / run
        assert (d / "report.md").stat().st_size > 1000
        plots = {p.name for p in (d / "plots").glob("*.png")}
        assert {"timeline.png", "percentiles.png", "lag.png"} <= plots
        for p in (d / "plots").glob("*.png"):
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000
    assert "verify.png" in {p.name for p in (results / "runs" / LOSSY / "plots").glob("*")}
    assert (results / "compare" / "sever-engines" / "report.html").exists()


def test_a_run_report_is_self_describing(results: Path, rendered: object) -> None:
    md = (results / "runs" / KAFKA / "report.md").read_text()
    for fact in ("0123456789abcdef0123456789abcdef01234567", "kafka 4.4.0", "stretched",
                 "2 cores, 7.8 GiB", "| rate_per_s | 80 |", "| brokers_per_cloud | 2 |",
                 "| sever_link | aws-gcp | 2026-05-28T20:27:40Z | 2026-05-28T20:27:55Z | 15 s |",
                 "**PASSED**", "worst time to first ack | 15.009 s", "errors _MSG_TIMED_OUT | 160",
                 "![Timeline: produce rate, ack latency, errors](plots/timeline.png)"):
        assert fact in md, fact


def test_verifier_offsets_and_failing_verdict_are_listed(results: Path, rendered: object) -> None:
    md = (results / "runs" / LOSSY / "report.md").read_text()
    assert "**FAILED**" in md and "verify: 5 lost" in md
    assert "| main/riftdrill/1 | lost | 5 | 400-403, 977 |" in md
    assert "| main/riftdrill/1 | duplicates | 12 | 1200-1211 |" in md
    assert "| lost | 5 | yes |" in md


def test_cost_is_in_each_report(results: Path, rendered: object) -> None:
    md = (results / "runs" / KAFKA / "report.md").read_text()
    assert "as of 2025-06-01" in md
    # 1.45 GB left AWS at 0.09/GB during the drill.
    assert "| egress aws-to-gcp | 1.45 | GB | 0.09 | 0.13 USD |" in md
    assert "| total |" in md


def test_html_is_self_contained(results: Path, rendered: object) -> None:
    for page in [results / "index.html", *results.glob("*/*/report.html")]:
        html = page.read_text()
        assert "http://" not in html and "https://" not in html, page
        assert 'src="data:image/png;base64,' in html or page.name == "index.html"
        assert "<script src" not in html and "<link rel=\"stylesheet\"" not in html


def test_index_lists_runs_comparison_and_skipped(results: Path, rendered: dict[str, object]) -> None:
    md = (results / "index.md").read_text()
    assert f"[{KAFKA}](runs/{KAFKA}/report.html)" in md
    assert "| stretched | sever-link | FAIL | 15.009 s |" in md
    # lost, inconsistent offsets, duplicates, reordered, undelivered, poll-skips, failed-send %,
    # unreadable (160 of 7200 sends timed out in the fixture)
    assert "| 5 | 2 | 12 | 1 | 3 | 4 | 2.22% | 7 |" in md
    assert "| 0 | 0 | 0 | 0 | 0 | 0 | 2.22% | 0 |" in md
    assert "## Comparison sever-engines" in md
    assert "(compare/sever-engines/report.html)" in md
    skipped = rendered["skipped"]
    assert [s["path"].rsplit("/", 1)[-1] for s in skipped] == [BROKEN]  # type: ignore[attr-defined,index]
    assert "summary.json: not readable JSON" in skipped[0]["error"]  # type: ignore[index]
    assert "Skipped (unreadable) results" in md and BROKEN in md
    html = (results / "index.html").read_text()
    assert 'class="sortable"' in html and "<script>" in html


def test_missing_optional_file_is_a_note_missing_timeline_skips(results: Path, tmp_path: Path) -> None:
    res = tmp_path / "results"
    shutil.copytree(results / "runs" / KAFKA, res / "runs" / "no-verify")
    (res / "runs" / "no-verify" / "verify.json").unlink()
    shutil.copytree(results / "runs" / KAFKA, res / "runs" / "no-timeline")
    (res / "runs" / "no-timeline" / "load" / "timeline.json").unlink()
    shutil.copytree(results / "compare" / "sever-engines", res / "compare" / "bad")
    (res / "compare" / "bad" / "compare.json").write_text('{"compare_id": "bad", "created_at": "x", '
                                                         '"entries": [], "color": 1}')
    out = render_all(res, None)
    assert [r.dir.name for r in out.rendered] == ["no-verify", "results"]
    errors = {Path(s.path).name: s.error for s in out.skipped}
    assert "load/timeline.json: missing" in errors["no-timeline"]
    assert "color" in errors["bad"]
    md = (res / "runs" / "no-verify" / "report.md").read_text()
    assert "verify.json is missing" in md and "## Missing inputs" in md
    assert "## Cost" not in md  # rendered without a price table


def test_bad_summary_field_names_it(tmp_path: Path, results: Path) -> None:
    run = tmp_path / "r"
    shutil.copytree(results / "runs" / KAFKA, run)
    s = json.loads((run / "summary.json").read_text())
    s["fault_windows"][0]["start_s"] = "soon"
    (run / "summary.json").write_text(json.dumps(s))
    with pytest.raises(RunInputError, match=r"summary.json: fault_windows.0.start_s"):
        load_run(run)


def test_compare_json_round_trip_and_one_entry_per_engine(results: Path) -> None:
    doc = load_compare(results / "compare" / "sever-engines")
    assert [(e.engine, e.lost, e.verdict_passed) for e in doc.entries] == [
        ("kafka", 0, True), ("tansu", 5, False)]
    assert doc.entries[0].usage is not None and doc.entries[0].usage.link_bytes["aws-to-gcp"] > 0
    twice = doc.model_dump()
    twice["entries"].append(twice["entries"][0])
    with pytest.raises(ValueError, match="two entries for experiment"):
        type(doc).model_validate(twice)


def test_cli_json_lists_rendered_reports(results: Path, tmp_path: Path) -> None:
    res = tmp_path / "results"
    shutil.copytree(results / "runs" / KAFKA, res / "runs" / KAFKA)
    proc = subprocess.run([sys.executable, "-m", "riftdrill", "report", "--results", str(res),
                           "--json"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert [r["kind"] for r in out["rendered"]] == ["run", "index"]
    assert out["rendered"][0]["html"].endswith(f"{KAFKA}/report.html") and out["skipped"] == []


def test_cli_bad_prices_exit_2_naming_the_field(results: Path, tmp_path: Path) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text((ROOT / "prices.yaml").read_text() + "\negress_per_tb: {aws: 90}\n")
    proc = subprocess.run([sys.executable, "-m", "riftdrill", "report", "--results",
                           str(tmp_path / "none"), "--prices", str(prices)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"riftdrill: error: {prices}: unknown field 'egress_per_tb'"]


def test_captured_drill_runs_render(tmp_path: Path) -> None:
    """Every real run the drill runner committed under tests/fixtures/runs renders cleanly."""
    captured = sorted(p for p in CAPTURED.glob("*") if p.is_dir())
    assert captured, f"no captured runs under {CAPTURED}"
    res = tmp_path / "results"
    for run_dir in captured:
        shutil.copytree(run_dir, res / "runs" / run_dir.name)
    out = render_all(res, load_prices(ROOT / "prices.yaml"))
    assert out.skipped == [], out.skipped
    for run_dir in captured:
        assert (res / "runs" / run_dir.name / "plots" / "timeline.png").exists()
        assert (res / "runs" / run_dir.name / "report.html").exists()


def test_regressions_flagged_by_the_runner_show_in_the_report(tmp_path: Path) -> None:
    captured = sorted(p for p in CAPTURED.glob("*") if p.is_dir())
    res = tmp_path / "results"
    run_dir = res / "runs" / captured[0].name
    shutil.copytree(captured[0], run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    summary["regressions"] = {"previous_run_id": "20261101T000000Z-broker-kill", "regressed": True,
                              "flags": [{"message": "worst_unavailability_s 9.0 s > limit 2.2 s"}]}
    (run_dir / "summary.json").write_text(json.dumps(summary))
    render_all(res, load_prices(ROOT / "prices.yaml"))
    md = (run_dir / "report.md").read_text()
    assert "Regressions against run 20261101T000000Z-broker-kill" in md
    assert "worst_unavailability_s 9.0 s > limit 2.2 s" in md


# ---- the verdict columns (issue #11) ---------------------------------------------------------

HEADER = "| " + " | ".join(columns.HEADINGS) + " |"


def test_columns_are_one_definition_shown_everywhere(results: Path, rendered: object) -> None:
    assert columns.HEADINGS == ["lost", "inconsistent offsets", "duplicates", "reordered",
                                "undelivered", "poll-skips", "failed-send %", "unreadable"]
    pages = [results / "index.md", results / "compare" / "sever-engines" / "report.md",
             results / "runs" / KAFKA / "report.md", results / "runs" / LOSSY / "report.md"]
    for page in pages:
        md = page.read_text()
        assert HEADER[2:-2] in md, page  # the index and comparison have more columns around


def test_a_new_run_shows_every_column_and_its_contract(results: Path, rendered: object) -> None:
    md = (results / "runs" / LOSSY / "report.md").read_text()
    assert f"{HEADER}\n|---|---|---|---|---|---|---|---|\n| 5 | 2 | 12 | 1 | 3 | 4 | 2.22% | 7 |" in md
    assert ("Contract held: legacy (acks all, idempotence off, at most 5 requests in flight per "
            "connection, from 2 producer ledgers; consumers checked).") in md
    assert ("Allowed anomalies (reported, do not fail the run): duplicates, reordered, "
            "failed_present, unacknowledged. Every other kind fails it: lost, "
            "inconsistent_offset, unreadable,") in md
    assert "| duplicates | 12 | no |" in md and "| poll_skip | 4 | yes |" in md
    assert "| failed _MSG_TIMED_OUT | 160 |" in md and "| failed share | 2.22% |" in md
    clean = (results / "runs" / KAFKA / "report.md").read_text()
    assert "Contract held: idempotent (acks all, idempotence on, at most 5" in clean
    assert ("Allowed anomalies (reported, do not fail the run): failed_present, "
            "unacknowledged.") in clean


def test_an_old_summary_renders_dashes_not_zeros(tmp_path: Path) -> None:
    res = tmp_path / "results"
    build_run(res / "runs", "20260527T202710Z-sever-link-old", old_shape=True)
    summary = json.loads((res / "runs" / "20260527T202710Z-sever-link-old" / "summary.json")
                         .read_text())
    assert "sends" not in summary and "unseen" in summary["verify"]["counts"]
    out = render_all(res, None)
    assert out.skipped == []
    index = (res / "index.md").read_text()
    # measured then: lost, duplicates, reordered; not measured then: the rest
    assert "| 22 s | 0 | — | 0 | 0 | — | — | — | — | n/a |" in index
    md = (res / "runs" / "20260527T202710Z-sever-link-old" / "report.md").read_text()
    assert f"{HEADER}\n|---|---|---|---|---|---|---|---|\n| 0 | — | 0 | 0 | — | — | — | — |" in md
    assert ("Contract: not recorded (verified before contracts existed). Anomalies that failed "
            "the run then: lost, corrupt, unexpected, missing_in_mirror") in md
    assert "summary.json has no `sends`" in md and "| unseen | 0 | no |" in md

    (res / "runs" / "20260527T202710Z-sever-link-old" / "verify.json").unlink()
    render_all(res, None)
    md = (res / "runs" / "20260527T202710Z-sever-link-old" / "report.md").read_text()
    assert "| 0 | — | 0 | 0 | — | — | — | — |" in md
    assert "Contract: not recorded (verified before contracts existed)." in md


def test_summary_without_verify_json_keeps_contract_and_columns(results: Path,
                                                               tmp_path: Path) -> None:
    res = tmp_path / "results"
    shutil.copytree(results / "runs" / LOSSY, res / "runs" / LOSSY)
    (res / "runs" / LOSSY / "verify.json").unlink()
    render_all(res, None)
    md = (res / "runs" / LOSSY / "report.md").read_text()
    assert "| 5 | 2 | 12 | 1 | 3 | 4 | 2.22% | 7 |" in md
    assert "Contract held: legacy" in md and "verify.json is missing; counts from summary" in md


def test_unchecked_consumers_are_not_shown_as_zero(results: Path, tmp_path: Path) -> None:
    res = tmp_path / "results"
    run = res / "runs" / KAFKA
    shutil.copytree(results / "runs" / KAFKA, run)
    verify = json.loads((run / "verify.json").read_text())
    verify["contract"]["consumers_checked"] = False
    (run / "verify.json").write_text(json.dumps(verify))
    render_all(res, None)
    index = (res / "index.md").read_text()
    assert "| 0 | 0 | 0 | 0 | — | — | 2.22% | 0 |" in index
    md = (run / "report.md").read_text()
    assert "consumers not checked: consumer anomalies not measured" in md
    assert "| undelivered | not checked | yes |" in md


def test_captured_old_runs_show_failed_sends_as_unknown(tmp_path: Path) -> None:
    captured = sorted(p for p in CAPTURED.glob("*") if p.is_dir())
    res = tmp_path / "results"
    for run_dir in captured:
        shutil.copytree(run_dir, res / "runs" / run_dir.name)
    render_all(res, None)
    for run_dir in captured:
        figures = columns.run_figures(load_run(res / "runs" / run_dir.name))
        assert figures["failed_send_ratio"] is None and figures["lost"] == 0


def test_a_run_with_several_faults_reports_each_and_their_kinds(tmp_path: Path) -> None:
    res = tmp_path / "results"
    run_id = "20260528T202710Z-soak"
    build_run(res / "runs", run_id)
    path = res / "runs" / run_id / "summary.json"
    summary = json.loads(path.read_text())
    fault = {"kind": "leader-kill", "target": "*", "start_s": 0.0, "held_s": 21.5,
             "span_s": 30.0, "overlapped": False, "unavailability_s": {"aws": 6.9, "gcp": 0.4},
             "time_to_first_ack_s": {"aws": 7.6, "gcp": None}, "p99_back_s": None}
    summary["per_fault"] = {
        "factor": 1.5, "baseline_p99_ms": 120.0,
        "faults": [fault, {**fault, "kind": "link-flap", "target": "aws-gcp", "start_s": 30.0,
                           "overlapped": True, "p99_back_s": 2.3}],
        "kinds": [{"kind": "leader-kill", "faults": 1, "worst_unavailability_median_s": 6.9,
                   "worst_unavailability_max_s": 6.9, "p99_back": 0, "p99_back_max_s": None},
                  {"kind": "link-flap", "faults": 1, "worst_unavailability_median_s": 6.9,
                   "worst_unavailability_max_s": 6.9, "p99_back": 1, "p99_back_max_s": 2.3}]}
    path.write_text(json.dumps(summary))
    render_all(res, None)
    md = (res / "runs" / run_id / "report.md").read_text()
    assert "Per fault" in md and "1.5 x the baseline p99 (120 ms)" in md
    assert "| leader-kill | 1 | 6.9 s | 6.9 s | 0 of 1 | — |" in md
    assert "| link-flap | 1 | 6.9 s | 6.9 s | 1 of 1 | 2.3 s |" in md
    assert ("| 30 s | link-flap | aws-gcp | 21.5 s | 30 s (overlapped) | 6.9 s | 0.4 s | 7.6 s | — "
            "| 2.3 s |") in md
    # a run with one fault has no such section
    build_run(res / "runs", KAFKA)
    render_all(res, None)
    assert "Per fault" not in (res / "runs" / KAFKA / "report.md").read_text()
