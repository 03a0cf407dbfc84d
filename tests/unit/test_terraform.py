"""The python-terraform wrapper, against the real Terraform CLI and a provider-free module."""

from __future__ import annotations

from pathlib import Path

import pytest
from python_terraform import IsNotFlagged, Terraform

from riftdrill.errors import RiftdrillError
from riftdrill.terraform import Workspace, terraform_bin

MODULE = """
terraform {
  backend "local" {}
}
variable "n" {
  type = number
}
variable "m" {
  type    = map(number)
  default = { a = 1 }
}
resource "terraform_data" "x" {
  input = var.n
}
output "scalar" {
  value = var.n
}
output "text" {
  value = "hello"
}
output "nested" {
  value = { m = var.m, ids = [terraform_data.x.output] }
}
"""


@pytest.fixture()
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("RIFTDRILL_HOME", str(tmp_path))
    module = tmp_path / "module"
    module.mkdir()
    (module / "main.tf").write_text(MODULE)
    return Workspace(module_dir=module, name="unit")


def test_destroy_never_passes_the_removed_force_flag() -> None:
    tf = Terraform(terraform_bin_path="terraform")
    cmd = tf.generate_cmd_string("destroy", force=IsNotFlagged, auto_approve=True)
    assert "-force" not in cmd
    assert "-auto-approve=true" in cmd


def test_apply_outputs_destroy_round_trip(workspace: Workspace) -> None:
    lines: list[str] = []
    workspace.init(lines.append)
    workspace.apply({"n": 3, "m": {"a": 1, "b": 2}}, lines.append)
    outputs = workspace.outputs()
    # Bare scalars are exactly where python-terraform's output(name) breaks.
    assert outputs["scalar"] == 3
    assert outputs["text"] == "hello"
    assert outputs["nested"] == {"m": {"a": 1, "b": 2}, "ids": [3]}
    assert workspace.has_state()
    assert workspace.state_path.parent == workspace.data_dir.parent  # state outside TF_DATA_DIR
    assert any("Apply complete" in line for line in lines), "progress saw the apply"
    workspace.destroy({"n": 3})
    assert not workspace.has_state()


def test_apply_failure_is_one_readable_error(workspace: Workspace) -> None:
    workspace.init()
    with pytest.raises(RiftdrillError, match="terraform apply failed"):
        workspace.apply({"n": "not-a-number"})


def test_a_terraform_binary_is_found() -> None:
    assert Path(terraform_bin()).exists()


def test_terraform_gets_our_variables_without_touching_os_environ(workspace: Workspace) -> None:
    import os

    before = dict(os.environ)
    cmd = workspace._tf().generate_cmd_string("plan")
    assert Path(cmd[0]).name == "env" and f"TF_DATA_DIR={workspace.data_dir}" in cmd
    assert cmd.index("plan") > cmd.index("TF_IN_AUTOMATION=1")  # env VAR=... terraform plan
    workspace.init()
    assert dict(os.environ) == before and "TF_DATA_DIR" not in os.environ
    assert (workspace.data_dir / "terraform.tfstate").exists()  # TF_DATA_DIR reached Terraform
