#!/usr/bin/env bash
# Print the current Canonical Ubuntu 24.04 amd64 AMI id of a region, to pin as aws_ami_id in
# infra/envs/aws-gcp/terraform.tfvars (the modules never pick "the newest" at apply time).
#   scripts/cloud/print-ami.sh --region eu-west-1 [--json]
# Uses the AWS credentials of the environment (one ec2:DescribeImages call).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .riftdrill/venv/bin/python -m riftdrill.cloud.ami "$@"
