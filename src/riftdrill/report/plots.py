"""The report's figures, as PNG bytes (matplotlib's Agg backend: no display, no fonts to fetch).

x axes are seconds from the fault start (the first fault window's start; negative before it),
every time figure shades the fault windows, draws one series per cloud (never a sum over
clouds: a cloud cut off must not hide behind a healthy one) and keeps its legend outside the
axes. What is drawn is prepared, and unit-tested, in `series.py`; each Plot carries a summary of
it (`meta`: the x axis, the clouds, the fault windows) that the HTML page exposes as data-*.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure

from riftdrill.load import histograms
from riftdrill.report.runs import RunData
from riftdrill.report.series import (
    ALL_CLOUDS,
    ConnectorRow,
    PartitionHeat,
    RunSeries,
    connect_meta,
    run_series,
)

NS = 1_000_000_000
FAULT_COLOR = "#d62728"
FAULT_ALPHA = 0.12
PHASE_COLORS = {"before": "#1f77b4", "during": "#d62728", "after": "#2ca02c"}
# One colour per cloud, the same in every figure; other clouds take the rest in order.
CLOUD_COLORS = {"aws": "#ff7f0e", "gcp": "#1f77b4", ALL_CLOUDS: "#444444"}
OTHER_COLORS = ["#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
# Acks in a second relative to the partition's usual rate: red = none (unavailable), green = as
# usual.
HEAT_CMAP = LinearSegmentedColormap.from_list("availability", ["#d62728", "#fdd49e", "#2ca02c"])
# A connector's state per sample (series.CONNECT_STATES: white, hatched: no worker answered),
# and the workers running its tasks in neutral colours (named on the strip: never a cloud's)
CONNECT_COLORS = {"running": "#2ca02c", "silent": "#fdae61", "not_running": "#d62728",
                  "unanswered": "white"}
CONNECT_LABELS = {"running": "RUNNING", "silent": "RUNNING on a silent worker",
                  "not_running": "not RUNNING", "unanswered": "no worker answered"}
WORKER_COLORS = ["#bcbddc", "#d9d9d9", "#c7e9e9", "#f2e6c9", "#e7cfe0", "#a6a6a6"]
# Percentiles of the HDR plot: 0, 90, 99, 99.9, ... up to 99.999 (x = 1 / (1 - p)).
HDR_PERCENTILES = [100 * (1 - 10 ** (-k / 20)) for k in range(0, 101)]


@dataclass
class Plot:
    name: str  # file stem: plots/<name>.png
    title: str
    png: bytes
    meta: dict[str, str] = field(default_factory=dict)  # shown as data-* on the HTML image


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96)
    plt.close(fig)
    return buf.getvalue()


def cloud_color(cloud: str, order: list[str]) -> str:
    if cloud in CLOUD_COLORS:
        return CLOUD_COLORS[cloud]
    others = [c for c in order if c not in CLOUD_COLORS]
    return OTHER_COLORS[others.index(cloud) % len(OTHER_COLORS)] if cloud in others else "#7f7f7f"


def _shade_faults(ax: Axes, series: RunSeries, label: bool) -> None:
    for i, w in enumerate(series.windows):
        ax.axvspan(w.start_s, w.end_s, color=FAULT_COLOR, alpha=FAULT_ALPHA, lw=0,
                   label=(f"fault: {w.label}" + ("" if w.healed else " (not healed)"))
                   if label and i == 0 else None)


def _mark_recovery(ax: Axes, series: RunSeries, label: bool) -> None:
    styles = ["--", "-.", ":"]
    for (name, at), style in zip(series.markers, styles, strict=False):
        ax.axvline(at, color="#444444", ls=style, lw=1.2, label=name if label else None)


def _finish_axes(ax: Axes, series: RunSeries, title: str, ylabel: str,
                 first: bool = True) -> None:
    """Shade, mark, label; the fault and the recovery markers are named in the first panel's
    legend only."""
    _shade_faults(ax, series, label=first)
    _mark_recovery(ax, series, label=first)
    if series.from_fault:
        ax.axvline(0, color=FAULT_COLOR, lw=0.8)
    ax.set_title(title, fontsize=10, loc="left")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # outside the axes: never over the data
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, borderaxespad=0)


def _log_y(ax: Axes) -> None:
    """A log y axis labelled in plain numbers (20, 50, 1000), not 2 x 10^1."""
    from matplotlib.ticker import FuncFormatter

    ax.set_yscale("log")
    plain = FuncFormatter(lambda v, _pos: f"{v:g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _pos: ""))


def _has(values: list[float]) -> bool:
    return any(not math.isnan(v) for v in values)


def heat_values(heat: PartitionHeat) -> list[list[float]]:
    """Each row's acks per second over its usual rate (its median second with acks), capped at
    1; nan before its producers' first intended send and after their last ledger entry (not
    written: not yet, or no more; without those, its first and last ack), 0 (unavailable) in
    between."""
    out = []
    for row in heat.rows:
        usual = sorted(a for a in row.acks if a > 0)
        norm = usual[len(usual) // 2] if usual else 1
        seen = [i for i, a in enumerate(row.acks) if a > 0]
        first = row.written_from if row.written_from is not None else (
            seen[0] if seen else len(row.acks))
        last = row.written_until if row.written_until is not None else (seen[-1] if seen else -1)
        out.append([min(1.0, a / norm) if first <= i <= last else math.nan
                    for i, a in enumerate(row.acks)])
    return out


def _heat(ax: Axes, heat: PartitionHeat) -> None:
    import numpy as np

    edges = [*heat.x_s, heat.x_s[-1] + 1] if heat.x_s else [0.0, 1.0]
    cmap = HEAT_CMAP.with_extremes(bad="#f0f0f0")
    ax.pcolormesh(edges, np.arange(len(heat.rows) + 1), np.ma.masked_invalid(heat_values(heat)),
                  cmap=cmap, vmin=0, vmax=1, shading="flat")
    one_topic = len({r.topic for r in heat.rows}) == 1
    ax.set_yticks([i + 0.5 for i in range(len(heat.rows))])
    ax.set_yticklabels([(f"{r.cloud} p{r.partition}" if one_topic else r.label)
                        + (f" ({r.unavailability_s:g} s)" if r.unavailability_s is not None
                           else "") for r in heat.rows], fontsize=7)
    ax.invert_yaxis()


def _connectors(ax: Axes, rows: list[ConnectorRow]) -> None:
    """One row per connector: its state per sample (the wide band), the worker(s) running its
    tasks (the strip above it, named where there is room) and a black tick where a task moved
    to another worker."""
    workers = sorted({w for r in rows for w in r.worker if w})
    color = {w: WORKER_COLORS[i % len(WORKER_COLORS)] for i, w in enumerate(workers)}
    labelled: set[str] = set()
    spans = [sp for r in rows for sp in r.state_spans()]
    width_s = (max(sp.end_s for sp in spans) - min(sp.start_s for sp in spans)) if spans else 1.0
    for i, row in enumerate(rows):
        for sp in row.state_spans():
            state = str(sp.value)
            unanswered = state == "unanswered"
            ax.broken_barh([(sp.start_s, sp.end_s - sp.start_s)], (i + 0.4, 0.52),
                           facecolor=CONNECT_COLORS[state], lw=0.5 if unanswered else 0,
                           edgecolor="#969696" if unanswered else "none",
                           hatch="////" if unanswered else None,
                           label=None if state in labelled else CONNECT_LABELS[state])
            labelled.add(state)
        for sp in row.worker_spans():
            if sp.value is None:
                continue
            key = f"worker {sp.value}"
            ax.broken_barh([(sp.start_s, sp.end_s - sp.start_s)], (i + 0.08, 0.3),
                           color=color[sp.value], lw=0,
                           label=None if key in labelled else f"task on {sp.value}")
            labelled.add(key)
            if sp.end_s - sp.start_s >= 0.12 * width_s:  # named where the name fits
                ax.text((sp.start_s + sp.end_s) / 2, i + 0.23, sp.value, fontsize=7,
                        ha="center", va="center", clip_on=True)
        for m in row.moves:
            ax.plot([m.x_s, m.x_s], [i + 0.04, i + 0.96], color="black", lw=1.6,
                    label=None if "move" in labelled else "task moved")
            labelled.add("move")
    ax.set_yticks([i + 0.5 for i in range(len(rows))])
    ax.set_yticklabels([r.name for r in rows], fontsize=8)
    ax.set_ylim(len(rows), 0)


def timeline_plot(run: RunData, series: RunSeries | None = None) -> Plot:
    """Per cloud: acks/s, failed sends/s, ack p99; then the partitions' acks (heat map), the
    brokers' under-replicated / offline partitions and the hub's connectors when the run has
    them."""
    s = series or run_series(run.run_dir, run.summary, run.timeline)
    heat = s.partitions if s.partitions is not None and s.partitions.x_s else None
    panels = ["acks", "failed", "p99"] + (["heat"] if heat else []) + (
        ["cluster"] if s.cluster else []) + (["connect"] if s.connectors else [])
    heights = {"acks": 2.2, "failed": 1.6, "p99": 2.2, "cluster": 1.8,
               "heat": 0.6 + 0.18 * len(heat.rows) if heat else 0,
               "connect": 0.9 + 0.45 * len(s.connectors)}
    fig, axes = plt.subplots(len(panels), 1, sharex=True, layout="constrained",
                             figsize=(11, sum(heights[p] for p in panels)),
                             height_ratios=[heights[p] for p in panels], squeeze=False)
    order = [c.cloud for c in s.clouds]
    ax_by = dict(zip(panels, axes[:, 0], strict=True))
    for c in s.clouds:
        color = cloud_color(c.cloud, order)
        ax_by["acks"].plot(c.x_s, c.acked, color=color, lw=1.5, label=f"{c.cloud} acked/s")
        ax_by["acks"].plot(c.x_s, c.sent, color=color, lw=0.8, ls=":", label=f"{c.cloud} sent/s")
        ax_by["failed"].plot(c.x_s, c.failed, color=color, lw=1.2, drawstyle="steps-mid",
                             label=f"{c.cloud} failed/s")
        if _has(c.ack_p99_ms):
            ax_by["p99"].plot(c.x_s, c.ack_p99_ms, color=color, lw=1.5, label=f"{c.cloud} ack p99")
    _finish_axes(ax_by["acks"], s, "Acks and sends per second, per cloud", "records / s")
    _finish_axes(ax_by["failed"], s, "Failed sends per second, per cloud", "records / s",
                 first=False)
    _log_y(ax_by["p99"])
    _finish_axes(ax_by["p99"], s, "Ack latency p99 per second, per cloud", "ms (log)",
                 first=False)
    if heat:
        _heat(ax_by["heat"], heat)
        _shade_faults(ax_by["heat"], s, label=False)
        dropped = f"; {heat.dropped_rows} healthier rows not shown" if heat.dropped_rows else ""
        topics = sorted({r.topic for r in heat.rows})
        ax_by["heat"].set_title(f"Acks per partition per second, per producer cloud "
                                f"({', '.join(topics)}){dropped}\nred: no ack (unavailable), "
                                "green: its usual rate, grey: not written", fontsize=10,
                                loc="left")
    if s.cluster:
        ax = ax_by["cluster"]
        for key in s.cluster.x_s:
            tag = f"{key} " if key else ""
            ax.plot(s.cluster.x_s[key], s.cluster.under_replicated[key], lw=1.5,
                    drawstyle="steps-mid", label=f"{tag}under-replicated")
            ax.plot(s.cluster.x_s[key], s.cluster.offline[key], lw=1.5, drawstyle="steps-mid",
                    label=f"{tag}offline")
            if _has(s.cluster.min_isr[key]):
                ax.plot(s.cluster.x_s[key], s.cluster.min_isr[key], lw=1, ls="--",
                        label=f"{tag}smallest ISR")
        _finish_axes(ax, s, "Brokers: under-replicated and offline partitions, smallest ISR",
                     "partitions / replicas", first=False)
    if s.connectors:
        ax = ax_by["connect"]
        _connectors(ax, s.connectors)
        _finish_axes(ax, s, "Kafka Connect: each connector's state per sample (RUNNING means it "
                     "and every task), the worker running its task above it", "connector",
                     first=False)
        ax.grid(False, axis="y")
    axes[-1, 0].set_xlabel(s.x_label)
    return Plot("timeline", "Timeline: produce rate, ack latency, errors", _png(fig),
                {**s.meta(), **connect_meta(s.connectors)})


def lag_plot(run: RunData, series: RunSeries | None = None) -> Plot | None:
    """Per cloud: end-to-end p99 and consumer lag (true lag from the consumer ledgers when
    summary.json has `end_to_end`, else the load's committed-offset lag)."""
    s = series or run_series(run.run_dir, run.summary, run.timeline)
    e2e = s.end_to_end
    if e2e is None:
        return None
    fig, (ax1, ax2) = plt.subplots(2, 1, sharex=True, layout="constrained", figsize=(11, 4.8))
    order = sorted(e2e.x_s)
    for cloud in order:
        color = cloud_color(cloud, order)
        if _has(e2e.e2e_p99_ms[cloud]):
            ax1.plot(e2e.x_s[cloud], e2e.e2e_p99_ms[cloud], color=color, lw=1.5,
                     label=f"{cloud} end-to-end p99")
        if _has(e2e.lag[cloud]):
            ax2.plot(e2e.x_s[cloud], e2e.lag[cloud], color=color, lw=1.5, label=f"{cloud} lag")
    true_lag = e2e.source == "end_to_end"
    _log_y(ax1)
    _finish_axes(ax1, s, "End-to-end latency p99 (intended send to consumed), per cloud",
                 "ms (log)")
    _finish_axes(ax2, s, "Consumer lag, per cloud: " + (
        "records acked and not yet consumed (consumer ledgers)" if true_lag else
        "librdkafka's lag to the committed offset"), "records", first=False)
    ax2.set_xlabel(s.x_label)
    meta = {**s.meta(), "series": ",".join(order), "lag": "true" if true_lag else "committed"}
    return Plot("lag", "End to end: latency and consumer lag", _png(fig), meta)


def replication_plot(run: RunData, series: RunSeries) -> Plot | None:
    """Per MirrorMaker 2: the replication lag (source ack -> visible in the mirror) of the
    records acked each second, highest and p99 (summary.json `replication`)."""
    lags = run.summary.replication
    if not lags or not series.from_fault:
        return None
    fig, ax = plt.subplots(figsize=(11, 2.8), layout="constrained")
    order = sorted(lags)
    for name in order:
        pts = lags[name].series
        x = [p.t_s for p in pts]
        color = cloud_color(name, order)
        ax.plot(x, [math.nan if p.max_lag_s is None else p.max_lag_s for p in pts],
                color=color, lw=1.5, label=f"{name} highest")
        ax.plot(x, [math.nan if p.p99_lag_s is None else p.p99_lag_s for p in pts],
                color=color, lw=1, ls="--", label=f"{name} p99")
    _finish_axes(ax, series, "Replication lag across MirrorMaker 2, by ack second (source ack "
                 "to visible in the mirror)", "seconds")
    ax.set_xlabel(series.x_label)
    return Plot("replication", "Replication lag across MirrorMaker 2", _png(fig),
                {**series.meta(), "series": ",".join(order)})


def hub_plot(series: RunSeries) -> Plot | None:
    """The integration hub's change lag (commit in the source -> first seen in the sink's
    table) of the changes committed each second, highest and p99 (summary.json `hub`), with
    the baseline it must come back under and the moment it did after the heal."""
    hub = series.hub
    if hub is None or not series.from_fault:
        return None
    fig, ax = plt.subplots(figsize=(11, 2.8), layout="constrained")
    ax.plot(hub.x_s, hub.max_lag_s, color="#9467bd", lw=1.5, label="highest")
    ax.plot(hub.x_s, hub.p99_lag_s, color="#9467bd", lw=1, ls="--", label="p99")
    if hub.baseline_bound_s is not None:
        ax.axhline(hub.baseline_bound_s, color="#7f7f7f", lw=0.8, ls=":",
                   label="baseline highest + a poll")
    if hub.recovered_x_s is not None:
        ax.axvline(hub.recovered_x_s, color="#2ca02c", lw=1.2, ls="-.",
                   label="back under the baseline")
    _finish_axes(ax, series, "Hub change lag, by second of commit (commit in the source to "
                 "visible in the sink's table)", "seconds")
    ax.set_xlabel(series.x_label)
    meta = {**series.meta(), "series": "highest,p99",
            "points": str(len(hub.x_s)),
            "baseline-bound-s": "" if hub.baseline_bound_s is None else f"{hub.baseline_bound_s:g}",
            "recovered-x-s": "" if hub.recovered_x_s is None else f"{hub.recovered_x_s:.3f}"}
    return Plot("hub", "Hub change lag", _png(fig), meta)


def partition_bars_plot(series: RunSeries) -> Plot | None:
    """Per-partition unavailability from summary.json, when the ledgers are not on disk."""
    heat = series.partitions
    if heat is None or heat.x_s or not heat.rows:
        return None
    rows = heat.rows
    fig, ax = plt.subplots(figsize=(11, 0.8 + 0.22 * len(rows)), layout="constrained")
    order = sorted({r.cloud for r in rows})
    ax.barh([r.label for r in rows], [r.unavailability_s or 0.0 for r in rows],
            color=[cloud_color(r.cloud, order) for r in rows])
    ax.set_xlabel("longest unavailability after the fault start (s)")
    ax.set_title("Unavailability per partition and producer cloud (ledgers not on disk: the "
                 "seconds, not when)", fontsize=10, loc="left")
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(alpha=0.3, axis="x")
    return Plot("partitions", "Unavailability per partition", _png(fig),
                {"series": ",".join(order)})


def phase_histograms(run: RunData, name: str = "ack_latency_us") -> dict[str, Any]:
    """Merged HDR histograms of the seconds before, during and after the fault windows."""
    if not run.histograms or not run.summary.fault_windows:
        return {}
    first = min(w.start_s for w in run.summary.fault_windows)
    last = max((w.end_s if w.end_s is not None else float("inf"))
               for w in run.summary.fault_windows)
    phases: dict[str, list[str]] = {"before": [], "during": [], "after": []}
    for sec in run.histograms.get("per_second", []):
        t = float(sec["t"])
        phase = "before" if t + 1 <= first else "after" if t >= last else "during"
        phases[phase].append(sec.get(name, ""))
    return {p: histograms.merge(enc) for p, enc in phases.items() if enc}


def percentile_plot(run: RunData) -> Plot | None:
    phases = phase_histograms(run)
    phases = {p: h for p, h in phases.items() if h.get_total_count()}
    if not phases:
        return None
    fig, ax = plt.subplots(figsize=(10, 4))
    for phase, hist in phases.items():
        xs = [1 / (1 - p / 100) if p < 100 else None for p in HDR_PERCENTILES]
        pts = [(x, hist.get_value_at_percentile(p) / 1000) for x, p in zip(
            xs, HDR_PERCENTILES, strict=True) if x is not None]
        ax.plot([a for a, _ in pts], [b for _, b in pts], color=PHASE_COLORS[phase],
                label=f"{phase} fault ({hist.get_total_count()} acks)", lw=1.5)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ticks = [1, 2, 10, 100, 1000, 10000, 100000]
    ax.set_xticks(ticks)
    ax.set_xticklabels(["0%", "50%", "90%", "99%", "99.9%", "99.99%", "99.999%"])
    ax.set_xlim(1, 100000)
    ax.set_xlabel("percentile")
    ax.set_ylabel("ack latency (ms)")
    ax.set_title("Ack latency by percentile (HDR), before / during / after the fault, by ack time")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return Plot("percentiles", "Latency percentile distribution", _png(fig))


def verify_plot(counts: dict[str, int], failing: list[str]) -> Plot | None:
    shown = {k: v for k, v in counts.items() if v}
    if not shown:
        return None
    fig, ax = plt.subplots(figsize=(10, 0.5 + 0.45 * len(shown)))
    kinds = list(shown)
    ax.barh(kinds, [shown[k] for k in kinds],
            color=[FAULT_COLOR if k in failing else "#7f7f7f" for k in kinds])
    for i, k in enumerate(kinds):
        ax.text(shown[k], i, f" {shown[k]}", va="center", fontsize=8)
    ax.set_xlabel("records")
    ax.set_title("Verifier anomalies (red: fails the run)")
    ax.invert_yaxis()
    fig.tight_layout()
    return Plot("verify", "Verifier counts", _png(fig))


def run_plots(run: RunData, series: RunSeries | None = None) -> list[Plot]:
    s = series or run_series(run.run_dir, run.summary, run.timeline)
    plots: list[Plot | None] = [timeline_plot(run, s) if s.clouds else None,
                                partition_bars_plot(s), percentile_plot(run), lag_plot(run, s),
                                replication_plot(run, s), hub_plot(s)]
    if run.verify is not None:
        plots.append(verify_plot(run.verify.totals, run.verify.failing_kinds))
    return [p for p in plots if p is not None]


def compare_plot(doc: Any, monthly_cost: dict[tuple[str, str], float]) -> Plot | None:
    """Worst unavailability and cost per month, per setup, one group per experiment."""
    entries = sorted(doc.entries, key=lambda e: (e.experiment, e.setup))
    if not entries:
        return None
    labels = [f"{e.experiment}\n{e.setup}" for e in entries]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 0.8 + 0.5 * len(entries)))
    unav = [e.worst_unavailability_s or 0.0 for e in entries]
    ax1.barh(labels, unav, color=["#1f77b4" if e.verdict_passed else FAULT_COLOR for e in entries])
    ax1.set_xlabel("worst unavailability (s)")
    ax1.set_title("Unavailability (red: verdict failed)")
    ax1.invert_yaxis()
    cost = [monthly_cost.get((e.experiment, e.setup), 0.0) for e in entries]
    ax2.barh(labels, cost, color="#2ca02c")
    ax2.set_xlabel("per month (list prices)")
    ax2.set_title("Cost per month of this workload")
    ax2.invert_yaxis()
    ax2.set_yticklabels([])
    fig.tight_layout()
    return Plot("compare", "Setups: unavailability and cost per month", _png(fig))
