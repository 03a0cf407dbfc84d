# Plan-only checks of the aws-gcp env with mock providers: no account is touched.
# Needs the aws/google/random provider binaries for their schemas (mocks do not replace them),
# so tests/unit/test_infra_static.py runs this only when a provider mirror exists
# (~/.cache/riftdrill/terraform-plugins); see infra/README.md.

mock_provider "aws" {
  mock_data "aws_availability_zones" {
    defaults = { names = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_ami" {
    defaults = { root_device_name = "/dev/sda1" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

mock_provider "google" {}
mock_provider "random" {}

variables {
  allowed_aws_account_ids = ["123456789012"]
  gcp_project_id          = "rd-drills-1234"
  aws_ami_id              = "ami-0123456789abcdef0"
  engine_version          = "1.5.5"
  engine_url              = "https://example.invalid/automq-1.5.5.tgz"
  engine_sha256           = "0000000000000000000000000000000000000000000000000000000000000000"
}

run "per_cloud_automq_plans" {
  command = plan

  assert {
    condition     = output.riftdrill.topology == "per-cloud" && output.riftdrill.replication_factor == 1
    error_message = "automq defaults to per-cloud clusters with replication factor 1"
  }

  assert {
    condition     = length(output.riftdrill.clouds.aws.nodes) == 6 && length(output.riftdrill.clouds.gcp.nodes) == 6
    error_message = "each cloud has 3 controllers and 3 brokers"
  }
}

run "automq_cannot_stretch" {
  command = plan

  variables {
    topology = "stretched"
  }

  expect_failures = [var.topology]
}
