# gcp-cluster with its minimal inputs: one KRaft cluster of 3 controllers and 3 AutoMQ brokers
# in one GCP region, on its own (infra/envs/aws-gcp joins it to AWS). Never applied; checked
# offline by tests/unit/test_infra_static.py (fmt, Terraform's config loader, references).

provider "google" {
  project = var.project_id
  region  = "europe-west1"
}

variable "project_id" {
  description = "GCP project to deploy into (a drill project: riftdrill's guard requires it on the allow-list)."
  type        = string
}

variable "engine_sha256" {
  description = "SHA-256 of the AutoMQ tarball below (nodes refuse anything else)."
  type        = string
}

module "gcp" {
  source = "../.."

  name       = "rd-gcp"
  project_id = var.project_id
  region     = "europe-west1"
  zones      = ["europe-west1-b", "europe-west1-c", "europe-west1-d"]
  peer_cidrs = ["10.40.0.0/16"]
  link_name  = "rd-aws-gcp"

  engine_version = "1.5.5"
  engine_url     = "https://github.com/AutoMQ/automq/releases/download/1.5.5/automq-1.5.5_kafka-3.9.0.tgz"
  engine_sha256  = var.engine_sha256

  cluster_id = "AAAAAAAAAAAAAAAAAAAAAA" # 22 characters of URL-safe base64 (kafka-storage.sh random-uuid)
  # The default layout's controllers (node-layout: host 10+i of the one regional subnet).
  controller_quorum_voters = "1@10.50.0.10:9093,2@10.50.0.11:9093,3@10.50.0.12:9093"
}

output "nodes" {
  description = "The nodes: name, node.id, roles, zone, address."
  value       = module.gcp.nodes
}
