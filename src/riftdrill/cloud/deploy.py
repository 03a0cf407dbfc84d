"""`riftdrill deploy|destroy --target aws-gcp`: the guard first, then Terraform on infra/envs/aws-gcp.

Order matters: every check that needs no network runs before anything talks to a cloud, so a
wrong account, a missing allow-list or missing credentials costs one line and no API call.
Then the read-only ones: the credentials' AWS account (STS) and, for destroy, the cloud guard
over the deployed resources. Terraform runs only once all passed.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from riftdrill import guard, inventory, paths
from riftdrill.errors import RiftdrillError, StateError
from riftdrill.inventory import Inventory
from riftdrill.terraform import Workspace

Progress = Callable[[str], None]
_AWS_ACCOUNT = re.compile(r"^\d{12}$")


def gcp_project() -> str:
    project = os.environ.get("RIFTDRILL_GCP_PROJECT") or os.environ.get("GOOGLE_CLOUD_PROJECT")
    if not project:
        raise guard.GuardError("no GCP project named; set RIFTDRILL_GCP_PROJECT (or GOOGLE_CLOUD_PROJECT)")
    return project


def aws_account_from_allow_list(allowed: set[str]) -> str:
    accounts = sorted(a for a in allowed if _AWS_ACCOUNT.match(a))
    if len(accounts) != 1:
        raise guard.GuardError("the allow-list must name exactly one AWS account for a deploy "
                               f"(found {len(accounts)}); set RIFTDRILL_ALLOWED_ACCOUNTS")
    return accounts[0]


def check_local_credentials() -> None:
    """Credentials must be configured locally (no network call to find out)."""
    import botocore.session

    if botocore.session.get_session().get_credentials() is None:
        raise guard.CredentialsError("no AWS credentials found (environment, profile or SSO); "
                                     "configure the drill account's credentials")
    if not (os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
            or os.path.exists(os.path.expanduser(
                "~/.config/gcloud/application_default_credentials.json"))):
        raise guard.CredentialsError("no Google credentials found; set "
                                     "GOOGLE_APPLICATION_CREDENTIALS or run gcloud auth "
                                     "application-default login")


def preflight() -> tuple[str, str]:
    """(aws account, gcp project), both allow-listed, credentials present. No network."""
    allowed = guard.allowed_accounts()
    if not allowed:
        raise guard.GuardError(f"no cloud account is allow-listed; set {guard.ALLOWED_ENV}="
                               "<aws account id>,<gcp project id> or list them in "
                               f"{guard.default_allow_file()}")
    project = gcp_project()
    account = aws_account_from_allow_list(allowed)
    guard.check_allowed(account, project, allowed)
    check_local_credentials()
    return account, project


def caller_account() -> str:
    """The AWS account the configured credentials belong to (the one network check)."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        sts = boto3.client("sts", config=Config(connect_timeout=5, read_timeout=10,
                                                retries={"max_attempts": 1}))
        return str(sts.get_caller_identity()["Account"])
    except (BotoCoreError, ClientError) as exc:
        raise guard.CredentialsError(guard.redact(f"cannot confirm the AWS account: {exc}")) from exc


def tf_vars(account: str, project: str, engine: str | None, topology: str | None,
            brokers_per_cloud: int | None) -> dict[str, Any]:
    """The -var values. Precedence is CLI flag > terraform.tfvars > the env's default, and a
    -var beats the file, so only what the user gave on the command line is passed (None: not
    given). The account and project always are: they come from the allow-list the guard checked."""
    shape = {"engine": engine, "topology": topology, "brokers_per_cloud": brokers_per_cloud}
    return {"allowed_aws_account_ids": [account], "gcp_project_id": project,
            **{name: value for name, value in shape.items() if value is not None}}


def _applied_vars_path(ws: Workspace) -> Path:
    return ws.data_dir.parent / f"{ws.name}.vars.json"


def _record_vars(ws: Workspace, variables: dict[str, Any]) -> None:
    """The -var values of this apply (no secret: account, project, shape), for destroy."""
    path = _applied_vars_path(ws)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(variables))


def destroy_vars(ws: Workspace, account: str, project: str) -> dict[str, Any]:
    """Destroy evaluates the configuration with the -var values the apply had (a shape given on
    the command line must not be replaced by terraform.tfvars', which may fail a validation);
    the allow-listed account and project are today's. Nothing recorded (another machine, remote
    state): terraform.tfvars and the defaults, as a plain `terraform destroy` would."""
    try:
        recorded = json.loads(_applied_vars_path(ws).read_text())
    except (OSError, ValueError):
        recorded = {}
    shape = {k: v for k, v in recorded.items() if k in ("engine", "topology", "brokers_per_cloud")} \
        if isinstance(recorded, dict) else {}
    return {**shape, **tf_vars(account, project, None, None, None)}


def deploy(ws: Workspace, engine: str | None, topology: str | None, brokers_per_cloud: int | None,
           dry_run: bool, progress: Progress | None,
           announce: Callable[[], None] | None = None) -> Inventory | None:
    """`announce` runs once every guard passed, before Terraform starts."""
    account, project = preflight()
    check_caller(account)
    if announce:
        announce()
    variables = tf_vars(account, project, engine, topology, brokers_per_cloud)
    try:
        ws.init(progress)
        if dry_run:
            ws.plan(variables, progress)
            return None
        _record_vars(ws, variables)
        ws.apply(variables, progress)
    except RiftdrillError as exc:
        from riftdrill.cloud.errors import explain

        raise explain(_log_tail(ws) + str(exc)) from exc
    from riftdrill.cloud.inventory import inventory_from_outputs

    inv = inventory_from_outputs(ws.outputs())
    inventory.save(inv)
    return inv


def check_caller(account: str) -> None:
    """The credentials in use must be the allow-listed account's (one STS call)."""
    caller = caller_account()
    if caller != account:
        raise guard.GuardError(f"the configured AWS credentials are for account {caller}, not the "
                               f"allow-listed account {account}; refusing: use the drill "
                               "account's credentials (AWS_PROFILE)")


def destroy(ws: Workspace, yes: bool, progress: Progress | None, *,
            check_deployment: Callable[[Inventory], None]) -> bool:
    """The guard, then `terraform destroy`. `check_deployment` is the cloud driver's guard
    (drivers/cloud.py, a higher layer, so the CLI hands it in): with an aws-gcp inventory, the
    accounts its resources live in and their drill-target tags are checked before Terraform
    runs. Without one (a partial apply) the caller's account is what is checked, and the AWS
    provider's `allowed_account_ids` refuses any other."""
    account, project = preflight()
    guard.confirm_destroy(yes)
    if not ws.has_state():
        return False
    check_caller(account)
    deployed = _aws_gcp_inventory()
    if deployed is not None:
        check_deployment(deployed)
    try:
        ws.init(progress)
        ws.destroy(destroy_vars(ws, account, project), progress)
    except RiftdrillError as exc:
        from riftdrill.cloud.errors import explain

        raise explain(_log_tail(ws) + str(exc), action="destroy") from exc
    if ws.has_state():  # Terraform said done, yet something is left: say so, keep the records
        raise StateError(f"terraform destroy finished but the {ws.name} state still holds "
                         "resources; run `riftdrill status` and destroy again")
    _applied_vars_path(ws).unlink(missing_ok=True)
    if deployed is not None:  # its brokers are gone: status must not show them
        paths.inventory_path().unlink(missing_ok=True)
    return True


def _aws_gcp_inventory() -> Inventory | None:
    """The deployment's inventory, if the checkout's inventory is aws-gcp's."""
    try:
        inv = inventory.load()
    except RiftdrillError:  # none, or unreadable: the caller's account is still checked
        return None
    return inv if inv.target == "aws-gcp" else None


def _log_tail(ws: Workspace) -> str:
    try:
        return ws.log_path.read_text(errors="replace")[-20000:]
    except OSError:
        return ""
