"""One state story for aws-gcp, with the real Terraform CLI on a provider-free stand-in.

The stand-in root module takes infra/envs/aws-gcp's place (RIFTDRILL_HOME points at a checkout
whose env is it): terraform_data resources, the `riftdrill` output the inventory is read from,
and a `fail` variable (set in its terraform.tfvars) whose provisioner fails half-way through
an apply. riftdrill's own code drives it: cloud deploy and destroy (guard included, STS answered
by a moto server), `riftdrill status` and `riftdrill destroy` through the CLI. The remote
path is Terraform's built-in s3 backend pointed at the same moto server on loopback.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from riftdrill import cli, guard, inventory
from riftdrill.cloud import deploy as cloud_deploy
from riftdrill.cloud.status import Leftovers
from riftdrill.cloud.status import leftovers as cloud_leftovers
from riftdrill.deploy import workspace
from riftdrill.errors import RiftdrillError, StateError
from riftdrill.terraform import Workspace, backend_of, terraform_bin
from tests.unit.test_cloud_inventory import outputs

APP = cli.mounted_app()
ROOT = Path(__file__).resolve().parents[2]
ACCOUNT, PROJECT = "123456789012", "rd-drills-1234"  # moto's account; the outputs' project
BUCKET = "rd-tfstate"

STAND_IN = """
variable "allowed_aws_account_ids" {
  type = list(string)
}
variable "gcp_project_id" {
  type = string
}
variable "engine" {
  type    = string
  default = "automq"
}
variable "topology" {
  type    = string
  default = "per-cloud"
}
variable "brokers_per_cloud" {
  type    = number
  default = 2
}
variable "fail" {
  type    = bool
  default = false
}

resource "terraform_data" "network" {
  input = var.gcp_project_id
}

resource "terraform_data" "broker" {
  count = var.brokers_per_cloud
  input = "${var.engine}-${terraform_data.network.output}-${count.index}"
}

# Comes after the network and brokers; replaced (and failing) when var.fail turns true.
resource "terraform_data" "late" {
  triggers_replace = [var.fail]
  depends_on       = [terraform_data.broker]

  provisioner "local-exec" {
    command = var.fail ? "echo 'riftdrill: stand-in failure' >&2; exit 1" : "true"
  }
}

output "riftdrill" {
  value = jsondecode(file("${path.module}/riftdrill.json"))
}

output "shape" {
  value = { engine = var.engine, topology = var.topology, brokers = length(terraform_data.broker) }
}
"""

LOCAL = 'terraform {\n  backend "local" {}\n}\n'


def s3_backend(endpoint: str, key: str = "riftdrill/aws-gcp/terraform.tfstate") -> str:
    return f"""terraform {{
  backend "s3" {{
    bucket                      = "{BUCKET}"
    key                         = "{key}"
    region                      = "us-east-1"
    endpoints                   = {{ s3 = "{endpoint}", sts = "{endpoint}" }}
    use_path_style              = true
    use_lockfile                = true
    skip_credentials_validation = true
    skip_requesting_account_id  = true
    skip_metadata_api_check     = true
    skip_region_validation      = true
  }}
}}
"""



@pytest.fixture
def checkout(tmp_path: Path, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout whose infra/envs/aws-gcp is the stand-in (local backend), allow-listed and
    with credentials, STS answered by moto."""
    home = tmp_path / "checkout"
    env = home / "infra" / "envs" / "aws-gcp"
    env.mkdir(parents=True)
    (env / "main.tf").write_text(STAND_IN)
    (env / "backend.tf").write_text(LOCAL)
    (env / "riftdrill.json").write_text(json.dumps(outputs()["riftdrill"]["value"]))
    creds = tmp_path / "gcp.json"
    creds.write_text("{}")
    for name, value in {"RIFTDRILL_HOME": str(home), guard.ALLOWED_ENV: f"{ACCOUNT},{PROJECT}",
                        guard.ALLOWED_FILE_ENV: str(tmp_path / "no-allow-file"),
                        "RIFTDRILL_GCP_PROJECT": PROJECT, "GOOGLE_APPLICATION_CREDENTIALS": str(creds),
                        "AWS_ENDPOINT_URL": moto_endpoint, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    boto3.DEFAULT_SESSION = None
    checked: list[str] = []
    import riftdrill.drivers.cloud

    # The cloud guard over deployed resources is test_cloud_guard's subject; here it records.
    monkeypatch.setattr(riftdrill.drivers.cloud, "check_deployment",
                        lambda inv: checked.append(inv.target))
    return home


def cloud_deploy_(**shape: Any) -> Any:
    ws = workspace("aws-gcp")
    return cloud_deploy.deploy(ws, shape.get("engine"), shape.get("topology"),
                               shape.get("brokers_per_cloud"), dry_run=False, progress=None)


def leftovers() -> Leftovers | None:
    """What status adds to a standing aws-gcp inventory (the rest of status probes the clouds,
    which is test_cloud_guard's and test_cloud_aws's subject)."""
    return cloud_leftovers(workspace("aws-gcp"), inventory.load().target)


def status() -> dict[str, Any]:
    """`riftdrill status --json` when no inventory stands."""
    result = CliRunner().invoke(APP, ["status", "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def set_fail(home: Path, fail: bool) -> None:
    with open(home / "infra" / "envs" / "aws-gcp" / "terraform.tfvars", "a") as tfvars:
        tfvars.write(f"fail = {'true' if fail else 'false'}\n")


def test_apply_fail_status_destroy_with_local_state(checkout: Path) -> None:
    ws = workspace("aws-gcp")
    (ws.module_dir / "terraform.tfvars").write_text('engine = "automq"\nbrokers_per_cloud = 3\n')
    inv = cloud_deploy_(engine="kafka")
    assert inv.target == "aws-gcp"
    # Local state is riftdrill's file under .riftdrill/, never next to the module's files.
    assert ws.state_path == checkout / ".riftdrill" / "terraform" / "aws-gcp.tfstate"
    assert ws.has_state() and not (ws.module_dir / "terraform.tfstate").exists()
    # CLI flag > terraform.tfvars > default, in the real Terraform.
    assert ws.outputs()["shape"] == {"engine": "kafka", "topology": "per-cloud", "brokers": 3}
    assert leftovers() is None

    set_fail(checkout, True)
    with pytest.raises(RiftdrillError, match="deploy failed"):
        cloud_deploy_(engine="kafka")
    seen = leftovers()  # the earlier apply's inventory stands, and status says what is off
    assert seen is not None and seen.reason == "the last apply failed"
    assert "terraform_data.late" in seen.resources

    # No --target: the inventory names aws-gcp. Destroy reuses the apply's -var engine=kafka.
    assert cloud_deploy.destroy_vars(ws, ACCOUNT, PROJECT)["engine"] == "kafka"
    result = CliRunner().invoke(APP, ["destroy", "--yes"])
    assert result.exit_code == 0, result.output
    assert "aws-gcp destroyed" in result.stdout
    assert not ws.has_state() and ws.state()["resources"] == []
    with pytest.raises(RiftdrillError):
        inventory.load()  # its brokers are gone: no inventory shows them
    assert status() == {"deployed": False}
    result = CliRunner().invoke(APP, ["destroy", "--target", "aws-gcp", "--yes"])
    assert result.exit_code == 0 and "nothing deployed on aws-gcp" in result.stdout


def test_a_failed_first_apply_is_shown_and_destroyed(checkout: Path) -> None:
    set_fail(checkout, True)
    with pytest.raises(RiftdrillError, match="deploy failed"):
        cloud_deploy_()
    seen = status()
    assert seen["deployed"] == "partial" and seen["reason"] == "the last apply failed"
    assert {"terraform_data.network", "terraform_data.broker[0]",
            "terraform_data.late"} <= set(seen["resources"])
    ws = workspace("aws-gcp")
    assert cloud_deploy.destroy(ws, True, None, check_deployment=lambda inv: None) is True
    assert not ws.has_state() and ws.last_apply() is None
    assert status() == {"deployed": False}


def test_remote_s3_state_needs_no_path_and_is_read_through_terraform(
        checkout: Path, moto_endpoint: str) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)  # the only test of the module-scoped server that uses S3
    env = checkout / "infra" / "envs" / "aws-gcp"
    (env / "backend.tf").write_text(s3_backend(moto_endpoint))
    ws = workspace("aws-gcp")
    assert ws.backend.type == "s3"
    # init would fail on `-backend-config=path=...` (no such argument for s3): it succeeds.
    cloud_deploy_()
    assert not ws.state_path.exists(), "remote state leaves no local state file"
    body = s3.get_object(Bucket=BUCKET, Key="riftdrill/aws-gcp/terraform.tfstate")["Body"].read()
    assert json.loads(body)["resources"], "the state is in the bucket"
    fresh = workspace("aws-gcp")  # as a later command sees it: init, then state pull
    assert fresh.has_state()
    assert "terraform_data.network" in {r for r in _addresses(fresh.show())}

    set_fail(checkout, True)
    with pytest.raises(RiftdrillError, match="deploy failed"):
        cloud_deploy_()
    seen = leftovers()
    assert seen is not None and seen.reason == "the last apply failed"

    assert cloud_deploy.destroy(workspace("aws-gcp"), True, None,
                                check_deployment=lambda inv: None) is True
    body = s3.get_object(Bucket=BUCKET, Key="riftdrill/aws-gcp/terraform.tfstate")["Body"].read()
    assert json.loads(body)["resources"] == []
    assert not workspace("aws-gcp").has_state()


def _addresses(shown: dict[str, Any]) -> list[str]:
    from riftdrill.cloud.status import existing_resources

    return existing_resources(shown)


def test_local_state_is_not_silently_left_behind_by_a_switch_to_remote(checkout: Path,
                                                                       moto_endpoint: str) -> None:
    """Switching to remote state with resources in the local file: refused, with the commands
    that move the state; once they ran, the remote backend holds the deployment."""
    cloud_deploy_()
    env = checkout / "infra" / "envs" / "aws-gcp"
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    (env / "backend.tf").write_text(s3_backend(moto_endpoint, key="moved/terraform.tfstate"))
    ws = workspace("aws-gcp")
    with pytest.raises(StateError, match="state push") as refused:
        ws.init()
    # The commands the message names, as a user would run them (riftdrill's TF_DATA_DIR aside).
    commands = str(refused.value).split("`")[1]
    tf_env = {"TF_DATA_DIR": str(checkout / "tfdata"), "TF_CLI_CONFIG_FILE": "/dev/null",
              "CHECKPOINT_DISABLE": "1"}
    subprocess.run(commands.replace("terraform ", f"{terraform_bin()} ").replace(
        " init ", " init -input=false "), shell=True, check=True, capture_output=True,
        env={**os.environ, **tf_env}, timeout=120)
    ws.state_path.unlink()
    assert workspace("aws-gcp").has_state()
    assert cloud_deploy.destroy(workspace("aws-gcp"), True, None,
                                check_deployment=lambda inv: None) is True


def test_state_next_to_the_module_files_is_refused(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Where riftdrill's state went before the env declared a backend: never ignored."""
    monkeypatch.setenv("RIFTDRILL_HOME", str(tmp_path))
    module = tmp_path / "module"
    module.mkdir()
    (module / "main.tf").write_text(LOCAL)
    (module / "terraform.tfstate").write_text(json.dumps(
        {"version": 4, "resources": [{"type": "terraform_data", "instances": [{}]}]}))
    ws = Workspace(module_dir=module, name="x")
    for look in (ws.init, ws.has_state):  # has_state: destroy must not say "nothing deployed"
        with pytest.raises(StateError, match=r"terraform.tfstate holds resources .* move it to"):
            look()


def test_backend_is_read_from_the_tf_files(tmp_path: Path) -> None:
    assert backend_of(tmp_path).type == "local" and backend_of(tmp_path).file is None
    (tmp_path / "versions.tf").write_text(
        '# backend "gcs" {} in a comment\nterraform {\n  /* backend "s3" {} */\n}\n'
        'data "terraform_remote_state" "x" {\n  backend = "s3"\n}\n')
    (tmp_path / "backend.tf.example").write_text('terraform {\n  backend "s3" {}\n}\n')
    assert backend_of(tmp_path).file is None
    (tmp_path / "backend.tf").write_text('terraform {\n  backend "s3" {\n  }\n}\n')
    assert backend_of(tmp_path).type == "s3" and not backend_of(tmp_path).local
    (tmp_path / "b.tf.json").write_text('{"terraform": {"backend": {"gcs": {}}}}')
    with pytest.raises(StateError, match=r'2 backends \("s3" in backend.tf, "gcs" in b.tf.json\)'):
        backend_of(tmp_path)


def test_the_aws_gcp_env_keeps_local_state_under_riftdrill() -> None:
    env = ROOT / "infra" / "envs" / "aws-gcp"
    backend = backend_of(env)
    assert backend.local and backend.file == env / "backend.tf"
    # A plain `terraform init` in the env sends the state to riftdrill's file too.
    assert '"../../../.riftdrill/terraform/aws-gcp.tfstate"' in backend.file.read_text()
    assert backend_of(ROOT / "infra" / "envs" / "local").local


def test_addresses_come_from_the_raw_state_as_show_names_them() -> None:
    from riftdrill.cloud.status import addresses_in_state

    state = {"resources": [
        {"module": "module.aws", "mode": "managed", "type": "aws_instance", "name": "this",
         "instances": [{"index_key": 0}, {"index_key": 1}]},
        {"module": 'module.layout["gcp"]', "mode": "managed", "type": "terraform_data",
         "name": "x", "instances": [{"index_key": "a"}]},
        {"mode": "managed", "type": "random_id", "name": "cluster", "instances": [{}]},
        {"mode": "data", "type": "aws_availability_zones", "name": "available",
         "instances": [{}]},
    ]}
    assert addresses_in_state(state) == [
        "module.aws.aws_instance.this[0]", "module.aws.aws_instance.this[1]",
        'module.layout["gcp"].terraform_data.x["a"]', "random_id.cluster"]
