"""Benchmark hook: the wall time of the default `broker-kill` drill, end to end, and how it
grows with the hold.

`run_bench(out_path)` runs `riftdrill drill broker-kill` (its defaults: hold 30 s, baseline 10 s,
recovery 20 s, 200 rec/s) through the real runner against the deployed lab and writes
{"drill", "wall_s", "chaos_s", "passed", "run_id", "recovery", "verify", "host"} to out_path.
The drill's own phases take ~60 s of sleeping; the rest is load start/stop, the restart of the
killed broker, probes, verify and the report.

`wall_vs_hold` runs it again at other holds (`HOLDS_S`, the default's figures reused for its
own hold) and fits wall = fixed_s + slope * hold by least squares: a slope near 1 means a longer
hold costs only its own seconds, `fixed_s` is what every drill costs besides. Each run also
keeps its steps' seconds from the chaos journal (`steps_s`), and `step_slopes` fits each step
against the hold, so a slope above 1 names the steps that grow with it. `python -m
riftdrill.chaos.bench steps <drill.json>` fills them in from the published runs' journals.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from riftdrill import paths
from riftdrill.chaos import runner
from riftdrill.errors import RiftdrillError
from riftdrill.fit import line_fit

HOLDS_S = (10, 30, 60)


def wall_vs_hold(first: dict[str, Any], experiment: str = "broker-kill",
                 holds_s: tuple[int, ...] = HOLDS_S) -> dict[str, Any]:
    """The drill at each hold (`first`, the default run, stands for its own hold)."""
    hold_of_first = float(first["params"].get("hold_s", 0))
    others = [v for v in first.get("vars") or [] if not v.startswith("hold_s=")]
    runs = []
    for hold in holds_s:
        d = first if hold == hold_of_first else _run(experiment, [*others, f"hold_s={hold}"])
        runs.append({"hold_s": hold, "wall_s": d["wall_s"], "chaos_s": d["chaos_s"],
                     "passed": d["passed"], "run_id": d["run_id"],
                     "steps_s": journal_steps(paths.results_dir() / "runs" / d["run_id"])})
    fixed_s, slope = line_fit([(r["hold_s"], r["wall_s"]) for r in runs])
    return {"runs": runs, "fixed_s": round(fixed_s, 1), "slope": round(slope, 3),
            "step_slopes": step_slopes(runs)}


def journal_steps(run_dir: Path) -> dict[str, float]:
    """Seconds per step of a drill from its chaos journal: the steady-state hypothesis before
    and after, each activity of the method and of the rollbacks ({} without a journal)."""
    try:
        journal = json.loads((run_dir / "journal.json").read_text())
    except (OSError, ValueError):
        return {}
    out: dict[str, float] = {}
    states = journal.get("steady_states") or {}
    for when in ("before", "after"):
        if isinstance(hypothesis := states.get(when), dict):
            out[f"steady-state {when}"] = round(sum(float(p.get("duration") or 0)
                                                    for p in hypothesis.get("probes") or []), 1)
    for part in ("run", "rollbacks"):
        for item in journal.get(part) or []:
            name = str((item.get("activity") or {}).get("name", "?"))
            out[name] = round(out.get(name, 0.0) + float(item.get("duration") or 0), 1)
    return out


def step_slopes(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Each step's least-squares seconds per second of hold, over the runs that have it."""
    names = {n for r in runs for n in r.get("steps_s") or {}}
    out: dict[str, float] = {}
    for name in sorted(names):
        points = [(float(r["hold_s"]), float(r["steps_s"][name])) for r in runs
                  if name in (r.get("steps_s") or {})]
        if len({x for x, _ in points}) >= 2:
            out[name] = round(line_fit(points)[1], 3)
    return out


def fill_steps(bench_file: Path, runs_dir: Path) -> dict[str, Any]:
    """Add each run's steps (from its published journal) and the step slopes to a drill bench
    file written before they were recorded."""
    data = json.loads(bench_file.read_text())
    w = data.get("wall_vs_hold") or {}
    for r in w.get("runs") or []:
        r["steps_s"] = journal_steps(runs_dir / r["run_id"])
        if not r["steps_s"]:
            raise RiftdrillError(f"no journal for run {r['run_id']} under {runs_dir}: publish the "
                             "run first (results/runs/<run>/journal.json)")
    w["step_slopes"] = step_slopes(w["runs"])
    bench_file.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return w


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


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 3 or sys.argv[1] != "steps":
        print("usage: python -m riftdrill.chaos.bench steps <results/bench/drill.json>",
              file=sys.stderr)
        sys.exit(2)
    try:
        w = fill_steps(Path(sys.argv[2]), paths.results_dir() / "runs")
    except (RiftdrillError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(w["step_slopes"], indent=1))
