"""The object stores' weather: latency, errors (503 SlowDown / 500) and throttling, on demand.

What shared-storage users hit on S3 and GCS is rarely a total outage (that is
`block_object_store`) but weather: 503 SlowDown, latency spikes, request throttling. Every lab
store therefore sits behind `riftdrill-storeweather` (tools/storeweather, Go, standard library
only): the store server listens on an internal port (`internal_port`), the proxy on the
store's public address and port, transparent until a `brownout_store` fault gives it weather.
Injected replies are the real services' (S3: 503 SlowDown / 500 InternalError XML; GCS: 429
rateLimitExceeded, 503/500 backendError JSON); the request's Host header is forwarded as
received, so S3 signatures still verify.

Weather: `latency=500ms,jitter=200ms,errors=20%,status=503,throttle=50rps,burst=10` (any
subset; 0 = none).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from riftdrill.errors import ValidationError
from riftdrill.lab.gotools import control

INTERNAL_PORT_OFFSET = 20_000  # the store server's own port: public port + this
WHAT = "store weather proxy"


def internal_port(port: int) -> int:
    return port + INTERNAL_PORT_OFFSET


def control_socket(store: str) -> Path:
    """The control socket of the proxy in front of the store named `store`."""
    from riftdrill.paths import lab_dir

    return lab_dir() / f"storeweather-{store}.sock"


@dataclass(frozen=True)
class StoreWeather:
    latency_ms: float = 0.0
    jitter_ms: float = 0.0  # uniform +- around the latency
    error_pct: float = 0.0  # requests answered with error_status instead of being served
    error_status: int = 503  # 503 (SlowDown / backendError) or 500 (InternalError)
    throttle_rps: float = 0.0  # token bucket rate; beyond it 503 SlowDown (S3) / 429 (GCS); 0 off
    burst: int = 1

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        throttle = f"throttled to {self.throttle_rps:g} req/s" if self.throttle_rps else "no throttle"
        return (f"+{self.latency_ms:g} ms +- {self.jitter_ms:g} ms, {self.error_pct:g} % answered "
                f"{self.error_status}, {throttle}")


_FIELDS = {"latency": ("latency_ms", {"ms": 1.0, "s": 1000.0}),
           "jitter": ("jitter_ms", {"ms": 1.0, "s": 1000.0}),
           "errors": ("error_pct", {"%": 1.0}), "status": ("error_status", {"": 1.0}),
           "throttle": ("throttle_rps", {"rps": 1.0}), "burst": ("burst", {"": 1.0})}
_ITEM = re.compile(r"^\s*(\w+)\s*=\s*([-+]?[0-9]*\.?[0-9]+)\s*([a-z%]*)\s*$", re.IGNORECASE)


def parse_weather(text: str) -> StoreWeather:
    """`field=value[unit],...`; a ValidationError names the field and its range."""
    values: dict[str, Any] = {}
    for item in text.split(","):
        m = _ITEM.match(item)
        if m is None:
            raise ValidationError(f"store weather item {item.strip()!r} is not field=number[unit] "
                                  f"(fields: {', '.join(_FIELDS)})")
        key, number, unit = m.group(1).lower(), float(m.group(2)), m.group(3).lower()
        if key not in _FIELDS:
            raise ValidationError(f"store weather field {key!r} is unknown; fields: "
                                  f"{', '.join(_FIELDS)}")
        attr, units = _FIELDS[key]
        default = next(iter(units))
        scale = units.get(unit or default)
        if scale is None:
            raise ValidationError(f"store weather {key}: unit {unit!r} is unknown; use "
                                  f"{', '.join(u or '(none)' for u in units)}")
        values[attr] = int(number) if attr in ("error_status", "burst") else number * scale
    return validated(StoreWeather(**values))


def validated(w: StoreWeather) -> StoreWeather:
    checks: list[tuple[str, float, float, float, str]] = [
        ("latency", w.latency_ms, 0, 60_000, "ms"),
        ("jitter", w.jitter_ms, 0, w.latency_ms, "ms (at most the latency)"),
        ("errors", w.error_pct, 0, 100, "%"),
        ("throttle", w.throttle_rps, 0, 1_000_000, "requests/s (0: off)"),
        ("burst", w.burst, 1, 1_000_000, "requests")]
    for name, value, low, high, unit in checks:
        if not low <= value <= high:
            raise ValidationError(f"store weather {name} {value:g} is out of range: "
                                  f"{low:g}..{high:g} {unit}")
    if w.error_status not in (500, 503):
        raise ValidationError(f"store weather status {w.error_status} is not allowed: 500 or 503")
    return w


def set_weather(sock: Path, weather: dict[str, Any]) -> dict[str, Any]:
    return control(sock, {"op": "set", "profile": weather}, WHAT)


def reset_weather(sock: Path) -> dict[str, Any]:
    return control(sock, {"op": "reset"}, WHAT)


def weather(sock: Path) -> dict[str, Any]:
    return control(sock, {"op": "get"}, WHAT)
