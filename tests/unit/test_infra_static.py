"""Offline validation of the cloud Terraform (infra/modules, infra/envs/aws-gcp).

There is no network here, so the provider binaries `terraform validate` needs cannot be
downloaded (infra/README.md records why they cannot be built either). What runs:
- `terraform fmt -check -recursive infra/`;
- Terraform's own config loader on every module and env: `terraform init -backend=false`
  installs the module tree (it then fails at provider installation, from an empty mirror),
  after which `terraform providers` loads the whole configuration, module calls and version
  constraints included;
- a reference check in Python: every var./local./module. reference resolves, every module call
  passes only declared inputs and every required one, every variable/output is documented;
- checkov over infra/ with zero failed checks and only the reviewed waivers;
- `terraform validate` + `terraform test` (mock providers) when a provider mirror exists at
  ~/.cache/riftdrill/terraform-plugins (or RIFTDRILL_TF_PLUGIN_DIR);
- `terraform validate` for real, offline, on what needs no provider: the lab's configuration and
  infra/modules/node-layout (test_node_layout.py also runs the latter).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
# The lab's own module uses only built-in resources; it is validated for real below.
LAB_ROOTS = [INFRA / "modules" / "lab-component", INFRA / "envs" / "local"]
MODULES = sorted(p for p in (INFRA / "modules").iterdir() if p.is_dir() and p not in LAB_ROOTS)
CLOUD_ROOTS = [*MODULES, INFRA / "envs" / "aws-gcp"]
# Cloud modules with no provider (pure locals and outputs): validated for real, offline.
PURE_MODULES = [INFRA / "modules" / "node-layout"]
PROVIDER_ROOTS = [r for r in CLOUD_ROOTS if r not in PURE_MODULES]
# Examples (terraform-aws-modules style: modules/<m>/examples/<e>, and infra/examples/<e>):
# loaded by Terraform and reference-checked like the modules; the pure ones validated for real.
EXAMPLES = sorted(p for p in [*INFRA.glob("modules/*/examples/*"), *INFRA.glob("examples/*")]
                  if p.is_dir())
PURE_EXAMPLES = [e for e in EXAMPLES if e.parent.parent in PURE_MODULES]
CHECKOV = Path.home() / ".cache/riftdrill/tools/checkov-3.3.30/bin/checkov"
PLUGIN_DIR = Path(os.environ.get("RIFTDRILL_TF_PLUGIN_DIR")
                  or Path.home() / ".cache/riftdrill/terraform-plugins")
PROVIDERS = ("aws", "google", "random", "archive")

# (check id, resource) pairs waived inline with `#checkov:skip=ID:reason`; each reason is in
# the .tf next to the resource. A new waiver fails test_checkov until it is reviewed here.
REVIEWED_WAIVERS = {
    ("CKV_AWS_394", "aws_availability_zones.available"),
    ("CKV_AWS_111", "module.aws.aws_iam_policy_document.kms"),
    ("CKV_AWS_356", "module.aws.aws_iam_policy_document.kms"),
    ("CKV_AWS_109", "module.aws.aws_iam_policy_document.kms"),
    ("CKV_AWS_352", "module.aws.aws_network_acl_rule.private_ingress_vpc"),
    ("CKV_AWS_352", "module.aws.aws_network_acl_rule.private_ingress_peer[0]"),
    ("CKV_AWS_231", 'module.aws.aws_network_acl_rule.private_ingress_replies["tcp"]'),
    ("CKV_AWS_231", 'module.aws.aws_network_acl_rule.private_ingress_replies["udp"]'),
    ("CKV_AWS_79", "module.aws.aws_instance.node"),
    ("CKV_AWS_135", "module.aws.aws_instance.node"),
    ("CKV_AWS_8", "module.aws.aws_instance.node"),
    ("CKV_AWS_126", "module.aws.aws_instance.node"),
    ("CKV2_AWS_41", "module.aws.aws_instance.node"),
    ("CKV2_AWS_62", "module.aws.aws_s3_bucket.data"),
    ("CKV2_AWS_62", "module.aws.aws_s3_bucket.ops"),
    ("CKV_AWS_144", "module.aws.aws_s3_bucket.data"),
    ("CKV_AWS_144", "module.aws.aws_s3_bucket.ops"),
    ("CKV_AWS_21", "module.aws.aws_s3_bucket.data"),
    ("CKV_GCP_62", "module.gcp.google_storage_bucket.ops"),
    ("CKV_GCP_78", "module.gcp.google_storage_bucket.data"),
    ("CKV_GCP_38", "module.gcp.google_compute_instance.node"),
    ("CKV_GCP_37", "module.gcp.google_compute_disk.data"),
    ("CKV_GCP_38", "module.gcp_load.google_compute_instance.this"),
    # infra/examples/ci-oidc: the cloud drill's deploy identity (its README says why)
    ("CKV_AWS_111", "aws_iam_policy_document.deploy"),
    ("CKV_AWS_356", "aws_iam_policy_document.deploy"),
    ("CKV_GCP_49", "google_project_iam_member.node_accounts"),
    ("CKV_GCP_41", "google_project_iam_member.act_as_nodes"),
    ("CKV_GCP_49", "google_project_iam_member.act_as_nodes"),
    ("CKV_AWS_116", "module.fault_reaper_aws.aws_lambda_function.this"),
    ("CKV_AWS_117", "module.fault_reaper_aws.aws_lambda_function.this"),
    ("CKV_AWS_173", "module.fault_reaper_aws.aws_lambda_function.this"),
    ("CKV_AWS_272", "module.fault_reaper_aws.aws_lambda_function.this"),
    ("CKV_AWS_158", "module.fault_reaper_aws.aws_cloudwatch_log_group.reaper"),
}


def _terraform() -> str:
    found = shutil.which("terraform") or shutil.which("tofu")
    if not found:
        pytest.fail("terraform is not on PATH; run `make setup`")
    return found


def _tf(args: list[str], cwd: Path, data_dir: Path, rc_file: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_DATA_DIR": str(data_dir), "TF_CLI_CONFIG_FILE": str(rc_file),
           "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    return subprocess.run([_terraform(), *args, "-no-color"], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=300)


@pytest.fixture
def empty_mirror_rc(tmp_path: Path) -> Path:
    """A CLI config whose only provider source is an empty directory: fails fast, no network."""
    (tmp_path / "mirror").mkdir()
    rc = tmp_path / "terraformrc"
    rc.write_text(_mirror_config(tmp_path / "mirror"))
    return rc


def _mirror_config(path: Path) -> str:
    return f'provider_installation {{\n  filesystem_mirror {{\n    path = "{path}"\n  }}\n}}\n'


def test_fmt() -> None:
    res = subprocess.run([_terraform(), "fmt", "-check", "-recursive", "-no-color", str(INFRA)],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "TF_CLI_CONFIG_FILE": "/dev/null"})
    assert res.returncode == 0, f"not terraform-fmt formatted: {res.stdout}"


def _id(root: Path) -> str:
    return str(root.relative_to(INFRA))


@pytest.mark.parametrize("root", [*PROVIDER_ROOTS, *(e for e in EXAMPLES if e not in PURE_EXAMPLES)],
                         ids=_id)
def test_terraform_loads_the_configuration(root: Path, tmp_path: Path, empty_mirror_rc: Path) -> None:
    data = tmp_path / "tfdata"
    # An env's local backend is initialised onto a scratch file (`providers` needs the backend
    # an env declares initialised); a module has none.
    from riftdrill.terraform import backend_of

    backend = (["-backend-config=path=" + str(tmp_path / "scratch.tfstate")]
               if backend_of(root).file is not None else ["-backend=false"])
    init = _tf(["init", *backend, "-input=false"], root, data, empty_mirror_rc)
    errors = re.findall(r"^Error: (.+)$", init.stdout + init.stderr, re.M)
    # Only provider installation may fail (no providers offline); any config error is a bug.
    assert set(errors) <= {"Failed to query available provider packages"}, init.stdout + init.stderr
    providers = _tf(["providers"], root, data, empty_mirror_rc)
    assert providers.returncode == 0, providers.stdout + providers.stderr
    assert "provider[registry.terraform.io/hashicorp/" in providers.stdout


# ---- reference check -------------------------------------------------------------------

def _strip_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def _blocks(text: str, kind: str) -> dict[str, str]:
    """`kind "name" { ... }` bodies of a terraform-fmt formatted file (closing brace at col 0)."""
    return dict(re.findall(rf'^{kind} "([^"]+)" \{{\n(.*?)^\}}', text, re.M | re.S))


def _module_text(root: Path) -> str:
    return "\n".join(_strip_comments(p.read_text()) for p in sorted(root.glob("*.tf")))


def _locals(text: str) -> set[str]:
    names: set[str] = set()
    for body in re.findall(r"^locals \{\n(.*?)^\}", text, re.M | re.S):
        names |= set(re.findall(r"^  (\w+)\s*=", body, re.M))
    return names


@pytest.mark.parametrize("root", [*CLOUD_ROOTS, *EXAMPLES], ids=_id)
def test_every_reference_resolves(root: Path) -> None:
    text = _module_text(root)
    variables = set(_blocks(text, "variable"))
    for name in set(re.findall(r"\bvar\.(\w+)", text)):
        assert name in variables, f"{root.name}: var.{name} is not declared"
    local_names = _locals(text)
    for name in set(re.findall(r"\blocal\.(\w+)", text)):
        assert name in local_names, f"{root.name}: local.{name} is not declared"
    calls = _blocks(text, "module")
    for call, body in calls.items():
        source = re.search(r'^  source\s*=\s*"([^"]+)"', body, re.M)
        assert source, f"{root.name}: module {call} has no source"
        target = (root / source.group(1)).resolve()
        target_text = _module_text(target)
        declared = _blocks(target_text, "variable")
        passed = set(re.findall(r"^  (\w+)\s*=", body, re.M)) - {"source", "providers", "count",
                                                                  "for_each", "depends_on"}
        undeclared = passed - set(declared)
        assert not undeclared, f"{root.name}: module {call} passes undeclared {undeclared}"
        required = {n for n, b in declared.items() if not re.search(r"^  default\s*=", b, re.M)}
        assert required <= passed, f"{root.name}: module {call} misses required {required - passed}"
        outputs = set(_blocks(target_text, "output"))
        for used in set(re.findall(rf"\bmodule\.{call}\.(\w+)", text)):
            assert used in outputs, f"{root.name}: module.{call}.{used} is not an output of {target.name}"


@pytest.mark.parametrize("root", CLOUD_ROOTS, ids=lambda p: p.name)
def test_module_conventions(root: Path) -> None:
    for f in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"):
        assert (root / f).is_file(), f"{root.name} lacks {f}"
    text = _module_text(root)
    for name, body in _blocks(text, "variable").items():
        assert re.search(r"^  description\s*=", body, re.M), f"{root.name}: var {name} undocumented"
        assert re.search(r"^  type\s*=", body, re.M), f"{root.name}: var {name} untyped"
    for name, body in _blocks(text, "output").items():
        assert re.search(r"^  description\s*=", body, re.M), f"{root.name}: output {name} undocumented"
    versions = (root / "versions.tf").read_text()
    assert "required_version" in versions
    pins = re.findall(r'^\s+version\s*=\s*"([^"]+)"', versions, re.M)  # providers only
    if root in PURE_MODULES:  # pure: no provider to pin, nothing to create
        assert "required_providers" not in versions, f"{root.name} is meant to need no provider"
        assert not re.search(r'^(resource|data) "', text, re.M), f"{root.name} is meant to be pure"
    else:
        assert pins, f"{root.name}: providers are not version-constrained"
    if root.parent.name == "envs":  # an env pins exactly; modules accept a tested range
        assert all(p.startswith("= ") for p in pins), f"{root.name}: env pins must be exact: {pins}"
    readme = (root / "README.md").read_text()
    for name in _blocks(text, "variable"):
        assert f"`{name}`" in readme, f"{root.name}/README.md does not document input `{name}`"


def test_every_cloud_resource_is_tagged() -> None:
    """AWS resources take local.tags (plus provider default_tags); GCP ones take labels."""
    aws = _module_text(INFRA / "modules" / "aws-cluster")
    taggable = ("aws_vpc", "aws_subnet", "aws_security_group", "aws_s3_bucket", "aws_kms_key",
                "aws_iam_role", "aws_instance", "aws_launch_template", "aws_nat_gateway", "aws_eip",
                "aws_network_acl", "aws_lb", "aws_vpc_endpoint", "aws_flow_log")
    for m in re.finditer(r'^resource "(\w+)" "(\w+)" \{\n(.*?)^\}', aws, re.M | re.S):
        if m.group(1) in taggable:
            assert "local.tags" in m.group(3), f"{m.group(1)}.{m.group(2)} is not tagged"
    gcp = _module_text(INFRA / "modules" / "gcp-cluster")
    for m in re.finditer(r'^resource "(google_storage_bucket|google_compute_instance)" "(\w+)" \{\n(.*?)^\}',
                         gcp, re.M | re.S):
        assert "local.labels" in m.group(3), f"{m.group(1)}.{m.group(2)} is not labelled"
    assert '"riftdrill:drill-target" = "true"' in aws
    assert '"riftdrill-drill-target" = "true"' in gcp


# ---- checkov -----------------------------------------------------------------------------

def test_checkov_has_no_unwaived_failures() -> None:
    if not CHECKOV.exists():
        pytest.skip(f"checkov not installed at {CHECKOV}; run scripts/setup/cloud-tools.sh "
                    "(make setup does)")
    res = subprocess.run([str(CHECKOV), "--config-file", str(INFRA / ".checkov.yaml"),
                          "-d", str(INFRA), "-o", "json"],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    reports = json.loads(res.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [(f["check_id"], f["resource"], f["file_path"])
              for r in reports for f in r["results"].get("failed_checks", [])]
    assert not failed, f"checkov failures (fix, or waive inline with a reason): {failed}"
    assert all(r["summary"]["parsing_errors"] == 0 for r in reports)
    skipped = {(s["check_id"], s["resource"]): (s.get("check_result") or {}).get("suppress_comment")
               for r in reports for s in r["results"].get("skipped_checks", [])}
    assert all(reason and len(reason) > 10 for reason in skipped.values()), skipped
    assert set(skipped) == REVIEWED_WAIVERS, (
        f"unreviewed waivers: {set(skipped) - REVIEWED_WAIVERS}; "
        f"stale: {REVIEWED_WAIVERS - set(skipped)}")


# ---- with providers (only when a mirror exists) -----------------------------------------

def _mirror_complete() -> bool:
    return all(any((PLUGIN_DIR / "registry.terraform.io" / "hashicorp" / p).glob("*/linux_amd64"))
               for p in PROVIDERS)


@pytest.mark.skipif(not _mirror_complete(),
                    reason=f"no provider mirror at {PLUGIN_DIR} (providers cannot be fetched or "
                           "built offline; infra/README.md)")
@pytest.mark.parametrize("root", [*PROVIDER_ROOTS, *(e for e in EXAMPLES if e not in PURE_EXAMPLES)],
                         ids=_id)
def test_validate_and_test_with_providers(root: Path, tmp_path: Path) -> None:
    rc = tmp_path / "terraformrc"
    rc.write_text(_mirror_config(PLUGIN_DIR))
    data = tmp_path / "tfdata"
    for args in (["init", "-backend=false", "-input=false", "-lockfile=readonly"]
                 if (root / ".terraform.lock.hcl").exists()
                 else ["init", "-backend=false", "-input=false"], ["validate"]):
        res = _tf(args, root, data, rc)
        assert res.returncode == 0, res.stdout + res.stderr
    if (root / "tests").is_dir():
        res = _tf(["test"], root, data, rc)
        assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("root", [*LAB_ROOTS, *PURE_MODULES, *PURE_EXAMPLES], ids=_id)
def test_configuration_without_providers_validates_offline(root: Path, tmp_path: Path) -> None:
    """No provider to fetch: `terraform validate` checks types and references for real."""
    from riftdrill.terraform import terraform_bin

    env = {**os.environ, "TF_DATA_DIR": str(tmp_path / "tf"), "CHECKPOINT_DISABLE": "1",
           "TF_CLI_CONFIG_FILE": "/dev/null"}
    tf = terraform_bin()
    init = subprocess.run([tf, "init", "-backend=false", "-input=false", "-no-color"], cwd=root,
                          env=env, capture_output=True, text=True, timeout=120)
    assert init.returncode == 0, init.stdout + init.stderr
    validate = subprocess.run([tf, "validate", "-no-color"], cwd=root, env=env,
                              capture_output=True, text=True, timeout=120)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    if (root / "tests").is_dir():  # `terraform test` needs no provider here either
        test = subprocess.run([tf, "test", "-no-color"], cwd=root, env=env,
                              capture_output=True, text=True, timeout=300)
        assert test.returncode == 0, test.stdout + test.stderr
