"""The figures README.md and docs/*.md quote, generated from the committed results/.

A document holds named blocks between markers; everything between them is generated:

    <!-- figures:bench -->
    ... written by `riftdrill report --figures` (`make figures`) ...
    <!-- /figures:bench -->

Blocks (see docs/report.md):
- `bench`: every results/bench/*.json: lab deploy/destroy/RSS, load msg/s and the ratio to Kafka's
  ProducerPerformance, ledger overhead, verifier records/s, one drill end to end, engine latency
  and broker replacement; each says how it was measured and, with several samples, the spread.
- `drill-bench`: results/bench/drill.json alone.
- `suites`: one line per engine/topology/target: the newest suite's verdicts and losses.
- `suite` (kafka) and `suite-<engine>`: the newest suite of that engine, one row per drill.
- `compare`: the newest results/compare/<id>/compare.json, with its broker replacements.

A suite is the newest run of each experiment among the runs of one engine, topology and target
(a `make drills` writes one run per experiment). Loading (`load_results`) is the only part that
reads files; the renderers are pure functions of what it loaded, so the same results always
give the same text (no clock, no absolute paths).
"""

from __future__ import annotations

import functools
import json
import os
import re
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from riftdrill.chaos import calibrate
from riftdrill.chaos import slo as slo_mod
from riftdrill.deploy import ENGINES
from riftdrill.errors import RiftdrillError
from riftdrill.load.overhead import paired_overhead
from riftdrill.report import columns
from riftdrill.report.compare import CompareDoc, load_compare
from riftdrill.report.runs import RunData, RunInputError, load_run, run_dirs

MISSING = columns.MISSING
BENCHES = ("lab", "load", "verify", "drill", "engines", "scale", "memory")
ENGINE_ORDER = ENGINES  # the lab's engines, in its order; any other engine sorts after them
# The verdict columns the drill tables show, with the reports' own headings and formats.
SHOWN_KEYS = ("lost", "inconsistent_offset", "duplicates", "failed_send_ratio")
SHOWN_COLUMNS = tuple(c for c in columns.VERDICT_COLUMNS if c.key in SHOWN_KEYS)
MARKER = re.compile(r"<!--\s*(/?)figures:([^\s>]*)\s*-->")


class FiguresError(RiftdrillError):
    """A document's figure markers are broken or name an unknown block."""


# ---- loading -------------------------------------------------------------------------------

@dataclass
class Results:
    """Everything the blocks are made from, read once from a results directory."""

    bench: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> bench JSON
    bench_problems: dict[str, str] = field(default_factory=dict)  # name -> why it is not shown
    runs: list[RunData] = field(default_factory=list)
    unreadable_runs: list[str] = field(default_factory=list)  # directory names
    compares: list[CompareDoc] = field(default_factory=list)
    unreadable_compares: list[str] = field(default_factory=list)
    slo: slo_mod.SloFile = field(default_factory=slo_mod.SloFile)  # results/../slo.yaml


def load_results(root: Path) -> Results:
    """Bench JSONs, readable runs and comparisons under `root` (results/); unreadable ones are
    counted by name, never fatal."""
    res = Results()
    for name in BENCHES:
        path = root / "bench" / f"{name}.json"
        try:
            value = json.loads(path.read_text())
        except FileNotFoundError:
            res.bench_problems[name] = "missing"
            continue
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            res.bench_problems[name] = "not readable JSON"
            continue
        if isinstance(value, dict):
            res.bench[name] = value
        else:
            res.bench_problems[name] = "not a JSON object"
    for d in run_dirs(root / "runs"):
        try:
            res.runs.append(load_run(d))
        except RunInputError:
            res.unreadable_runs.append(d.name)
    for d in run_dirs(root / "compare"):
        try:
            res.compares.append(load_compare(d))
        except RunInputError:
            res.unreadable_compares.append(d.name)
    res.slo = slo_mod.load(root.parent / "slo.yaml")  # absent: no bounds
    return res


# ---- small formatting helpers --------------------------------------------------------------

def _num(v: Any) -> float | None:
    """A JSON number as float; None for anything else (bools, strings, null)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v)


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def _g(v: float | None, unit: str = "") -> str:
    """3 significant figures below 100, whole numbers above; "—" for None."""
    if v is None:
        return MISSING
    text = str(round(v)) if abs(v) >= 100 else f"{v:.3g}"
    return f"{text}{unit}"


def _k(v: float | None) -> str:
    """A rate in thousands, or millions from 1M: 51447.0 -> 51.4k, 3521127 -> 3.52M."""
    if v is None:
        return MISSING
    return f"{v / 1e6:.2f}M" if abs(v) >= 1e6 else f"{v / 1000:.1f}k"


def _pct(v: float | None) -> str:
    return MISSING if v is None else f"{v * 100:.1f} %"


def _mib(b: float | None) -> str:
    return MISSING if b is None else "0 MiB" if b == 0 else f"{b / 2**20:.1f} MiB"


def _date(iso: Any) -> str:
    return iso[:10] if isinstance(iso, str) and len(iso) >= 10 else MISSING


def _hhmm(iso: str) -> str:
    return iso[11:16] if len(iso) >= 16 else iso


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(headings: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(headings) + " |", "|" + "---|" * len(headings)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _samples(values: Any) -> list[float]:
    if not isinstance(values, list):
        return []
    return [f for f in (_num(v) for v in values) if f is not None]


def spread(published: float | None, samples: Sequence[float],
           fmt: Callable[[float | None], str], unit: str = "") -> str:
    """How `published` relates to its samples: "median of 3 runs, 25.3k-51.9k", "1 run"."""
    n = len(samples)
    if n == 0:
        return "1 run" if published is not None else ""
    if n == 1:
        return "1 run"
    lo, hi = min(samples), max(samples)
    if lo == hi:
        return f"{n} runs, all {fmt(lo)}{unit}"
    stat = ""
    if published is not None:
        if published == statistics.median(samples):
            stat = "median of "
        elif published == lo:
            stat = "min of "
        elif published == hi:
            stat = "max of "
    return f"{stat}{n} runs, {fmt(lo)}-{fmt(hi)}{unit}"


def _measured(bench: dict[str, Any], file: str) -> str:
    parts = [f"`results/bench/{file}.json`", f"measured {_date(bench.get('measured_at'))}"]
    # The bench's own reading (taken when it measured) before the host's (taken at the end).
    load = _get(bench, "host", "load_average")
    load1 = _num(bench.get("load_avg_1m"))
    if load1 is None and isinstance(load, list) and load:
        load1 = _num(load[0])
    if load1 is not None:
        parts.append(f"1-min load average {load1:.1f}")
    return "; ".join(parts)


def _host(h: Any) -> str | None:
    if not isinstance(h, dict):
        return None
    cores, mem, kernel = _num(h.get("cores")), _num(h.get("memory_gib")), h.get("kernel")
    if cores is None and mem is None:
        return None
    text = f"{_g(cores)} cores, {_g(mem)} GiB"
    return text + (f", kernel {kernel}" if isinstance(kernel, str) and kernel else "")


# ---- bench ---------------------------------------------------------------------------------

def _bench_lab(b: dict[str, Any]) -> str:
    runs = _list(b.get("runs"))
    goals = _dict(b.get("goals"))

    def figure(key: str, unit: str, what: str) -> str:
        v = _num(b.get(key))
        samples = [f for f in (_num(_get(r, key)) for r in runs) if f is not None]
        extra = [s for s in (spread(v, samples, _g, unit),
                             f"goal at most {_g(_num(goals.get(key)), unit)}"
                             if _num(goals.get(key)) is not None else "") if s]
        return f"{what}: {_g(v, unit)}" + (f" ({'; '.join(extra)})" if extra else "")

    lab = f"; {b['lab']}" if isinstance(b.get("lab"), str) else ""
    return (f"- **Lab** ({_measured(b, 'lab')}{lab}): "
            + figure("deploy_s", " s", "deploy with warm caches until a round trip succeeds in "
                                       "every cloud")
            + "; " + figure("destroy_s", " s", "destroy")
            + "; " + figure("peak_lab_rss_gib", " GiB", "peak resident memory of every process "
                                                      "in the lab's namespaces") + "."
            + _bench_wan(_dict(b.get("wan"))))


def _bench_wan(w: dict[str, Any]) -> str:
    """The link's emulator and its cost (bench.bench_wan), as a sentence after the lab's."""
    if not w:
        return ""
    rtt = _dict(w.get("rtt_ms"))

    def rate(key: str) -> str:
        runs = [v for v in (_num(x) for x in _list(w.get(f"{key}_runs_mbit_s"))) if v is not None]
        v = _num(w.get(f"{key}_mbit_s"))
        return f"{_g(v, ' Mbit/s')} ({spread(v, runs, _g, ' Mbit/s')})"

    return (f" The cross-cloud link (profile `{w.get('profile')}`: {w.get('weather')}): "
            f"measured round trip {_g(_num(rtt.get('median_ms')), ' ms')} (median of "
            f"{_g(_num(rtt.get('samples')))} TCP ping-pongs, {_g(_num(rtt.get('min_ms')))}-"
            f"{_g(_num(rtt.get('max_ms')), ' ms')}); one TCP stream across it "
            f"{rate('deployed_weather')} with that weather, {rate('emulator_no_weather')} "
            f"through the emulator with no weather and {rate('bypassed')} with the emulator "
            f"bypassed: the emulator's own cost {_g(_num(w.get('emulator_cost_pct')), ' %')} of "
            f"throughput ({w.get('how')}).")


def _settings(s: dict[str, Any]) -> str:
    size, batch = _num(s.get("size_bytes")), _num(s.get("batch_size"))
    parts = [f"{_g(size / 1024)} KiB records" if size is not None else "",
             f"acks={s['acks']}" if isinstance(s.get("acks"), str) else "",
             f"{_g(_num(s.get('partitions')))} partitions" if _num(s.get("partitions")) else "",
             f"RF {_g(_num(s.get('replication_factor')))}" if _num(s.get("replication_factor"))
             else "",
             f"linger {_g(_num(s.get('linger_ms')), ' ms')}" if _num(s.get("linger_ms")) else "",
             f"batch {_g(batch / 1024)} KiB" if batch is not None else ""]
    return ", ".join(p for p in parts if p)


def _paren(parts: Sequence[str]) -> str:
    shown = [p for p in parts if p]
    return f" ({'; '.join(shown)})" if shown else ""


def _per_round(values: list[float], fmt: Callable[[float | None], str]) -> str:
    return f"per round {', '.join(fmt(v) for v in values)}" if len(values) > 1 else "1 round"


def _ratio_text(r: Any, goal: float | None) -> str:
    per = _samples(_get(r, "per_round"))
    median = _num(_get(r, "median"))
    parts = [f"median of {len(per)} rounds, {_g(min(per))}-{_g(max(per))}" if len(per) > 1
             else "1 round" if per else "",
             f"goal at least {_g(goal)}" if goal is not None else ""]
    return f"{_g(median)}{_paren(parts)}"


def _lower_bounds(searches: list[Any]) -> str:
    """The rounds whose search passed at its first, highest rate: not searched higher."""
    names = {"riftdrill": "riftdrill", "kafka_perf": "ProducerPerformance"}
    capped = [f"{names.get(str(_get(s, 'tool')), str(_get(s, 'tool')))} in round "
              f"{_g(_num(_get(s, 'round')))}" for s in searches
              if _num(_get(s, "best_per_s")) is not None
              and _num(_get(s, "best_per_s")) == _num(_get(s, "ceiling_per_s"))]
    return (f"; a lower bound for {', '.join(capped)}: it passed at its saturation rate, the "
            "search's start" if capped else "")


def _bench_load(b: dict[str, Any]) -> list[str]:
    settings = _dict(b.get("settings"))
    lab = _dict(b.get("lab"))
    lfl = _dict(b.get("like_for_like"))
    where = f" in {b['cloud']}" if isinstance(b.get("cloud"), str) else ""
    lines: list[str] = []
    if lfl:
        wan = _list(lab.get("wan"))
        on = ", ".join(p for p in [
            f"{lab['engine']} {lab['topology']}" if lab.get("engine") else "",
            f"WAN {', '.join(str(w) for w in wan)}" if wan else "",
            f"security {lab['security']}" if lab.get("security") else ""] if p)
        goal = _num(lfl.get("ratio_goal"))
        best, sat = _dict(lfl.get("max_sustainable_rate")), _dict(lfl.get("saturation"))
        ours_best, theirs_best = _samples(best.get("riftdrill")), _samples(best.get("kafka_perf"))
        ours_sat, theirs_sat = _samples(sat.get("riftdrill")), _samples(sat.get("kafka_perf"))
        trial_s = _num(lfl.get("trial_s"))
        lines += [
            f"- **Load generator, like for like** ({_measured(b, 'load')}): one riftdrill producer "
            f"process and Kafka's `ProducerPerformance`{where}, on the same lab ({on}) and topic, "
            f"same producer settings ({_settings(settings)}, idempotence on), "
            f"{_g(_num(lfl.get('rounds')))} rounds with the order alternating. Both judged from "
            "the topic: each record's CreateTime (its send call) against its due time on the "
            "uniform schedule.",
            "  - Highest rate with p99 publish delay under 5 ms, acks keeping pace (at least 99 % "
            "of the rate) and 99.9 % of the records in the topic"
            + (f" ({_g(trial_s, ' s')} runs, {_g(_num(lfl.get('steps')))}-step bisection)"
               if trial_s is not None else "")
            + f": riftdrill {_k(statistics.median(ours_best)) if ours_best else MISSING} msg/s "
            f"({_per_round(ours_best, _k)}), ProducerPerformance "
            f"{_k(statistics.median(theirs_best)) if theirs_best else MISSING} msg/s "
            f"({_per_round(theirs_best, _k)})" + _lower_bounds(_list(lfl.get("searches")))
            + ". Ratio riftdrill / ProducerPerformance: "
            + _ratio_text(_get(best, "ratio"), goal) + ".",
            f"  - Saturation, mean acks/s of the 1-s windows (first and last left out) for both: "
            f"riftdrill {_k(statistics.median(ours_sat)) if ours_sat else MISSING} msg/s "
            f"({_per_round(ours_sat, _k)}), ProducerPerformance "
            f"{_k(statistics.median(theirs_sat)) if theirs_sat else MISSING} msg/s "
            f"({_per_round(theirs_sat, _k)}). Ratio: " + _ratio_text(_get(sat, "ratio"), goal)
            + ".",
        ]
    else:
        lines.append(f"- **Load generator** ({_measured(b, 'load')}): no like-for-like figures "
                     "in this file (written before they existed); `make bench` measures them.")
    pairs = _get(b, "runs", "ledger_pairs")
    with_l, without = _samples(_get(pairs, "with")), _samples(_get(pairs, "without"))
    overhead = _ledger_overhead(b, with_l, without)
    if overhead is not None:
        lines.append(overhead)
    return lines


def _ledger_overhead(b: dict[str, Any], with_l: list[float], without: list[float]) -> str | None:
    """The ledger overhead line: recomputed from the file's raw pairs (load/overhead.py) when
    it has them, so the figure cannot drift from the measurements; else the file's number."""
    goal = _num(b.get("ledger_overhead_goal"))
    no_ledger = _num(_get(b, "runs", "riftdrill_no_ledger", "msgs_per_s"))
    try:
        paired = paired_overhead(with_l, without) if with_l else None
    except ValueError:
        paired = None
    if paired is not None and len(paired.pairs) > 1:
        how = (f"the median of {len(paired.pairs)} alternating on/off pairs' own overheads "
               "(1 - msg/s with the ledger / without, per pair)")
        figure = _pct(paired.median)
        parts = [f"pairs {', '.join(_pct(p) for p in paired.pairs)}",
                 f"spread {_pct(paired.min)} to {_pct(paired.max)}"]
    else:
        published = _num(b.get("ledger_overhead"))
        if published is None:
            return None
        how, figure, parts = "1 - (msg/s with the ledger / without)", _pct(published), []
    parts.append(f"goal at most {_pct(goal)}" if goal is not None else "")
    return (f"- **Ledger overhead** (same bench): {how}: {figure}{_paren(parts)}"
            f"; without the ledger {_k(no_ledger)} msg/s{_paren([spread(no_ledger, without, _k)])}.")


def _bench_verify(b: dict[str, Any]) -> list[str]:
    rps, cpu = _num(b.get("records_per_s")), _num(b.get("records_per_cpu_s"))
    records = _num(b.get("records"))
    lines = [f"- **Verifier, the checker alone** ({_measured(b, 'verify')}): grouping and checking "
             + (f"{_g(records)} " if records is not None else "")
             + "synthetic acks against synthetic reads in memory (no Kafka, no ledger files): "
             f"{_k(rps)} records/s wall clock, {_k(cpu)} per CPU-second "
             f"({spread(rps, _samples(b.get('runs_records_per_s')), _k)})."]
    by_reader = _dict(b.get("end_to_end_by_reader"))
    if by_reader:
        lines.append(_bench_verify_end_to_end(b, by_reader))
        return lines
    e2e = b.get("end_to_end_records_per_s")
    samples = _samples(e2e) or _samples(b.get("end_to_end_runs"))
    value = _num(e2e) if not isinstance(e2e, list) else statistics.median(samples) if samples else None
    if value is not None:
        how = b.get("end_to_end_how")
        lines.append("- **Verifier, end to end** (same bench"
                     + (f"; {how}" if isinstance(how, str) and how else "")
                     + f"): {_k(value)} records/s ({spread(value, samples, _k)}).")
    return lines


_READER_TEXT = {"native": "raw fetch + native decoder (the default)",
                "librdkafka": "librdkafka"}


def _bench_verify_end_to_end(b: dict[str, Any], by_reader: dict[str, Any]) -> str:
    """verify_run on records produced into the lab, per replay reader (median, range)."""
    records, size = _num(b.get("end_to_end_records")), _num(b.get("end_to_end_record_bytes"))
    what = (f"{_g(records)} records of {_g(size, ' B')}" if records is not None else "records")
    where = ", ".join(x for x in (
        str(b.get("end_to_end_engine") or ""),
        f"RF {_g(_num(b.get('end_to_end_replication_factor')))}"
        if _num(b.get("end_to_end_replication_factor")) is not None else "",
        f"{_g(_num(b.get('end_to_end_partitions')))} partitions"
        if _num(b.get("end_to_end_partitions")) is not None else "") if x)
    parts = []
    default = str(b.get("end_to_end_reader") or "")
    for reader, fig in sorted(by_reader.items(), key=lambda kv: kv[0] != default):
        fig = _dict(fig)
        times = [t for t in (_num(_get(x, "s")) for x in _list(fig.get("trials"))) if t is not None]
        rate = _num(fig.get("median_records_per_s"))
        text = _READER_TEXT.get(reader, reader)
        if reader == "librdkafka" and _num(b.get("end_to_end_librdkafka_workers")) is not None:
            text += f" in {_g(_num(b.get('end_to_end_librdkafka_workers')))} processes"
        parts.append(f"replay with {text}: {_k(rate)} records/s (median of {len(times)} runs, "
                     f"{_g(min(times), ' s') if times else MISSING}-"
                     f"{_g(max(times), ' s') if times else MISSING} per run)")
    phases = [(name, _num(b.get(f"end_to_end_{name}_s"))) for name in ("ledger", "replay", "check")]
    phase_text = ("; the median run's phases: " + ", ".join(
        f"{name} {_g(v, ' s')}" for name, v in phases if v is not None)
        + " (ledger reading overlaps the replay)") if any(v is not None for _, v in phases) else ""
    load = [_num(b.get("end_to_end_load_avg_1m_before")), _num(b.get("end_to_end_load_avg_1m_after"))]
    load_text = (f"; 1-min load average {_g(load[0])} before, {_g(load[1])} after"
                 if all(x is not None for x in load) else "")
    return (f"- **Verifier, end to end** (same bench): `verify_run` on {what} produced into the "
            f"lab ({where}): ledger read, fence, replay to the fence, check{load_text}. "
            + "; ".join(parts) + phase_text + ".")


def _millions(n: float | None) -> str:
    return MISSING if n is None else f"{n / 1e6:g}M"


def _cpu_range(run: dict[str, Any]) -> str:
    cpu = [c for c in (_num(_get(t, "cpu_s")) for t in _list(run.get("trials"))) if c is not None]
    return f"; {len(cpu)} checks, {_g(min(cpu))}-{_g(max(cpu), ' s')}" if len(cpu) > 1 else ""


def _bench_scale(b: dict[str, Any]) -> list[str]:
    """scale.json: the checker's CPU per record at each size, and the ledgers' bytes."""
    checker = _dict(b.get("checker"))
    runs = [_dict(r) for r in _list(checker.get("runs"))]
    lines = []
    if runs:
        sizes = "; ".join(f"{_millions(_num(r.get('records')))} records: "
                          f"{_g(_num(r.get('cpu_s')), ' s')} CPU "
                          f"({_g(_num(r.get('cpu_us_per_record')), ' µs')} per record"
                          f"{_cpu_range(r)})" for r in runs)
        ratio = _num(checker.get("per_record_ratio"))
        lines.append(f"- **How the checker scales** ({_measured(b, 'scale')}; the synthetic "
                     f"run above, the median check at each size): {sizes}; per-record cost at "
                     f"the largest size {_g(ratio)} times the smallest's (at most about 1: "
                     "linear or better).")
    ledgers = _dict(b.get("ledger_bytes_per_million_records"))
    if ledgers:
        lines.append("- **Ledger bytes per million records** (same bench, the real writers): "
                     f"producer {_mib(_num(ledgers.get('producer_ledger')))}, consumer "
                     f"{_mib(_num(ledgers.get('consumer_ledger')))} (fixed-size entries).")
    return lines


def _flatness(flat: object) -> str:
    return "; flat" if flat is True else "; grows" if flat is False else ""


def _bench_memory(b: dict[str, Any]) -> list[str]:
    """memory.json: the load's resident set over each hour-long run, per process."""
    def mib(f: dict[str, Any], key: str, unit: str = " MiB") -> str:
        return _g(_num(f.get(key)), unit)

    runs = _dict(b.get("runs"))
    flat_bound = _num(b.get("flat_mib_per_h"))
    lines = [f"- A load process counts as **flat** over an hour when its resident set grows at "
             f"most {_g(flat_bound, ' MiB/h')} after warm-up (least squares)."] if flat_bound else []
    for run_id in sorted(runs):
        r = _dict(runs[run_id])
        procs = {str(name): _dict(f) for name, f in _dict(r.get("processes")).items()}
        each = "; ".join(
            f"{name} {mib(f, 'first_mib')} at start, {mib(f, 'max_mib')} at most, "
            f"{mib(f, 'last_mib')} at the end, {mib(f, 'slope_mib_per_h', ' MiB/h')} "
            f"(± {mib(f, 'residual_mib')}; {mib(f, 'last_half_slope_mib_per_h', ' MiB/h')} "
            "over the second half"
            + (_flatness(f.get("flat")) if flat_bound else "")
            + ")" for name, f in sorted(procs.items()))
        span = max((_num(f.get("span_s")) or 0.0 for f in procs.values()), default=0.0)
        heap = {str(c): _dict(h) for c, h in _dict(r.get("heap")).items()}
        trims = "; ".join(
            f"{cloud} ({h.get('allocator') or 'glibc'}) {_g(_num(h.get('trims')))} trims, "
            f"in use "
            f"{mib(h, 'in_use_first_mib')} -> {mib(h, 'in_use_last_mib')} "
            f"({mib(h, 'in_use_slope_mib_per_h', ' MiB/h')}), a trim gave back "
            f"{mib(h, 'returned_median_mib')} (median; at most {mib(h, 'returned_max_mib')})"
            for cloud, h in sorted(heap.items()))
        lines.append(f"- **The load's memory over {_g(round(span / 60), ' min')}** "
                     f"({_measured(b, 'memory')}; run `{run_id}`, {r.get('engine') or '?'}; "
                     f"{b.get('method') or 'VmRSS samples'}): {each}. "
                     + (f"Its Locust processes trimmed their C heap: {trims}." if trims else
                        "A run from before the load trimmed its C heap."))
    return lines


def _bench_drill(b: dict[str, Any]) -> str:
    p = _dict(b.get("params"))
    drill = b.get("drill") if isinstance(b.get("drill"), str) else "?"
    knobs = [f"{k.removesuffix('_s')} {_g(_num(p.get(k)), ' s')}"
             for k in ("hold_s", "baseline_s", "recovery_s") if _num(p.get(k)) is not None]
    if _num(p.get("rate")) is not None:
        knobs.append(f"{_g(_num(p.get('rate')))} rec/s")
    windows = [_num(p.get(k)) for k in ("baseline_s", "hold_s", "recovery_s")]
    wall, chaos = _num(b.get("wall_s")), _num(b.get("chaos_s"))
    verify = _dict(b.get("verify"))
    lost, acks = _num(_get(verify, "counts", "lost")), _num(verify.get("acks"))
    passed = b.get("passed")
    verdict = "passed" if passed is True else "failed" if passed is False else "verdict not recorded"
    text = (f"`{drill}` on the default lab ({', '.join(knobs)}): {_g(wall, ' s')} wall clock, of "
            f"which `chaos run` {_g(chaos, ' s')}")
    if all(w is not None for w in windows):
        text += (f" ({_g(sum(w for w in windows if w is not None), ' s')} of it the drill's own "
                 "baseline, hold and recovery)")
    if wall is not None and chaos is not None:
        text += (f", and {_g(wall - chaos, ' s')} outside it (the runner's own steps: verify, "
                 "recovery figures, verdict)")
    text += f"; {verdict}, lost {_g(lost)} of {_g(acks)} acks (1 run"
    run_id = b.get("run_id")
    text += f": {run_id})." if isinstance(run_id, str) else ")."
    return text + _wall_vs_hold(_dict(b.get("wall_vs_hold")))


def _wall_vs_hold(w: dict[str, Any]) -> str:
    """The drill again at other holds: each hold's wall time, and the fitted line."""
    runs = [_dict(r) for r in _list(w.get("runs"))]
    if not runs:
        return ""
    each = ", ".join(f"hold {_g(_num(r.get('hold_s')), ' s')}: {_g(_num(r.get('wall_s')), ' s')}"
                     + ("" if r.get("passed") is True else " (failed)") for r in runs)
    per_step = {str(k): _num(v) for k, v in _dict(w.get("step_slopes")).items()}
    slopes = {k: v for k, v in per_step.items() if v is not None and abs(v) >= 0.25}
    growing = ", ".join(f"{name} {_g(v, ' s')}" for name, v in
                        sorted(slopes.items(), key=lambda kv: -abs(kv[1])))
    return (f" At other holds, one run each: {each}; least-squares wall = "
            f"{_g(_num(w.get('fixed_s')), ' s')} + {_g(_num(w.get('slope')))} times the hold (a slope "
            "near 1: a longer hold costs only its own seconds)."
            + (f" Per second of hold, by step (least squares over the runs' chaos journals; "
               f"steps under 0.25 s left out): {growing}." if growing else ""))


def _bench_engines(b: dict[str, Any]) -> list[str]:
    engines = _dict(b.get("engines"))
    load = b.get("load") if isinstance(b.get("load"), str) else "the same load"
    warmup = _num(b.get("warmup_s"))
    rows = []
    for name in _engine_sorted(engines):
        e = engines[name] if isinstance(engines[name], dict) else {}
        version = e.get("engine_version") if isinstance(e.get("engine_version"), str) else ""
        acked, target = _num(e.get("acked_per_s")), _num(e.get("target_rate_per_s"))
        rows.append([f"{name} {version}".strip(),
                     _g(acked) + (f" of {_g(target)}" if target is not None else ""),
                     _g(_num(e.get("failed"))), _g(_num(e.get("ack_p50_ms"))),
                     _g(_num(e.get("ack_p99_ms"))), _g(_num(e.get("broker_replacement_s"))),
                     _mib(_num(e.get("broker_replacement_bytes_moved")))])
    head = (f"- **Engines** ({_measured(b, 'engines')}): each engine on a fresh lab, after a "
            + (f"{_g(warmup, ' s')} " if warmup is not None else "")
            + f"warm-up on the bench topic: {load}; then one broker killed and replaced by a fresh "
            "one with an empty disk, timed until it serves again. 1 run per engine:")
    return [head, "", *("  " + line for line in _table(
        ["engine", "acked/s", "failed", "ack p50 ms", "ack p99 ms", "broker replacement s",
         "data copied"], rows))]


def render_bench(res: Results) -> str:
    """Every bench JSON: what was measured, how, and the spread where there are samples."""
    hosts = {h for b in res.bench.values() if (h := _host(b.get("host"))) is not None}
    lines = ["Benchmarks (`make bench`, `results/bench/*.json`)"
             + (f", on {hosts.pop()}" if len(hosts) == 1 else
                f", on {len(hosts)} different hosts: {'; '.join(sorted(hosts))}" if hosts else "")
             + ". Each figure names its file, the day it was measured and, where recorded, the "
             "machine's load then; several samples are shown as their spread.", ""]
    b = res.bench
    if "lab" in b:
        lines.append(_bench_lab(b["lab"]))
    if "load" in b:
        lines += _bench_load(b["load"])
    if "verify" in b:
        lines += _bench_verify(b["verify"])
    if "scale" in b:
        lines += _bench_scale(b["scale"])
    if "memory" in b:
        lines += _bench_memory(b["memory"])
    if "drill" in b:
        lines.append(f"- **One drill end to end** ({_measured(b['drill'], 'drill')}): "
                     + _bench_drill(b["drill"]))
    for name, why in sorted(res.bench_problems.items()):
        lines.append(f"- `results/bench/{name}.json`: {why}, not shown.")
    if "engines" in b:  # last: it ends with a table
        lines += _bench_engines(b["engines"])
    return "\n".join(lines)


def render_load_bench(res: Results) -> str:
    """The bench block's load lines alone, for docs/load.md's Benchmark section."""
    b = res.bench.get("load")
    if b is None:
        return f"`results/bench/load.json`: {res.bench_problems.get('load', 'missing')}."
    return "\n".join(_bench_load(b))


def render_drill_bench(res: Results) -> str:
    b = res.bench.get("drill")
    if b is None:
        return f"`results/bench/drill.json`: {res.bench_problems.get('drill', 'missing')}."
    return f"Measured ({_measured(b, 'drill')}): " + _bench_drill(b)


# ---- suites --------------------------------------------------------------------------------

def _engine_sorted(names: Iterable[str]) -> list[str]:
    return sorted(set(names), key=lambda n: (ENGINE_ORDER.index(n) if n in ENGINE_ORDER
                                            else len(ENGINE_ORDER), n))


@dataclass
class Suite:
    engine: str
    topology: str
    target: str
    runs: list[RunData]  # the newest run of each experiment, in the order they started
    profile: str = ""  # the producer contract the runs held ("" for runs from before it)
    hold_s: str = ""  # the drill timing profile: `make drills` holds 20 s, drill defaults 30-60
    security: str = "off"  # the lab's security mode (params.security; off before it was recorded)

    @property
    def label(self) -> str:
        versions = sorted({r.summary.engine_version for r in self.runs if r.summary.engine_version})
        parts = (f"{self.engine} {'/'.join(versions)}".strip(), self.topology,
                 f"target {self.target}" if self.target else "",
                 f"{self.profile} producers" if self.profile else "",
                 f"hold {self.hold_s} s" if self.hold_s else "", f"security {self.security}")
        return ", ".join(x for x in parts if x)

    @property
    def newest(self) -> str:
        return max(r.summary.started_at for r in self.runs)


SUITE_MIN_DRILLS = 3  # fewer alike runs are single drills, not a suite: results/index.md lists them


SuiteKey = tuple[str, str, str, str, str, str]


def _suite_key(run: RunData) -> SuiteKey:
    """Runs are only one suite when they are alike: same engine, topology, target, producer
    contract, timing profile (a comparison's runs hold longer than `make drills`') and
    security mode (a TLS + SASL reconnect takes longer)."""
    s = run.summary
    profile = _get(s.verify, "contract", "profile") or ""
    hold = _get(s.params, "hold_s")
    return (s.engine, s.topology, s.target, str(profile),
            "" if hold is None else f"{hold:g}" if isinstance(hold, int | float) else str(hold),
            str(s.params.get("security") or "off"))


def suites(runs: Sequence[RunData]) -> list[Suite]:
    """One suite per kind of run (`_suite_key`): the newest run of each experiment."""
    newest: dict[SuiteKey, dict[str, RunData]] = {}
    for run in sorted(runs, key=lambda r: (r.summary.started_at, r.run_id)):
        newest.setdefault(_suite_key(run), {})[run.summary.experiment] = run
    out = [Suite(e, t, g, sorted(by_exp.values(), key=lambda r: (r.summary.started_at, r.run_id)),
                 profile, hold, security)
           for (e, t, g, profile, hold, security), by_exp in newest.items()]
    order = {n: i for i, n in enumerate(_engine_sorted(s.engine for s in out))}
    return sorted(out, key=lambda s: (order[s.engine], s.topology, s.target, s.profile,
                                      s.hold_s, s.security))


def newest_suite(runs: Sequence[RunData], engine: str) -> Suite | None:
    """The suite of `engine` whose newest run is the newest, among groups of at least
    SUITE_MIN_DRILLS drills when there are any (a lone drill is not a suite)."""
    mine = [s for s in suites(runs) if s.engine == engine]
    full = [s for s in mine if len(s.runs) >= SUITE_MIN_DRILLS]
    return max(full or mine, key=lambda s: s.newest) if mine else None


def _verdict(run: RunData) -> str:
    v = run.summary.verdict
    return MISSING if v is None else "pass" if v.passed else "FAIL"


def _first_ack(run: RunData) -> str:
    rec = run.summary.recovery
    if rec is None:
        return MISSING
    if rec.worst_time_to_first_ack_s is None:
        # a cloud whose sends after the fault never got an ack: measured, and never came back
        return "never" if any(v is None for v in rec.time_to_first_ack_s.values()) else MISSING
    return _g(rec.worst_time_to_first_ack_s)


def _unavailable(run: RunData) -> tuple[str, str]:
    rec = run.summary.recovery
    if rec is None:
        return MISSING, MISSING
    per_cloud = " / ".join(f"{c} {_g(u)}" for c, u in sorted(rec.unavailability_s.items()))
    return _g(rec.worst_unavailability_s), per_cloud or MISSING


def _worst_partition(run: RunData) -> str:
    """"9.7 (3 affected, drill-x[2]@gcp)": the worst partition as its producers saw it."""
    rec = run.summary.recovery
    if rec is None or rec.worst_partition_unavailability_s is None:
        return MISSING
    where = f", {rec.worst_partition}" if rec.worst_partition else ""
    return (f"{_g(rec.worst_partition_unavailability_s)} ({rec.partitions_affected} affected"
            f"{where})")


def _errors(run: RunData) -> str:
    rec = run.summary.recovery
    if rec is None:
        return MISSING
    codes = sorted(rec.errors_by_code.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{n} {code}" for code, n in codes) if codes else "0"


def _drill(run: RunData) -> str:
    p = run.summary.params
    parts = [f"{k} {p[k]}" for k in ("broker", "cloud", "store") if isinstance(p.get(k), str)]
    if isinstance(p.get("direction"), str) and p["direction"] != "both":
        parts.append(f"direction {p['direction']}")
    if _num(p.get("cycles")) is not None:
        parts.append(f"{_g(_num(p.get('cycles')))} x ({_g(_num(p.get('down_s')), ' s')} down, "
                     f"{_g(_num(p.get('up_s')), ' s')} up)")
    elif _num(p.get("hold_s")) is not None:
        parts.append(f"hold {_g(_num(p.get('hold_s')), ' s')}")
    return run.summary.experiment + (f" ({', '.join(parts)})" if parts else "")


# What every run of a suite shares, said once above its table: (label, getter).
_COMMON: tuple[tuple[str, Callable[[RunData], Any]], ...] = (
    ("rec/s", lambda r: _num(r.summary.params.get("rate"))),
    ("KiB records", lambda r: (lambda v: v / 1024 if v is not None else None)(
        _num(r.summary.params.get("size")))),
    ("partitions", lambda r: _num(r.summary.params.get("partitions"))),
    ("acks=", lambda r: _get(r.summary.params, "load", "acks")),
    ("RF", lambda r: _num(r.summary.params.get("replication_factor"))),
    ("min ISR", lambda r: _num(r.summary.params.get("min_insync_replicas"))),
    ("link weather", lambda r: r.summary.params.get("wan") or None),
    ("baseline s", lambda r: _num(r.summary.params.get("baseline_s"))),
    ("recovery s", lambda r: _num(r.summary.params.get("recovery_s"))),
    ("producers per cloud", lambda r: _num(_get(r.summary.params, "load", "producers_per_cloud"))),
    ("consumers per cloud", lambda r: _num(_get(r.summary.params, "load", "consumers_per_cloud"))
     if _get(r.summary.params, "load", "consumers") is not False else 0.0),
    ("host", lambda r: _host(r.summary.host.model_dump())),
)


def _say(label: str, v: Any) -> str:
    if label in ("host", "link weather"):
        return f"{label} {v}"
    if label.endswith("="):
        return f"{label}{v}"
    if label in ("RF", "min ISR") or label.endswith(" per cloud"):
        return f"{label} {_g(v)}"
    if label.endswith(" s"):
        return f"{label.removesuffix(' s')} {_g(v, ' s')}"
    return f"{_g(v)} {label}"


def _common(runs: Sequence[RunData]) -> tuple[list[str], list[str]]:
    same, differ = [], []
    for label, get in _COMMON:
        values = [get(r) for r in runs]
        known = [v for v in values if v is not None]
        if not known:
            continue
        distinct = sorted({str(v) for v in values})
        if len(distinct) == 1:
            same.append(_say(label, known[0]))
        else:
            differ.append(label.rstrip("= "))
    return same, differ


def _outcome(suite: Suite) -> str:
    runs = suite.runs
    passed = [r for r in runs if r.summary.verdict is not None and r.summary.verdict.passed]
    failed = [r.summary.experiment for r in runs
              if r.summary.verdict is not None and not r.summary.verdict.passed]
    text = f"{len(passed)} of {len(runs)} passed" + (f" (failed: {', '.join(failed)})"
                                                      if failed else "")
    lost = [(r.summary.experiment, columns.run_figures(r).get("lost")) for r in runs]
    unmeasured = [e for e, n in lost if n is None]
    nonzero = [f"{_g(n)} in {e}" for e, n in lost if n]
    if not nonzero and not unmeasured:
        text += "; lost 0 in every drill"
    else:
        if nonzero:
            text += f"; lost: {', '.join(nonzero)}"
        if unmeasured:
            text += f"; lost not measured in {', '.join(unmeasured)}"
    return text


def _when(suite: Suite) -> str:
    first = min(r.summary.started_at for r in suite.runs)
    last = max(r.summary.ended_at for r in suite.runs)
    day = _date(first)
    return (f"{day} {_hhmm(first)}-{_hhmm(last)} UTC" if _date(last) == day
            else f"{day} {_hhmm(first)} to {_date(last)} {_hhmm(last)} UTC")


def render_suites(res: Results) -> str:
    found = [s for s in suites(res.runs) if len(s.runs) >= SUITE_MIN_DRILLS]
    if not found:
        return "No suite of drill runs under `results/runs/`."
    lines = ["Drill runs (`results/runs/`), grouped by engine, topology, target, producer "
             "contract, fault hold (`make drills` holds every fault 20 s; `make compare` "
             "and the drill defaults 30-60 s) and security mode: the newest run of each "
             "experiment, for groups of at "
             f"least {SUITE_MIN_DRILLS} drills (every run: results/index.md). Per drill: "
             "docs/drills.md.", ""]
    for s in found:
        names = ", ".join(r.summary.experiment for r in s.runs)
        lines.append(f"- **{s.label}**: {len(s.runs)} drills ({names}), {_when(s)}: "
                     f"{_outcome(s)}.")
    return "\n".join(lines)


def render_suite(res: Results, engine: str) -> str:
    suite = newest_suite(res.runs, engine)
    if suite is None:
        return f"No readable {engine} drill runs under `results/runs/`."
    same, differ = _common(suite.runs)
    lines = [f"Newest {engine} suite: {suite.label}; the newest run of each experiment under "
             f"`results/runs/`, {len(suite.runs)} drills, {_when(suite)}."
             + (f" Every run: {', '.join(same)}." if same else "")
             + (f" Differs between drills: {', '.join(differ)} (see each run)." if differ else ""),
             "",
             "Seconds from fault start (docs/verify.md), worst over clouds unless per cloud; "
             "a partition is unavailable from the first send to it that was not acked until its "
             "next ack, a whole cloud when none of its sends was acked; "
             "send errors by librdkafka error name, from fault start to the end of the run; "
             "anomaly and failed-send columns as in the reports (docs/report.md), failed-send % "
             "over the whole run; '—': the run did not measure it; 'never': a cloud's sends "
             "after the fault got no ack before the run ended.", ""]
    rows = []
    for run in suite.runs:
        figures = columns.run_figures(run)
        worst, per_cloud = _unavailable(run)
        rows.append([_drill(run), _verdict(run), _g(run.summary.duration_s),
                     _worst_partition(run), worst, per_cloud, _first_ack(run), _errors(run),
                     *(c.cell(figures)[0] for c in SHOWN_COLUMNS), run.run_id])
    lines += _table(["drill", "verdict", "wall s", "worst partition unavailable s",
                     "unavailable s (whole cloud)", "unavailable s per cloud",
                     "first ack s", "send errors from fault start",
                     *(c.heading for c in SHOWN_COLUMNS), "run"], rows)
    lines += ["", f"{_outcome(suite)}."]
    for run in suite.runs:
        v = run.summary.verdict
        if v is not None and not v.passed and v.reasons:
            lines.append(f"- {run.summary.experiment} failed: {'; '.join(v.reasons)}")
    if res.unreadable_runs:
        lines += ["", f"{len(res.unreadable_runs)} run directories could not be read and are left "
                      "out (`riftdrill report` lists why)."]
    return "\n".join(lines)


# ---- compare -------------------------------------------------------------------------------

def newest_compare(compares: Sequence[CompareDoc]) -> CompareDoc | None:
    return max(compares, key=lambda d: (d.created_at, d.compare_id)) if compares else None


def render_compare(res: Results) -> str:
    doc = newest_compare(res.compares)
    if doc is None:
        return "No readable comparison under `results/compare/`."
    links = sorted({e.wan for e in doc.entries if e.wan})
    lines = [f"Newest comparison: `results/compare/{doc.compare_id}/` (created "
             f"{_date(doc.created_at)}" + (f"; {doc.title}" if doc.title else "") + "). Each row is "
             "one drill run of the experiment on that setup (an engine in a topology), over the "
             "cross-cloud link " + (", ".join(f"`{w}`" for w in links) if links
                                    else "of its day (not recorded)")
             + "; seconds from fault start, worst over clouds; latencies over the whole run, "
             "fault included (e2e: intended send to consumed); '—': not measured.", ""]
    rows = []
    for e in sorted(doc.entries, key=lambda e: (e.experiment, _engine_sorted([e.engine]),
                                                e.setup)):
        figures = e.model_dump()
        rows.append([e.experiment, e.setup, f"{e.engine} {e.engine_version}".strip(),
                     MISSING if e.verdict_passed is None else "pass" if e.verdict_passed else "FAIL",
                     _g(e.worst_unavailability_s), _g(e.worst_time_to_first_ack_s),
                     _g(e.ack_p50_ms), _g(e.ack_p99_ms), _g(e.e2e_p99_ms),
                     *(c.cell(figures)[0] for c in SHOWN_COLUMNS), e.run_id])
    lines += _table(["drill", "setup", "engine", "verdict", "unavailable s", "first ack s",
                     "ack p50 ms", "ack p99 ms", "e2e p99 ms",
                     *(c.heading for c in SHOWN_COLUMNS), "run"], rows)
    if doc.replacements:
        lines += ["", "Broker replacement in the same comparison: a broker killed and replaced by "
                      "a fresh one with an empty disk, timed until it serves again (1 run per "
                      "setup):", ""]
        lines += _table(["setup", "broker", "replacement s", "data copied", "serving means"],
                        [[r.setup, r.broker, _g(r.replacement_s), _mib(r.bytes_moved),
                          r.note or MISSING] for r in doc.replacements])
    others = sorted((d for d in res.compares if d is not doc),
                    key=lambda d: (d.created_at, d.compare_id), reverse=True)
    if others:
        lines += ["", "Older comparisons under `results/compare/`: " + ", ".join(
            f"`{d.compare_id}` (created {_date(d.created_at)})" for d in others) + "."]
    if res.unreadable_compares:
        lines += ["", f"{len(res.unreadable_compares)} comparisons could not be read and are left "
                      "out (`riftdrill report` lists why)."]
    return "\n".join(lines)


# ---- slo calibration -----------------------------------------------------------------------

_FIGURE_TEXT = {"max_worst_partition_unavailability_s": "worst partition unavailable s",
                "max_unavailability_s": "unavailable s (whole cloud)",
                "max_time_to_first_ack_s": "first ack s",
                "max_replication_lag_s": "replication lag s (worst record)",
                "max_failover_rto_s": "failover RTO s",
                "max_rpo_s": "failover RPO s",
                "max_change_lag_s": "hub change lag s (worst change)",
                "max_failed_send_ratio": "failed-send ratio"}


def render_slo(res: Results) -> str:
    """slo.yaml's bounds against the committed runs (riftdrill.chaos.calibrate)."""
    found = calibrate.calibrate((calibrate.run_figures(r.summary) for r in res.runs), res.slo)
    if not found:
        return "No run under `results/runs/` measured a bounded figure."
    lines = ["Every bounded figure of every committed run (`results/runs/`), against the bound "
             "`slo.yaml` gives its engine and drill at the run's hold; `riftdrill slo calibrate "
             "[--json]` prints the same. Measured: each run's figure, oldest first, with its "
             "hold. Suggested: from the runs by the rule in `src/riftdrill/chaos/calibrate.py` "
             "(1.5 x the worst, past the hold when the fault kept it waiting); a bound stays "
             "where a team needs it, and runs beyond it are findings (docs/findings.md).", ""]
    rows = [[c.engine, c.experiment, _FIGURE_TEXT.get(c.figure, c.figure),
             calibrate.measured_text(c), c.bound or "not bounded",
             f"{len(c.beyond)} of {len(c.runs)}" if c.bound else MISSING, c.suggested or MISSING]
            for c in sorted(found, key=lambda c: (_engine_sorted([c.engine]), c.engine,
                                                  c.experiment, calibrate.FIGURES.index(c.figure)))]
    lines += _table(["engine", "drill", "figure", "measured (hold s)", "bound", "runs beyond",
                     "suggested"], rows)
    return "\n".join(lines)


# ---- the blocks and the documents ----------------------------------------------------------

def _renderers() -> dict[str, Callable[[Results], str]]:
    blocks: dict[str, Callable[[Results], str]] = {
        "bench": render_bench, "drill-bench": render_drill_bench,
        "load-bench": render_load_bench, "suites": render_suites,
        "suite": lambda r: render_suite(r, "kafka"), "compare": render_compare,
        "slo": render_slo}
    for engine in ENGINE_ORDER:
        blocks[f"suite-{engine}"] = functools.partial(render_suite, engine=engine)
    return blocks


BLOCKS = _renderers()


def render_block(name: str, res: Results) -> str:
    try:
        renderer = BLOCKS[name]
    except KeyError:
        raise FiguresError(f"unknown figures block {name!r}; blocks are: "
                           f"{', '.join(sorted(BLOCKS))}") from None
    return renderer(res).strip("\n")


@dataclass(frozen=True)
class Span:
    name: str
    line: int  # of the opening marker, 1-based
    start: int  # first character after the opening marker
    end: int  # first character of the closing marker


def find_blocks(text: str, source: str = "<text>") -> list[Span]:
    """Every marked block of `text`; FiguresError (naming `source` and the line) for an unknown
    name, a marker without its closing marker, a stray closing marker or nested blocks."""
    spans: list[Span] = []
    open_: tuple[str, int, int] | None = None  # name, line, end of the opening marker
    for m in MARKER.finditer(text):
        closing, name = m.group(1) == "/", m.group(2)
        line = text.count("\n", 0, m.start()) + 1
        where = f"{source}:{line}"
        if name not in BLOCKS:
            raise FiguresError(f"{where}: unknown figures block {name!r}; blocks are: "
                               f"{', '.join(sorted(BLOCKS))}")
        if not closing:
            if open_ is not None:
                raise FiguresError(f"{where}: <!-- figures:{name} --> inside figures:{open_[0]} "
                                   f"(opened on line {open_[1]}): close it first with "
                                   f"<!-- /figures:{open_[0]} -->")
            open_ = (name, line, m.end())
        elif open_ is None or open_[0] != name:
            raise FiguresError(f"{where}: <!-- /figures:{name} --> without its opening "
                               f"<!-- figures:{name} -->")
        else:
            spans.append(Span(name, open_[1], open_[2], m.start()))
            open_ = None
    if open_ is not None:
        raise FiguresError(f"{source}:{open_[1]}: <!-- figures:{open_[0]} --> has no closing "
                           f"<!-- /figures:{open_[0]} -->")
    return spans


def fill(text: str, res: Results, source: str = "<text>") -> tuple[str, list[str]]:
    """`text` with every block regenerated, and the names of the blocks that changed."""
    spans = find_blocks(text, source)
    out, pos, changed = [], 0, []
    rendered: dict[str, str] = {}
    for span in spans:
        if span.name not in rendered:
            rendered[span.name] = render_block(span.name, res)
        body = f"\n\n{rendered[span.name]}\n\n"
        if text[span.start:span.end] != body:
            changed.append(span.name)
        out += [text[pos:span.start], body]
        pos = span.end
    out.append(text[pos:])
    return "".join(out), changed


@dataclass
class DocResult:
    path: Path
    blocks: list[str]  # every block the document holds, in order
    stale: list[str]  # the ones whose text differed from the results

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "blocks": self.blocks, "stale": self.stale}


def default_docs(root: Path) -> list[Path]:
    return [root / "README.md", root / "docs" / "drills.md", root / "docs" / "load.md"]


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.figures.tmp")
    try:
        tmp.write_text(text)
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def update_docs(docs: Sequence[Path], results: Path, write: bool = True,
                shown: Callable[[Path], str] = str) -> list[DocResult]:
    """Regenerate every block of `docs` from `results`; with write=False only report what is
    stale. Every document is checked before any is written, so a bad marker writes nothing."""
    texts: list[tuple[Path, str]] = []
    for path in docs:
        try:
            texts.append((path, path.read_text()))
        except OSError as exc:
            raise FiguresError(f"{shown(path)}: cannot read: {exc.strerror or exc}") from None
    for path, text in texts:
        find_blocks(text, shown(path))
    res = load_results(results)
    out = []
    for path, text in texts:
        new, stale = fill(text, res, shown(path))
        out.append(DocResult(path, [s.name for s in find_blocks(text, shown(path))], stale))
        if write and new != text:
            _write_atomic(path, new)
    return out
