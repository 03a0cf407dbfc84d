"""LoadSpec: what a load run does, validated before any process starts."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, get_args

from riftdrill.errors import ValidationError
from riftdrill.load.allocator import CHOICES as ALLOCATORS
from riftdrill.load.record import HEADER_SIZE

KeyMode = Literal["none", "round-robin", "per-key"]
Profile = Literal["idempotent", "legacy"]
Acks = Literal["all", "-1", "0", "1"]
Compression = Literal["none", "gzip", "snappy", "lz4", "zstd"]
PROFILES: tuple[Profile, ...] = get_args(Profile)
MAX_IN_FLIGHT = 1_000_000  # librdkafka's ceiling (and its default)
MAX_IDEMPOTENT_IN_FLIGHT = 5  # librdkafka refuses more with enable.idempotence
MAX_FENCE_WAIT_S = 3600.0
DEFAULT_FENCE_WAIT_S = 120.0
ACKS: tuple[Acks, ...] = get_args(Acks)
COMPRESSIONS: tuple[Compression, ...] = get_args(Compression)
KEY_MODES: tuple[KeyMode, ...] = get_args(KeyMode)
MAX_SIZE_BYTES = 8 * 1024 * 1024
MAX_DURATION_S = 7 * 24 * 3600
HUB_RATE_PER_S = 50.0
MAX_HUB_RATE_PER_S = 2000.0
DEFAULT_HUB_DRAIN_S = 60.0
MAX_HUB_DRAIN_S = 3600.0


@dataclass
class LoadSpec:
    rate_per_s: float  # total target rate over all producers of the run (open model)
    duration_s: float
    size_bytes: int = 1024  # whole record value, riftdrill's 32-byte header included
    topic: str = "riftdrill"
    partitions: int = 6
    replication_factor: int | None = None  # None: the inventory's
    acks: str = "all"
    # The producer contract. "idempotent": enable.idempotence, acks=all, at most 5 in flight
    # (Kafka: no duplicates, per-partition order). "legacy": idempotence off and 1000000 in
    # flight (retries may duplicate and reorder). None = the profile's value; resolved at init.
    profile: Profile = "idempotent"
    idempotence: bool | None = None
    max_in_flight: int | None = None  # max.in.flight.requests.per.connection
    compression: str = "none"
    linger_ms: float = 5
    batch_size: int = 65536
    keys: KeyMode = "round-robin"
    key_count: int = 64
    placement: list[str] | None = None  # clouds that run producers; None: every inventory cloud
    # Every cloud of the whole run when this runner runs only `placement`'s share of it (one
    # runner per load VM, riftdrill.load.remote): process indexes (so producer ids) and
    # the rate split count all of them. None: this runner is the whole run.
    run_clouds: list[str] | None = None
    producers_per_cloud: int = 1
    consumers: bool = True
    consumers_per_cloud: int = 1
    consumer_group: str | None = None  # None: riftdrill-<run dir name>
    delivery_timeout_ms: int = 30000  # librdkafka message.timeout.ms: a stuck send becomes an error
    ledger: bool = True
    locust_report: Literal["per-message", "per-poll"] = "per-message"
    trace_memory: bool = False  # diagnostic: tracemalloc in each Locust process (load/tracemem.py)
    allocator: str = "auto"  # each Locust process's C allocator (load/allocator.py)
    # After its producers are done, how long consumers may read on. More than a consumer's own
    # recovery: a session timeout (45 s) then a request timeout (30 s) to a coordinator that
    # cannot commit (a cloud outage under the inter-region link stalled the group ~80 s).
    fence_wait_s: float = DEFAULT_FENCE_WAIT_S
    # The integration hub's row workload beside the producers (load/hubload.py): changes/s on
    # the source database. None: HUB_RATE_PER_S when the deployed lab has a hub, else none;
    # 0: none. After the load, up to hub_drain_s for the sink to show every final state.
    hub_rate_per_s: float | None = None
    hub_drain_s: float = DEFAULT_HUB_DRAIN_S
    # An OpenMessaging Benchmark workload's name (load/omb.py) and warm-up: the first warmup_s
    # of duration_s run but are left out of the OMB result (load/ombresult.py), as OMB does.
    workload_name: str | None = None
    warmup_s: float = 0.0
    # OMB's consumerBacklogSizeGB / backlogDrainRatio (load/backlog.py): after the warm-up the
    # consumers pause until the backlog is this big, then drain it. 0: no backlog phase.
    backlog_bytes: int = 0
    backlog_drain_ratio: float = 1.0

    def __post_init__(self) -> None:
        _need(self.profile in PROFILES, "profile",
              f"{self.profile!r} must be one of {', '.join(PROFILES)}")  # fmt: skip
        legacy = self.profile == "legacy"
        if self.idempotence is None:
            self.idempotence = not legacy
        if self.max_in_flight is None:
            self.max_in_flight = MAX_IN_FLIGHT if legacy else MAX_IDEMPOTENT_IN_FLIGHT
        validate(self)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoadSpec:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValidationError(f"unknown load spec field(s): {', '.join(unknown)}")
        if "profile" not in data and data.get("idempotence") is False:
            data = {**data, "profile": "legacy"}  # a spec from before profiles existed
        return cls(**data)


def _need(ok: bool, field: str, message: str) -> None:
    if not ok:
        raise ValidationError(f"invalid {field}: {message}")


def _is_num(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def producer_settings(acks: str, idempotence: bool, max_in_flight: int) -> dict[str, Any]:
    """The producer contract as every ledger header records it (`"producer"`), read back by
    riftdrill.verify.contract.producer_contract."""
    return {"acks": str(acks), "idempotence": bool(idempotence), "max_in_flight": int(max_in_flight)}


def producer_problem(acks: str, idempotence: bool, max_in_flight: int | None) -> str | None:
    """Why librdkafka (or the idempotent contract) would refuse these settings; None if fine.
    Shared by LoadSpec and the Locust options."""
    if not (isinstance(max_in_flight, int) and not isinstance(max_in_flight, bool)
            and 1 <= max_in_flight <= MAX_IN_FLIGHT):
        return f"max_in_flight {max_in_flight!r} must be in [1, {MAX_IN_FLIGHT}]"
    if idempotence and str(acks) not in ("all", "-1"):
        return (f"idempotence needs acks=all, got acks={acks}: use acks all, or the legacy "
                "profile (idempotence off)")
    if idempotence and max_in_flight > MAX_IDEMPOTENT_IN_FLIGHT:
        return (f"idempotence allows at most {MAX_IDEMPOTENT_IN_FLIGHT} in flight, got "
                f"max_in_flight={max_in_flight}: lower it, or use the legacy profile")
    return None


def validate(s: LoadSpec) -> None:
    _need(_is_num(s.rate_per_s) and 0 < s.rate_per_s <= 10_000_000, "rate_per_s",
          f"{s.rate_per_s!r} must be a number of messages/s in (0, 10000000]")  # fmt: skip
    _need(_is_num(s.duration_s) and 0 < s.duration_s <= MAX_DURATION_S, "duration_s",
          f"{s.duration_s!r} must be seconds in (0, {MAX_DURATION_S}]")  # fmt: skip
    _need(isinstance(s.size_bytes, int) and HEADER_SIZE <= s.size_bytes <= MAX_SIZE_BYTES,
          "size_bytes", f"{s.size_bytes!r} must be bytes in [{HEADER_SIZE}, {MAX_SIZE_BYTES}]"
          f" (a record carries a {HEADER_SIZE}-byte riftdrill header)")  # fmt: skip
    _need(isinstance(s.topic, str) and 0 < len(s.topic) <= 249
          and all(c.isalnum() or c in "._-" for c in s.topic), "topic",
          f"{s.topic!r} is not a legal Kafka topic name")  # fmt: skip
    _need(isinstance(s.partitions, int) and 1 <= s.partitions <= 10000, "partitions",
          f"{s.partitions!r} must be in [1, 10000]")  # fmt: skip
    _need(s.replication_factor is None or (isinstance(s.replication_factor, int)
          and 1 <= s.replication_factor <= 32), "replication_factor",
          f"{s.replication_factor!r} must be in [1, 32] or None")  # fmt: skip
    _need(str(s.acks) in ACKS, "acks", f"{s.acks!r} must be one of {', '.join(ACKS)}")
    _need(isinstance(s.idempotence, bool), "idempotence", f"{s.idempotence!r} must be true or false")
    want = s.profile == "idempotent"
    _need(s.idempotence == want, "profile",
          f"profile {s.profile} means idempotence {'on' if want else 'off'}, got idempotence="
          f"{s.idempotence}: drop the idempotence setting or change the profile")  # fmt: skip
    problem = producer_problem(str(s.acks), bool(s.idempotence), s.max_in_flight)
    _need(problem is None, "producer settings", str(problem))
    _need(s.compression in COMPRESSIONS, "compression",
          f"{s.compression!r} must be one of {', '.join(COMPRESSIONS)}")  # fmt: skip
    _need(_is_num(s.linger_ms) and 0 <= s.linger_ms <= 900_000, "linger_ms",
          f"{s.linger_ms!r} must be in [0, 900000]")  # fmt: skip
    _need(isinstance(s.batch_size, int) and 1 <= s.batch_size <= 2**31 - 1, "batch_size",
          f"{s.batch_size!r} must be a positive byte count")  # fmt: skip
    _need(s.keys in KEY_MODES, "keys", f"{s.keys!r} must be one of {', '.join(KEY_MODES)}")
    _need(isinstance(s.key_count, int) and 1 <= s.key_count <= 1_000_000, "key_count",
          f"{s.key_count!r} must be in [1, 1000000]")  # fmt: skip
    _need(s.placement is None or (isinstance(s.placement, list) and len(s.placement) > 0
          and all(isinstance(c, str) and c for c in s.placement)), "placement",
          "must be a non-empty list of cloud names")  # fmt: skip
    _need(s.run_clouds is None or (isinstance(s.run_clouds, list) and s.placement is not None
          and set(s.placement) <= set(s.run_clouds)), "run_clouds",
          "must list every cloud of the run, placement's among them")  # fmt: skip
    _need(isinstance(s.producers_per_cloud, int) and 1 <= s.producers_per_cloud <= 64,
          "producers_per_cloud", f"{s.producers_per_cloud!r} must be in [1, 64]")  # fmt: skip
    _need(isinstance(s.consumers_per_cloud, int) and 0 <= s.consumers_per_cloud <= 64,
          "consumers_per_cloud", f"{s.consumers_per_cloud!r} must be in [0, 64]")  # fmt: skip
    _need(isinstance(s.delivery_timeout_ms, int) and 1000 <= s.delivery_timeout_ms
          <= 3_600_000, "delivery_timeout_ms", f"{s.delivery_timeout_ms!r} must be in"
          " [1000, 3600000]")  # fmt: skip
    _need(s.locust_report in ("per-message", "per-poll"), "locust_report",
          f"{s.locust_report!r} must be per-message or per-poll")  # fmt: skip
    _need(s.allocator in ALLOCATORS, "allocator",
          f"{s.allocator!r} must be one of {', '.join(ALLOCATORS)}")
    _need(_is_num(s.fence_wait_s) and 0 <= s.fence_wait_s <= MAX_FENCE_WAIT_S, "fence_wait_s",
          f"{s.fence_wait_s!r} must be seconds in [0, {MAX_FENCE_WAIT_S:g}]")  # fmt: skip
    _need(s.hub_rate_per_s is None or (_is_num(s.hub_rate_per_s)
          and 0 <= s.hub_rate_per_s <= MAX_HUB_RATE_PER_S), "hub_rate_per_s",
          f"{s.hub_rate_per_s!r} must be changes/s in [0, {MAX_HUB_RATE_PER_S:g}] (0: no row "
          "workload)")  # fmt: skip
    _need(_is_num(s.hub_drain_s) and 0 <= s.hub_drain_s <= MAX_HUB_DRAIN_S, "hub_drain_s",
          f"{s.hub_drain_s!r} must be seconds in [0, {MAX_HUB_DRAIN_S:g}]")  # fmt: skip
    _need(_is_num(s.warmup_s) and 0 <= s.warmup_s < s.duration_s, "warmup_s",
          f"{s.warmup_s!r} must be seconds in [0, duration_s)")  # fmt: skip
    _need(isinstance(s.backlog_bytes, int) and s.backlog_bytes >= 0, "backlog_bytes",
          f"{s.backlog_bytes!r} must be bytes >= 0 (0: no backlog phase)")  # fmt: skip
    _need(s.backlog_bytes == 0 or (s.consumers and s.consumers_per_cloud > 0), "backlog_bytes",
          "a backlog phase needs consumers to pause and drain: turn consumers on")  # fmt: skip
    _need(_is_num(s.backlog_drain_ratio) and 0 <= s.backlog_drain_ratio <= 1,
          "backlog_drain_ratio", f"{s.backlog_drain_ratio!r} must be in [0, 1]")  # fmt: skip
