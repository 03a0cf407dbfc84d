"""The C allocator each Locust process runs with: glibc's malloc, or jemalloc preloaded.

Over an hour's soak most of a load process's growth under glibc's malloc was free chunks between
live ones, in the main heap and in the arenas of librdkafka's threads, that no trim can return
(docs/findings.md). jemalloc sorts allocations into size
classes on pages of their own and returns whole free pages after a decay, so the same churn
leaves no such holes. A load process therefore runs with jemalloc when the library is there
(`make setup` installs Debian's libjemalloc2); the choice and the library are resolved once, in
the runner, and each process's heap log (load/heap.py) names the allocator it really ran with.

  auto      jemalloc when its library is found, else glibc (the cloud's load VMs may lack it)
  jemalloc  jemalloc or refuse to start
  glibc     the C library's own malloc (the comparison)
"""

from __future__ import annotations

import glob
from collections.abc import Mapping
from dataclasses import dataclass

from riftdrill.errors import ValidationError

CHOICES = ("auto", "jemalloc", "glibc")
# Debian's multiarch directory first, then the plain ones a hand-built library lands in
_JEMALLOC_GLOBS = ("/usr/lib/*-linux-gnu/libjemalloc.so.2", "/usr/lib/libjemalloc.so.2",
                   "/usr/local/lib/libjemalloc.so.2")  # fmt: skip


@dataclass(frozen=True)
class Allocator:
    name: str  # "jemalloc" or "glibc"
    preload: str | None  # the library's path for LD_PRELOAD, None for glibc

    def env(self, base: Mapping[str, str]) -> dict[str, str]:
        """The environment a load process starts with: `base` plus the preload (in front of
        any LD_PRELOAD already there)."""
        env = dict(base)
        if self.preload is not None:
            env["LD_PRELOAD"] = " ".join(p for p in (self.preload, base.get("LD_PRELOAD")) if p)
        return env


GLIBC = Allocator("glibc", None)


def jemalloc_path(patterns: tuple[str, ...] = _JEMALLOC_GLOBS) -> str | None:
    for pattern in patterns:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


def resolve(choice: str, patterns: tuple[str, ...] = _JEMALLOC_GLOBS) -> Allocator:
    if choice not in CHOICES:
        raise ValidationError(f"allocator {choice!r} is not one of {', '.join(CHOICES)}: pass "
                              "--allocator auto (jemalloc when installed)")
    if choice == "glibc":
        return GLIBC
    path = jemalloc_path(patterns)
    if path is not None:
        return Allocator("jemalloc", path)
    if choice == "jemalloc":
        raise ValidationError("allocator jemalloc: libjemalloc.so.2 is not installed; run "
                              "`make setup` (it installs libjemalloc2) or pass --allocator auto")
    return GLIBC
