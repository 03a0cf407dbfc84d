# riftdrill reference target "aws-gcp": one cloud on AWS, one on GCP, joined by HA VPN.
# `riftdrill deploy --target aws-gcp` runs this root module and builds the inventory from the
# `riftdrill` output (riftdrill.cloud.inventory.inventory_from_outputs).

provider "aws" {
  region              = var.aws_region
  allowed_account_ids = var.allowed_aws_account_ids # the provider itself refuses other accounts

  default_tags {
    tags = local.aws_tags
  }
}

provider "google" {
  project        = var.gcp_project_id
  region         = var.gcp_region
  default_labels = local.gcp_labels
}

data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:only a default; set aws_azs to pin the zones of a long-lived deployment
  state = "available"
}

locals {
  aws_tags = merge(var.tags, {
    "riftdrill:drill-target" = "true"
    "riftdrill:deployment"   = var.name_prefix
  })
  gcp_labels = merge({ for k, v in var.tags : lower(replace(k, ":", "-")) => lower(v) }, {
    "riftdrill-drill-target" = "true"
    "riftdrill-deployment"   = var.name_prefix
  })

  aws_azs   = var.aws_azs != null ? var.aws_azs : slice(data.aws_availability_zones.available.names, 0, 3)
  gcp_zones = var.gcp_zones != null ? var.gcp_zones : ["${var.gcp_region}-b", "${var.gcp_region}-c", "${var.gcp_region}-d"]
  link_name = "${var.name_prefix}-aws-gcp"

  kafka_port      = 9092
  controller_port = 9093
  node_id_base    = { aws = 1, gcp = 101 }

  default_settings = {
    replication_factor           = var.engine == "automq" ? 1 : 3
    min_insync_replicas          = var.engine == "automq" ? 1 : 2
    num_partitions               = 6
    network_threads              = 3
    io_threads                   = 8
    segment_bytes                = 268435456
    retention_hours              = 24
    broker_session_timeout_ms    = 9000
    broker_heartbeat_interval_ms = 2000
    replica_lag_time_max_ms      = 30000
  }
  settings = var.kafka_settings != null ? var.kafka_settings : local.default_settings

  # Controller addresses follow the modules' fixed layout (host 10+i of subnet i % 3), so the
  # quorum is known before any instance exists and no module depends on the other.
  voters = {
    aws = [for i in range(var.controllers.aws) :
    "${local.node_id_base.aws + i}@${cidrhost(var.aws_private_subnet_cidrs[i % 3], 10 + i)}:${local.controller_port}"]
    gcp = [for i in range(var.controllers.gcp) :
    "${local.node_id_base.gcp + i}@${cidrhost(var.gcp_subnet_cidr, 10 + i)}:${local.controller_port}"]
  }
  quorum = var.topology == "stretched" ? {
    aws = join(",", concat(local.voters.aws, local.voters.gcp))
    gcp = join(",", concat(local.voters.aws, local.voters.gcp))
    } : {
    aws = join(",", local.voters.aws)
    gcp = join(",", local.voters.gcp)
  }
}

# KRaft cluster ids: 16 random bytes as URL-safe base64 (22 characters), as kafka-storage.sh
# random-uuid prints them. Stretched: one shared id.
resource "random_id" "cluster" {
  for_each    = var.topology == "stretched" ? toset(["main"]) : toset(["aws", "gcp"])
  byte_length = 16
}

module "aws" {
  source = "../../modules/aws-cluster"

  name                 = "${var.name_prefix}-aws"
  azs                  = local.aws_azs
  vpc_cidr             = var.aws_vpc_cidr
  private_subnet_cidrs = var.aws_private_subnet_cidrs
  public_subnet_cidrs  = var.aws_public_subnet_cidrs
  peer_cidrs           = [var.gcp_subnet_cidr]
  client_cidrs         = var.client_cidrs
  link_name            = local.link_name
  kafka_port           = local.kafka_port
  controller_port      = local.controller_port

  engine         = var.engine
  engine_version = var.engine_version
  engine_url     = var.engine_url
  engine_sha256  = var.engine_sha256

  cluster_id               = random_id.cluster[var.topology == "stretched" ? "main" : "aws"].b64_url
  node_id_base             = local.node_id_base.aws
  controller_count         = var.controllers.aws
  broker_count             = var.brokers_per_cloud
  controller_quorum_voters = local.quorum.aws
  kafka_settings           = local.settings
  broker_asg_enabled       = var.broker_asg_enabled
  create_nlb               = var.create_nlb
  tags                     = local.aws_tags
}

module "gcp" {
  source = "../../modules/gcp-cluster"

  name            = "${var.name_prefix}-gcp"
  project_id      = var.gcp_project_id
  region          = var.gcp_region
  zones           = local.gcp_zones
  subnet_cidr     = var.gcp_subnet_cidr
  peer_cidrs      = [var.aws_vpc_cidr]
  client_cidrs    = var.client_cidrs
  link_name       = local.link_name
  kafka_port      = local.kafka_port
  controller_port = local.controller_port

  engine         = var.engine
  engine_version = var.engine_version
  engine_url     = var.engine_url
  engine_sha256  = var.engine_sha256

  cluster_id               = random_id.cluster[var.topology == "stretched" ? "main" : "gcp"].b64_url
  node_id_base             = local.node_id_base.gcp
  controller_count         = var.controllers.gcp
  broker_count             = var.brokers_per_cloud
  controller_quorum_voters = local.quorum.gcp
  kafka_settings           = local.settings
  labels                   = local.gcp_labels
}

module "interconnect" {
  source = "../../modules/interconnect"

  name                = local.link_name
  aws_vpc_id          = module.aws.vpc_id
  aws_route_table_ids = module.aws.private_route_table_ids
  gcp_project_id      = var.gcp_project_id
  gcp_region          = var.gcp_region
  gcp_network_id      = module.gcp.network_id
  tags                = local.aws_tags
}
