"""The safety guard: allow-list, drill-target tags, destroy confirmation, redaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from riftdrill import guard
from riftdrill.guard import GuardError, TaggedResource


def test_allow_list_from_environment_and_file(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "allowed"
    f.write_text("# drill accounts\n111111111111  # sandbox\nrd-drills-1234\n")
    monkeypatch.setenv(guard.ALLOWED_FILE_ENV, str(f))
    monkeypatch.setenv(guard.ALLOWED_ENV, "222222222222, rd-other-5678")
    assert guard.allowed_accounts() == {"111111111111", "rd-drills-1234", "222222222222",
                                        "rd-other-5678"}
    guard.check_allowed("111111111111", "rd-drills-1234")
    guard.check_allowed("222222222222", "rd-drills-1234")


def test_account_not_allow_listed_is_refused(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(guard.ALLOWED_FILE_ENV, str(tmp_path / "none"))
    monkeypatch.setenv(guard.ALLOWED_ENV, "111111111111,rd-drills-1234")
    with pytest.raises(GuardError, match="AWS account 999999999999 is not on the allow-list"):
        guard.check_allowed("999999999999", "rd-drills-1234")
    with pytest.raises(GuardError, match="GCP project rd-prod-9999"):
        guard.check_allowed("111111111111", "rd-prod-9999")
    with pytest.raises(GuardError, match="12 digits"):
        guard.check_allowed("1234", "rd-drills-1234")


def test_empty_allow_list_refuses_everything(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(guard.ALLOWED_FILE_ENV, str(tmp_path / "none"))
    monkeypatch.delenv(guard.ALLOWED_ENV, raising=False)
    with pytest.raises(GuardError, match="no cloud account is allow-listed"):
        guard.check_allowed("111111111111", "rd-drills-1234")


def test_drill_target_tags() -> None:
    guard.check_drill_target_tags([
        TaggedResource("ec2 instance", "aws-broker-1", {"riftdrill:drill-target": "true"}),
        TaggedResource("gce instance", "gcp-broker-1", {"riftdrill-drill-target": "true"}),
    ])
    with pytest.raises(GuardError, match="ec2 instance prod-db, gce instance x"):
        guard.check_drill_target_tags([
            TaggedResource("ec2 instance", "prod-db", {"Name": "prod-db"}),
            TaggedResource("gce instance", "x", {"riftdrill-drill-target": "false"}),
        ])


def test_confirm_destroy() -> None:
    guard.confirm_destroy(yes=True, interactive=False)
    with pytest.raises(GuardError, match="needs --yes"):
        guard.confirm_destroy(yes=False, interactive=False)
    guard.confirm_destroy(yes=False, interactive=True, ask=lambda prompt: "yes")
    with pytest.raises(GuardError, match="cancelled"):
        guard.confirm_destroy(yes=False, interactive=True, ask=lambda prompt: "y")


@pytest.mark.parametrize("secret", [
    "AKIAIOSFODNN7EXAMPLE",
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    '"secret": "hmacSecretValue0123456789"',
    "Authorization: Bearer ya29.a0AfH6SMBx",
    "tunnel1_preshared_key=abcDEF123456",
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----",
    "https://user:hunter2@example.invalid/path",
    "GOOG1EXAMPLEHMACACCESSIDXYZ",
])
def test_redact_hides_credentials(secret: str) -> None:
    out = guard.redact(f"before {secret} after")
    for fragment in ("AKIAIOSFODNN7", "wJalrXUtn", "hmacSecretValue", "ya29.a0", "abcDEF123456",
                     "MIIEvQ", "hunter2", "GOOG1EXAMPLEHMAC"):
        assert fragment not in out
    assert out.startswith("before ") and "***" in out


def test_redact_mapping_blanks_secret_keys_and_keeps_the_rest() -> None:
    data = {"hmac_secret": "x", "nested": [{"password": "p", "region": "eu-west-1"}],
            "note": "key AKIAIOSFODNN7EXAMPLE"}
    assert guard.redact_mapping(data) == {
        "hmac_secret": "***", "nested": [{"password": "***", "region": "eu-west-1"}],
        "note": "key ***AWS-KEY-ID***"}
