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

import hashlib
import json
import os
import re
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from riftdrill.errors import LabError, ValidationError

TOOL = Path(__file__).resolve().parents[3] / "tools" / "wan"  # the emulator's Go sources
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
    from riftdrill.paths import cache_dir

    digest = hashlib.sha256()
    for src in [*sorted(TOOL.glob("*.go")), TOOL / "go.mod"]:
        if not src.name.endswith("_test.go"):
            digest.update(src.name.encode() + b"\0" + src.read_bytes())
    return cache_dir() / "bin" / f"riftdrill-wan-{digest.hexdigest()[:12]}"


def build() -> Path:
    """Build the emulator if this version is not built yet; SetupError if Go cannot."""
    from riftdrill.errors import SetupError

    out = binary()
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    try:
        proc = subprocess.run(["go", "build", "-o", str(tmp), "."], cwd=TOOL, capture_output=True,
                              text=True, timeout=600, env={**os.environ, "CGO_ENABLED": "0"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SetupError(f"cannot build the WAN emulator ({exc}); `make setup` installs Go") from exc
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise SetupError(f"go build of {TOOL} failed: {proc.stderr.strip()[-400:]}")
    os.replace(tmp, out)
    for stale in out.parent.glob("riftdrill-wan-*"):  # earlier versions
        if stale != out:
            stale.unlink(missing_ok=True)
    return out


# ---- the emulator process's control socket ---------------------------------------------------

class WanControlError(LabError):
    """The emulator did not answer or refused a request."""


def control(sock_path: Path, request: dict[str, Any], timeout_s: float = 5.0) -> dict[str, Any]:
    """One request/reply on the emulator's control socket (JSON lines)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout_s)
            s.connect(str(sock_path))
            s.sendall(json.dumps(request).encode() + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
    except OSError as exc:
        raise WanControlError(f"the WAN emulator at {sock_path} does not answer ({exc}); "
                              "redeploy the lab (`make deploy`)") from exc
    try:
        reply: dict[str, Any] = json.loads(buf)
    except json.JSONDecodeError as exc:
        raise WanControlError(f"the WAN emulator answered {buf[:200]!r}") from exc
    if not reply.get("ok"):
        raise WanControlError(f"the WAN emulator refused {request.get('op')}: "
                              f"{reply.get('error')}")
    return reply


def set_weather(sock_path: Path, profile: dict[str, dict[str, float]]) -> dict[str, Any]:
    return control(sock_path, {"op": "set", "profile": profile})


def reset_weather(sock_path: Path) -> dict[str, Any]:
    return control(sock_path, {"op": "reset"})


def weather(sock_path: Path) -> dict[str, Any]:
    return control(sock_path, {"op": "get"})


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
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            weather(sock_path)
            return
        except WanControlError:
            time.sleep(0.1)
    raise LabError(f"the WAN emulator did not open {sock_path} within {timeout_s:g} s")


if __name__ == "__main__":
    print(build())
