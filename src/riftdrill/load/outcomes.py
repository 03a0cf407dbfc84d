"""What became of every send of a run: acked or failed, from the producer ledgers.

The ledgers hold one outcome per send that got an answer (an `Ack`, or a `DeliveryError` with
librdkafka's error name); a send still in flight when its producer stopped has neither and is
not counted (the verifier reports such records as `unacknowledged`). The figure covers the whole
run, before, during and after the faults; summary.json carries it as `sends` and slo.yaml bounds
`failed_ratio` with `max_failed_send_ratio`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel

from riftdrill.load.ledger import Ack, ProducerLedger, ledger_files, read_producer_ledger


class SendOutcomes(BaseModel):
    attempted: int  # acked + failed: sends that got an answer
    acked: int
    failed: int
    failed_ratio: float  # failed / attempted; 0.0 when nothing was attempted
    errors_by_code: dict[str, int] = {}  # librdkafka error name -> failed sends

    @classmethod
    def from_counts(cls, acked: int, errors_by_code: dict[str, int]) -> SendOutcomes:
        failed = sum(errors_by_code.values())
        attempted = acked + failed
        return cls(attempted=attempted, acked=acked, failed=failed,
                   failed_ratio=failed / attempted if attempted else 0.0,
                   errors_by_code=dict(sorted(errors_by_code.items())))


def send_outcomes(run_dir: Path, producers: Iterable[ProducerLedger] | None = None
                  ) -> SendOutcomes:
    """Every producer ledger of the run (`producers` if already read, else read here, one at a
    time). A torn tail is ignored (as everywhere); a damaged ledger raises LedgerCorruptError
    (a ValueError), an unreadable one OSError."""
    acked = 0
    errors: Counter[str] = Counter()
    if producers is None:
        producers = (read_producer_ledger(path) for path in ledger_files(run_dir))
    for ledger in producers:
        for entry in ledger.entries:
            if isinstance(entry, Ack):
                acked += 1
            else:
                errors[entry.error_name] += 1
    return SendOutcomes.from_counts(acked, dict(errors))
