# Plan-only checks of gcp-cluster with mock providers: no project is touched. Needs the google
# and random provider binaries for their schemas, so tests/unit/test_infra_static.py runs this
# only where a provider mirror exists; it has never run (infra/README.md).

mock_provider "google" {}
mock_provider "random" {}

variables {
  name                     = "rd-gcp"
  project_id               = "rd-drills-1234"
  region                   = "europe-west1"
  zones                    = ["europe-west1-b", "europe-west1-c", "europe-west1-d"]
  peer_cidrs               = ["10.40.0.0/16"]
  link_name                = "rd-aws-gcp"
  engine_version           = "1.5.5"
  engine_url               = "https://example.invalid/automq-1.5.5.tgz"
  engine_sha256            = "0000000000000000000000000000000000000000000000000000000000000000"
  cluster_id               = "AAAAAAAAAAAAAAAAAAAAAA"
  controller_quorum_voters = "1@10.50.0.10:9093,2@10.50.0.11:9093,3@10.50.0.12:9093"
}

run "defaults_plan_six_nodes" {
  command = plan

  assert {
    condition     = length(google_compute_instance.node) == 6
    error_message = "3 controllers and 3 brokers, one VM each"
  }

  assert {
    condition     = output.controller_addresses == { "1" = "10.50.0.10", "2" = "10.50.0.11", "3" = "10.50.0.12" }
    error_message = "controllers at the node-layout addresses of the one regional subnet"
  }
}

run "the_store_outage_switch_is_off_and_gcs_goes_through_the_private_vip" {
  command = plan

  assert {
    condition     = google_compute_firewall.store_outage.disabled && google_compute_firewall.store_outage.direction == "EGRESS"
    error_message = "the store-outage deny is created disabled; the drill enables it"
  }

  assert {
    condition     = google_compute_firewall.store_outage.destination_ranges == toset(["199.36.153.8/30"])
    error_message = "the deny covers exactly the private.googleapis.com VIP the zone resolves GCS to"
  }

  assert {
    condition     = google_dns_record_set.storage.name == "storage.googleapis.com." && length(google_dns_record_set.storage.rrdatas) == 4
    error_message = "storage.googleapis.com resolves to the four VIP addresses inside the network"
  }
}

run "the_internet_is_no_client" {
  command = plan

  variables {
    client_cidrs = ["0.0.0.0/0"]
  }

  expect_failures = [var.client_cidrs]
}
