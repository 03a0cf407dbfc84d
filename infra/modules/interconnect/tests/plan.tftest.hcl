# Plan-only checks of interconnect with mock providers: no account or project is touched.
# Needs the aws and google provider binaries for their schemas, so
# tests/unit/test_infra_static.py runs this only where a provider mirror exists; it has never
# run (infra/README.md).

mock_provider "aws" {}
mock_provider "google" {}

variables {
  name                = "rd-aws-gcp"
  aws_vpc_id          = "vpc-0123456789abcdef0"
  aws_route_table_ids = ["rtb-0123456789abcdef0"]
  gcp_project_id      = "rd-drills-1234"
  gcp_region          = "europe-west1"
  gcp_network_id      = "projects/rd-drills-1234/global/networks/rd-gcp"
}

run "ha_vpn_four_tunnels" {
  command = plan

  assert {
    condition     = length(google_compute_vpn_tunnel.this) == 4 && length(aws_vpn_connection.this) == 2
    error_message = "two AWS VPN connections of two tunnels each, four GCP tunnels (the cost estimate counts these)"
  }
}

run "a_public_asn_is_refused" {
  command = plan

  variables {
    aws_asn = 16509
  }

  expect_failures = [var.aws_asn]
}
