"""Bad input fails up front with a ValidationError naming the field."""

from pathlib import Path

import pytest

from riftdrill.errors import ValidationError
from riftdrill.load.spec import LoadSpec


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"rate_per_s": 0}, "rate_per_s"),
        ({"rate_per_s": -1}, "rate_per_s"),
        ({"duration_s": 0}, "duration_s"),
        ({"size_bytes": 10}, "size_bytes"),
        ({"acks": "some"}, "acks"),
        ({"keys": "random"}, "keys"),
        ({"topic": "bad topic"}, "topic"),
        ({"placement": []}, "placement"),
        ({"compression": "brotli"}, "compression"),
    ],
)
def test_invalid_values_name_their_field(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"rate_per_s": 100, "duration_s": 10, **kwargs}
    with pytest.raises(ValidationError, match=field):
        LoadSpec(**args)  # type: ignore[arg-type]


def test_json_round_trip_and_unknown_fields() -> None:
    spec = LoadSpec(rate_per_s=10, duration_s=1, placement=["aws"])
    assert LoadSpec.from_json(spec.to_json()) == spec
    with pytest.raises(ValidationError, match="bogus"):
        LoadSpec.from_json({**spec.to_json(), "bogus": 1})


def test_profiles_derive_the_producer_contract() -> None:
    s = LoadSpec(rate_per_s=1, duration_s=1)
    assert (s.profile, s.idempotence, s.max_in_flight, s.acks) == ("idempotent", True, 5, "all")
    legacy = LoadSpec(rate_per_s=1, duration_s=1, profile="legacy", acks="1")
    assert (legacy.idempotence, legacy.max_in_flight) == (False, 1_000_000)
    assert LoadSpec(rate_per_s=1, duration_s=1, profile="legacy", max_in_flight=3).max_in_flight == 3
    assert LoadSpec(rate_per_s=1, duration_s=1, max_in_flight=1).max_in_flight == 1
    assert LoadSpec.from_json(legacy.to_json()) == legacy


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"profile": "exactly-once"}, "profile"),
        ({"acks": "1"}, "acks=all"),  # idempotence needs acks=all: librdkafka refuses otherwise
        ({"acks": "0"}, "acks=all"),
        ({"max_in_flight": 6}, "at most 5 in flight"),
        ({"max_in_flight": 0}, "max_in_flight"),
        ({"profile": "legacy", "max_in_flight": 1_000_001}, "max_in_flight"),
        ({"idempotence": False}, "profile"),
        ({"profile": "legacy", "idempotence": True}, "profile"),
        ({"fence_wait_s": -1}, "fence_wait_s"),
    ],
)
def test_bad_producer_contracts_are_one_line(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError, match=field) as err:
        LoadSpec(rate_per_s=1, duration_s=1, **kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(err.value)


def test_specs_from_before_profiles_stay_readable() -> None:
    old = LoadSpec(rate_per_s=1, duration_s=1, profile="legacy").to_json()
    del old["profile"], old["max_in_flight"], old["fence_wait_s"]
    spec = LoadSpec.from_json(old)
    assert (spec.profile, spec.idempotence) == ("legacy", False)


def test_launcher_passes_the_contract_and_the_fence_options() -> None:
    from riftdrill.load.runner import worker_command
    from tests.unit.test_inventory import sample

    def cmd(**kw: object) -> list[str]:
        spec = LoadSpec(rate_per_s=1, duration_s=1, **kw)  # type: ignore[arg-type]
        return worker_command(spec, sample(), "gcp", 1, Path("/tmp/r"), 5)

    def value(c: list[str], opt: str) -> str:
        return c[c.index(opt) + 1]

    c = cmd()
    assert "--rd-idempotence" in c and "--rd-no-idempotence" not in c
    assert (value(c, "--rd-max-in-flight"), value(c, "--rd-cluster")) == ("5", "main")
    assert "--rd-await-fences" in c and float(value(c, "--rd-fence-wait-s")) == 120
    legacy = cmd(profile="legacy", fence_wait_s=5)
    assert "--rd-no-idempotence" in legacy and value(legacy, "--rd-max-in-flight") == "1000000"
    assert float(value(legacy, "--rd-fence-wait-s")) == 5


def test_the_row_workload_runs_by_default_only_on_a_hub_lab() -> None:
    from riftdrill.errors import RiftdrillError
    from riftdrill.load.runner import hub_rate_of, stop_timeout_s
    from tests.unit.test_fault_actions import lab

    hub_lab = lab()
    plain = hub_lab.model_copy(update={"hub": None})
    spec = LoadSpec(rate_per_s=10, duration_s=5)
    assert (hub_rate_of(spec, hub_lab), hub_rate_of(spec, plain)) == (50.0, 0.0)
    off = LoadSpec(rate_per_s=10, duration_s=5, hub_rate_per_s=0)
    assert hub_rate_of(off, hub_lab) == 0 and stop_timeout_s(off) < stop_timeout_s(spec)
    with pytest.raises(RiftdrillError, match="make deploy TOPOLOGY=hub"):
        hub_rate_of(LoadSpec(rate_per_s=10, duration_s=5, hub_rate_per_s=20), plain)
    for bad in ({"hub_rate_per_s": -1}, {"hub_rate_per_s": 5000}, {"hub_drain_s": -1}):
        with pytest.raises(ValidationError, match="invalid hub_"):
            LoadSpec(rate_per_s=10, duration_s=5, **bad)  # type: ignore[arg-type]
