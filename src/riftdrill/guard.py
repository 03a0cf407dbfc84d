"""Safety guard for the cloud target: nobody deploys, drills or destroys the wrong account.

Plain functions, no cloud calls: the cloud driver's guard (`drivers/cloud.py:
check_deployment`, run before the first change of every fault, heal, drill and destroy of
target aws-gcp) and cloud deploy/destroy (`cloud/deploy.py`) feed them what the clouds say:
- `check_ids(aws_accounts, gcp_projects)` / `check_allowed(aws_account_id, gcp_project_id)`:
  each must be on the allow-list (RIFTDRILL_ALLOWED_ACCOUNTS, plus the file
  RIFTDRILL_ALLOWED_ACCOUNTS_FILE or ~/.config/riftdrill/allowed-accounts, one id per line);
- `check_drill_target_tags(resources)`: every resource a drill touches carries the drill-target
  tag (AWS `riftdrill:drill-target=true`, GCP label `riftdrill-drill-target=true`);
- `confirm_destroy(yes)`: destroy asks unless `--yes`, and refuses without a terminal;
- `redact(text)` / `redact_mapping(data)`: what riftdrill logs or stores never holds credentials
  (`riftdrill.redact`, the one redaction step, re-exported here for the cloud's error messages).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from riftdrill.errors import RiftdrillError
from riftdrill.redact import redact as redact  # re-exported: the cloud's errors use guard.redact
from riftdrill.redact import redact_mapping as redact_mapping

ALLOWED_ENV = "RIFTDRILL_ALLOWED_ACCOUNTS"
ALLOWED_FILE_ENV = "RIFTDRILL_ALLOWED_ACCOUNTS_FILE"
AWS_TAG = "riftdrill:drill-target"
GCP_LABEL = "riftdrill-drill-target"  # GCP label keys may not contain ':'

_AWS_ACCOUNT = re.compile(r"^[0-9]{12}$")
_GCP_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")


class GuardError(RiftdrillError):
    """The guard refused: wrong account, untagged resource or unconfirmed destroy."""


class CredentialsError(RiftdrillError):
    """Cloud credentials are missing or do not work."""


def default_allow_file() -> Path:
    return Path(os.environ.get(ALLOWED_FILE_ENV)
                or Path.home() / ".config" / "riftdrill" / "allowed-accounts")


def allowed_accounts(env: Mapping[str, str] | None = None, file: Path | None = None) -> set[str]:
    """The allow-list: ids from the environment variable and the file, comma/space/line separated."""
    env = os.environ if env is None else env
    ids = set(re.split(r"[\s,]+", env.get(ALLOWED_ENV, "")))
    path = file or default_allow_file()
    if path.is_file():
        for line in path.read_text().splitlines():
            ids.update(re.split(r"[\s,]+", line.split("#", 1)[0]))
    return {i for i in ids if i}


def check_allowed(aws_account_id: str, gcp_project_id: str,
                  allowed: set[str] | None = None) -> None:
    """Raise GuardError unless both the AWS account and the GCP project are allow-listed."""
    check_ids([aws_account_id], [gcp_project_id], allowed)


def check_ids(aws_accounts: Iterable[str], gcp_projects: Iterable[str],
              allowed: set[str] | None = None) -> None:
    """Raise GuardError, naming the first id and the fix, unless every AWS account and GCP
    project given is well formed and on the allow-list."""
    allow = allowed_accounts() if allowed is None else allowed
    if not allow:
        raise GuardError(f"no cloud account is allow-listed; set {ALLOWED_ENV}="
                         f"<aws account id>,<gcp project id> or list them in {default_allow_file()}")
    where = f"{ALLOWED_ENV} or {default_allow_file()}"
    for account in aws_accounts:
        if not _AWS_ACCOUNT.match(account):
            raise GuardError(f"{account!r} is not an AWS account id (12 digits)")
        if account not in allow:
            raise GuardError(f"AWS account {account} is not on the allow-list ({where}); refusing "
                             "to touch it: use the drill account's credentials (AWS_PROFILE) or "
                             "allow-list it if it is a drill account")
    for project in gcp_projects:
        if not _GCP_PROJECT.match(project):
            raise GuardError(f"{project!r} is not a GCP project id")
        if project not in allow:
            raise GuardError(f"GCP project {project} is not on the allow-list ({where}); refusing "
                             "to touch it: allow-list it if it is a drill project")


@dataclass(frozen=True)
class TaggedResource:
    """A cloud resource as the guard sees it: what it is and its tags (AWS) or labels (GCP)."""

    kind: str  # "ec2 instance", "gce instance", "s3 bucket", ...
    name: str
    tags: Mapping[str, str] = field(default_factory=dict)


def has_drill_target_tag(tags: Mapping[str, str]) -> bool:
    return any(str(tags.get(k, "")).lower() == "true" for k in (AWS_TAG, GCP_LABEL))


def check_drill_target_tags(resources: Iterable[TaggedResource]) -> None:
    """Raise GuardError naming every resource without the drill-target tag."""
    untagged = [f"{r.kind} {r.name}" for r in resources if not has_drill_target_tag(r.tags)]
    if untagged:
        raise GuardError(f"not tagged {AWS_TAG}=true / {GCP_LABEL}=true, so not a drill "
                         f"target: {', '.join(untagged)}; refusing to touch it: if it is "
                         "riftdrill's, `make deploy TARGET=aws-gcp` tags it again")


def confirm_destroy(yes: bool, what: str = "the aws-gcp deployment",
                    ask: Callable[[str], str] = input, interactive: bool | None = None) -> None:
    """Destroying cloud resources needs `--yes` or a typed 'yes' at a terminal."""
    if yes:
        return
    tty = sys.stdin.isatty() if interactive is None else interactive
    if not tty:
        raise GuardError(f"destroying {what} needs --yes when not run from a terminal")
    if ask(f"Destroy {what}? Every resource and bucket is deleted. Type 'yes': ").strip() != "yes":
        raise GuardError(f"destroy of {what} cancelled")
