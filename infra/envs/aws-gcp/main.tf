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

  # An odd quorum either way (variables.tf checks a given one).
  controllers = var.controllers != null ? var.controllers : (
    var.topology == "stretched" ? { aws = 2, gcp = 1 } : { aws = 3, gcp = 3 }
  )

  # Each cloud's node layout, laid out by infra/modules/node-layout: the env reads its voters to
  # build the quorum, and the cluster module lays its nodes out from the same inputs. The quorum
  # is thus known before any instance exists and neither cluster module depends on the other.
  layout = {
    aws = {
      node_id_base     = 1
      controller_count = local.controllers.aws
      zones            = local.aws_azs
      subnet_cidrs     = var.aws_private_subnet_cidrs
    }
    gcp = {
      node_id_base     = 101
      controller_count = local.controllers.gcp
      zones            = local.gcp_zones
      subnet_cidrs     = [var.gcp_subnet_cidr]
    }
  }
  voters = { for c, l in module.layout : c => l.voters }
  quorum = var.topology == "stretched" ? {
    aws = join(",", concat(local.voters.aws, local.voters.gcp))
    gcp = join(",", concat(local.voters.aws, local.voters.gcp))
    } : {
    aws = join(",", local.voters.aws)
    gcp = join(",", local.voters.gcp)
  }
}

module "layout" {
  source   = "../../modules/node-layout"
  for_each = local.layout

  node_id_base     = each.value.node_id_base
  controller_count = each.value.controller_count
  broker_count     = var.brokers_per_cloud
  zones            = each.value.zones
  subnet_cidrs     = each.value.subnet_cidrs
  kafka_port       = local.kafka_port
  controller_port  = local.controller_port
  kafka_settings   = local.settings
}

# The quorum comes from the env's layouts, the nodes from each cluster module's own layout of
# the same inputs: should the two ever differ, plan says so.
check "quorum_matches_the_clusters" {
  assert {
    condition     = module.aws.controller_addresses == module.layout["aws"].controller_addresses && module.gcp.controller_addresses == module.layout["gcp"].controller_addresses
    error_message = "The clusters' controller addresses differ from the quorum's layout: pass module.aws/module.gcp the inputs of local.layout."
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
  node_id_base             = local.layout.aws.node_id_base
  controller_count         = local.layout.aws.controller_count
  broker_count             = var.brokers_per_cloud
  controller_quorum_voters = local.quorum.aws
  kafka_settings           = local.settings
  security                 = var.security
  ami_id                   = var.aws_ami_id
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
  node_id_base             = local.layout.gcp.node_id_base
  controller_count         = local.layout.gcp.controller_count
  broker_count             = var.brokers_per_cloud
  controller_quorum_voters = local.quorum.gcp
  kafka_settings           = local.settings
  security                 = var.security
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

# One load VM per cloud, next to the brokers: `riftdrill load` runs there (SSM / IAP), never
# across the internet (riftdrill.load.remote; docs/load.md "On a cloud target").
module "aws_load" {
  source = "../../modules/aws-load-node"

  name               = "${var.name_prefix}-aws"
  subnet_id          = module.aws.private_subnet_ids[0]
  security_group_ids = [module.aws.security_group_id]
  carrier_bucket     = module.aws.ops_bucket
  kms_key_arn        = module.aws.kms_key_arn
  tags               = local.aws_tags
}

module "gcp_load" {
  source = "../../modules/gcp-load-node"

  name           = "${var.name_prefix}-gcp"
  project_id     = var.gcp_project_id
  zone           = local.gcp_zones[0]
  network_id     = module.gcp.network_id
  subnetwork_id  = module.gcp.subnet_id
  carrier_bucket = module.gcp.ops_bucket
  labels         = local.gcp_labels
}

# Cloud faults that expire by themselves (riftdrill.expiry): the reaper Lambda undoes what a
# dead runner left past its deadline, and the store outage runs as an FIS experiment.
module "fault_reaper_aws" {
  source = "../../modules/fault-reaper-aws"

  name           = "${var.name_prefix}-aws"
  deployment     = var.name_prefix
  network_acl_id = module.aws.network_acl_id
  bucket_names   = [module.aws.data_bucket, module.aws.ops_bucket]
  subnet_ids     = module.aws.private_subnet_ids
  tags           = local.aws_tags
}

module "fault_reaper_gcp" {
  source = "../../modules/fault-reaper-gcp"

  name           = "${var.name_prefix}-gcp"
  project_id     = var.gcp_project_id
  region         = var.gcp_region
  deployment     = var.name_prefix
  firewall_names = concat(values(module.gcp.sever_firewall_names), [module.gcp.store_outage_firewall_name])
  marker_bucket  = module.gcp.ops_bucket
  labels         = local.gcp_labels
}
