# interconnect between an existing AWS VPC and GCP network (e.g. the aws-cluster and
# gcp-cluster examples'): HA VPN on GCP, two site-to-site VPN connections on AWS, BGP over
# four tunnels. Never applied; checked offline by tests/unit/test_infra_static.py.

provider "aws" {
  region = "eu-west-1"
}

provider "google" {
  project = var.gcp_project_id
  region  = "europe-west1"
}

variable "aws_vpc_id" {
  description = "The AWS VPC to join (aws-cluster's vpc_id)."
  type        = string
}

variable "aws_route_table_ids" {
  description = "Route tables that learn the GCP routes (aws-cluster's private_route_table_ids)."
  type        = list(string)
}

variable "gcp_project_id" {
  description = "GCP project of the network."
  type        = string
}

variable "gcp_network_id" {
  description = "The GCP network to join (gcp-cluster's network_id)."
  type        = string
}

module "interconnect" {
  source = "../.."

  name                = "rd-aws-gcp"
  aws_vpc_id          = var.aws_vpc_id
  aws_route_table_ids = var.aws_route_table_ids
  gcp_project_id      = var.gcp_project_id
  gcp_region          = "europe-west1"
  gcp_network_id      = var.gcp_network_id
}

output "gcp_tunnel_names" {
  description = "The four GCP VPN tunnels of the link."
  value       = module.interconnect.gcp_tunnel_names
}
