"""How riftdrill's own cost grows with the work (`make bench` → results/bench/scale.json).

- The checker's time per record at 1M and at 10M records (median of 3 checks each) (the synthetic run of
  verify/bench.py: grouping the acks and checking them), and the ratio of the two per-record
  times: at most about 1 means linear or better.
- The bytes a million records cost in the ledgers the verifier reads: a producer ledger of 1M
  acks and a consumer ledger of 1M polls, written with the real writers.

Neither needs the lab. The load's memory over an hour (bench `memory`, from the published
hour-long soaks' load/memory.jsonl) and drill wall time against hold time (bench `drill`) come
from lab runs.
"""

from __future__ import annotations

import gc
import tempfile
from pathlib import Path
from typing import Any

MILLION = 1_000_000
CHECKER_SIZES = (MILLION, 10 * MILLION)


def checker_seconds(records: int, trials: int = 3) -> dict[str, Any]:
    """`trials` timed checks of one synthetic run of `records` records (building it is not
    timed): the median trial's CPU and wall time, and every trial's."""
    import statistics

    from riftdrill.verify.bench import as_read_and_ledger, synthetic_run, timed_check

    reads, acks = synthetic_run(records)
    ledger_records = as_read_and_ledger(reads, acks)
    producers = {a.producer_id for a in acks[:64]}
    del acks
    gc.collect()
    runs, records_read = [], 0
    for _ in range(trials):
        report, timing = timed_check(reads, ledger_records, producers)
        runs.append(timing)
        records_read = report.records_read
    cpu_s = statistics.median(r["cpu_s"] for r in runs)
    return {"records": records, "records_read": records_read,
            "elapsed_s": statistics.median(r["elapsed_s"] for r in runs), "cpu_s": cpu_s,
            "cpu_us_per_record": round(cpu_s / records * 1e6, 4), "trials": runs}


def checker_scaling(sizes: tuple[int, ...] = CHECKER_SIZES) -> dict[str, Any]:
    """The checker at each size, and the largest size's CPU per record over the smallest's."""
    runs = [checker_seconds(n) for n in sizes]
    first, last = runs[0], runs[-1]
    return {"runs": runs,
            "per_record_ratio": round(last["cpu_us_per_record"] / first["cpu_us_per_record"], 3)}


def ledger_bytes_per_million(directory: Path, records: int = MILLION) -> dict[str, int]:
    """The size of a producer ledger of `records` acks and a consumer ledger of `records` polls,
    scaled to a million records."""
    from riftdrill.load.consumer_ledger import ConsumerLedgerWriter
    from riftdrill.load.ledger import LedgerWriter

    producer_path, consumer_path = directory / "bench.rdl", directory / "bench.rdc"
    with LedgerWriter(producer_path, 0, "aws", ["bench"]) as producer:
        for n in range(records):
            producer.append_ack("bench", n % 12, n // 12, b"k-1", n, n & 0xFFFFFFFF, n, n)
    with ConsumerLedgerWriter(consumer_path, group="bench", client_id="bench", cloud="aws",
                              topics=["bench"], run_start_ns=0, bootstrap="") as consumer:
        for n in range(records):
            consumer.poll(0, n % 12, n // 12, 0, 0, n & 0xFFFFFFFF, n, n, n, 0)
    return {"producer_ledger": round(producer_path.stat().st_size * MILLION / records),
            "consumer_ledger": round(consumer_path.stat().st_size * MILLION / records)}


def run(out: Path) -> dict[str, Any]:
    """Every figure above, for `make bench`."""
    with tempfile.TemporaryDirectory(prefix="riftdrill-scale-") as tmp:
        ledgers = ledger_bytes_per_million(Path(tmp))
    return {"checker": checker_scaling(), "ledger_bytes_per_million_records": ledgers}
