# aws-cluster with its minimal inputs: one KRaft cluster of 3 controllers and 3 AutoMQ brokers
# in one AWS region, on its own (infra/envs/aws-gcp joins it to GCP). Never applied; checked
# offline by tests/unit/test_infra_static.py (fmt, Terraform's config loader, references).

provider "aws" {
  region = "eu-west-1"
}

variable "engine_sha256" {
  description = "SHA-256 of the AutoMQ tarball below (nodes refuse anything else)."
  type        = string
}

module "aws" {
  source = "../.."

  name       = "rd-aws"
  azs        = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
  peer_cidrs = ["10.50.0.0/20"]
  link_name  = "rd-aws-gcp"
  ami_id     = "ami-0123456789abcdef0" # pinned by id: scripts/cloud/print-ami.sh prints the current one

  engine_version = "1.5.5"
  engine_url     = "https://github.com/AutoMQ/automq/releases/download/1.5.5/automq-1.5.5_kafka-3.9.0.tgz"
  engine_sha256  = var.engine_sha256

  cluster_id = "AAAAAAAAAAAAAAAAAAAAAA" # 22 characters of URL-safe base64 (kafka-storage.sh random-uuid)
  # The default layout's controllers (node-layout: host 10+i of zone i's subnet).
  controller_quorum_voters = "1@10.40.0.10:9093,2@10.40.16.11:9093,3@10.40.32.12:9093"
}

output "nodes" {
  description = "The nodes: name, node.id, roles, zone, address and instance id."
  value       = module.aws.nodes
}
