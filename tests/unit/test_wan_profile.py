"""The link's weather profiles (lab/wan.py) and how deploy takes them."""

from __future__ import annotations

import pytest

from riftdrill.deploy import DEFAULT_WAN, DeploySpec
from riftdrill.errors import ValidationError
from riftdrill.lab import wan


def test_the_default_profile_is_defined_once() -> None:
    assert DEFAULT_WAN == wan.DEFAULT_PROFILE
    assert DeploySpec().wan == wan.DEFAULT_PROFILE
    p = wan.parse_profile("inter-region")
    assert (p.latency_ms, p.jitter_ms, p.loss_pct, p.rate_mbit) == (25, 5, 0, 1000)
    assert not wan.parse_profile("none").emulated


@pytest.mark.parametrize(("text", "expected"), [
    ("latency=25ms,jitter=5ms,loss=0%,rate=1000mbit", wan.WanProfile(25, 5, 0, 1000)),
    ("latency=0.3s", wan.WanProfile(latency_ms=300)),
    ("rate=1gbit, loss=2.5%", wan.WanProfile(loss_pct=2.5, rate_mbit=1000)),
    ("latency=10", wan.WanProfile(latency_ms=10)),  # the field's own unit when none is given
])
def test_field_lists(text: str, expected: wan.WanProfile) -> None:
    assert wan.parse_profile(text) == expected


@pytest.mark.parametrize(("text", "problem"), [
    ("moon", "WAN profile 'moon' is unknown; use one of inter-region, metro, none"),
    ("latency=-5ms", "WAN profile latency -5 is out of range: 0..60000 ms"),
    ("latency=fast", "is not field=number[unit]"),
    ("loss=150%", "WAN profile loss 150 is out of range: 0..100 %"),
    ("latency=5ms,jitter=10ms", "WAN profile jitter 10 is out of range: 0..5 ms"),
    ("latency=5parsecs", "WAN profile latency: unit 'parsecs' is unknown; use ms, s, us"),
    ("delay=5ms", "WAN profile field 'delay' is unknown; fields: latency, jitter, loss, rate"),
    ("latency=120s", "WAN profile latency 120000 is out of range: 0..60000 ms"),
])
def test_bad_profiles_name_the_field_and_range(text: str, problem: str) -> None:
    with pytest.raises(ValidationError) as err:
        wan.parse_profile(text)
    assert problem in str(err.value) and "\n" not in str(err.value)


def test_deploy_refuses_a_bad_profile_before_anything_runs() -> None:
    with pytest.raises(ValidationError, match="loss 101 is out of range"):
        DeploySpec(wan="loss=101%").validate()
    DeploySpec(wan="metro").validate()
    assert DeploySpec(wan="metro").tf_vars()["wan_profile"] == "metro"
    assert "wan_profile" not in DeploySpec(target="aws-gcp").tf_vars()


def test_the_emulator_gets_the_same_weather_both_ways() -> None:
    both = wan.parse_profile("latency=3ms,rate=10mbit").both()
    assert both["a-to-b"] == both["b-to-a"] == {"latency_ms": 3.0, "jitter_ms": 0.0,
                                                 "loss_pct": 0.0, "rate_mbit": 10.0}


def test_a_silent_emulator_is_a_one_line_lab_error(tmp_path: object) -> None:
    from pathlib import Path

    with pytest.raises(wan.WanControlError, match="does not answer"):
        wan.weather(Path(str(tmp_path)) / "none.sock")
