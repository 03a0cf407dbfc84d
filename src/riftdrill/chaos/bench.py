"""Benchmark hook: the wall time of the default `broker-kill` drill, end to end.

`run_bench(out_path)` runs `riftdrill drill broker-kill` (its defaults: hold 30 s, baseline 10 s,
recovery 20 s, 200 rec/s) through the real runner against the deployed lab and writes
{"drill", "wall_s", "chaos_s", "passed", "run_id", "recovery", "verify", "host"} to out_path.
The drill's own phases take ~60 s of sleeping; the rest is load start/stop, the restart of the
killed broker, probes, verify and the report.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from riftdrill.chaos import runner


def run_bench(out_path: Path, experiment: str = "broker-kill",
              var_items: list[str] | None = None) -> dict[str, Any]:
    t0 = time.monotonic()
    result = runner.run_drill(runner.plan_drill(experiment, var_items), echo=False)
    wall = round(time.monotonic() - t0, 3)
    s = result.summary
    data = {"drill": experiment, "vars": var_items or [], "wall_s": wall,
            "chaos_s": (s.get("chaos") or {}).get("seconds"), "passed": result.verdict.passed,
            "reasons": result.verdict.reasons, "run_id": s["run_id"], "params": s["params"],
            "recovery": s["recovery"], "verify": s["verify"], "host": s["host"]}
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return data
