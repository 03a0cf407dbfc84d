"""Benchmark of the checker: records/s on a synthetic run of >= 1M records.

`make bench` calls `run_bench(results/bench/verify.json)`. The synthetic run is shaped like a
drill: several producers over several partitions, records never read (lost), a truncated tail
(lost: the replay met its fence), retried duplicates acked at their second copy, and a few
corrupt records, so every branch of the checker runs.
Kafka and the ledger file format are not measured here: only grouping the acks and checking.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

from riftdrill.verify.check import ClusterLedger, PartitionRead, check_cluster
from riftdrill.verify.contract import Contract
from riftdrill.verify.report import VerifyReport


@dataclass(frozen=True, slots=True)
class _Ack:  # same fields the checker reads from riftdrill.load.ledger.Ack
    topic: str
    partition: int
    offset: int
    producer_id: int
    seq: int
    checksum: int


def synthetic_run(records: int, partitions: int = 12, producers: int = 8,
                  topic: str = "bench") -> tuple[list[PartitionRead], list[_Ack]]:
    """Reads and acks for `records` sends; about 0.1% of them lost or duplicated."""
    reads = [PartitionRead(cluster="main", topic=topic, partition=p, fenced=True)
             for p in range(partitions)]
    next_offset = [0] * partitions
    acks: list[_Ack] = []
    for n in range(records):
        pid = 1000 + n % producers
        seq = n // producers
        p = n % partitions
        off = next_offset[p]
        next_offset[p] += 1
        ck = (pid * 31 + seq) & 0xFFFFFFFF
        acks.append(_Ack(topic, p, off, pid, seq, ck))
        if n % 997 == 5:
            continue  # never read: lost (a later offset is read)
        read = reads[p]
        read.append(off, pid, seq, ck, n % 50_021 != 7)
        if n % 1009 == 3:  # a retry landed twice
            read.append(next_offset[p], pid, seq, ck, True)
            next_offset[p] += 1
    for read in reads:  # truncated tail: the last 5 acked records per partition lost
        del read.offsets[-5:], read.producer_ids[-5:], read.seqs[-5:]
        del read.checksums[-5:], read.checksum_ok[-5:]
        read.high_watermark = read.offsets[-1] + 1
    return reads, acks


def run_bench(out_path: Path, records: int = 1_000_000) -> dict[str, object]:
    """Time grouping + checking `records` records; write and return the figures."""
    reads, acks = synthetic_run(records)
    started = time.perf_counter()
    cpu_started = time.process_time()
    ledger = ClusterLedger()
    for ack in acks:
        ledger.add_ack(ack)
    ledger.producers = {a.producer_id for a in acks[:64]}
    results = check_cluster("main", reads, ledger)
    report = VerifyReport(run_dir="bench", partitions=results).finish(
        Contract(profile="idempotent"))
    elapsed_s = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_started  # on a shared machine wall time also measures others
    figures: dict[str, object] = {
        "benchmark": "verify.check",
        "records": records,
        "records_read": report.records_read,
        "elapsed_s": round(elapsed_s, 3),
        "records_per_s": round(records / elapsed_s),
        "cpu_s": round(cpu_s, 3),
        "records_per_cpu_s": round(records / cpu_s),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "totals": {k: v for k, v in report.totals.items() if v},
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    print(json.dumps(run_bench(Path("results/bench/verify.json")), indent=2))
