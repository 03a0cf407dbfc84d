output "riftdrill" {
  description = "Everything riftdrill's inventory needs (riftdrill.cloud.inventory.inventory_from_outputs reads it). No secrets: the HMAC secret stays in Secret Manager."
  value = {
    target              = "aws-gcp"
    engine              = var.engine
    engine_version      = var.engine_version
    topology            = var.topology
    replication_factor  = local.settings.replication_factor
    min_insync_replicas = local.settings.min_insync_replicas
    kafka_port          = local.kafka_port
    controller_port     = local.controller_port

    clouds = {
      aws = {
        provider   = "aws"
        account_id = module.aws.account_id
        region     = module.aws.region
        cidr       = var.aws_vpc_cidr
        nodes      = module.aws.nodes
        bootstrap  = module.aws.bootstrap
        store = {
          api      = "s3"
          endpoint = module.aws.s3_endpoint
          buckets  = [module.aws.data_bucket, module.aws.ops_bucket]
          handle   = module.aws.node_role_arn # the principal the block drill denies
          # the block drill runs this FIS experiment (timeouts) instead of the 403 deny
          outage_template = module.fault_reaper_aws.store_outage_template_id
        }
        sever     = { network_acl_id = module.aws.network_acl_id }
        load_node = module.aws_load.load_node
      }
      gcp = {
        provider   = "gcp"
        account_id = module.gcp.project_id
        region     = module.gcp.region
        cidr       = var.gcp_subnet_cidr
        nodes      = module.gcp.nodes
        bootstrap  = module.gcp.bootstrap
        store = {
          api      = "gcs"
          endpoint = module.gcp.gcs_endpoint
          buckets  = [module.gcp.data_bucket, module.gcp.ops_bucket]
          handle   = "projects/${module.gcp.project_id}/hmacKeys/${module.gcp.hmac_access_id}"
          # the block drill enables this egress deny (timeouts) instead of deactivating the key
          outage_firewall = module.gcp.store_outage_firewall_name
        }
        sever     = { firewalls = module.gcp.sever_firewall_names }
        load_node = module.gcp_load.load_node
      }
    }

    link = {
      name = module.interconnect.link_name
      a    = "aws"
      b    = "gcp"
    }
  }
}

output "vpn_tunnels" {
  description = "GCP VPN tunnel names and AWS VPN connection ids of the link (for `riftdrill status`)."
  value = {
    gcp = module.interconnect.gcp_tunnel_names
    aws = module.interconnect.aws_vpn_connection_ids
  }
}
