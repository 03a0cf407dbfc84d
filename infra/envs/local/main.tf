# The local two-cloud lab. Each component is a lab-component module: a terraform_data resource
# whose provisioners run `python -m riftdrill.lab up|down <kind>` with the component's spec.
# Terraform owns ordering (clouds -> link/stores -> brokers -> ready -> mirror) and tears down in
# reverse.

locals {
  clouds = {
    aws = { name = "aws", namespace = "rd-aws", cidr = "198.18.1.0/24", index = 1 }
    gcp = { name = "gcp", namespace = "rd-gcp", cidr = "198.18.2.0/24", index = 2 }
  }
  node_id_base = { aws = 100, gcp = 200 }
  # hub: the stretched cluster is the hub's Kafka.
  stretched      = contains(["stretched", "hub"], var.topology)
  hub            = var.topology == "hub"
  tansu          = var.engine == "tansu"
  engine_version = { kafka = "4.4.0", tansu = "0.6.0" }[var.engine]
  # S3 API server: moto records requests (cost report); Tansu's many small conditional writes
  # need S3Proxy's speed (measured: 3.4 s p50 per produce on moto at 200 rec/s, 9 ms on S3Proxy).
  s3_server = local.tansu ? "s3proxy" : "moto"

  # Security: the inventory's `security` block, also in the spec of every component that talks
  # to the brokers. Only paths and names: the deploy makes the secrets in secrets_dir before
  # applying (src/riftdrill/security/credentials.py), and the principals are the roles' names.
  secure      = var.security == "sasl-tls"
  secrets_dir = "${var.riftdrill_home}/.riftdrill/secrets"
  roles       = ["broker", "load", "verifier", "mirrormaker", "connect"]
  security = {
    mode        = var.security
    mechanism   = "SCRAM-SHA-512"
    secrets_dir = local.secure ? local.secrets_dir : ""
    ca_cert     = local.secure ? "${local.secrets_dir}/ca.pem" : ""
    principals  = { for r in(local.secure ? local.roles : []) : r => r }
  }
  # What a component's spec gains with security on; off adds no key, so the specs of a
  # plaintext lab stay as they were and upgrading riftdrill replaces no component.
  security_spec = { for k, v in { security = local.security } : k => v if local.secure }

  # per-cloud: 3 voters when a cloud has 3+ brokers, else 1 (a 2-voter quorum survives nothing).
  per_cloud_voters = var.brokers_per_cloud >= 3 ? 3 : 1

  broker_list = flatten([
    for c, cloud in local.clouds : [
      for i in range(var.brokers_per_cloud) : {
        name            = "${c}-${i + 1}"
        id              = local.node_id_base[c] + i + 1
        cloud           = c
        namespace       = cloud.namespace
        cluster         = local.stretched ? "main" : c
        address         = cidrhost(cloud.cidr, 11 + i)
        port            = 9092
        controller_port = 9093
        # Tansu has no controllers: metadata lives in the bucket with the log.
        controller = !local.tansu && i < (local.stretched ? lookup(var.controllers, c, 0) : local.per_cloud_voters)
      }
    ]
  ])

  cluster_names = local.stretched ? ["main"] : keys(local.clouds)
  clusters = {
    for name in local.cluster_names : name => {
      name    = name
      clouds  = local.stretched ? keys(local.clouds) : [name]
      brokers = [for b in local.broker_list : b if b.cluster == name]
      voters  = join(",", [for b in local.broker_list : "${b.id}@${b.address}:${b.controller_port}" if b.cluster == name && b.controller])
      rf      = local.stretched ? var.replication_factor : min(var.replication_factor, var.brokers_per_cloud)
    }
  }
  cluster_rf      = { for n, c in local.clusters : n => c.rf }
  cluster_min_isr = { for n, c in local.clusters : n => min(var.min_insync_replicas, max(1, c.rf - 1)) }

  # Clients in a cloud list their own cloud's brokers first, then the rest of their cluster.
  bootstrap = {
    for n, c in local.clusters : n => {
      for cloud in c.clouds : cloud => join(",", concat(
        [for b in c.brokers : "${b.address}:${b.port}" if b.cloud == cloud],
        [for b in c.brokers : "${b.address}:${b.port}" if b.cloud != cloud]
      ))
    }
  }

  brokers = {
    for b in local.broker_list : b.name => merge(b, local.security_spec, {
      engine              = var.engine
      roles               = b.controller ? ["broker", "controller"] : ["broker"]
      voters              = local.clusters[b.cluster].voters
      replication_factor  = local.cluster_rf[b.cluster]
      min_insync_replicas = local.cluster_min_isr[b.cluster]
      partitions          = var.partitions
      heap_mb             = var.broker_heap_mb
      # Tansu, stretched: every broker shares the aws store's bucket, so gcp brokers reach
      # their log over the WAN link, as in a real cross-cloud shared-storage deployment.
      # Per-cloud: each cluster keeps its log in its own cloud's store (gcp: through the GCS
      # store's S3 interoperability endpoint).
      bucket      = local.data_store[b.cluster].buckets[0]
      s3_endpoint = "http://${local.data_store[b.cluster].address}:${local.data_store[b.cluster].s3_port}"
    })
  }

  # Where a cluster's Tansu brokers keep their log (an S3 API: port s3_port).
  data_store = local.stretched ? { main = local.stores["aws-s3"] } : {
    aws = local.stores["aws-s3"]
    gcp = local.stores["gcp-gcs"]
  }

  stores = {
    aws-s3 = {
      name    = "aws-s3", cloud = "aws", namespace = "rd-aws", api = "s3"
      address = cidrhost(local.clouds.aws.cidr, 5), port = 9000, s3_port = 9000
      server  = local.s3_server
      buckets = ["riftdrill-aws-data", "riftdrill-aws-ops"]
    }
    gcp-gcs = {
      name    = "gcp-gcs", cloud = "gcp", namespace = "rd-gcp", api = "gcs"
      address = cidrhost(local.clouds.gcp.cidr, 5), port = 4443
      # GCS's S3 interoperability API, only where an S3-only engine needs it (0: none).
      s3_port = local.tansu && !local.stretched ? 9000 : 0
      server  = local.s3_server
      buckets = ["riftdrill-gcp-data", "riftdrill-gcp-ops"]
    }
  }

  link = {
    name = "aws-gcp"
    a    = local.clouds.aws
    b    = local.clouds.gcp
    wan  = var.wan_profile
  }

  mirrors = local.stretched ? {} : {
    aws-to-gcp = merge(local.security_spec, {
      name             = "aws-to-gcp"
      cloud            = "gcp"
      namespace        = "rd-gcp"
      source           = "aws"
      target           = "gcp"
      source_bootstrap = local.bootstrap["aws"]["aws"]
      target_bootstrap = local.bootstrap["gcp"]["gcp"]
      topics           = var.mirror_topics
      # Internal MM2 topics live on the target cluster.
      replication_factor = local.cluster_rf["gcp"]
    })
  }

  # The integration hub (topology hub): the CDC source database in aws, the sink's database in
  # gcp, one Connect cluster with a worker in each cloud (its tasks move between clouds when a
  # worker dies), and the pipeline: the table-independent connectors, created through the REST
  # API once every part is up.
  hub_databases = local.hub ? {
    pg-aws = {
      name    = "pg-aws", cloud = "aws", namespace = "rd-aws", role = "source"
      address = cidrhost(local.clouds.aws.cidr, 21), port = 5432
    }
    pg-gcp = {
      name    = "pg-gcp", cloud = "gcp", namespace = "rd-gcp", role = "sink"
      address = cidrhost(local.clouds.gcp.cidr, 21), port = 5432
    }
  } : {}
  hub_group = "riftdrill-hub"
  hub_workers = {
    for c, cloud in(local.hub ? local.clouds : {}) : "connect-${c}" => merge(local.security_spec, {
      name               = "connect-${c}"
      cloud              = c
      namespace          = cloud.namespace
      address            = cidrhost(cloud.cidr, 31)
      rest_port          = 8083
      bootstrap          = local.bootstrap["main"][c]
      group              = local.hub_group
      replication_factor = local.cluster_rf["main"]
      exactly_once       = var.hub_delivery == "exactly-once"
    })
  }
  hub_pipeline = {
    group              = local.hub_group
    source_connector   = "rd-cdc-source"
    sink_connector     = "rd-jdbc-sink"
    topic_prefix       = "hub"
    replication_factor = local.hub ? local.cluster_rf["main"] : 0
    workers            = [for w in local.hub_workers : "http://${w.address}:${w.rest_port}"]
    source             = local.hub ? local.hub_databases["pg-aws"] : null
    sink               = local.hub ? local.hub_databases["pg-gcp"] : null
    exactly_once       = var.hub_delivery == "exactly-once"
  }

  # With security on, `ready` creates every principal's ACLs (security/acls.py) from these.
  ready_security = { for k, v in {
    security       = local.security
    mirror_sources = [for m in local.mirrors : m.source]
    hub            = local.hub ? { group = local.hub_group, topic_prefix = local.hub_pipeline.topic_prefix } : null
  } : k => v if local.secure }

  runner = {
    python = var.riftdrill_python
    home   = var.riftdrill_home
  }
}

module "cloud" {
  source   = "../../modules/lab-component"
  for_each = local.clouds
  kind     = "cloud"
  spec     = each.value
  runner   = local.runner
}

module "link" {
  source     = "../../modules/lab-component"
  kind       = "link"
  spec       = local.link
  runner     = local.runner
  depends_on = [module.cloud]
}

module "store" {
  source     = "../../modules/lab-component"
  for_each   = local.stores
  kind       = "store"
  spec       = each.value
  runner     = local.runner
  depends_on = [module.cloud]
}

module "broker" {
  source   = "../../modules/lab-component"
  for_each = local.brokers
  kind     = "broker"
  spec     = each.value
  runner   = local.runner
  # Brokers talk across the link from the start (replicas span both clouds); Tansu brokers
  # need their bucket.
  depends_on = [module.cloud, module.link, module.store]
}

module "ready" {
  source = "../../modules/lab-component"
  kind   = "ready"
  spec = merge({
    engine = var.engine
    clusters = [for n, c in local.clusters : {
      name               = n
      bootstrap          = join(",", [for b in c.brokers : "${b.address}:${b.port}"])
      broker_ids         = [for b in c.brokers : b.id]
      replication_factor = c.rf
    }]
  }, local.ready_security)
  runner = local.runner
  # A rebuilt broker is checked again.
  replace_when = [for b in module.broker : b.id]
}

module "mirror" {
  source     = "../../modules/lab-component"
  for_each   = local.mirrors
  kind       = "mirror"
  spec       = each.value
  runner     = local.runner
  depends_on = [module.ready]
}

module "database" {
  source     = "../../modules/lab-component"
  for_each   = local.hub_databases
  kind       = "database"
  spec       = each.value
  runner     = local.runner
  depends_on = [module.cloud, module.link]
}

module "connect" {
  source   = "../../modules/lab-component"
  for_each = local.hub_workers
  kind     = "connect"
  spec     = each.value
  runner   = local.runner
  # Workers keep their state in the cluster's internal topics.
  depends_on = [module.ready]
}

module "pipeline" {
  source     = "../../modules/lab-component"
  count      = local.hub ? 1 : 0
  kind       = "pipeline"
  spec       = local.hub_pipeline
  runner     = local.runner
  depends_on = [module.connect, module.database]
}
