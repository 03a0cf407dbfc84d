"""Bad input fails up front with a ValidationError naming the field."""

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
