# Plan-only checks of aws-cluster with a mock provider: no account is touched. Needs the aws
# provider binary for its schema (mocks do not replace it), so tests/unit/test_infra_static.py
# runs this only where a provider mirror exists; it has never run (infra/README.md).

mock_provider "aws" {
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
    defaults = { id = "ami-0123456789abcdef0" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

variables {
  name                     = "rd-aws"
  azs                      = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
  peer_cidrs               = ["10.50.0.0/20"]
  link_name                = "rd-aws-gcp"
  engine_version           = "1.5.5"
  engine_url               = "https://example.invalid/automq-1.5.5.tgz"
  engine_sha256            = "0000000000000000000000000000000000000000000000000000000000000000"
  cluster_id               = "AAAAAAAAAAAAAAAAAAAAAA"
  controller_quorum_voters = "1@10.40.0.10:9093,2@10.40.16.11:9093,3@10.40.32.12:9093"
}

run "defaults_plan_six_nodes" {
  command = plan

  assert {
    condition     = length(aws_instance.node) == 6
    error_message = "3 controllers and 3 brokers, one instance each"
  }

  assert {
    condition     = output.controller_addresses == { "1" = "10.40.0.10", "2" = "10.40.16.11", "3" = "10.40.32.12" }
    error_message = "controllers at the node-layout addresses the quorum names"
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 1
    error_message = "one NAT gateway (riftdrill cloud cost-estimate counts one)"
  }
}

run "the_internet_is_no_client" {
  command = plan

  variables {
    client_cidrs = ["0.0.0.0/0"]
  }

  expect_failures = [var.client_cidrs]
}

run "an_unpinned_engine_is_refused" {
  command = plan

  variables {
    engine_sha256 = "latest"
  }

  expect_failures = [var.engine_sha256]
}
