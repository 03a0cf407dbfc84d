"""The cross-cloud link's weather: latency, jitter, loss and bandwidth, emulated in userspace.

This kernel has no sch_netem (nor tbf or fq, and nft has no `queue`), so the router namespace
policy-routes every packet crossing between the clouds into a TUN device, where `riftdrill-wan`
(tools/wan, Go, built by `make setup`) delays, drops or paces it per direction and writes it
back; the kernel then routes it on to the other cloud. The nft fault rules (sever, asymmetric,
flap) see each packet before it reaches the TUN, so they still cut existing connections. If the
emulator dies, the TUN stays and nothing crosses: a dead emulator shows as a severed link
(`riftdrill status`), never as a silently faster one.

Profiles: a name from PROFILES, or `latency=25ms,jitter=5ms,loss=0.1%,rate=1000mbit` (any
subset; the rest 0 = none, rate 0 = unlimited). The default, `inter-region`, is a cross-cloud
pair of regions a country apart: 25 ms one way (50 ms round trip) +- 5 ms, no loss, 1 Gbit/s.
Public ping surveys between AWS and GCP regions (Sachin Agarwal, "Public Cloud Inter-region
Network Latency as Heat-maps", 2018) put US east <-> central/west pairs at roughly 25-70 ms of
round trip and same-metro pairs (AWS us-east-1 <-> GCP us-east4, both in northern Virginia) at
a few ms: `metro` is that case.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from riftdrill.errors import LabError, ValidationError
from riftdrill.lab import gotools
from riftdrill.lab.gotools import ControlError, control

MAX_LATENCY_MS = 60_000.0
MAX_RATE_MBIT = 100_000.0


@dataclass(frozen=True)
class WanProfile:
    """One direction's weather (both directions share it unless a fault says otherwise)."""

    latency_ms: float = 0.0  # one way
    jitter_ms: float = 0.0  # uniform +- around the latency; never reorders packets
    loss_pct: float = 0.0
    rate_mbit: float = 0.0  # 0: unlimited

    @property
    def emulated(self) -> bool:
        return any((self.latency_ms, self.jitter_ms, self.loss_pct, self.rate_mbit))

    def describe(self) -> str:
        if not self.emulated:
            return "no emulation (wire speed)"
        rate = f"{self.rate_mbit:g} Mbit/s" if self.rate_mbit else "unlimited"
        return (f"{self.latency_ms:g} ms one way +- {self.jitter_ms:g} ms, {self.loss_pct:g} % "
                f"loss, {rate}")

    def to_json(self) -> dict[str, float]:
        return asdict(self)

    def both(self) -> dict[str, dict[str, float]]:
        """The emulator's profile: the same weather in both directions."""
        return {"a-to-b": self.to_json(), "b-to-a": self.to_json()}


def degraded(base: WanProfile, bad: WanProfile, direction: str) -> dict[str, dict[str, float]]:
    """The emulator's profile while a degrade holds: `bad` on the degraded direction(s)
    ("both", "a-to-b", "b-to-a"), the deployed `base` on the other."""
    return {side: (bad if direction in ("both", side) else base).to_json()
            for side in ("a-to-b", "b-to-a")}


PROFILES: dict[str, WanProfile] = {
    "inter-region": WanProfile(latency_ms=25, jitter_ms=5, loss_pct=0, rate_mbit=1000),
    "metro": WanProfile(latency_ms=1, jitter_ms=0.2, loss_pct=0, rate_mbit=10_000),
    "none": WanProfile(),
}
DEFAULT_PROFILE = "inter-region"

_FIELDS = {"latency": ("latency_ms", "ms"), "jitter": ("jitter_ms", "ms"),
           "loss": ("loss_pct", "%"), "rate": ("rate_mbit", "mbit")}
_ITEM = re.compile(r"^\s*(\w+)\s*=\s*([-+]?[0-9]*\.?[0-9]+)\s*([a-z%/]*)\s*$", re.IGNORECASE)
_UNITS = {"ms": {"ms": 1.0, "s": 1000.0, "us": 0.001}, "%": {"%": 1.0},
          "mbit": {"mbit": 1.0, "gbit": 1000.0, "kbit": 0.001}}


def parse_profile(text: str) -> WanProfile:
    """A profile name or `field=value[unit],...`; ValidationError naming the field and range."""
    name = text.strip()
    if name in PROFILES:
        return PROFILES[name]
    if "=" not in name:
        raise ValidationError(f"WAN profile {name!r} is unknown; use one of "
                              f"{', '.join(PROFILES)} or e.g. latency=25ms,jitter=5ms,loss=0%,"
                              "rate=1000mbit")
    values: dict[str, float] = {}
    for item in name.split(","):
        m = _ITEM.match(item)
        if m is None:
            raise ValidationError(f"WAN profile item {item.strip()!r} is not field=number[unit] "
                                  "(fields: latency, jitter, loss, rate)")
        key, number, unit = m.group(1).lower(), float(m.group(2)), m.group(3).lower()
        if key not in _FIELDS:
            raise ValidationError(f"WAN profile field {key!r} is unknown; fields: "
                                  f"{', '.join(_FIELDS)}")
        attr, default_unit = _FIELDS[key]
        scale = _UNITS[default_unit].get(unit or default_unit)
        if scale is None:
            raise ValidationError(f"WAN profile {key}: unit {unit!r} is unknown; use "
                                  f"{', '.join(_UNITS[default_unit])}")
        values[attr] = number * scale
    return validated(WanProfile(**values))


def validated(p: WanProfile) -> WanProfile:
    """The profile if every field is in range, else a ValidationError naming the field."""
    checks = [("latency", p.latency_ms, 0, MAX_LATENCY_MS, "ms"),
              ("jitter", p.jitter_ms, 0, p.latency_ms, "ms (at most the latency)"),
              ("loss", p.loss_pct, 0, 100, "%"),
              ("rate", p.rate_mbit, 0, MAX_RATE_MBIT, "Mbit/s (0: unlimited)")]
    for name, value, low, high, unit in checks:
        if not low <= value <= high:
            raise ValidationError(f"WAN profile {name} {value:g} is out of range: "
                                  f"{low:g}..{high:g} {unit}")
    return p


def from_json(data: dict[str, Any]) -> WanProfile:
    return validated(WanProfile(**{k: float(data.get(k, 0.0)) for k in
                                   ("latency_ms", "jitter_ms", "loss_pct", "rate_mbit")}))


# ---- the emulator binary --------------------------------------------------------------------

def binary() -> Path:
    """The emulator built from the current sources (`make setup` builds it)."""
    from riftdrill.lab.gotools import build

    return build("wan")


# ---- the emulator process's control socket --------------------------------------------------

WanControlError = ControlError
_WHAT = "WAN emulator"


def set_weather(sock_path: Path, profile: dict[str, dict[str, float]]) -> dict[str, Any]:
    return control(sock_path, {"op": "set", "profile": profile}, _WHAT)


def reset_weather(sock_path: Path) -> dict[str, Any]:
    return control(sock_path, {"op": "reset"}, _WHAT)


def weather(sock_path: Path) -> dict[str, Any]:
    return control(sock_path, {"op": "get"}, _WHAT)


# ---- measuring the link ----------------------------------------------------------------------

_ECHO_SERVER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1); s.settimeout(float(sys.argv[3]))
print("ready", flush=True)
c, _ = s.accept(); c.settimeout(float(sys.argv[3])); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for _ in range(int(sys.argv[4])):
    b = c.recv(64)
    if not b: break
    c.sendall(b)
"""

_ECHO_CLIENT = """
import json, socket, sys, time
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
out = []
for _ in range(int(sys.argv[4])):
    t = time.perf_counter(); c.sendall(b"x" * 32)
    got = 0
    while got < 32:
        b = c.recv(64)
        if not b: raise SystemExit("echo closed")
        got += len(b)
    out.append((time.perf_counter() - t) * 1000)
print(json.dumps(out))
"""


@dataclass(frozen=True)
class RttSample:
    median_ms: float
    min_ms: float
    max_ms: float
    samples: int


def measure_rtt(client_ns: str, server_ns: str, server_address: str, port: int = 19_999,
                count: int = 20, timeout_s: float = 10.0) -> RttSample:
    """Median of `count` TCP ping-pongs (32 bytes, TCP_NODELAY) from one cloud to the other,
    over one connection: the round trip an application sees, emulator included. Bounded: the
    echo server serves one connection of `count` echoes and exits, or times out."""
    import statistics
    import sys

    server = subprocess.Popen(
        ["ip", "netns", "exec", server_ns, sys.executable, "-c", _ECHO_SERVER, server_address,
         str(port), str(timeout_s), str(count)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != "ready":
            raise LabError(f"the RTT echo server in {server_ns} did not start: "
                           f"{server.stderr.read() if server.stderr else ''}".strip())
        proc = subprocess.run(
            ["ip", "netns", "exec", client_ns, sys.executable, "-c", _ECHO_CLIENT,
             server_address, str(port), str(timeout_s), str(count)],
            capture_output=True, text=True, timeout=timeout_s + count * 2)
        if proc.returncode != 0:
            raise LabError(f"no round trip from {client_ns} to {server_address}:{port} "
                           f"({proc.stderr.strip()[-200:]}); is the link severed?")
        rtts = [float(x) for x in json.loads(proc.stdout)]
    finally:
        if server.poll() is None:
            server.kill()
        server.wait(timeout=5)
    return RttSample(median_ms=round(statistics.median(rtts), 3), min_ms=round(min(rtts), 3),
                     max_ms=round(max(rtts), 3), samples=len(rtts))


def wait_socket(sock_path: Path, timeout_s: float = 10.0) -> None:
    gotools.wait_socket(sock_path, _WHAT, timeout_s)
