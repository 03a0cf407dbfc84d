"""The load and the verifier's final read on a cloud target's load VMs.

A cloud target's brokers have private addresses only; the env creates one load VM per cloud
(infra/modules/aws-load-node, gcp-load-node) and the inventory lists them (`load_nodes`).

Shape (docs/load.md, "On a cloud target"):
1. **Stage.** The operator's riftdrill wheel and a constraints file (its venv's exact versions)
   go to each cloud's carrier prefix under `bundles/<sha256>/`, once per version; the inventory
   and each VM's share of the spec under `runs/<run>/`.
2. **Run.** Each VM runs the ordinary runner (`python -m riftdrill.load run-spec`) for its own
   cloud only, with `run_clouds` naming every cloud of the run, so producer ids and the rate
   split are those of one run; the VMs run concurrently, each through its transport (SSM Run
   Command / IAP ssh). One runner per VM, not Locust workers under a master on the operator's
   machine: workers connect *to* the master, which a VM cannot reach (SSM and IAP forward only
   operator -> VM), and a lost tunnel would stop the run; a runner on the VM needs no
   connection once started (SSM runs the script on the agent).
3. **Bring back.** Each VM tars its `load/` and uploads it; the operator merges the ledgers,
   consumer ledgers and metrics into one run directory (file names carry the cloud, so they
   never collide) and aggregates them as the runner does.
4. **Verify.** `verify_remote` asks one VM for the final read (riftdrill.verify.final_read:
   fences, replay, presence) and judges it on the operator's machine with `verify_run`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from riftdrill import paths
from riftdrill.cloud.transport import (
    CommandResult,
    NodeAccess,
    TransportError,
    default_access,
    shell_copy,
)
from riftdrill.errors import RiftdrillError
from riftdrill.inventory import Inventory, LoadNode
from riftdrill.load import aggregate
from riftdrill.load.runner import LoadResult, placement_of, stop_timeout_s
from riftdrill.load.spec import LoadSpec

VENV = "/opt/riftdrill/venv"
INSTALLED_FILE = "/opt/riftdrill/installed"  # sha256 of the bundle the venv holds
RUNS_DIR = "/var/lib/riftdrill/runs"
READY_FILE = "/var/lib/riftdrill/ready"  # cloud-init's last step
READY_WAIT_S = 300
INSTALL_S = 600.0  # budget for pip through the NAT on a fresh VM
STOP_SEND_S = 120.0  # to deliver the stop to a VM
MAX_COMMAND_S = 172_800  # SSM Run Command's executionTimeout ceiling (48 h)
MERGED = ("ledgers", "consumers", "workers", "locust")  # load/ subdirectories merged as is


@dataclass(frozen=True)
class Bundle:
    """The operator's riftdrill as the VMs install it."""

    wheel: Path
    constraints: Path

    @property
    def sha256(self) -> str:
        h = hashlib.sha256()
        for p in (self.wheel, self.constraints):
            h.update(p.read_bytes())
        return h.hexdigest()


def operator_bundle(out_dir: Path, root: Path | None = None) -> Bundle:
    """Build riftdrill's wheel from this checkout and pin its requirements to this venv's
    exact versions (a freeze, exact pins only: editable and URL lines cannot be constraints).
    With uv (what `make setup` installs) when there is one, else pip; no build isolation, so
    nothing is downloaded."""
    root = root or paths.project_root()
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("riftdrill-*.whl"):
        old.unlink()
    uv = _uv()
    if uv:
        build = [uv, "build", "--wheel", "--no-build-isolation", "--python", sys.executable,
                 "--out-dir", str(out_dir), str(root)]
        freeze = [uv, "pip", "freeze", "--python", sys.executable]
    else:
        build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                 "--quiet", "--wheel-dir", str(out_dir), str(root)]
        freeze = [sys.executable, "-m", "pip", "freeze"]
    built = subprocess.run(build, capture_output=True, text=True, timeout=300)
    wheels = sorted(out_dir.glob("riftdrill-*.whl"))
    if built.returncode != 0 or not wheels:
        last = (built.stderr.strip().splitlines() or ["no wheel written"])[-1]
        raise RiftdrillError(f"could not build riftdrill's wheel for the load VMs ({last}); "
                             "run `make setup`")
    frozen = subprocess.run(freeze, capture_output=True, text=True, timeout=120)
    if frozen.returncode != 0:
        raise RiftdrillError(f"could not list this venv's versions for the load VMs "
                             f"({frozen.stderr.strip()[-200:]}); run `make setup`")
    constraints = out_dir / "constraints.txt"
    constraints.write_text("".join(
        f"{ln}\n" for ln in frozen.stdout.splitlines()
        if "==" in ln and not ln.startswith(("-", "#", "riftdrill=="))))
    return Bundle(wheels[-1], constraints)


def _uv() -> str | None:
    found = shutil.which("uv")
    bootstrap = paths.cache_dir() / "bootstrap" / "venv" / "bin" / "uv"  # scripts/setup.sh's
    return found or (str(bootstrap) if bootstrap.exists() else None)


# -- the carrier's layout -------------------------------------------------------------------


def bundle_url(node: LoadNode, bundle: Bundle, name: str) -> str:
    return f"{_prefix(node)}bundles/{bundle.sha256}/{name}"


def run_url(node: LoadNode, run: str, name: str) -> str:
    return f"{_prefix(node)}runs/{run}/{name}"


def _prefix(node: LoadNode) -> str:
    return node.carrier if node.carrier.endswith("/") else node.carrier + "/"


def stage_bundle(node: LoadNode, access: NodeAccess, bundle: Bundle) -> None:
    for path in (bundle.wheel, bundle.constraints):
        url = bundle_url(node, bundle, path.name)
        if not access.carrier.exists(url):
            access.carrier.put(path, url)


# -- the scripts the VMs run ----------------------------------------------------------------


def _preamble(node: LoadNode, bundle: Bundle, run: str) -> list[str]:
    work = f"{RUNS_DIR}/{run}"
    wheel = f"{work}/in/{bundle.wheel.name}"
    cons = f"{work}/in/constraints.txt"
    sha = bundle.sha256
    return [
        "#!/bin/bash",
        f"# riftdrill load node {node.name}: run {run}",
        "set -euo pipefail",
        f"for _ in $(seq 1 {READY_WAIT_S // 5}); do [ -e {READY_FILE} ] && break; sleep 5; done",
        f"[ -e {READY_FILE} ] || {{ echo 'riftdrill: cloud-init has not finished on this VM "
        f"({READY_FILE} missing after {READY_WAIT_S} s)' >&2; exit 3; }}",
        f"work={shlex.quote(work)}",
        'mkdir -p "$work/in"',
        shell_copy(node, bundle_url(node, bundle, bundle.wheel.name), wheel),
        shell_copy(node, bundle_url(node, bundle, "constraints.txt"), cons),
        f'if [ "$(cat {INSTALLED_FILE} 2>/dev/null || true)" != "{sha}" ]; then',
        f"  {VENV}/bin/pip install --quiet --disable-pip-version-check -c {shlex.quote(cons)} "
        f"{shlex.quote(wheel)}",
        # the same version number with other code: pip would keep the installed one
        f"  {VENV}/bin/pip install --quiet --disable-pip-version-check --no-deps "
        f"--force-reinstall {shlex.quote(wheel)}",
        f"  echo {sha} > {INSTALLED_FILE}",
        "fi",
        "export RIFTDRILL_HOME=/var/lib/riftdrill",
        *_region(node),
    ]


def _region(node: LoadNode) -> list[str]:
    """The AWS CLI takes no region from the instance by itself: ask IMDSv2 (hop limit 1)."""
    if node.transport != "ssm":
        return []
    imds = "http://169.254.169.254/latest"
    return [
        f'token=$(curl -sf -X PUT {imds}/api/token -H "X-aws-ec2-metadata-token-ttl-seconds: 300")',
        f'export AWS_DEFAULT_REGION=$(curl -sf -H "X-aws-ec2-metadata-token: $token" '
        f"{imds}/meta-data/placement/region)",
    ]


def load_script(node: LoadNode, bundle: Bundle, run: str) -> str:
    """Install (when needed), run this VM's share, upload its `load/` whatever the outcome."""
    return "\n".join([
        *_preamble(node, bundle, run),
        shell_copy(node, run_url(node, run, "inventory.json"), "$work/in/inventory.json"),
        shell_copy(node, run_url(node, run, f"spec-{node.cloud}.json"), "$work/in/spec.json"),
        "rc=0",
        f'{VENV}/bin/python -m riftdrill.load run-spec "$work/in/spec.json" "$work" '
        '--inventory "$work/in/inventory.json" < /dev/null > "$work/runner.out" 2>&1 || rc=$?',
        'tar -C "$work" -czf "$work/load.tgz" load',
        shell_copy(node, "$work/load.tgz", run_url(node, run, f"{node.cloud}/load.tgz")),
        shell_copy(node, "$work/runner.out", run_url(node, run, f"{node.cloud}/runner.out")),
        'tail -n 5 "$work/runner.out"',
        'exit "$rc"',
        "",
    ])


def final_read_script(node: LoadNode, bundle: Bundle, run: str) -> str:
    return "\n".join([
        *_preamble(node, bundle, run),
        shell_copy(node, run_url(node, run, "inventory.json"), "$work/in/inventory.json"),
        shell_copy(node, run_url(node, run, "final-read/request.json"), "$work/in/request.json"),
        f'{VENV}/bin/python -m riftdrill.verify.final_read "$work/in/request.json" '
        '"$work/final-read.npz" --inventory "$work/in/inventory.json"',
        shell_copy(node, "$work/final-read.npz", run_url(node, run, "final-read/result.npz")),
        "",
    ])


# -- the load -------------------------------------------------------------------------------


def require_remote(inv: Inventory, clouds: list[str]) -> dict[str, LoadNode]:
    """The load VM of every cloud in `clouds`, or the one line saying what is missing."""
    if inv.security.enabled:
        raise RiftdrillError(
            f"the load VMs hold no client secrets, so a load on a {inv.security.mode} "
            "deployment cannot run there yet; deploy with SECURITY=off for cloud drills")
    return {c: inv.load_node(c) for c in clouds}


def run_remote_load(spec: LoadSpec, run_dir: Path, inv: Inventory,
                    access: Mapping[str, NodeAccess], bundle: Bundle,
                    timeout_s: float | None = None) -> LoadResult:
    """Run `spec` on the load VMs of its placement clouds; returns once every VM's share ended
    and its ledgers are in `run_dir/load`. Raises naming the cloud whose share failed (the
    ledgers that did come back stay in `run_dir`)."""
    clouds = placement_of(spec, inv)
    nodes = require_remote(inv, clouds)
    budget_s = timeout_s or stop_timeout_s(spec) + spec.duration_s + INSTALL_S
    if budget_s > MAX_COMMAND_S:
        raise RiftdrillError(f"a load of {spec.duration_s:g} s does not fit in one SSM command "
                             f"(at most {MAX_COMMAND_S} s with draining and install); run "
                             "shorter loads on a cloud target")
    run = run_dir.name  # the VMs' run directories carry it: one consumer group name
    load_dir = run_dir / "load"
    load_dir.mkdir(parents=True, exist_ok=True)
    (load_dir / "spec.json").write_text(json.dumps(spec.to_json(), indent=1) + "\n")
    inv_file = load_dir / "remote" / "inventory.json"
    inv_file.parent.mkdir(parents=True, exist_ok=True)
    inv_file.write_text(inv.model_dump_json(indent=1) + "\n")
    for cloud, node in nodes.items():
        a = access[cloud]
        stage_bundle(node, a, bundle)
        share = dataclasses.replace(spec, placement=[cloud], run_clouds=clouds)
        share_file = load_dir / "remote" / f"spec-{cloud}.json"
        share_file.write_text(json.dumps(share.to_json(), indent=1) + "\n")
        a.carrier.put(inv_file, run_url(node, run, "inventory.json"))
        a.carrier.put(share_file, run_url(node, run, f"spec-{cloud}.json"))
    _write_state(load_dir, {"state": "running", "pid": os.getpid(), "remote": True,
                            "started_at": datetime.now(UTC).isoformat(),
                            "workers": {c: n.name for c, n in nodes.items()}})  # fmt: skip
    stop = threading.Event()
    with _stop_on_signals(stop), \
            ThreadPoolExecutor(len(nodes), thread_name_prefix="rd-remote-load") as pool:
        futures = {c: pool.submit(access[c].transport.run, n, load_script(n, bundle, run),
                                  budget_s) for c, n in nodes.items()}
        interrupted = _wait(futures, stop, lambda: stop_shares(nodes, access, run))
    results = {c: _outcome(f) for c, f in futures.items()}
    summaries = {c: bring_back(n, access[c], run, load_dir) for c, n in nodes.items()}
    failed = {c: r for c, r in results.items() if r.status != "success"}
    if failed:
        raise _share_failed(failed, load_dir)
    missing = [c for c, s in summaries.items() if s is None]
    if missing:
        raise RiftdrillError(f"the load VM in {', '.join(missing)} sent back no load/ "
                             f"directory; see {load_dir}/remote/<cloud>/runner.out")
    done = [s for s in summaries.values() if s is not None]
    summary = aggregate.finalize(load_dir, {
        "target_count": round(spec.rate_per_s * spec.duration_s),
        "target_rate_per_s": spec.rate_per_s,
        "duration_s": spec.duration_s,
        "interrupted": interrupted or any(bool(s.get("interrupted")) for s in done),
        "started_at": min(str(s.get("started_at", "")) for s in done),
        "ended_at": max(str(s.get("ended_at", "")) for s in done),
        "placement": clouds,
        "ledgers": [str(p.relative_to(run_dir)) for p in sorted(load_dir.glob("ledgers/*.rdl"))],
        "consumer_ledgers": [str(p.relative_to(run_dir))
                             for p in sorted(load_dir.glob("consumers/*.rdc"))],
        "mirror_ledgers": [],
        "spec": spec.to_json(),
        "load_nodes": {c: n.name for c, n in nodes.items()},
    })
    _write_state(load_dir, {"state": "done", "remote": True, "interrupted": interrupted})
    return LoadResult.from_summary(run_dir, summary)


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT (Ctrl-C, stop_load) and SIGTERM set `stop` instead of raising: the wait below
    must never be cut off half way, or the shares would run on unstopped and unfetched."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, lambda signum, frame: stop.set())
           for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _wait(futures: Mapping[str, Future[CommandResult]], stop: threading.Event,
          send_stop: Callable[[], None]) -> bool:
    """Wait for every share; on `stop`, ask every VM's runner to stop cleanly (once) and still
    wait for the shares (they drain, fence and upload). Returns whether it was stopped."""
    sent = False
    while not all(f.done() for f in futures.values()):
        if stop.is_set() and not sent:
            sent = True
            send_stop()
        time.sleep(0.2)
    return sent or stop.is_set()


def _outcome(future: Future[CommandResult]) -> CommandResult:
    try:
        return future.result()
    except RiftdrillError as exc:  # the VM was not reached: its share never ran
        return CommandResult("failed", -1, "", str(exc))


def stop_script(node: LoadNode, run: str) -> str:
    """SIGINT the VM's runner (its pid is in its load/state.json): it stops as a local run
    stops, producers drained, consumers at the fences."""
    state = f"{RUNS_DIR}/{run}/load/state.json"
    return "\n".join([
        "#!/bin/bash",
        f"# riftdrill load node {node.name}: stop run {run}",
        "pid=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[\"pid\"])' "
        f"{shlex.quote(state)} 2>/dev/null || true)",
        '[ -n "$pid" ] && kill -INT "$pid" 2>/dev/null || true',
        "",
    ])


def stop_shares(nodes: Mapping[str, LoadNode], access: Mapping[str, NodeAccess],
                run: str) -> None:
    """Ask every VM's runner to stop; a VM that cannot be reached runs to its duration."""
    with ThreadPoolExecutor(len(nodes), thread_name_prefix="rd-remote-stop") as pool:
        for f in [pool.submit(access[c].transport.run, n, stop_script(n, run), STOP_SEND_S)
                  for c, n in nodes.items()]:
            with contextlib.suppress(RiftdrillError):
                f.result()


def _write_state(load_dir: Path, state: dict[str, Any]) -> None:
    tmp = load_dir / "state.json.tmp"
    tmp.write_text(json.dumps(state) + "\n")
    tmp.replace(load_dir / "state.json")


def _share_failed(failed: Mapping[str, CommandResult], load_dir: Path) -> RiftdrillError:
    cloud, r = next(iter(sorted(failed.items())))
    last = (r.stderr.strip() or r.stdout.strip() or f"exit code {r.exit_code}").splitlines()[-1]
    return RiftdrillError(f"the load on the {cloud} load VM {r.status} ({last}); its log: "
                          f"{load_dir}/remote/{cloud}/runner.out")


def bring_back(node: LoadNode, access: NodeAccess, run: str,
               load_dir: Path) -> dict[str, Any] | None:
    """Fetch one VM's `load/` and merge it into `load_dir`; its own files (summary, fences,
    state, runner log) stay under `load/remote/<cloud>/`. Returns its summary, None when the
    VM uploaded nothing."""
    here = load_dir / "remote" / node.cloud
    here.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(TransportError):  # none: the script stopped before the load
        access.carrier.get(run_url(node, run, f"{node.cloud}/runner.out"), here / "runner.out")
    tgz = here / "load.tgz"
    try:
        access.carrier.get(run_url(node, run, f"{node.cloud}/load.tgz"), tgz)
    except TransportError:
        return None
    unpacked = here / "unpacked"
    shutil.rmtree(unpacked, ignore_errors=True)
    with tarfile.open(tgz) as tar:
        tar.extractall(unpacked, filter="data")  # nothing outside, no links out, no devices
    theirs = unpacked / "load"
    for sub in MERGED:
        for src in sorted((theirs / sub).glob("*")):
            dst = load_dir / sub / src.name
            if dst.exists():
                raise RiftdrillError(f"{dst} came back from two load VMs; the run directory "
                                     "is not one run's: start a new run")
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(src), dst)
    for f in theirs.glob("*"):
        if f.is_file():
            shutil.move(str(f), here / f.name)
    shutil.rmtree(unpacked)
    summary_file = here / "summary.json"
    return json.loads(summary_file.read_text()) if summary_file.exists() else {}


# -- what the CLI uses ----------------------------------------------------------------------


def access_for(inv: Inventory) -> dict[str, NodeAccess]:
    """The real SSM/S3 and IAP/GCS clients of every load VM (credentials from the environment,
    as the drivers take them)."""
    return {n.cloud: default_access(n, inv.cloud(n.cloud).region) for n in inv.load_nodes}


def is_remote(inv: Inventory) -> bool:
    """Whether the load and the final read run on load VMs (a cloud target that has them)."""
    return inv.target != "local" and bool(inv.load_nodes)


def load_on_vms(spec: LoadSpec, run_dir: Path, inv: Inventory) -> LoadResult:
    bundle = operator_bundle(paths.state_dir() / "load-bundle")
    return run_remote_load(spec, run_dir, inv, access_for(inv), bundle)
