"""Object-store weather in the real lab: every store sits behind its weather proxy; a brownout
answers as S3 and GCS do (503 SlowDown, 429 rateLimitExceeded), adds latency, and clears."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from riftdrill.inventory import Inventory
from riftdrill.lab.stores import s3_client
from tests.conftest import riftdrill

pytestmark = pytest.mark.lab


def _s3(lab: Inventory):  # type: ignore[no-untyped-def]
    store = next(s for s in lab.stores if s.api == "s3")
    return store, s3_client(store.endpoint)


def test_an_s3_brownout_slows_and_refuses_then_clears(lab: Inventory) -> None:
    store, s3 = _s3(lab)
    bucket = store.buckets[0]
    s3.head_bucket(Bucket=bucket)  # through the proxy, transparent
    riftdrill("fault", "brownout", store.name, "--weather", "errors=100%")
    try:
        with pytest.raises(ClientError) as err:
            s3.head_bucket(Bucket=bucket)
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        riftdrill("fault", "brownout", store.name, "--weather", "latency=300ms")  # the newest wins
        t0 = time.monotonic()
        s3.put_object(Bucket=bucket, Key="weather-probe", Body=b"x" * 1024)  # signed: Host kept
        assert time.monotonic() - t0 >= 0.3
    finally:
        riftdrill("fault", "clear-brownout", store.name)
    t0 = time.monotonic()
    assert s3.get_object(Bucket=bucket, Key="weather-probe")["Body"].read() == b"x" * 1024
    assert time.monotonic() - t0 < 0.3


def test_gcs_throttling_is_a_429_and_heal_clears_a_brownout_left_behind(lab: Inventory) -> None:
    import requests

    store = next(s for s in lab.stores if s.api == "gcs")
    url = f"{store.endpoint}/storage/v1/b/{store.buckets[0]}"
    assert requests.get(url, timeout=10).status_code == 200
    riftdrill("fault", "brownout", store.name, "--weather", "throttle=1rps,burst=1")
    statuses = [requests.get(url, timeout=10).status_code for _ in range(3)]
    assert statuses[0] == 200 and 429 in statuses[1:], statuses
    body = requests.get(url, timeout=10).json()
    assert body["error"]["errors"][0]["reason"] == "rateLimitExceeded"
    riftdrill("heal")  # a brownout left behind is healed like any fault
    assert [requests.get(url, timeout=10).status_code for _ in range(3)] == [200, 200, 200]


def test_a_bad_weather_is_one_line_and_injects_nothing(lab: Inventory) -> None:
    store, _ = _s3(lab)
    proc = riftdrill("fault", "brownout", store.name, "--weather", "errors=120%", check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "riftdrill: error: store weather errors 120 is out of range: 0..100 %"]
    import json

    assert not json.loads(riftdrill("status", "--json").stdout)["faults"]
