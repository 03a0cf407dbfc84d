"""The engine comparison table: the verdict columns of every entry, old comparisons as "—"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from riftdrill.redact import PATTERNS_ONLY
from riftdrill.report import columns
from riftdrill.report.compare import CompareEntry, build_compare, load_compare, write_compare
from riftdrill.report.render import compare_rows
from riftdrill.report.runs import load_run
from tests.fixtures.report.build import build_run


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    res = tmp_path_factory.mktemp("results")
    runs = [build_run(res / "runs", "20260528T202710Z-sever-link-kafka"),
            build_run(res / "runs", "20260528T212710Z-sever-link-lossy", engine="tansu",
                      engine_version="0.5.1", lossy=True, seed=11)]
    write_compare(build_compare("sever-engines", [load_run(r) for r in runs]), res, PATTERNS_ONLY)
    return res


def verdict_cells(row: list[str], headers: list[str]) -> dict[str, str]:
    return {h: c for h, c in zip(headers, row, strict=True) if h in columns.HEADINGS}


def test_every_column_is_a_compare_field() -> None:
    assert set(columns.KEYS) <= set(CompareEntry.model_fields)


def test_compare_json_keeps_every_figure(results: Path) -> None:
    doc = load_compare(results / "compare" / "sever-engines")
    kafka, tansu = doc.entries
    assert (tansu.lost, tansu.inconsistent_offset, tansu.duplicates, tansu.reordered,
            tansu.undelivered, tansu.poll_skip, tansu.unreadable) == (5, 2, 12, 1, 3, 4, 7)
    assert tansu.failed_send_ratio == pytest.approx(160 / 7200)
    assert kafka.lost == 0 and kafka.undelivered == 0


def test_compare_table_shows_the_verdict_columns(results: Path) -> None:
    table = compare_rows(load_compare(results / "compare" / "sever-engines"), None)
    at = table.headers.index("e2e p99") + 1
    assert table.headers[at:at + 8] == columns.HEADINGS
    kafka, tansu = (verdict_cells(r, table.headers) for r in table.rows)
    assert list(tansu.values()) == ["5", "2", "12", "1", "3", "4", "2.22%", "7"]
    assert list(kafka.values()) == ["0", "0", "0", "0", "0", "0", "2.22%", "0"]
    assert table.sort_keys is not None
    assert table.sort_keys[1][at:at + 8] == [5, 2, 12, 1, 3, 4, pytest.approx(160 / 7200), 7]


def test_an_old_comparison_shows_dashes(results: Path, tmp_path: Path) -> None:
    """A compare.json written before issue #11: lost and duplicates only."""
    doc = json.loads((results / "compare" / "sever-engines" / "compare.json").read_text())
    for e in doc["entries"]:
        for key in ("inconsistent_offset", "reordered", "undelivered", "poll_skip",
                    "failed_send_ratio", "unreadable"):
            del e[key]
    old = tmp_path / "compare" / "old"
    old.mkdir(parents=True)
    (old / "compare.json").write_text(json.dumps(doc))
    table = compare_rows(load_compare(old), None)
    kafka, tansu = (verdict_cells(r, table.headers) for r in table.rows)
    assert list(tansu.values()) == ["5", "—", "12", "—", "—", "—", "—", "—"]
    assert list(kafka.values()) == ["0", "—", "0", "—", "—", "—", "—", "—"]


def test_an_old_run_compares_with_dashes(tmp_path: Path) -> None:
    run = load_run(build_run(tmp_path / "runs", "20260527T202710Z-sever-link-old", old_shape=True))
    entry = build_compare("old", [run]).entries[0]
    assert (entry.lost, entry.duplicates, entry.reordered) == (0, 0, 0)
    assert (entry.inconsistent_offset, entry.undelivered, entry.poll_skip,
            entry.failed_send_ratio, entry.unreadable) == (None, None, None, None, None)


def test_setups_are_an_engine_in_a_topology() -> None:
    from riftdrill.compare import resolve_setups
    from riftdrill.errors import ValidationError

    assert [s.name for s in resolve_setups(("tansu", "kafka-per-cloud", "tansu"))] == [
        "tansu", "kafka-per-cloud"]
    assert resolve_setups(("kafka-per-cloud",))[0].topology == "per-cloud"
    with pytest.raises(ValidationError, match="unknown setup 'automq'; choose from: kafka, "):
        resolve_setups(("automq",))


def test_one_experiment_may_run_on_two_setups_of_one_engine() -> None:
    """Stretched and per-cloud kafka are two rows; an old entry without a setup gets its own."""
    from riftdrill.report.compare import CompareDoc

    base = {"experiment": "broker-kill", "engine": "kafka", "run_id": "r"}
    doc = CompareDoc.model_validate({"compare_id": "c", "created_at": "now", "entries": [
        {**base, "topology": "stretched"}, {**base, "topology": "per-cloud"}]})
    assert [e.setup for e in doc.entries] == ["kafka", "kafka-per-cloud"]
    with pytest.raises(ValueError, match="two entries for experiment 'broker-kill' on 'kafka'"):
        CompareDoc.model_validate({"compare_id": "c", "created_at": "now",
                                   "entries": [{**base, "topology": "stretched"}, base]})


def test_a_drill_whose_load_never_started_is_compared_as_failed(tmp_path: Path) -> None:
    """Its run has a summary and no timeline: the comparison keeps it (FAIL, figures unknown);
    the run's own report still needs the timeline."""
    from riftdrill.report.runs import RunInputError

    run = build_run(tmp_path / "runs", "20260528T202710Z-sever-link-kafka")
    (run / "load" / "timeline.json").unlink()
    with pytest.raises(RunInputError, match=r"timeline\.json"):
        load_run(run)
    data = load_run(run, need_timeline=False)
    assert data.timeline == [] and "the load never ran" in data.notes[0]
    [entry] = build_compare("c", [data]).entries
    assert entry.run_id == "20260528T202710Z-sever-link-kafka"
