"""`--target aws-gcp`: every guard that needs no network runs first, each as one line, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], env: dict[str, str], home: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("AWS_", "GOOGLE_", "RIFTDRILL_ALLOWED", "RIFTDRILL_GCP"))}
    return subprocess.run([sys.executable, "-m", "riftdrill", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, stdin=subprocess.DEVNULL,
                          env={**clean, "HOME": str(home), "RIFTDRILL_HOME": str(ROOT), **env})


@pytest.mark.parametrize(("env", "needle"), [
    ({}, "no cloud account is allow-listed"),
    ({"RIFTDRILL_ALLOWED_ACCOUNTS": "123456789012,rd-drills"}, "no GCP project named"),
    ({"RIFTDRILL_ALLOWED_ACCOUNTS": "123456789012,rd-drills", "RIFTDRILL_GCP_PROJECT": "prod-main"},
     "GCP project prod-main is not on the allow-list"),
    ({"RIFTDRILL_ALLOWED_ACCOUNTS": "123456789012,rd-drills", "RIFTDRILL_GCP_PROJECT": "rd-drills"},
     "no AWS credentials found"),
])
def test_deploy_refuses_before_touching_any_cloud(tmp_path: Path, env: dict[str, str],
                                                  needle: str) -> None:
    proc = run(["deploy", "--target", "aws-gcp", "--engine", "automq", "--topology", "per-cloud"],
               env, tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_destroy_needs_yes_when_not_at_a_terminal(tmp_path: Path) -> None:
    creds = tmp_path / "gcp.json"
    creds.write_text("{}")
    env = {"RIFTDRILL_ALLOWED_ACCOUNTS": "123456789012,rd-drills",
           "RIFTDRILL_GCP_PROJECT": "rd-drills", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEEXAMPLE00",
           "AWS_SECRET_ACCESS_KEY": "not-a-real-secret", "GOOGLE_APPLICATION_CREDENTIALS": str(creds)}
    proc = run(["destroy", "--target", "aws-gcp"], env, tmp_path)
    assert proc.returncode == 2
    assert "needs --yes" in proc.stderr
    assert "not-a-real-secret" not in proc.stderr + proc.stdout


def test_lab_engines_are_not_cloud_engines(tmp_path: Path) -> None:
    proc = run(["deploy", "--target", "aws-gcp", "--engine", "tansu"], {}, tmp_path)
    assert proc.returncode == 2
    assert "unknown engine 'tansu'; choose one of: automq, kafka" in proc.stderr


def test_status_after_a_partial_cloud_apply_lists_what_exists(tmp_path: Path) -> None:
    """No inventory, but state: status names the resources so the user can destroy them."""
    from riftdrill.terraform import terraform_bin

    module = tmp_path / "partial"
    module.mkdir()
    (module / "main.tf").write_text('resource "terraform_data" "vpc" {\n  input = 1\n}\n')
    env = {**os.environ, "TF_DATA_DIR": str(tmp_path / "tfdata"), "TF_CLI_CONFIG_FILE": "/dev/null",
           "CHECKPOINT_DISABLE": "1"}
    state = tmp_path / "home" / ".riftdrill" / "terraform" / "aws-gcp.tfstate"
    state.parent.mkdir(parents=True)
    for cmd in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false", f"-state={state}"]):
        subprocess.run([terraform_bin(), *cmd], cwd=module, env=env, check=True, capture_output=True)
    home = tmp_path / "home"
    (home / "infra" / "envs" / "aws-gcp").mkdir(parents=True)
    proc = subprocess.run([sys.executable, "-m", "riftdrill", "status", "--json"], capture_output=True,
                          text=True, cwd=home, env={**os.environ, "RIFTDRILL_HOME": str(home)},
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert '"terraform_data.vpc"' in proc.stdout and '"partial"' in proc.stdout
