"""The report's figures, as PNG bytes (matplotlib's Agg backend: no display, no fonts to fetch).

x axes are seconds since the run started (the first timeline second); every figure shades the
fault windows, and the timeline marks when recovery happened (first ack, p99 back to baseline,
consumer lag zero) from the recovery figures in summary.json.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from riftdrill.load import histograms
from riftdrill.report.runs import RunData

NS = 1_000_000_000
FAULT_COLOR = "#d62728"
PHASE_COLORS = {"before": "#1f77b4", "during": "#d62728", "after": "#2ca02c"}
# Percentiles of the HDR plot: 0, 90, 99, 99.9, ... up to 99.999 (x = 1 / (1 - p)).
HDR_PERCENTILES = [100 * (1 - 10 ** (-k / 20)) for k in range(0, 101)]


@dataclass
class Plot:
    name: str  # file stem: plots/<name>.png
    title: str
    png: bytes


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96)
    plt.close(fig)
    return buf.getvalue()


def _t0(run: RunData) -> float:
    return float(run.timeline[0]["t"]) if run.timeline else run.summary.started_epoch_s


def _shade_faults(ax: Axes, run: RunData, t0: float, label: bool) -> None:
    end_default = float(run.timeline[-1]["t"]) + 1 if run.timeline else t0
    for i, w in enumerate(run.summary.fault_windows):
        end = w.end_s if w.end_s is not None else end_default
        ax.axvspan(w.start_s - t0, end - t0, color=FAULT_COLOR, alpha=0.12, lw=0,
                   label=f"fault: {w.kind} {w.target}".strip() if label and i == 0 else None)


def recovery_markers(run: RunData) -> list[tuple[str, float]]:
    """(label, epoch seconds) of each recovery moment the figures know."""
    rec = run.summary.recovery
    if rec is None:
        return []
    start = rec.fault_start_ns / NS
    marks = [("first ack", rec.worst_time_to_first_ack_s),
             ("p99 back to baseline", rec.time_to_p99_baseline_s),
             ("lag zero", rec.time_to_zero_lag_s)]
    return [(label, start + v) for label, v in marks if v is not None]


def _mark_recovery(ax: Axes, run: RunData, t0: float, label: bool) -> None:
    styles = ["--", "-.", ":"]
    for (name, at), style in zip(recovery_markers(run), styles, strict=False):
        ax.axvline(at - t0, color="#444444", ls=style, lw=1.2, label=name if label else None)


def _col(rows: list[dict[str, Any]], key: str) -> list[float]:
    return [float(r[key]) if r.get(key) is not None else float("nan") for r in rows]


def timeline_plot(run: RunData) -> Plot:
    rows, t0 = run.timeline, _t0(run)
    x = [float(r["t"]) - t0 for r in rows]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    ax1.plot(x, _col(rows, "sent"), label="sent/s", color="#7f7f7f", lw=1)
    ax1.plot(x, _col(rows, "acked"), label="acked/s", color="#1f77b4", lw=1.5)
    ax1.bar(x, _col(rows, "failed"), width=0.9, color=FAULT_COLOR, alpha=0.8, label="errors/s")
    ax1.set_ylabel("records / s")
    ax1.set_title("Produce rate, acks and errors per second")
    ax2.plot(x, _col(rows, "ack_latency_p50_ms"), label="ack p50", color="#1f77b4", lw=1)
    ax2.plot(x, _col(rows, "ack_latency_p99_ms"), label="ack p99", color="#ff7f0e", lw=1.5)
    ax2.set_yscale("log")
    ax2.set_ylabel("ack latency (ms)")
    ax2.set_xlabel("seconds since run start")
    ax2.set_title("Ack latency per second")
    for i, ax in enumerate((ax1, ax2)):
        _shade_faults(ax, run, t0, label=i == 0)
        _mark_recovery(ax, run, t0, label=i == 0)
        ax.grid(alpha=0.3)
    ax1.legend(loc="upper right", fontsize=8, ncol=2)
    ax2.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return Plot("timeline", "Timeline: produce rate, ack latency, errors", _png(fig))


def lag_plot(run: RunData) -> Plot | None:
    rows = [r for r in run.timeline if r.get("consumer_lag") is not None]
    if not rows:
        return None
    t0 = _t0(run)
    fig, ax = plt.subplots(figsize=(10, 3))
    ax.plot([float(r["t"]) - t0 for r in rows], _col(rows, "consumer_lag"), color="#9467bd",
            label="consumer lag (records)")
    _shade_faults(ax, run, t0, label=True)
    _mark_recovery(ax, run, t0, label=True)
    ax.set_xlabel("seconds since run start")
    ax.set_ylabel("records")
    ax.set_title("Consumer lag")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return Plot("lag", "Consumer lag over time", _png(fig))


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


def run_plots(run: RunData) -> list[Plot]:
    plots: list[Plot | None] = [timeline_plot(run) if run.timeline else None, percentile_plot(run),
                                lag_plot(run)]
    if run.verify is not None:
        plots.append(verify_plot(run.verify.totals, run.verify.failing_kinds))
    return [p for p in plots if p is not None]


def compare_plot(doc: Any, monthly_cost: dict[tuple[str, str], float]) -> Plot | None:
    """Worst unavailability and cost per month, per engine, one group per experiment."""
    entries = sorted(doc.entries, key=lambda e: (e.experiment, e.engine))
    if not entries:
        return None
    labels = [f"{e.experiment}\n{e.engine}" for e in entries]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 0.8 + 0.5 * len(entries)))
    unav = [e.worst_unavailability_s or 0.0 for e in entries]
    ax1.barh(labels, unav, color=["#1f77b4" if e.verdict_passed else FAULT_COLOR for e in entries])
    ax1.set_xlabel("worst unavailability (s)")
    ax1.set_title("Unavailability (red: verdict failed)")
    ax1.invert_yaxis()
    cost = [monthly_cost.get((e.experiment, e.engine), 0.0) for e in entries]
    ax2.barh(labels, cost, color="#2ca02c")
    ax2.set_xlabel("per month (list prices)")
    ax2.set_title("Cost per month of this workload")
    ax2.invert_yaxis()
    ax2.set_yticklabels([])
    fig.tight_layout()
    return Plot("compare", "Engines: unavailability and cost per month", _png(fig))
