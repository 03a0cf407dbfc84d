"""The figures README.md and docs/drills.md quote are generated from results/, never typed."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from riftdrill.report import figures
from riftdrill.report.figures import FiguresError, fill, find_blocks, load_results, update_docs

ROOT = Path(__file__).resolve().parents[2]
NS = 1_000_000_000


# ---- (a) the committed docs match the committed results ------------------------------------

def test_committed_docs_are_up_to_date_with_committed_results() -> None:
    """Fails when a figure between markers was typed by hand, or results/ changed without
    `make figures`: run `make figures` and commit the result."""
    out = update_docs(figures.default_docs(ROOT), ROOT / "results", write=False)
    stale = [f"{d.path.relative_to(ROOT)}: figures:{name}" for d in out for name in d.stale]
    assert stale == [], "stale figures blocks (run `make figures`): " + ", ".join(stale)
    blocks = {d.path.relative_to(ROOT).as_posix(): set(d.blocks) for d in out}
    assert blocks["README.md"] >= {"bench", "suites", "compare"}
    assert blocks["docs/drills.md"] >= {"suite", "suite-tansu", "drill-bench"}
    assert blocks["docs/load.md"] >= {"load-bench"}


def test_readme_performance_paragraph_is_the_generators_output() -> None:
    """README's load figures are exactly what the generator writes from the committed
    results/bench/*.json, each with how it was measured and its spread (issue 19, item 6)."""
    readme = (ROOT / "README.md").read_text()
    span = next(s for s in find_blocks(readme, "README.md") if s.name == "bench")
    expected = figures.render_block("bench", load_results(ROOT / "results"))
    assert readme[span.start:span.end].strip("\n") == expected
    load = figures.render_block("load-bench", load_results(ROOT / "results"))
    assert load in expected  # docs/load.md quotes the same lines
    bench = json.loads((ROOT / "results" / "bench" / "load.json").read_text())
    lfl = bench["like_for_like"]
    ratio = lfl["max_sustainable_rate"]["ratio"]
    assert f"ProducerPerformance: {figures._g(ratio['median'])} (median of " in load
    assert f"{figures._g(ratio['min'])}-{figures._g(ratio['max'])}" in load
    pairs = bench["ledger_overhead_paired"]["pairs"]
    assert "pairs " + ", ".join(figures._pct(p) for p in pairs) in load


def test_a_typed_figure_in_a_committed_block_is_caught(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    spans = [s for s in find_blocks(readme, "README.md") if s.name == "bench"]
    assert spans, "README.md lost its figures:bench block"
    body = readme[spans[0].start:spans[0].end]
    edited = tmp_path / "README.md"
    edited.write_text(readme[:spans[0].start] + body.replace("s", "s (typed: 1.0 s)", 1)
                      + readme[spans[0].end:])
    assert update_docs([edited], ROOT / "results", write=False)[0].stale == ["bench"]


def test_cli_check_on_the_checkout_exits_0_and_writes_nothing() -> None:
    before = {p: p.read_bytes() for p in figures.default_docs(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "riftdrill", "report", "--figures", "--check"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert {p: p.read_bytes() for p in before} == before


# ---- fixture results -----------------------------------------------------------------------

def _write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def _run(results: Path, run_id: str, *, engine: str = "kafka", started: str, seconds: int = 60,
         passed: bool = True, reasons: list[str] | None = None, counts: dict[str, int] | None = None,
         sends: dict[str, Any] | None = None, first_ack: dict[str, float | None] | None = None,
         unavailable: dict[str, float] | None = None, errors: dict[str, int] | None = None,
         params: dict[str, Any] | None = None,
         worst_partition: tuple[float, int, str] | None = None) -> None:
    experiment = run_id.split("-", 1)[1]
    begin = datetime.fromisoformat(f"2026-05-01T{started}+00:00")
    start_ns = 1_780_000_000 * NS
    first_ack = {"aws": 0.3, "gcp": 0.2} if first_ack is None else first_ack
    known = [v for v in first_ack.values() if v is not None]
    summary: dict[str, Any] = {
        "run_id": run_id, "experiment": experiment, "engine": engine,
        "engine_version": {"kafka": "4.4.0", "tansu": "0.6.0"}[engine], "topology": "stretched",
        "target": "local", "started_at": begin.isoformat(),
        "ended_at": (begin + timedelta(seconds=seconds)).isoformat(),
        "host": {"cores": 2, "memory_gib": 8.0, "kernel": "6.1"},
        "params": {"rate": 200, "size": 1024, "partitions": 6, "baseline_s": 10, "recovery_s": 20,
                   "replication_factor": 3, "min_insync_replicas": 2,
                   "load": {"acks": "all", "producers_per_cloud": 1, "consumers": True,
                            "consumers_per_cloud": 1}, **(params or {})},
        "recovery": {"fault_start_ns": start_ns, "fault_end_ns": start_ns + 20 * NS,
                     "run_end_ns": start_ns + 40 * NS, "time_to_first_ack_s": first_ack,
                     "worst_time_to_first_ack_s": max(known)
                     if len(known) == len(first_ack) else None,
                     "unavailability_s": unavailable or {"aws": 0.5, "gcp": 0.25},
                     "worst_unavailability_s": max((unavailable or {"aws": 0.5}).values()),
                     "errors_by_code": errors or {}},
        "verify": {"passed": passed, "counts": counts if counts is not None else {"lost": 0}},
        "verdict": {"passed": passed, "reasons": reasons or []},
    }
    if sends is not None:
        summary["sends"] = sends
    if worst_partition is not None:
        summary["recovery"].update(zip(("worst_partition_unavailability_s",
                                        "partitions_affected", "worst_partition"),
                                       worst_partition, strict=True))
    _write(results / "runs" / run_id / "summary.json", summary)
    _write(results / "runs" / run_id / "load" / "timeline.json", [{"t": 0}])


def _compare(results: Path, ident: str, created: str, passed: bool) -> None:
    entry = {"experiment": "link-sever", "engine": "kafka", "engine_version": "4.4.0",
             "topology": "stretched", "run_id": f"{ident}-run", "verdict_passed": passed,
             "worst_time_to_first_ack_s": 15.04, "worst_unavailability_s": 15.04, "lost": 0,
             "duplicates": 3}
    _write(results / "compare" / ident / "compare.json", {
        "compare_id": ident, "title": "kafka vs tansu", "created_at": created,
        "entries": [entry, {**entry, "engine": "tansu", "engine_version": "0.6.0",
                            "verdict_passed": False, "lost": None, "failed_send_ratio": 0.0125}],
        "replacements": [{"engine": "kafka", "broker": "gcp-2", "replacement_s": 7.25,
                          "bytes_moved": 3 * 2**20, "note": "in the ISR"},
                         {"engine": "tansu", "broker": "gcp-2", "replacement_s": 1.1,
                          "bytes_moved": 0}]})


@pytest.fixture
def results(tmp_path: Path) -> Path:
    res = tmp_path / "results"
    host = {"cores": 2, "memory_gib": 8.0, "kernel": "6.1", "load_average": [3.14, 2.0, 1.0]}
    _write(res / "bench" / "lab.json", {
        "measured_at": "2026-05-02T10:00:00+00:00", "host": host, "deploy_s": 17.8,
        "destroy_s": 1.1, "peak_lab_rss_gib": 1.4,
        "runs": [{"deploy_s": 18.2, "destroy_s": 1.2, "peak_lab_rss_gib": 1.4},
                 {"deploy_s": 17.8, "destroy_s": 1.1, "peak_lab_rss_gib": 1.4}],
        "goals": {"deploy_s": 60, "destroy_s": 15, "peak_lab_rss_gib": 6}, "lab": "the lab"})
    _write(res / "bench" / "load.json", {
        "measured_at": "2026-05-02T11:00:00+00:00", "host": host, "cloud": "aws",
        "settings": {"size_bytes": 1024, "acks": "all", "partitions": 6, "replication_factor": 3,
                     "linger_ms": 5, "batch_size": 65536},
        "lab": {"engine": "kafka", "topology": "stretched", "wan": ["none"],
                "security": "sasl-tls"},
        "ledger_overhead": 0.2, "ledger_overhead_goal": 0.1,
        "like_for_like": {
            "trial_s": 8.0, "rounds": 3, "steps": 5, "ratio_goal": 1.0,
            "max_sustainable_rate": {
                "riftdrill": [6000.0, 6400.0, 5800.0], "kafka_perf": [8000.0, 8000.0, 7400.0],
                "ratio": {"per_round": [0.75, 0.8, 0.784], "median": 0.784, "min": 0.75,
                          "max": 0.8}},
            "saturation": {
                "riftdrill": [9500.0, 9700.0, 9600.0], "kafka_perf": [16000.0, 16200.0, 16400.0],
                "ratio": {"per_round": [0.594, 0.599, 0.585], "median": 0.594, "min": 0.585,
                          "max": 0.599}}},
        "runs": {"riftdrill": {"duration_s": 10.0, "msgs_per_s": 40000.0},
                 "riftdrill_no_ledger": {"msgs_per_s": 50000.0},
                 "ledger_pairs": {"with": [30000.0, 40000.0, 45000.0],
                                  "without": [50000.0, 50000.0, 45000.0]}}})
    _write(res / "bench" / "verify.json", {
        "measured_at": "2026-05-02T12:00:00+00:00", "host": host, "records": 1000000,
        "records_per_s": 889420, "records_per_cpu_s": 891942,
        "end_to_end_records_per_s": [100000, 120000, 110000]})
    _write(res / "bench" / "engines.json", {
        "measured_at": "2026-05-02T13:00:00+00:00", "host": host, "warmup_s": 30,
        "load": "1000 rec/s x 30 s", "engines": {
            "tansu": {"engine_version": "0.6.0", "target_rate_per_s": 1000, "acked_per_s": 990.0,
                      "failed": 0, "ack_p50_ms": 7.739, "ack_p99_ms": 15.351,
                      "broker_replacement_s": 1.5, "broker_replacement_bytes_moved": 0},
            "kafka": {"engine_version": "4.4.0", "target_rate_per_s": 1000, "acked_per_s": 967.7,
                      "failed": 2, "ack_p50_ms": 7.539, "ack_p99_ms": 149.375,
                      "broker_replacement_s": 7.0, "broker_replacement_bytes_moved": 64667648}}})
    # kafka: an older broker-kill (replaced by the newer one), the newer one in the new shape
    # (every verdict column, sends), link-sever in the old shape (no sends, no
    # inconsistent_offset) with a cloud that never got its first ack back.
    _run(res, "20260501T080000Z-broker-kill", started="08:00:00", counts={"lost": 9})
    _run(res, "20260501T090000Z-broker-kill", started="09:00:00", params={"broker": "aws-2",
                                                                           "hold_s": 20},
         counts={"lost": 0, "inconsistent_offset": 0, "duplicates": 2},
         sends={"attempted": 1000, "acked": 985, "failed": 15, "failed_ratio": 0.015},
         errors={"_MSG_TIMED_OUT": 15, "UNKNOWN": 1}, worst_partition=(9.7, 3, "drill-x[2]@aws"))
    _run(res, "20260501T090200Z-link-sever", started="09:02:00", seconds=120, passed=False,
         reasons=["SLO max_unavailability_s <= 10: measured 40, over by 30"],
         params={"hold_s": 20}, counts={"lost": 0, "duplicates": 0},
         first_ack={"aws": 6.0, "gcp": None}, unavailable={"aws": 6.0, "gcp": 40.0})
    _run(res, "20260501T090500Z-object-store-outage", started="09:05:00", params={"hold_s": 20},
         counts={"lost": 0})
    # the same drill with a longer hold is another kind of run: not part of the suite above
    _run(res, "20260501T093000Z-link-sever", started="09:30:00", params={"hold_s": 60},
         counts={"lost": 0})
    _run(res, "20260501T100000Z-broker-kill", engine="tansu", started="10:00:00",
         params={"hold_s": 20}, counts={"lost": 3, "duplicates": 1})
    (res / "runs" / "20260501T110000Z-broken").mkdir(parents=True)
    _compare(res, "b-newer", "2026-05-03T00:00:00+00:00", True)
    _compare(res, "z-older", "2026-05-01T00:00:00+00:00", False)
    return res


# ---- (b) rendering -------------------------------------------------------------------------

def _rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("| ")]


def test_suite_table_newest_run_per_experiment_dashes_and_never(results: Path) -> None:
    text = figures.render_block("suite", load_results(results))
    assert _rows(text) == [
        "| drill | verdict | wall s | worst partition unavailable s | unavailable s (whole cloud) "
        "| unavailable s per cloud | first ack s | send errors from fault start | lost | "
        "inconsistent offsets | duplicates | failed-send % | run |",
        "| broker-kill (broker aws-2, hold 20 s) | pass | 60 | 9.7 (3 affected, drill-x[2]@aws) "
        "| 0.5 | aws 0.5 / gcp 0.25 | 0.3 | "
        "15 _MSG_TIMED_OUT, 1 UNKNOWN | 0 | 0 | 2 | 1.5% | 20260501T090000Z-broker-kill |",
        "| link-sever (hold 20 s) | FAIL | 120 | — | 40 | aws 6 / gcp 40 | never | 0 | 0 | — | 0 "
        "| — | 20260501T090200Z-link-sever |",
        "| object-store-outage (hold 20 s) | pass | 60 | — | 0.5 | aws 0.5 / gcp 0.25 | 0.3 | 0 "
        "| 0 | — | — | — | 20260501T090500Z-object-store-outage |",
    ]
    assert "20260501T080000Z-broker-kill" not in text  # the older run of the same experiment
    assert "Every run: 200 rec/s, 1 KiB records, 6 partitions, acks=all, RF 3, min ISR 2" in text
    assert "2 of 3 passed (failed: link-sever); lost 0 in every drill." in text
    assert "20260501T093000Z-link-sever" not in text  # a 60 s hold is not this suite's kind
    assert "- link-sever failed: SLO max_unavailability_s <= 10: measured 40, over by 30" in text
    assert "1 run directories could not be read" in text
    tansu = figures.render_block("suite-tansu", load_results(results))
    assert "1 of 1 passed; lost: 3 in broker-kill." in tansu


def test_suite_headings_are_the_reports_columns(results: Path) -> None:
    from riftdrill.report import columns

    header = _rows(figures.render_block("suite", load_results(results)))[0]
    for c in columns.VERDICT_COLUMNS:
        if c.key in figures.SHOWN_KEYS:
            assert f"| {c.heading} |" in header


def test_suites_one_line_per_engine(results: Path) -> None:
    text = figures.render_block("suites", load_results(results))
    lines = [line for line in text.splitlines() if line.startswith("- ")]
    # Alike runs only (engine, topology, target, contract, hold), and only groups of at least
    # three drills: the tansu run and the 60 s link-sever stand alone.
    assert lines == [
        "- **kafka 4.4.0, stretched, target local, hold 20 s, security off**: 3 drills (broker-kill, "
        "link-sever, object-store-outage), 2026-05-01 09:00-09:06 UTC: 2 of 3 passed (failed: "
        "link-sever); lost 0 in every drill.",
    ]


def test_bench_says_how_and_shows_the_spread(results: Path) -> None:
    text = figures.render_block("bench", load_results(results))
    assert "on 2 cores, 8 GiB, kernel 6.1" in text
    assert ("deploy with warm caches until a round trip succeeds in every cloud: 17.8 s "
            "(min of 2 runs, 17.8-18.2 s; goal at most 60 s)") in text
    assert "peak resident memory of every process in the lab's namespaces: 1.4 GiB (2 runs, all " \
           "1.4 GiB; goal at most 6 GiB)" in text
    assert "1-min load average 3.1" in text and "measured 2026-05-02" in text
    assert ("one riftdrill producer process and Kafka's `ProducerPerformance` in aws, on the "
            "same lab (kafka stretched, WAN none, security sasl-tls) and topic, same producer "
            "settings (1 KiB records, acks=all, 6 partitions, RF 3, linger 5 ms, batch 64 KiB, "
            "idempotence on), 3 rounds with the order alternating") in text
    assert ("(8 s runs, 5-step bisection): riftdrill 6.0k msg/s (per round 6.0k, 6.4k, 5.8k), "
            "ProducerPerformance 8.0k msg/s (per round 8.0k, 8.0k, 7.4k). Ratio riftdrill / "
            "ProducerPerformance: 0.784 (median of 3 rounds, 0.75-0.8; goal at least 1)") in text
    assert ("riftdrill 9.6k msg/s (per round 9.5k, 9.7k, 9.6k), ProducerPerformance 16.2k msg/s "
            "(per round 16.0k, 16.2k, 16.4k). Ratio: 0.594 (median of 3 rounds, 0.585-0.599; "
            "goal at least 1)") in text
    # recomputed from the raw pairs: the pairs' own median, not the file's 0.2
    assert ("the median of 3 alternating on/off pairs' own overheads (1 - msg/s with the ledger / "
            "without, per pair): 20.0 % (pairs 40.0 %, 20.0 %, 0.0 %; spread 0.0 % to 40.0 %; "
            "goal at most 10.0 %); without the ledger 50.0k msg/s (median of 3 runs, 45.0k-50.0k)") in text
    assert "not like for like" not in text
    assert "889.4k records/s wall clock, 891.9k per CPU-second (1 run)" in text
    assert "**Verifier, end to end** (same bench): 110.0k records/s (median of 3 runs, " \
           "100.0k-120.0k)" in text
    assert "- `results/bench/drill.json`: missing, not shown." in text
    rows = _rows(text.replace("  |", "|"))
    assert "after a 30 s warm-up" in text
    assert rows[1:] == ["| kafka 4.4.0 | 968 of 1000 | 2 | 7.54 | 149 | 7 | 61.7 MiB |",
                        "| tansu 0.6.0 | 990 of 1000 | 0 | 7.74 | 15.4 | 1.5 | 0 MiB |"]


def test_compare_is_the_newest_by_creation(results: Path) -> None:
    text = figures.render_block("compare", load_results(results))
    assert "`results/compare/b-newer/` (created 2026-05-03; kafka vs tansu)" in text
    assert _rows(text)[1:3] == [
        "| link-sever | kafka | kafka 4.4.0 | pass | 15 | 15 | — | — | — | 0 | — | 3 | — "
        "| b-newer-run |",
        "| link-sever | tansu | tansu 0.6.0 | FAIL | 15 | 15 | — | — | — | — | — | 3 | 1.25% "
        "| b-newer-run |",
    ]
    assert "| kafka | gcp-2 | 7.25 | 3.0 MiB | in the ISR |" in text
    assert "| tansu | gcp-2 | 1.1 | 0 MiB | — |" in text
    assert "over the cross-cloud link of its day (not recorded)" in text  # written before setups
    assert "Older comparisons under `results/compare/`: `z-older` (created 2026-05-01)." in text


def test_compare_names_setups_and_the_link(results: Path) -> None:
    """One experiment on stretched and per-cloud kafka: two setups of one engine, side by side."""
    entry = {"experiment": "link-sever", "engine": "kafka", "engine_version": "4.4.0",
             "topology": "stretched", "setup": "kafka", "wan": "inter-region",
             "run_id": "c-run", "verdict_passed": True, "ack_p50_ms": 61.5, "ack_p99_ms": 1200.0,
             "e2e_p99_ms": 2500.0}
    _write(results / "compare" / "c-setups" / "compare.json", {
        "compare_id": "c-setups", "created_at": "2026-05-04T00:00:00+00:00",
        "entries": [entry, {**entry, "topology": "per-cloud", "setup": "kafka-per-cloud",
                            "run_id": "d-run"}]})
    text = figures.render_block("compare", load_results(results))
    assert "over the cross-cloud link `inter-region`" in text
    assert [r.split(" | ")[1] for r in _rows(text)[1:3]] == ["kafka", "kafka-per-cloud"]
    assert "| 61.5 | 1200 | 2500 |" in _rows(text)[1]


def test_empty_results_say_so(tmp_path: Path) -> None:
    res = load_results(tmp_path / "nothing")
    for name in figures.BLOCKS:
        assert figures.render_block(name, res)  # no crash, one sentence
    assert "No readable kafka drill runs" in figures.render_block("suite", res)


def test_same_results_same_bytes_and_only_between_markers(results: Path, tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("# Title 42\n\nbefore\n<!-- figures:suites -->\nold 1.0 s\n"
                   "<!-- /figures:suites -->\nafter 7 s\n")
    first = update_docs([doc], results)
    assert first[0].stale == ["suites"] and first[0].blocks == ["suites"]
    text = doc.read_text()
    assert text.startswith("# Title 42\n\nbefore\n<!-- figures:suites -->\n\nDrill runs")
    assert text.endswith("\n\n<!-- /figures:suites -->\nafter 7 s\n")
    assert "old 1.0 s" not in text
    assert update_docs([doc], results)[0].stale == []
    assert doc.read_text() == text
    assert not list(tmp_path.glob(".*.tmp"))


# ---- (c) bad markers -----------------------------------------------------------------------

@pytest.mark.parametrize(("text", "message"), [
    ("a\n<!-- figures:bench -->\nb\n", "doc.md:2: <!-- figures:bench --> has no closing "
                                       "<!-- /figures:bench -->"),
    ("<!-- figures:benchmarks -->\n<!-- /figures:benchmarks -->\n",
     "doc.md:1: unknown figures block 'benchmarks'; blocks are: bench, compare"),
    ("x\n\n<!-- /figures:bench -->\n", "doc.md:3: <!-- /figures:bench --> without its opening"),
    ("<!-- figures:bench -->\n<!-- figures:suite -->\n<!-- /figures:suite -->\n"
     "<!-- /figures:bench -->\n", "doc.md:2: <!-- figures:suite --> inside figures:bench"),
    ("<!-- figures:bench -->\n<!-- /figures:suite -->\n", "doc.md:2: <!-- /figures:suite --> "
                                                          "without its opening"),
])
def test_bad_markers_are_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(FiguresError) as exc:
        find_blocks(text, "doc.md")
    assert str(exc.value).startswith(message)
    assert "\n" not in str(exc.value)
    with pytest.raises(FiguresError):
        fill(text, figures.Results(), "doc.md")


def test_cli_bad_marker_exit_2_one_line_nothing_written(results: Path, tmp_path: Path) -> None:
    good, bad = tmp_path / "good.md", tmp_path / "bad.md"
    good.write_text("<!-- figures:suites -->\n<!-- /figures:suites -->\n")
    bad.write_text("x\n<!-- figures:suite -->\n")
    before = good.read_text()
    proc = subprocess.run([sys.executable, "-m", "riftdrill", "report", "--figures", "--results",
                           str(results), "--doc", str(good), "--doc", str(bad)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"riftdrill: error: {bad}:2: <!-- figures:suite --> has no closing "
        "<!-- /figures:suite -->"]
    assert good.read_text() == before


def test_cli_check_lists_stale_blocks_and_exits_1(results: Path, tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("<!-- figures:compare -->\ntyped 7.3 s\n<!-- /figures:compare -->\n")
    cmd = [sys.executable, "-m", "riftdrill", "report", "--figures", "--results", str(results),
           "--doc", str(doc)]
    proc = subprocess.run([*cmd, "--check"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 1
    assert f"{doc}: figures:compare stale" in proc.stderr
    assert "typed 7.3 s" in doc.read_text()
    assert subprocess.run(cmd, capture_output=True, cwd=ROOT, timeout=300).returncode == 0
    assert "typed 7.3 s" not in doc.read_text()
    proc = subprocess.run([*cmd, "--check", "--json"], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == {"checked": [{"path": str(doc), "blocks": ["compare"],
                                                    "stale": []}]}


def test_bench_verify_end_to_end_per_reader() -> None:
    trials = [{"s": s, "replay_s": 1.0, "ledger_s": 0.5, "check_s": 0.1} for s in (2.5, 1.6, 1.7)]
    b = {"records": 1_000_000, "records_per_s": 3_521_127, "records_per_cpu_s": 3_546_100,
         "runs_records_per_s": [1_709_402, 3_521_127], "end_to_end_records": 1_000_000,
         "end_to_end_record_bytes": 1024, "end_to_end_partitions": 12,
         "end_to_end_engine": "kafka 4.4.0", "end_to_end_replication_factor": 3,
         "end_to_end_reader": "native", "end_to_end_librdkafka_workers": 2,
         "end_to_end_ledger_s": 0.677, "end_to_end_replay_s": 1.5, "end_to_end_check_s": 0.065,
         "end_to_end_by_reader": {
             "librdkafka": {"median_records_per_s": 131_216, "trials": trials},
             "native": {"median_records_per_s": 579_374, "trials": trials}}}
    text = "\n".join(figures._bench_verify(b))
    assert "3.52M records/s wall clock" in text
    # the default reader first, then the other, each with its spread
    assert ("replay with raw fetch + native decoder (the default): 579.4k records/s (median of "
            "3 runs, 1.6 s-2.5 s per run); replay with librdkafka in 2 processes: 131.2k") in text
    assert "the median run's phases: ledger 0.677 s, replay 1.5 s, check 0.065 s" in text


def test_bench_scale_gives_each_size_and_the_ledger_bytes() -> None:
    b = {"measured_at": "2026-12-04T16:30:00+00:00",
         "checker": {"runs": [{"records": 1_000_000, "cpu_s": 0.28, "cpu_us_per_record": 0.28,
                               "trials": [{"cpu_s": 0.3}, {"cpu_s": 0.28}, {"cpu_s": 0.27}]},
                              {"records": 10_000_000, "cpu_s": 3.1, "cpu_us_per_record": 0.31}],
                     "per_record_ratio": 1.107},
         "ledger_bytes_per_million_records": {"producer_ledger": 64_000_512,
                                              "consumer_ledger": 64_000_420}}
    text = "\n".join(figures._bench_scale(b))
    assert ("1M records: 0.28 s CPU (0.28 µs per record; 3 checks, 0.27-0.3 s); 10M records: "
            "3.1 s CPU "
            "(0.31 µs per record); per-record cost at the largest size 1.11 times the smallest's") in text
    assert "producer 61.0 MiB, consumer 61.0 MiB" in text
    assert figures._bench_scale({}) == []


def test_bench_memory_gives_each_process_of_each_long_run() -> None:
    proc = {"samples": 360, "span_s": 3590.0, "first_mib": 15.2, "last_mib": 130.4,
            "max_mib": 131.0, "slope_mib_per_h": 61.5, "residual_mib": 2.31,
            "last_half_slope_mib_per_h": 12.0}
    b = {"measured_at": "2026-12-04T21:00:00+00:00", "method": "VmRSS every 10 s",
         "runs": {"20261204T193107Z-soak": {"engine": "kafka", "processes": {
             "aws": proc, "runner": {**proc, "first_mib": 54.2, "slope_mib_per_h": 0.03}}}}}
    [line] = figures._bench_memory(b)
    assert "memory over 60 min" in line and "run `20261204T193107Z-soak`, kafka" in line
    assert ("aws 15.2 MiB at start, 131 MiB at most, 130 MiB at the end, 61.5 MiB/h "
            "(± 2.31 MiB; 12 MiB/h over the second half); runner 54.2 MiB") in line
    assert "A run from before the load trimmed its C heap." in line
    heap = {"trims": 120, "in_use_first_mib": 30.5, "in_use_last_mib": 31.0,
            "in_use_slope_mib_per_h": 0.4, "returned_median_mib": 2.0, "returned_max_mib": 41.0}
    b["runs"]["20261204T193107Z-soak"]["heap"] = {"aws": heap}
    [line] = figures._bench_memory(b)
    assert ("Its Locust processes trimmed their C heap: aws (glibc) 120 trims, in use 30.5 MiB "
            "-> 31 MiB (0.4 MiB/h), a trim gave back 2 MiB (median; at most 41 MiB).") in line
    b["runs"]["20261204T193107Z-soak"]["heap"] = {"aws": {**heap, "allocator": "jemalloc"}}
    [line] = figures._bench_memory(b)
    assert "C heap: aws (jemalloc) 120 trims" in line  # the heap log names whose figures
    # with the declared bound: its sentence first, then each process said flat or growing
    b["flat_mib_per_h"] = 2.0
    b["runs"]["20261204T193107Z-soak"]["processes"]["runner"]["flat"] = True
    b["runs"]["20261204T193107Z-soak"]["processes"]["aws"]["flat"] = False
    bound, line = figures._bench_memory(b)
    assert "grows at most 2 MiB/h after warm-up" in bound
    assert "12 MiB/h over the second half; grows); runner" in line
    assert line.count("; flat)") == 1
    assert figures._bench_memory({}) == []


def test_slo_block_measures_the_runs_against_slo_yaml(results: Path) -> None:
    (results.parent / "slo.yaml").write_text(
        "experiments:\n  broker-kill:\n    max_worst_partition_unavailability_s: 5\n")
    text = figures.render_block("slo", load_results(results))
    assert ("| kafka | broker-kill | worst partition unavailable s | 9.7 (hold 20) | 5 | 1 of 1 "
            "| 15 |") in text
    assert "| tansu | broker-kill | unavailable s (whole cloud) | 0.5 (hold 20) | not bounded | — "\
           "| 10 |" in text


def test_bench_lab_says_what_the_link_emulator_costs() -> None:
    wan = {"profile": "inter-region", "weather": "25 ms one way +- 5 ms, 0 % loss, 1000 Mbit/s",
           "rtt_ms": {"median_ms": 53.6, "min_ms": 47.7, "max_ms": 61.2, "samples": 20},
           "deployed_weather_mbit_s": 400.0, "deployed_weather_runs_mbit_s": [390.0, 400.0, 410.0],
           "emulator_no_weather_mbit_s": 900.0, "emulator_no_weather_runs_mbit_s": [900.0],
           "bypassed_mbit_s": 1000.0, "bypassed_runs_mbit_s": [1000.0],
           "emulator_cost_pct": 10.0, "how": "one TCP stream aws -> gcp"}
    text = figures._bench_lab({"deploy_s": 17.0, "wan": wan})
    assert ("The cross-cloud link (profile `inter-region`: 25 ms one way +- 5 ms, 0 % loss, "
            "1000 Mbit/s): measured round trip 53.6 ms (median of 20 TCP ping-pongs, "
            "47.7-61.2 ms)") in text
    assert "400 Mbit/s (median of 3 runs, 390-410 Mbit/s) with that weather" in text
    assert "the emulator's own cost 10 % of throughput" in text
    assert figures._bench_wan({}) == ""
