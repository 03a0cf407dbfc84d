"""The lab's own Go tools (tools/<name>, standard library only): built once per source version.

`make setup` builds them (`python -m riftdrill.lab.gotools`); a lab component that needs one
calls `binary(name)` (the current version's path) and, to be safe on a machine set up before
the tool existed, `build(name)`.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from riftdrill.errors import LabError, SetupError
from riftdrill.native import BuildFailed, build_versioned

TOOLS_DIR = Path(__file__).resolve().parents[3] / "tools"
TOOLS = ("wan", "storeweather")


def binary(name: str) -> Path:
    """Where this version of tools/<name> is built (a hash of its non-test sources)."""
    from riftdrill.paths import cache_dir

    src = TOOLS_DIR / name
    digest = hashlib.sha256()
    for path in [*sorted(src.glob("*.go")), src / "go.mod"]:
        if not path.name.endswith("_test.go"):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return cache_dir() / "bin" / f"riftdrill-{name}-{digest.hexdigest()[:12]}"


def build(name: str) -> Path:
    """Build tools/<name> unless this version is built; SetupError naming the fix if Go cannot."""
    out = binary(name)
    if out.exists():
        return out
    try:
        return build_versioned(out, lambda tmp: ["go", "build", "-o", str(tmp), "."],
                               f"riftdrill-{name}-*", cwd=TOOLS_DIR / name,
                               env={**os.environ, "CGO_ENABLED": "0"})
    except BuildFailed as exc:
        raise SetupError(f"cannot build tools/{name}: {exc}; `make setup` installs Go") from exc


class ControlError(LabError):
    """A tool did not answer on its control socket, or refused the request."""


def control(sock_path: Path, request: dict[str, Any], what: str,
            timeout_s: float = 5.0) -> dict[str, Any]:
    """One request/reply on a tool's control socket (one JSON object per line each way)."""
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
        raise ControlError(f"the {what} at {sock_path} does not answer ({exc}); redeploy the "
                           "lab (`make deploy`)") from exc
    try:
        reply: dict[str, Any] = json.loads(buf)
    except json.JSONDecodeError as exc:
        raise ControlError(f"the {what} answered {buf[:200]!r}") from exc
    if not reply.get("ok"):
        raise ControlError(f"the {what} refused {request.get('op')}: {reply.get('error')}")
    return reply


def wait_socket(sock_path: Path, what: str, timeout_s: float = 10.0) -> None:
    """Until the tool answers a `get` on its control socket."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            control(sock_path, {"op": "get"}, what)
            return
        except ControlError:
            time.sleep(0.1)
    raise LabError(f"the {what} did not open {sock_path} within {timeout_s:g} s")


if __name__ == "__main__":
    for tool in TOOLS:
        print(build(tool))
