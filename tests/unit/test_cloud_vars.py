"""infra/envs/aws-gcp's inputs: their validations, evaluated by the real Terraform, and their
precedence (CLI flag > terraform.tfvars > default), down to the -var flags riftdrill passes.

variables.tf needs no provider, so a copy of it alone is a root module Terraform can plan: every
validation runs as it would in the env, with no cloud and no provider binary.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from riftdrill import cli, inventory
from riftdrill.cloud import deploy as cloud_deploy
from riftdrill.cloud.inventory import inventory_from_outputs
from riftdrill.terraform import terraform_bin
from tests.unit.test_cloud_inventory import outputs

ROOT = Path(__file__).resolve().parents[2]
ENV = ROOT / "infra" / "envs" / "aws-gcp"
REQUIRED = {"allowed_aws_account_ids": ["123456789012"], "gcp_project_id": "rd-drills-1234",
            "engine_version": "1.5.5", "engine_url": "https://example.invalid/automq.tgz",
            "engine_sha256": "0" * 64, "aws_ami_id": "ami-0123456789abcdef0"}


@pytest.fixture(scope="module")
def variables_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("aws-gcp-variables")
    shutil.copy(ENV / "variables.tf", root / "variables.tf")
    _tf(root, "init", "-input=false", "-backend=false")
    return root


def _tf(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_DATA_DIR": str(root / ".terraform"), "CHECKPOINT_DISABLE": "1",
           "TF_IN_AUTOMATION": "1", "TF_CLI_CONFIG_FILE": "/dev/null"}
    return subprocess.run([terraform_bin(), *args, "-no-color"], cwd=root, env=env, text=True,
                          capture_output=True, timeout=120)


def plan(root: Path, values: dict[str, Any] | None = None, var_file: Path | None = None,
         ) -> subprocess.CompletedProcess[str]:
    given = root / "given.tfvars.json"
    given.write_text(json.dumps({**REQUIRED, **(values or {})}))
    return _tf(root, "plan", "-input=false", "-lock=false", "-refresh=false",
               *([f"-var-file={var_file}"] if var_file else []), f"-var-file={given}")


def refused(root: Path, values: dict[str, Any], needle: str) -> None:
    proc = plan(root, values)
    assert proc.returncode == 1, f"{values} planned"
    assert needle in " ".join(proc.stderr.split()), proc.stderr


def test_the_defaults_and_the_examples_pass(variables_only: Path) -> None:
    assert plan(variables_only).returncode == 0
    example = ENV / "terraform.tfvars.example"
    proc = plan(variables_only, var_file=example)
    assert proc.returncode == 0, proc.stderr
    # The example's Kafka alternative in place of the five AutoMQ lines, as a user would.
    kafka = _kafka_alternative(example.read_text())
    assert 'topology       = "stretched"' in kafka
    alt = variables_only / "kafka.tfvars"
    alt.write_text(kafka)
    proc = plan(variables_only, var_file=alt)
    assert proc.returncode == 0, proc.stderr + kafka


def _kafka_alternative(example: str) -> str:
    engine_lines = ("engine ", "engine_", "topology ", "controllers ")
    commented = tuple(f"# {x}" for x in engine_lines)
    return "\n".join(line[2:] if line.startswith(commented) else line
                     for line in example.splitlines() if not line.startswith(engine_lines))


@pytest.mark.parametrize(("values", "ok"), [
    ({"topology": "per-cloud", "controllers": {"aws": 3, "gcp": 3}}, True),
    ({"topology": "per-cloud", "controllers": {"aws": 3, "gcp": 2}}, False),
    ({"topology": "per-cloud", "controllers": {"aws": 1, "gcp": 1}}, True),
    ({"engine": "kafka", "topology": "stretched", "controllers": {"aws": 2, "gcp": 1}}, True),
    ({"engine": "kafka", "topology": "stretched", "controllers": {"aws": 3, "gcp": 3}}, False),
    ({"engine": "kafka", "topology": "stretched", "controllers": {"aws": 2, "gcp": 2}}, False),
    ({"engine": "kafka", "topology": "stretched"}, True),  # null: 2 + 1
])
def test_kraft_voters_must_be_odd(variables_only: Path, values: dict[str, Any], ok: bool) -> None:
    if ok:
        proc = plan(variables_only, values)
        assert proc.returncode == 0, proc.stderr
    else:
        refused(variables_only, values, "controllers must give an odd number of KRaft voters")


@pytest.mark.parametrize(("values", "needle"), [
    ({"gcp_subnet_cidr": "10.40.64.0/20"}, "gcp_subnet_cidr must be a CIDR block that does not "
                                           "overlap aws_vpc_cidr (10.40.0.0/16)"),
    ({"gcp_subnet_cidr": "10.0.0.0/8"}, "does not overlap aws_vpc_cidr"),  # holds the VPC
    ({"gcp_subnet_cidr": "not-a-cidr"}, "does not overlap aws_vpc_cidr"),
    ({"aws_private_subnet_cidrs": ["10.40.0.0/20", "10.40.16.0/20", "10.41.0.0/20"]},
     "aws_private_subnet_cidrs must be CIDR blocks inside aws_vpc_cidr"),
    ({"aws_public_subnet_cidrs": ["10.40.0.0/24", "10.40.129.0/24", "10.40.130.0/24"]},
     "must not overlap one another"),
    ({"client_cidrs": ["192.168.0.0/24", "10.50.4.0/24"]},
     "client_cidrs must be CIDR blocks outside aws_vpc_cidr"),
    ({"client_cidrs": ["10.0.0.0/8"]}, "client_cidrs must be CIDR blocks outside"),
])
def test_overlapping_address_plans_are_refused(variables_only: Path, values: dict[str, Any],
                                               needle: str) -> None:
    refused(variables_only, values, needle)


def test_a_disjoint_address_plan_passes(variables_only: Path) -> None:
    proc = plan(variables_only, {"aws_vpc_cidr": "172.20.0.0/16", "gcp_subnet_cidr": "172.21.0.0/20",
                                 "aws_private_subnet_cidrs": ["172.20.0.0/20", "172.20.16.0/20",
                                                              "172.20.32.0/20"],
                                 "aws_public_subnet_cidrs": ["172.20.128.0/24", "172.20.129.0/24",
                                                             "172.20.130.0/24"],
                                 "client_cidrs": ["192.168.10.0/24"]})
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(("tags", "ok"), [
    ({"owner": "team-streaming", "Cost:Center": "Drills_1"}, True),  # lowered, ':' -> '-'
    ({"owner": "team streaming"}, False),
    ({"1st": "x"}, False),
    ({"owner": "a" * 64}, False),
    ({"team": "streaming.eu"}, False),
])
def test_tags_must_make_gcp_labels(variables_only: Path, tags: dict[str, str], ok: bool) -> None:
    if ok:
        proc = plan(variables_only, {"tags": tags})
        assert proc.returncode == 0, proc.stderr
    else:
        refused(variables_only, {"tags": tags}, "tags must make valid GCP labels")


# ---- precedence: which -var flags riftdrill passes -------------------------------------------

class RecordingWorkspace:
    """The Terraform side of a dry run: the -var values it is given."""

    def __init__(self) -> None:
        self.variables: dict[str, Any] | None = None

    def init(self, progress: Any) -> None:
        pass

    def plan(self, variables: dict[str, Any], progress: Any) -> None:
        self.variables = variables


ACCOUNT_AND_PROJECT = {"allowed_aws_account_ids": ["123456789012"], "gcp_project_id": "rd-drills-1234"}


@pytest.mark.parametrize(("deployed", "args", "passed"), [
    (False, [], {}),
    (False, ["--engine", "kafka"], {"engine": "kafka"}),
    (False, ["--topology", "stretched", "--brokers-per-cloud", "5"],
     {"topology": "stretched", "brokers_per_cloud": 5}),
    # An aws-gcp deployment stands: its shape is not passed again (terraform.tfvars decides).
    (True, [], {}),
    (True, ["--brokers-per-cloud", "4"], {"brokers_per_cloud": 4}),
])
def test_only_what_the_command_line_gives_becomes_a_var(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, deployed: bool, args: list[str],
        passed: dict[str, Any]) -> None:
    import riftdrill.deploy

    monkeypatch.setenv("RIFTDRILL_HOME", str(tmp_path))
    if deployed:
        inventory.save(inventory_from_outputs(outputs()))
    ws = RecordingWorkspace()
    monkeypatch.setattr(riftdrill.deploy, "workspace", lambda target: ws)
    monkeypatch.setattr(cloud_deploy, "preflight", lambda: ("123456789012", "rd-drills-1234"))
    monkeypatch.setattr(cloud_deploy, "check_caller", lambda account: None)
    result = CliRunner().invoke(cli.mounted_app(),
                                ["deploy", "--target", "aws-gcp", "--dry-run", "--json", *args])
    assert result.exit_code == 0, result.output
    assert ws.variables == {**ACCOUNT_AND_PROJECT, **passed}


def _make_n(*args: str) -> str:
    """What `make -n` would run, as a user's shell would call it: not as a sub-make of `make
    test` (MAKELEVEL, MAKEFLAGS), whose "Entering directory" lines and flags would leak in, and
    without the shape variables a user's environment could set."""
    dropped = ("ENGINE", "TOPOLOGY", "BROKERS", "WAN", "HUB_DELIVERY", "SECURITY", "TARGET",
               "MAKELEVEL", "MAKEFLAGS", "MFLAGS")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    return subprocess.run(["make", "--no-print-directory", "-n", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=30).stdout


@pytest.mark.parametrize(("make_vars", "expected"), [
    ([], "deploy --target aws-gcp"),
    (["ENGINE=kafka"], "deploy --target aws-gcp --engine kafka"),
    (["BROKERS=5", "TOPOLOGY=stretched"], "deploy --target aws-gcp --topology stretched "
                                          "--brokers-per-cloud 5"),
])
def test_make_passes_only_what_the_user_set(make_vars: list[str], expected: str) -> None:
    out = _make_n("deploy", "TARGET=aws-gcp", *make_vars)
    line = next(ln for ln in out.splitlines() if "riftdrill deploy" in ln)
    assert " ".join(line.split()).endswith(expected), line


def test_make_destroy_targets_what_is_asked_else_what_is_deployed() -> None:
    lines = [_make_n("destroy", *extra) for extra in ([], ["TARGET=aws-gcp"])]
    assert " ".join(lines[0].split()).endswith("riftdrill destroy")  # the CLI picks the deployed
    assert "riftdrill destroy --target aws-gcp" in " ".join(lines[1].split())
