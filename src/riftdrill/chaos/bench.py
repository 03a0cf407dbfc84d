"""Benchmark hook: the wall time of the default `broker-kill` drill, end to end, and how it
grows with the hold.

`run_bench(out_path)` runs `riftdrill drill broker-kill` (its defaults: hold 30 s, baseline 10 s,
recovery 20 s, 200 rec/s) through the real runner against the deployed lab and writes
{"drill", "wall_s", "chaos_s", "passed", "run_id", "recovery", "verify", "host"} to out_path.
The drill's own phases take ~60 s of sleeping; the rest is load start/stop, the restart of the
killed broker, probes, verify and the report.

`wall_vs_hold` runs it again at other holds (`HOLDS_S`, the default's figures reused for its
own hold) and fits wall = fixed_s + slope * hold by least squares: a slope near 1 means a longer
hold costs only its own seconds, `fixed_s` is what every drill costs besides.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from riftdrill.chaos import runner

HOLDS_S = (10, 30, 60)


def line_fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares (intercept, slope) of y over x; needs two distinct x."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var_x = sum((x - mean_x) ** 2 for x, _ in points)
    if var_x == 0:
        raise ValueError("line_fit needs at least two distinct x values")
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / var_x
    return mean_y - slope * mean_x, slope


def wall_vs_hold(first: dict[str, Any], experiment: str = "broker-kill",
                 holds_s: tuple[int, ...] = HOLDS_S) -> dict[str, Any]:
    """The drill at each hold (`first`, the default run, stands for its own hold)."""
    hold_of_first = float(first["params"].get("hold_s", 0))
    others = [v for v in first.get("vars") or [] if not v.startswith("hold_s=")]
    runs = []
    for hold in holds_s:
        d = first if hold == hold_of_first else _run(experiment, [*others, f"hold_s={hold}"])
        runs.append({"hold_s": hold, "wall_s": d["wall_s"], "chaos_s": d["chaos_s"],
                     "passed": d["passed"], "run_id": d["run_id"]})
    fixed_s, slope = line_fit([(r["hold_s"], r["wall_s"]) for r in runs])
    return {"runs": runs, "fixed_s": round(fixed_s, 1), "slope": round(slope, 3)}


def run_bench(out_path: Path, experiment: str = "broker-kill",
              var_items: list[str] | None = None) -> dict[str, Any]:
    data = _run(experiment, var_items)
    data["wall_vs_hold"] = wall_vs_hold(data, experiment)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return data


def _run(experiment: str, var_items: list[str] | None) -> dict[str, Any]:
    t0 = time.monotonic()
    result = runner.run_drill(runner.plan_drill(experiment, var_items), echo=False)
    wall = round(time.monotonic() - t0, 3)
    s = result.summary
    data = {"drill": experiment, "vars": var_items or [], "wall_s": wall,
            "chaos_s": (s.get("chaos") or {}).get("seconds"), "passed": result.verdict.passed,
            "reasons": result.verdict.reasons, "run_id": s["run_id"], "params": s["params"],
            "recovery": s["recovery"], "verify": s["verify"], "host": s["host"]}
    return data
