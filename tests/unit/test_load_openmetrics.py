"""OpenMetrics export: load/timeline.om parses strictly as OpenMetrics text (families together,
TYPE before samples, a timestamp on every sample, increasing per series, `# EOF` last) and its
per-cloud counters add up to timeline.json's totals."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

from riftdrill.load import aggregate, openmetrics
from riftdrill.load.spec import LoadSpec
from tests.unit.load_runs import T0, write_run

SAMPLE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\{cloud="(?P<cloud>[a-z0-9-]+)"\} '
                    r"(?P<value>-?[0-9.e+-]+) (?P<ts>[0-9]+(\.[0-9]+)?)$")
META = re.compile(r"^# (?P<kind>TYPE|UNIT|HELP) (?P<family>[a-zA-Z_:][a-zA-Z0-9_:]*) (?P<rest>.+)$")


def parse(text: str) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """A strict small OpenMetrics parser for what the exporter writes:
    (sample name, cloud) -> [(timestamp, value)]."""
    lines = text.split("\n")
    assert lines[-2:] == ["# EOF", ""], "must end with # EOF and a newline"
    types: dict[str, str] = {}
    seen_families: list[str] = []
    family = None
    out: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for line in lines[:-2]:
        if m := META.match(line):
            fam = m["family"]
            if m["kind"] == "TYPE":
                assert fam not in types, f"family {fam} twice: its samples must be together"
                assert m["rest"] in ("counter", "gauge"), line
                types[fam] = m["rest"]
                seen_families.append(fam)
                family = fam
            assert fam == family, f"metadata for {fam} outside its family"
            if m["kind"] == "UNIT":
                assert fam.endswith("_" + m["rest"]), "a unit must end the family's name"
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        assert family is not None
        want = family + "_total" if types[family] == "counter" else family
        assert m["name"] == want, f"{m['name']} in family {family}"
        series = out[(m["name"], m["cloud"])]
        ts, value = float(m["ts"]), float(m["value"])
        assert not series or ts > series[-1][0], f"timestamps must increase: {line}"
        if types[family] == "counter":
            assert not series or value >= series[-1][1], f"a counter went down: {line}"
        series.append((ts, value))
    return out


def test_counters_add_up_to_the_timeline(tmp_path: Path) -> None:
    load_dir = tmp_path / "load"
    write_run(load_dir, LoadSpec(rate_per_s=30, duration_s=20), seconds=20)
    series = parse(openmetrics.write_openmetrics(load_dir).read_text())
    timeline = json.loads((load_dir / "timeline.json").read_text())
    for counter in aggregate.COUNTERS:
        name = f"riftdrill_load_{counter}_total"
        total = sum(series[(name, c)][-1][1] for c in ("aws", "gcp"))
        assert total == sum(r[counter] for r in timeline), counter
        # every second of the timeline, stamped at its end
        assert [ts for ts, _ in series[(name, "aws")]] == [r["t"] + 1 for r in timeline]
    assert series[("riftdrill_load_acked_total", "gcp")][0] == (T0 + 1, 11)


def test_latency_gauges_are_seconds_and_lag_is_there(tmp_path: Path) -> None:
    load_dir = tmp_path / "load"
    write_run(load_dir, LoadSpec(rate_per_s=30, duration_s=5), seconds=5)
    series = parse(openmetrics.write_openmetrics(load_dir).read_text())
    ack_max = series[("riftdrill_load_ack_latency_max_seconds", "aws")]
    assert abs(ack_max[0][1] - 0.001009) < 1e-5  # second 0: (0+1) ms + up to 9 us
    assert series[("riftdrill_load_consumer_lag_messages", "aws")][-1] == (T0 + 5, 4)
    assert ("riftdrill_load_e2e_latency_p99_seconds", "gcp") in series
    # the main threads' CPU and run-queue wait, as second counters summed over the run
    assert series[("riftdrill_load_main_cpu_seconds_total", "gcp")][-1] == (T0 + 5, 0.255)
    assert series[("riftdrill_load_main_wait_seconds_total", "aws")][-1] == (T0 + 5, 0.004)
