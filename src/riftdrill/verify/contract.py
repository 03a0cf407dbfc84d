"""The contract a run held, and the one allow-list derived from it.

Jepsen's `jepsen.tests.kafka` is the model: every anomaly is bad unless the test's declared
setup makes it legal (`allowed-error-types`). Here the setup is read from what the run's
producers and consumers actually used (their ledger headers), never from what a flag intended:

- `idempotent` (the default for drills): acks=all, enable.idempotence=true,
  max.in.flight.requests.per.connection <= 5. Kafka promises no duplicates and per-producer
  order within a partition, so `duplicates` and `reordered` fail.
- `legacy`: anything else (idempotence off, acks=1/0, more than 5 in flight). Retries may
  duplicate and reorder records, so those two are allowed, and reported.

The mirror's contract is MirrorMaker 2's own (`MirrorMaker.delivery` in the inventory):
`at-least-once` (the default: without exactly.once.source.support, KIP-618, a restarted MM2
copies again what it had not committed) allows `mirror_duplicates`; `exactly-once` does not.
The integration hub's is its CDC source connector's (`connector_delivery`, None when no hub was
checked), on the same terms: Kafka Connect without exactly.once.source.support redelivers what a
restarted worker had not committed, so `at-least-once` allows `change_duplicate` (Debezium's
JDBC sink upserts by primary key, so a duplicate is harmless in the table, and still reported);
`exactly-once` does not. No other hub kind is ever allowed.
Always allowed, whatever the contract: `failed_present` and `unacknowledged`. A failed or
unanswered send is indeterminate in Kafka (the broker may have appended it before the client
gave up); Jepsen treats such writes as "info" operations the same way. Nothing else is allowed:
`lost`, `inconsistent_offset`, `unreadable`, `corrupt`, `unexpected`, `missing_in_mirror`,
`poll_skip`, `nonmonotonic_poll`, `undelivered`, `unconsumed` and every hub kind but
`change_duplicate` fail every run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from riftdrill.inventory import ConnectorDelivery, MirrorDelivery
from riftdrill.load.spec import MAX_IDEMPOTENT_IN_FLIGHT, Profile
from riftdrill.verify.anomalies import KINDS, AnomalyKind

ALWAYS_ALLOWED: tuple[AnomalyKind, ...] = ("failed_present", "unacknowledged")
LEGACY_ALLOWED: tuple[AnomalyKind, ...] = ("duplicates", "reordered")


class ProducerContract(BaseModel):
    """What one producer was configured with (a ledger header's `producer`)."""

    acks: str = "unknown"
    idempotence: bool = False
    max_in_flight: int = 1_000_000  # librdkafka's default; unknown counts as unbounded

    @property
    def idempotent(self) -> bool:
        return (self.acks in ("all", "-1") and self.idempotence
                and self.max_in_flight <= MAX_IDEMPOTENT_IN_FLIGHT)


class Contract(BaseModel):
    profile: Profile
    producers: int = 0  # ledgers it was derived from
    acks: list[str] = []  # every acks setting seen
    idempotence: bool = False  # every producer had it on
    max_in_flight: int = 0  # the largest seen
    consumers_checked: bool = False  # consumer ledgers were present and checked
    mirror_delivery: MirrorDelivery | None = None  # None: no mirror was checked
    connector_delivery: ConnectorDelivery | None = None  # None: no integration hub was checked


def producer_contract(header: Mapping[str, Any]) -> ProducerContract:
    """A ledger header's producer settings; ledgers from before they were recorded are legacy."""
    raw = header.get("producer")
    return ProducerContract.model_validate(raw) if isinstance(raw, dict) else ProducerContract()


def run_contract(producers: Iterable[ProducerContract], consumers_checked: bool,
                 mirror_delivery: MirrorDelivery | None = None,
                 connector_delivery: ConnectorDelivery | None = None) -> Contract:
    """The run is idempotent only if every producer was: one legacy producer can duplicate."""
    ps = list(producers)
    profile: Profile = "idempotent" if ps and all(p.idempotent for p in ps) else "legacy"
    return Contract(profile=profile, producers=len(ps), acks=sorted({p.acks for p in ps}),
                    idempotence=bool(ps) and all(p.idempotence for p in ps),
                    max_in_flight=max((p.max_in_flight for p in ps), default=0),
                    consumers_checked=consumers_checked, mirror_delivery=mirror_delivery,
                    connector_delivery=connector_delivery)


def allowed_kinds(contract: Contract) -> tuple[AnomalyKind, ...]:
    """The allow-list: the only place that decides an anomaly may pass."""
    allowed = set(ALWAYS_ALLOWED)
    if contract.profile == "legacy":
        allowed |= set(LEGACY_ALLOWED)
    if contract.mirror_delivery == "at-least-once":
        allowed.add("mirror_duplicates")
    if contract.connector_delivery == "at-least-once":
        allowed.add("change_duplicate")
    return tuple(k for k in KINDS if k in allowed)
