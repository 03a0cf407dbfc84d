output "inventory" {
  description = "The lab as riftdrill's inventory (schema 1): written to .riftdrill/inventory.json by deploy."
  value = {
    schema_version      = 1
    target              = "local"
    engine              = var.engine
    engine_version      = local.engine_version
    topology            = var.topology
    replication_factor  = var.replication_factor
    min_insync_replicas = var.min_insync_replicas
    clouds = [for c in local.clouds : {
      name = c.name, provider = "lab", cidr = c.cidr, namespace = c.namespace
    }]
    clusters = [for n, c in local.clusters : {
      name      = n
      clouds    = c.clouds
      brokers   = [for b in c.brokers : b.id]
      bootstrap = local.bootstrap[n]
      # what its topics get: per-cloud clusters are capped by their own brokers
      replication_factor  = local.cluster_rf[n]
      min_insync_replicas = local.cluster_min_isr[n]
    }]
    brokers = [for b in local.brokers : {
      id              = b.id
      name            = b.name
      cloud           = b.cloud
      cluster         = b.cluster
      address         = b.address
      port            = b.port
      roles           = b.roles
      controller_port = b.controller_port
      handle          = "broker-${b.name}"
    }]
    stores = [for s in local.stores : {
      name     = s.name
      cloud    = s.cloud
      api      = s.api
      endpoint = "http://${s.address}:${s.port}"
      address  = s.address
      port     = s.port
      buckets  = s.buckets
      handle   = "store-${s.name}"
      s3_port  = s.api == "gcs" && s.s3_port > 0 ? s.s3_port : null
      server   = s.server
    }]
    links = [{
      name = local.link.name
      a    = "aws"
      b    = "gcp"
      wan  = var.wan_profile
    }]
    mirrors = [for m in local.mirrors : {
      name   = m.name
      cloud  = m.cloud
      source = m.source
      target = m.target
      topics = m.topics
      handle = "mirror-${m.name}"
    }]
    hub = local.hub ? {
      group            = local.hub_pipeline.group
      source_connector = local.hub_pipeline.source_connector
      sink_connector   = local.hub_pipeline.sink_connector
      topic_prefix     = local.hub_pipeline.topic_prefix
      delivery         = var.hub_delivery
      databases = [for d in local.hub_databases : {
        name   = d.name, cloud = d.cloud, role = d.role, address = d.address, port = d.port
        handle = "database-${d.name}"
      }]
      workers = [for w in local.hub_workers : {
        name   = w.name, cloud = w.cloud, address = w.address, rest_port = w.rest_port
        handle = "connect-${w.name}"
      }]
    } : null
    security = local.security
  }
  depends_on = [module.ready, module.mirror, module.store, module.pipeline]
}

output "bootstrap_servers" {
  description = "Per cluster, per client cloud: the bootstrap list (own cloud's brokers first)."
  value       = local.bootstrap
}

output "brokers" {
  description = "Broker name -> address:port."
  value       = { for b in local.brokers : b.name => "${b.address}:${b.port}" }
}

output "stores" {
  description = "Object store name -> endpoint."
  value       = { for s in local.stores : s.name => "http://${s.address}:${s.port}" }
}

output "link" {
  description = "The cross-cloud link."
  value       = local.link.name
}
