"""Where riftdrill keeps its state: one `.riftdrill/` directory per checkout, plus a per-user cache."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The checkout: RIFTDRILL_HOME, else the nearest parent holding pyproject.toml + infra/."""
    env = os.environ.get("RIFTDRILL_HOME")
    if env:
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if (candidate / "infra").is_dir() and (candidate / "pyproject.toml").is_file():
            return candidate
    # Installed package used outside a checkout: the source tree it was installed from.
    src_root = Path(__file__).resolve().parents[2]
    if (src_root / "infra").is_dir():
        return src_root
    return here


def state_dir() -> Path:
    """The checkout's `.riftdrill/`: inventory, lab processes, Terraform state, logs."""
    return project_root() / ".riftdrill"


def inventory_path() -> Path:
    return state_dir() / "inventory.json"


def secrets_dir() -> Path:
    """Secrets riftdrill keeps for a deployment (security sasl-tls: CA and broker keys, SASL
    passwords; 0700, files 0600), one per file: `redact.secrets_in_dir` reads them so no run or
    log ever shows one."""
    return state_dir() / "secrets"


def lab_dir() -> Path:
    return state_dir() / "lab"


def cache_dir() -> Path:
    """Per-user download/build cache, shared by every checkout on the machine."""
    env = os.environ.get("RIFTDRILL_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "riftdrill"


def results_dir() -> Path:
    return project_root() / "results"


def runs_dir() -> Path:
    return results_dir() / "runs"


def resolve_run_dir(run: str | None, runs: Path | None = None) -> Path:
    """`--run RUN` of every command: a run directory, a run id under results/runs, or (None)
    the newest run there."""
    from riftdrill.errors import RiftdrillError

    runs = runs or runs_dir()
    if run is None:
        candidates = [d for d in runs.glob("*") if d.is_dir()] if runs.is_dir() else []
        if not candidates:
            raise RiftdrillError(f"no runs under {runs}; run `riftdrill load` or pass --run")
        return max(candidates, key=lambda d: d.stat().st_mtime)
    for candidate in (Path(run), runs / run):
        if candidate.is_dir():
            return candidate
    raise RiftdrillError(f"no run {run!r} (neither a directory nor a run id under {runs})")


def new_run_dir(run: str) -> Path:
    """`--run RUN` naming a run that does not exist yet: a path (with a /) or a run id."""
    return Path(run) if "/" in run else runs_dir() / run
