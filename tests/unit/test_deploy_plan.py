"""Commands act on what is deployed unless the request asks for something else (no lab: the
deployed lab is a fake inventory or a recorded spec)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from riftdrill import inventory
from riftdrill.cloud import deploy as cloud_deploy
from riftdrill.cloud.inventory import inventory_from_outputs
from riftdrill.deploy import (
    DeployRequest,
    DeploySpec,
    deploy,
    deployed_spec,
    plan_deploy,
    spec_of,
)
from riftdrill.errors import ValidationError
from tests.unit.test_cloud_inventory import outputs
from tests.unit.test_inventory import sample

TANSU = DeploySpec(engine="tansu", security="off")  # as deployed: Tansu runs open


def test_nothing_deployed_and_nothing_asked_is_the_default_lab() -> None:
    plan = plan_deploy(DeployRequest(), None)
    assert plan.spec == DeploySpec()
    assert plan.changes == () and plan.notice() is None


def test_make_drill_after_deploying_tansu_drills_tansu() -> None:
    """`make deploy ENGINE=tansu`, then `make drill` (no ENGINE): the deployed lab, unchanged."""
    plan = plan_deploy(DeployRequest(), TANSU)
    assert plan.spec == TANSU
    assert plan.changes == () and plan.notice() is None


def test_a_request_equal_to_the_deployed_lab_changes_nothing() -> None:
    plan = plan_deploy(DeployRequest(target="local", engine="tansu", topology="stretched"), TANSU)
    assert plan.spec == TANSU and plan.notice() is None


def test_a_different_request_is_named_before_the_lab_is_replaced() -> None:
    plan = plan_deploy(DeployRequest(engine="kafka", brokers_per_cloud=3), TANSU)
    # Tansu ran open only because it cannot run the default: kafka gets the default back
    assert plan.spec == DeploySpec(engine="kafka", brokers_per_cloud=3)
    assert plan.changes == ("engine tansu -> kafka", "brokers per cloud 2 -> 3",
                            "security off -> sasl-tls")
    asked_off = plan_deploy(DeployRequest(engine="tansu"), DeploySpec(security="off"))
    back = plan_deploy(DeployRequest(engine="kafka"), asked_off.spec)
    assert back.spec.security == "sasl-tls"
    kept = plan_deploy(DeployRequest(brokers_per_cloud=3), DeploySpec(security="off"))
    assert kept.spec.security == "off"  # a kafka lab deployed open on purpose stays open
    notice = plan.notice()
    assert notice is not None
    assert "engine tansu -> kafka, brokers per cloud 2 -> 3" in notice
    assert "tearing the lab down" in notice


def test_what_the_request_leaves_out_keeps_the_deployed_value() -> None:
    deployed = DeploySpec(topology="per-cloud", brokers_per_cloud=3, wan="metro", security="off")
    plan = plan_deploy(DeployRequest(engine="tansu"), deployed)
    assert (plan.spec.engine, plan.spec.topology, plan.spec.brokers_per_cloud,
            plan.spec.wan) == ("tansu", "per-cloud", 3, "metro")
    assert plan.changes == ("engine kafka -> tansu",)


def test_a_request_the_deployed_target_cannot_run_is_refused() -> None:
    """The deployed aws-gcp target, `--engine tansu` without `--target`: refused, nothing runs."""
    cloud = spec_of(inventory_from_outputs(outputs()))
    plan = plan_deploy(DeployRequest(engine="tansu"), cloud)
    assert plan.spec.target == "aws-gcp"
    with pytest.raises(ValidationError, match="unknown engine 'tansu'; choose one of: automq, kafka"):
        plan.spec.validate()


def test_another_target_is_named_and_starts_from_its_defaults() -> None:
    plan = plan_deploy(DeployRequest(target="aws-gcp"), TANSU)
    assert plan.changes == ("target local -> aws-gcp",)
    assert plan.cloud_vars == frozenset()  # terraform.tfvars decides engine, topology, brokers
    assert plan.title() == "(tfvars)/(tfvars) on aws-gcp"


def test_a_cloud_request_passes_terraform_only_what_was_asked() -> None:
    """CLI flag > terraform.tfvars > default: what is deployed is not passed again, or it would
    override an edited terraform.tfvars."""
    fresh = plan_deploy(DeployRequest(target="aws-gcp", engine="kafka"), None)
    assert fresh.cloud_vars == frozenset({"engine"})
    cloud = spec_of(inventory_from_outputs(outputs()))
    assert (cloud.target, cloud.engine, cloud.topology, cloud.brokers_per_cloud) == (
        "aws-gcp", "automq", "per-cloud", 3)
    again = plan_deploy(DeployRequest(), cloud)
    assert again.spec == cloud and again.notice() is None
    assert again.cloud_vars == frozenset()
    assert plan_deploy(DeployRequest(brokers_per_cloud=5), cloud).cloud_vars == frozenset(
        {"brokers_per_cloud"})


def test_cloud_deploy_leaves_unasked_shape_to_terraform_tfvars(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake_deploy(ws: Any, engine: str | None, topology: str | None, brokers: int | None,
                    dry_run: bool, progress: Any, announce: Any = None) -> None:
        seen.update(engine=engine, topology=topology, brokers=brokers)

    monkeypatch.setattr(cloud_deploy, "deploy", fake_deploy)
    plan = plan_deploy(DeployRequest(target="aws-gcp", topology="stretched"), None)
    deploy(plan.spec, dry_run=True, cloud_vars=plan.cloud_vars)
    assert seen == {"engine": None, "topology": "stretched", "brokers": None}
    assert cloud_deploy.tf_vars("123456789012", "p", None, "stretched", None) == {
        "allowed_aws_account_ids": ["123456789012"], "gcp_project_id": "p", "topology": "stretched"}


def test_the_deployed_spec_is_the_recorded_one_else_the_inventory(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RIFTDRILL_HOME", str(tmp_path))
    assert deployed_spec() is None
    inventory.save(sample())
    # from the inventory's shape (its security block absent: off)
    assert deployed_spec() == DeploySpec(brokers_per_cloud=1, security="off")
    recorded = DeploySpec(engine="kafka", wan="latency=5ms", broker_heap_mb=768)
    (tmp_path / ".riftdrill" / "deploy-spec.json").write_text(json.dumps(asdict(recorded)))
    assert deployed_spec() == recorded  # the lab's exact spec
    inventory.save(inventory_from_outputs(outputs()))
    deployed = deployed_spec()  # the cloud's inventory, not the lab's leftover spec
    assert deployed is not None and deployed.target == "aws-gcp"


def test_the_cli_says_what_changes_once_the_checks_passed(monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from riftdrill import cli
    from riftdrill import deploy as deploy_module

    calls: list[str] = []

    def fake_deploy(spec: DeploySpec, progress: Any = None, dry_run: bool = False,
                    cloud_vars: Any = None, announce: Any = None) -> None:
        calls.append("checks")
        announce()
        calls.append(f"deploy {spec.engine}")

    monkeypatch.setattr(deploy_module, "deployed_spec", lambda: TANSU)
    monkeypatch.setattr(deploy_module, "deploy", fake_deploy)
    result = CliRunner().invoke(cli.mounted_app(), ["deploy", "--engine", "kafka", "--json"],
                                env={"RIFTDRILL_HOME": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert calls == ["checks", "deploy kafka"]
    assert ("the request differs from the deployed lab (engine tansu -> kafka, security off -> "
            "sasl-tls)") in result.stderr
    quiet = CliRunner().invoke(cli.mounted_app(), ["deploy", "--json"],
                               env={"RIFTDRILL_HOME": str(tmp_path)})
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert calls[-1] == "deploy tansu"


def test_security_is_a_deploy_switch_on_by_default() -> None:
    from riftdrill import deploy as deploy_module

    assert DeploySpec().security == deploy_module.DEFAULT_SECURITY == "sasl-tls"
    DeploySpec().validate()
    # the clouds cannot run it yet: a deploy that did not ask runs open and says so
    cloud = plan_deploy(DeployRequest(target="aws-gcp"), None)
    assert cloud.spec.security == "off"
    assert (cloud.notice() or "").startswith("security sasl-tls is not for target aws-gcp")
    cloud.spec.validate()
    assert DeploySpec(security="sasl-tls").tf_vars()["security"] == "sasl-tls"
    assert "security" not in DeploySpec(target="aws-gcp", engine="automq").tf_vars()
    assert DeploySpec(security="off").tf_vars()["security"] == "off"
    plan = plan_deploy(DeployRequest(security="sasl-tls"), DeploySpec(security="off"))
    assert plan.spec.security == "sasl-tls"
    assert plan.changes == ("security off -> sasl-tls",)
    notice = plan.notice()
    assert notice is not None and "tearing the lab down" in notice  # the cluster is rebuilt


def test_tansu_and_the_clouds_refuse_sasl_tls_when_asked() -> None:
    with pytest.raises(ValidationError, match=r"engine tansu .*no TLS.*--security off"):
        DeploySpec(engine="tansu", security="sasl-tls").validate()
    with pytest.raises(ValidationError, match=r"target aws-gcp .*secrets"):
        DeploySpec(target="aws-gcp", engine="kafka", security="sasl-tls").validate()
    with pytest.raises(ValidationError, match="unknown security"):
        DeploySpec(security="mtls").validate()  # type: ignore[arg-type]
    DeploySpec(security="sasl-tls").validate()


def test_tansu_runs_open_when_only_a_default_or_the_last_lab_asked_for_security() -> None:
    secured = DeploySpec(security="sasl-tls")
    plan = plan_deploy(DeployRequest(engine="tansu"), secured)
    assert plan.spec == DeploySpec(engine="tansu", security="off")
    assert "security sasl-tls -> off" in plan.changes
    notice = plan.notice()
    assert notice is not None and notice.startswith("security sasl-tls is not for engine tansu")
    plan.spec.validate()
    asked = plan_deploy(DeployRequest(engine="tansu", security="sasl-tls"), None)
    with pytest.raises(ValidationError):
        asked.spec.validate()  # asked for explicitly: refused, not overridden


def test_a_lab_recorded_before_security_existed_reads_as_off(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Upgrading riftdrill must not tear down a running lab: its recorded spec lacks the field."""
    from riftdrill.deploy import hub_only_change

    monkeypatch.setenv("RIFTDRILL_HOME", str(tmp_path))
    recorded = {k: v for k, v in asdict(DeploySpec(topology="hub")).items()
                if k not in ("security", "hub_delivery")}
    (tmp_path / ".riftdrill").mkdir()
    (tmp_path / ".riftdrill" / "deploy-spec.json").write_text(json.dumps(recorded))
    deployed = deployed_spec()
    assert deployed == DeploySpec(topology="hub", security="off")
    assert plan_deploy(DeployRequest(), deployed).changes == ()
    assert not hub_only_change(recorded, DeploySpec(topology="hub", security="sasl-tls"))


def test_the_inventory_records_security_and_an_older_one_reads_as_off() -> None:
    old = sample().model_dump()
    del old["security"]
    assert inventory.Inventory.model_validate(old).security.mode == "off"
    assert spec_of(inventory.Inventory.model_validate(old)).security == "off"


def test_terraform_names_the_principals_as_riftdrill_does() -> None:
    import re

    from riftdrill.security import credentials

    main = (Path(__file__).resolve().parents[2] / "infra" / "envs" / "local" / "main.tf").read_text()
    roles = re.search(r"^\s*roles\s*=\s*\[([^\]]*)\]", main, re.M)
    assert roles is not None
    assert tuple(r.strip().strip('"') for r in roles.group(1).split(",")) == credentials.ROLES
    assert {r: r for r in credentials.ROLES} == credentials.PRINCIPALS


def test_programs_that_build_specs_deploy_tansu_open() -> None:
    from riftdrill.deploy import security_as_default

    assert security_as_default(DeploySpec(engine="tansu", security="sasl-tls")).security == "off"
    assert security_as_default(DeploySpec(security="sasl-tls")).security == "sasl-tls"


def test_setups_compared_with_each_other_share_one_security_mode() -> None:
    from riftdrill.deploy import one_security

    both = one_security([DeploySpec(engine="kafka"), DeploySpec(engine="tansu")])
    assert [s.security for s in both] == ["off", "off"]  # Tansu cannot be secured: all open
    kafkas = one_security([DeploySpec(engine="kafka"), DeploySpec(topology="per-cloud",
                                                                  security="off")])
    assert [s.security for s in kafkas] == ["sasl-tls", "sasl-tls"]  # the default, for all
    for spec in both + kafkas:
        spec.validate()
