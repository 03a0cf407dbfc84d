"""Terraform failures on the cloud target become one actionable line; state summary for status."""

from __future__ import annotations

import pytest

from riftdrill.cloud.errors import explain
from riftdrill.cloud.status import existing_resources, summary


@pytest.mark.parametrize(("output", "expected"), [
    ("Error: AWS account ID not allowed: 999999999999\n\n  with provider[...]",
     "AWS account 999999999999 is not in allowed_aws_account_ids"),
    ("Error: No valid credential sources found\n\nPlease see https://...",
     "no valid AWS credentials"),
    ("Error: creating EC2 Instance: VcpuLimitExceeded: You have requested more vCPU capacity",
     "quota is exhausted (VcpuLimitExceeded)"),
    ("Error: Error creating instance: googleapi: Error 403: Quota 'CPUS' exceeded.  Limit: 8.0",
     "quota is exhausted"),
    ("Error: invalid AWS Region: eu-nowhere-9", "AWS region eu-nowhere-9 does not exist"),
    ("Error: attempting to find default credentials: google: could not find default credentials",
     "no Google credentials"),
    ('Error: No value for required variable\n\n  on variables.tf line 33:\n  33: variable '
     '"aws_ami_id" {\n\nThe root module input variable "aws_ami_id" is not set, and has no '
     "default value.", "scripts/cloud/print-ami.sh --region <aws_region>"),
    ('Error: No value for required variable\n\nThe root module input variable "engine_url" is '
     "not set, and has no default value.", "terraform.tfvars sets no engine_url"),
])
def test_known_failures_are_one_clear_line(output: str, expected: str) -> None:
    err = explain(output)
    assert expected in str(err)
    assert "\n" not in str(err) and err.exit_code == 2


def test_unknown_failure_keeps_the_first_error_line_redacted_and_points_to_status() -> None:
    err = explain("Error: creating thing: secret_key=abc123 boom\n\nmore lines", action="destroy")
    assert str(err).startswith("destroy failed: creating thing:")
    assert "abc123" not in str(err) and "riftdrill status" in str(err)


def test_state_summary_after_a_partial_apply() -> None:
    show = {"values": {"root_module": {
        "resources": [{"address": "random_id.cluster[\"aws\"]", "mode": "managed",
                       "type": "random_id"},
                      {"address": "data.aws_availability_zones.available", "mode": "data",
                       "type": "aws_availability_zones"}],
        "child_modules": [{"resources": [
            {"address": "module.aws.aws_vpc.this", "mode": "managed", "type": "aws_vpc"},
            {"address": "module.aws.aws_s3_bucket.data", "mode": "managed",
             "type": "aws_s3_bucket"}]}],
    }}}
    assert existing_resources(show) == ['module.aws.aws_s3_bucket.data', 'module.aws.aws_vpc.this',
                                        'random_id.cluster["aws"]']
    assert summary(show) == {"random_id": 1, "aws_vpc": 1, "aws_s3_bucket": 1}
    assert existing_resources({}) == []
