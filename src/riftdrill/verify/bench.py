"""Benchmarks of the verifier: the checker alone on a synthetic run of >= 1M records (from
what verify_run holds before checking: the reads' arrays and the ledgers' records), and
end to end (ledger read, fence, replay from the lab's real brokers, check) on 1M records of
1 KiB produced into the lab first.

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
from typing import Any

from riftdrill.gcpause import gc_paused
from riftdrill.inventory import Inventory
from riftdrill.security.client import OFF, ClientSecurity, client_security
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


def as_read_and_ledger(reads: list[PartitionRead], acks: list[_Ack]) -> Any:
    """What verify_run has in hand before checking: the reads with the arrays the fast
    replay reader makes, and the acks as the ledger reader's ENTRY_DTYPE records."""
    import numpy as np

    from riftdrill.load.ledger import KIND_ACK, entry_dtype
    from riftdrill.verify.vectorized import ReadColumns

    for read in reads:
        read.arrays = ReadColumns(np.array(read.offsets, np.int64),
                                  np.array(read.producer_ids, np.int64),
                                  np.array(read.seqs, np.int64),
                                  np.array(read.checksums, np.int64),
                                  np.array(read.checksum_ok, np.bool_))
    records = np.zeros(len(acks), entry_dtype())
    records["kind"] = KIND_ACK
    for name in ("partition", "offset", "producer_id", "seq", "checksum"):
        records[name] = [getattr(a, name) for a in acks]
    return records


def timed_check(reads: list[PartitionRead], ledger_records: Any,
                producers: set[int]) -> tuple[VerifyReport, dict[str, float]]:
    """Group the acks and check them once, as verify_run does; its wall and CPU seconds (on a
    shared machine wall time also measures others: CPU time too)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    with gc_paused():  # as in verify_run
        ledger = ClusterLedger()
        ledger.add_records(["bench"], ledger_records)
        ledger.producers = producers
        report = VerifyReport(run_dir="bench", partitions=check_cluster("main", reads, ledger)
                              ).finish(Contract(profile="idempotent"))
    return report, {"elapsed_s": round(time.perf_counter() - started, 3),
                    "cpu_s": round(time.process_time() - cpu_started, 3)}


def run_bench(out_path: Path, records: int = 1_000_000, trials: int = 5) -> dict[str, object]:
    """Time grouping + checking `records` records `trials` times; write and return the
    figures (the median trial's, with every trial's times: this machine's CPU is shared)."""
    import statistics

    reads, acks = synthetic_run(records)
    ledger_records = as_read_and_ledger(reads, acks)
    producers = {a.producer_id for a in acks[:64]}
    runs: list[dict[str, float]] = []
    report: VerifyReport | None = None
    for _ in range(trials):
        report, timing = timed_check(reads, ledger_records, producers)
        runs.append(timing)
    assert report is not None
    elapsed_s = statistics.median(r["elapsed_s"] for r in runs)
    cpu_s = statistics.median(r["cpu_s"] for r in runs)
    figures: dict[str, object] = {
        "benchmark": "verify.check",
        "records": records,
        "records_read": report.records_read,
        "elapsed_s": elapsed_s,
        "records_per_s": round(records / elapsed_s),
        "cpu_s": cpu_s,
        "records_per_cpu_s": round(records / cpu_s),
        "runs_records_per_s": [round(records / r["elapsed_s"]) for r in runs],
        "trials": runs,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "totals": {k: v for k, v in report.totals.items() if v},
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


def produce_for_bench(bootstrap: str, topic: str, run_dir: Path, cloud: str, records: int,
                      size_bytes: int, security: ClientSecurity = OFF) -> None:
    """`records` riftdrill records, produced as fast as the cluster takes them (idempotent,
    acks=all), with the ledger the verifier reads."""
    import zlib

    from confluent_kafka import Producer

    from riftdrill.load.ledger import LedgerWriter
    from riftdrill.load.record import HEADER, MAGIC

    payload = os.urandom(size_bytes - 32)
    crc = zlib.crc32(payload)
    start_ns = time.time_ns()
    contract = {"acks": "all", "idempotence": True, "max_in_flight": 5}
    with LedgerWriter(run_dir / "load" / "ledgers" / f"{cloud}-p1.rdl", 1, cloud, [topic],
                      bootstrap, start_ns, producer=contract) as ledger:
        failed: list[str] = []

        def on_delivery(err: object, msg: object) -> None:
            if err is not None:
                failed.append(str(err))
                return
            value = msg.value()  # type: ignore[attr-defined]
            seq = int.from_bytes(value[12:20], "big")
            ledger.append_ack(topic, msg.partition(), msg.offset(), None, seq, crc,  # type: ignore[attr-defined]
                              start_ns, time.time_ns())

        producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                             "enable.idempotence": True, "linger.ms": 20,
                             "batch.size": 1_000_000, "queue.buffering.max.kbytes": 1_048_576,
                             "on_delivery": on_delivery, **security.librdkafka()})
        for seq in range(records):
            value = HEADER.pack(MAGIC, 1, seq, start_ns, crc) + payload
            while True:
                try:
                    producer.produce(topic, value)
                    break
                except BufferError:
                    producer.poll(0.05)
            if seq % 1000 == 0:
                producer.poll(0)
        if producer.flush(300) or failed:
            raise RuntimeError(f"bench load incomplete: {failed[:3]}")


READERS = ("native", "librdkafka")


def run_end_to_end(inv: Inventory, records: int = 1_000_000, size_bytes: int = 1024,
                   partitions: int = 12, trials: int = 3) -> dict[str, object]:
    """Produce `records` into a fresh topic of the lab, then time `verify_run` on them
    `trials` times with each replay reader, alternating (every trial writes its own fence and
    reads everything again). The headline is the median of the default reader, the fast one."""
    import shutil
    import statistics
    import tempfile
    import uuid

    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    from riftdrill.verify.replay import cluster_bootstrap
    from riftdrill.verify.verifier import REPLAY_WORKERS, replay_for, verify_run

    cluster = inv.clusters[0]
    bootstrap = cluster_bootstrap(inv, cluster.name)
    topic = f"rd-bench-verify-{uuid.uuid4().hex[:8]}"
    writer = client_security(inv.security, "load")  # its topic, its records, its delete
    admin = AdminClient({"bootstrap.servers": bootstrap, **writer.librdkafka()})
    rf = min(inv.replication_factor, len(cluster.brokers))
    admin.create_topics([NewTopic(topic, partitions, rf)])[topic].result(30)
    run_dir = Path(tempfile.mkdtemp(prefix="rd-bench-verify-"))
    by_reader: dict[str, list[dict[str, float]]] = {}
    load_before = os.getloadavg()[0]
    try:
        produce_for_bench(bootstrap, topic, run_dir, cluster.clouds[0], records, size_bytes,
                          writer)
        for _ in range(trials):
            for reader in READERS:
                started = time.perf_counter()
                cpu_started = time.process_time()
                report = verify_run(run_dir, inv, clusters=[cluster.name],
                                    replay=replay_for(inv, native=reader == "native"))
                elapsed_s = time.perf_counter() - started
                if not report.passed or report.records_read != records:
                    raise RuntimeError(f"bench verify not clean: {report.totals} "
                                       f"read {report.records_read}")
                if report.readers != {reader: partitions}:
                    raise RuntimeError(f"bench verify read with {report.readers}, not {reader}")
                by_reader.setdefault(reader, []).append({
                    "s": round(elapsed_s, 3), "replay_s": report.replay_s,
                    "ledger_s": report.ledger_s, "fence_s": report.fence_s,
                    "check_s": report.check_s,
                    # this process only: spawned replay workers are not counted
                    "cpu_s_this_process": round(time.process_time() - cpu_started, 3)})
    finally:
        admin.delete_topics([topic])[topic].result(60)
        shutil.rmtree(run_dir, ignore_errors=True)

    def summary(trials_: list[dict[str, float]]) -> dict[str, object]:
        times = [t["s"] for t in trials_]
        median = sorted(trials_, key=lambda t: t["s"])[len(trials_) // 2]
        return {"median_s": round(statistics.median(times), 3), "min_s": min(times),
                "max_s": max(times),
                "median_records_per_s": round(records / statistics.median(times)),
                "median_trial": median, "trials": trials_}

    fast = summary(by_reader["native"])
    median = fast["median_trial"]
    assert isinstance(median, dict)
    return {
        "end_to_end_records": records,
        "end_to_end_record_bytes": size_bytes,
        "end_to_end_partitions": partitions,
        "end_to_end_reader": "native",
        "end_to_end_s": fast["median_s"],
        "end_to_end_records_per_s": fast["median_records_per_s"],
        # the median trial's phases (ledger reading overlaps the replay)
        "end_to_end_replay_s": median["replay_s"],
        "end_to_end_ledger_s": median["ledger_s"],
        "end_to_end_check_s": median["check_s"],
        "end_to_end_by_reader": {r: summary(t) for r, t in by_reader.items()},
        "end_to_end_librdkafka_workers": REPLAY_WORKERS,
        "end_to_end_load_avg_1m_before": round(load_before, 2),
        "end_to_end_load_avg_1m_after": round(os.getloadavg()[0], 2),
        "end_to_end_engine": f"{inv.engine} {inv.engine_version}",
        "end_to_end_replication_factor": rf,
    }


if __name__ == "__main__":
    print(json.dumps(run_bench(Path("results/bench/verify.json")), indent=2))
