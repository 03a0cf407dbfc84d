"""A run's load directory made with the project's own writers (SecondBucket lines, as
ProcessMetrics writes them, merged by aggregate.finalize) for the exporters' tests."""

from __future__ import annotations

import json
from pathlib import Path

from riftdrill.load import aggregate, histograms
from riftdrill.load.metrics import SecondBucket
from riftdrill.load.spec import LoadSpec

T0 = 1_764_759_600  # an epoch second


def write_run(load_dir: Path, spec: LoadSpec, seconds: int = 25,
              clouds: tuple[str, ...] = ("aws", "gcp")) -> dict[str, object]:
    """Per cloud one process; in second s it sends 10 + s records (one failing every 5th
    second), acks them with a latency of (s + 1) ms, consumes them after (s + 2) ms, publish
    delay s*100 us; its main thread ran 50 + i ms and waited s % 3 ms. Returns
    aggregate.finalize's summary."""
    load_dir.mkdir(parents=True, exist_ok=True)
    (load_dir / "spec.json").write_text(json.dumps(spec.to_json()))
    for i, cloud in enumerate(clouds):
        lines = []
        for s in range(seconds):
            b = SecondBucket(T0 + s)
            for k in range(10 + s + i):
                b.sent += 1
                histograms.record_us(b.hists["publish_delay"], s * 100 + k)
                b.acked += 1
                histograms.record_us(b.hists["ack_latency"], (s + 1) * 1000 + k)
                b.consumed += 1
                histograms.record_us(b.hists["e2e_latency"], (s + 2) * 1000 + k)
            if s % 5 == 4:
                b.failed += 1
            b.main_cpu_ms, b.main_wait_ms = 50.0 + i, float(s % 3)
            lines.append(json.dumps(b.to_json(lag=s)))
        path = load_dir / "workers" / f"{cloud}-{i}-{100 + i}" / "metrics.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
    return aggregate.finalize(load_dir, {"spec": spec.to_json()})
