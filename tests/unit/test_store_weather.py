"""Object-store weather (lab/storeweather.py): parsing, ranges, and where the servers listen."""

from __future__ import annotations

import pytest

from riftdrill.errors import ValidationError
from riftdrill.lab import storeweather
from riftdrill.lab.stores import StoreSpec, argv, proxy_argv


def test_weather_lists() -> None:
    w = storeweather.parse_weather("latency=0.5s,jitter=200ms,errors=20%,status=500,"
                                   "throttle=50rps,burst=10")
    assert w == storeweather.StoreWeather(latency_ms=500, jitter_ms=200, error_pct=20,
                                          error_status=500, throttle_rps=50, burst=10)
    assert storeweather.parse_weather("errors=5").error_status == 503
    assert "20 % answered 500" in w.describe()


@pytest.mark.parametrize(("text", "problem"), [
    ("errors=120%", "store weather errors 120 is out of range: 0..100 %"),
    ("status=404", "store weather status 404 is not allowed: 500 or 503"),
    ("latency=10ms,jitter=20ms", "store weather jitter 20 is out of range: 0..10 ms"),
    ("burst=0", "store weather burst 0 is out of range: 1..1e+06 requests"),
    ("latency=5h", "store weather latency: unit 'h' is unknown; use ms, s"),
    ("slowness=1", "store weather field 'slowness' is unknown"),
    ("latency", "is not field=number[unit]"),
])
def test_bad_weather_names_the_field(text: str, problem: str) -> None:
    with pytest.raises(ValidationError) as err:
        storeweather.parse_weather(text)
    assert problem in str(err.value)


def test_the_server_listens_behind_its_proxy() -> None:
    spec = StoreSpec(name="aws-s3", cloud="aws", namespace="rd-aws", api="s3",
                     address="198.18.1.5", port=9000, buckets=["b"])
    assert spec.endpoint == "http://198.18.1.5:9000"  # what clients use: the proxy
    assert spec.server_port == 29000
    assert argv(spec)[-2:] == ["-p", "29000"]
    p = proxy_argv(spec)
    assert p[1:] == ["-listen", "198.18.1.5:9000", "-upstream", "198.18.1.5:29000", "-api", "s3",
                     "-control", str(spec.control_socket)]
