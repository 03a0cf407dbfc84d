variable "name" {
  description = "Prefix of every resource name (e.g. \"rd-aws\"); lower case, starts with a letter."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name must be 2-21 characters of a-z, 0-9 and '-', starting with a letter."
  }
}

variable "peer_cidrs" {
  description = "CIDRs of the peer cloud (reached over the interconnect). Allowed on the Kafka and controller ports, and the ranges a link-sever drill blocks."
  type        = list(string)

  validation {
    condition     = alltrue([for c in var.peer_cidrs : can(cidrhost(c, 0))])
    error_message = "peer_cidrs must be valid IPv4 CIDRs."
  }
}

variable "client_cidrs" {
  description = "Extra CIDRs allowed to reach the Kafka listener (load generators, bastions). Never 0.0.0.0/0."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.client_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "client_cidrs must be valid IPv4 CIDRs and must not be 0.0.0.0/0."
  }
}

variable "kafka_port" {
  description = "TCP port of the client/inter-broker listener."
  type        = number
  default     = 9092

  validation {
    condition     = var.kafka_port > 1024 && var.kafka_port < 65536
    error_message = "kafka_port must be an unprivileged TCP port."
  }
}

variable "controller_port" {
  description = "TCP port of the KRaft controller listener."
  type        = number
  default     = 9093

  validation {
    condition     = var.controller_port > 1024 && var.controller_port < 65536
    error_message = "controller_port must be an unprivileged TCP port."
  }
}

variable "link_name" {
  description = "Name of the cross-cloud link in the riftdrill inventory; names the deny firewall rules a link-sever drill enables."
  type        = string
}

variable "engine" {
  description = "Broker engine: \"automq\" (brokers keep data in GCS through its S3-compatible API) or \"kafka\" (Apache Kafka, data on persistent disk)."
  type        = string
  default     = "automq"

  validation {
    condition     = contains(["automq", "kafka"], var.engine)
    error_message = "engine must be \"automq\" or \"kafka\"."
  }
}

variable "engine_version" {
  description = "Engine version installed by cloud-init (pinned: drill results are only comparable on the same version)."
  type        = string

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+", var.engine_version))
    error_message = "engine_version must start with MAJOR.MINOR.PATCH."
  }
}

variable "engine_url" {
  description = "HTTPS URL of the engine's binary tarball."
  type        = string

  validation {
    condition     = startswith(var.engine_url, "https://")
    error_message = "engine_url must be an https:// URL."
  }
}

variable "engine_sha256" {
  description = "SHA-256 of the tarball at engine_url; cloud-init refuses to install anything else."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.engine_sha256))
    error_message = "engine_sha256 must be 64 lower-case hex digits."
  }
}

variable "cluster_id" {
  description = "KRaft cluster id (22 characters of URL-safe base64) that formats every node's storage."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{22}$", var.cluster_id))
    error_message = "cluster_id must be 22 characters of URL-safe base64."
  }
}

variable "node_id_base" {
  description = "node.id of the first controller; controllers take base+i, brokers base+10+i. Must not overlap the peer cloud's ids in a stretched cluster."
  type        = number
  default     = 1

  validation {
    condition     = var.node_id_base >= 0 && floor(var.node_id_base) == var.node_id_base
    error_message = "node_id_base must be a non-negative integer."
  }
}

variable "controller_count" {
  description = "KRaft controllers in this cloud (0 when the quorum lives elsewhere)."
  type        = number
  default     = 3

  validation {
    condition     = var.controller_count >= 0 && var.controller_count <= 5
    error_message = "controller_count must be between 0 and 5."
  }
}

variable "broker_count" {
  description = "Brokers in this cloud."
  type        = number
  default     = 3

  validation {
    condition     = var.broker_count >= 1 && var.broker_count <= 9
    error_message = "broker_count must be between 1 and 9."
  }
}

variable "controller_quorum_voters" {
  description = "controller.quorum.voters of the cluster this cloud's nodes join (id@host:port,...); the env joins every cloud's node-layout voters."
  type        = string

  validation {
    condition     = can(regex("^[0-9]+@[^,:]+:[0-9]+(,[0-9]+@[^,:]+:[0-9]+)*$", var.controller_quorum_voters))
    error_message = "controller_quorum_voters must look like 1@10.40.0.10:9093,2@10.40.16.11:9093."
  }
}

variable "kafka_settings" {
  description = "Values of the durability and sizing variables in infra/templates/*/server.properties.tftpl (the same ones the local lab sets)."
  type = object({
    replication_factor           = number
    min_insync_replicas          = number
    num_partitions               = number
    network_threads              = number
    io_threads                   = number
    segment_bytes                = number
    retention_hours              = number
    broker_session_timeout_ms    = number
    broker_heartbeat_interval_ms = number
    replica_lag_time_max_ms      = number
  })
  default = {
    replication_factor           = 3
    min_insync_replicas          = 2
    num_partitions               = 6
    network_threads              = 3
    io_threads                   = 8
    segment_bytes                = 268435456
    retention_hours              = 24
    broker_session_timeout_ms    = 9000
    broker_heartbeat_interval_ms = 2000
    replica_lag_time_max_ms      = 30000
  }

  validation {
    condition     = var.kafka_settings.min_insync_replicas <= var.kafka_settings.replication_factor
    error_message = "kafka_settings.min_insync_replicas must not exceed replication_factor."
  }
}

variable "ops_retention_days" {
  description = "Days the ops bucket (AutoMQ metrics/logs, access logs) keeps objects."
  type        = number
  default     = 14

  validation {
    condition     = var.ops_retention_days >= 1
    error_message = "ops_retention_days must be at least 1."
  }
}

variable "force_destroy_buckets" {
  description = "Let destroy delete non-empty buckets; true suits drill accounts, where destroy must always succeed."
  type        = bool
  default     = true
}

variable "project_id" {
  description = "GCP project of the cluster (the guard checks it against the allow-list)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a valid GCP project id."
  }
}

variable "region" {
  description = "GCP region of the subnet, buckets and Cloud NAT."
  type        = string
}

variable "zones" {
  description = "Exactly three zones of region; nodes are spread over them."
  type        = list(string)

  validation {
    condition     = length(var.zones) == 3
    error_message = "zones must name exactly three zones."
  }
}

variable "subnet_cidr" {
  description = "CIDR of the nodes' subnet (fixed addresses: host .10+ for controllers, .20+ for brokers). Must not overlap the peer cloud's CIDRs."
  type        = string
  default     = "10.50.0.0/20"

  validation {
    condition     = can(cidrhost(var.subnet_cidr, 0))
    error_message = "subnet_cidr must be a valid IPv4 CIDR."
  }
}

variable "enable_cloud_nat" {
  description = "Create Cloud NAT so nodes (which have no external address) can fetch packages and the engine tarball."
  type        = bool
  default     = true
}

variable "controller_machine_type" {
  description = "GCE machine type of controllers."
  type        = string
  default     = "n2-standard-2"
}

variable "broker_machine_type" {
  description = "GCE machine type of brokers."
  type        = string
  default     = "n2-standard-4"
}

variable "image" {
  description = "Boot image of every node; Ubuntu 24.04 so the same cloud-init runs as on AWS."
  type        = string
  default     = "ubuntu-os-cloud/ubuntu-2404-lts-amd64"
}

variable "boot_disk_size_gb" {
  description = "Size of each node's pd-balanced boot disk (OS, engine install)."
  type        = number
  default     = 30

  validation {
    condition     = var.boot_disk_size_gb >= 10 && var.boot_disk_size_gb <= 65536
    error_message = "boot_disk_size_gb must be between 10 and 65536."
  }
}

variable "data_disk_size_gb" {
  description = "Size of each node's pd-balanced data disk (/dev/disk/by-id/google-data), mounted at /var/lib/riftdrill: log.dirs (Kafka data, AutoMQ's KRaft metadata)."
  type        = number
  default     = 100

  validation {
    condition     = var.data_disk_size_gb >= 10 && var.data_disk_size_gb <= 65536
    error_message = "data_disk_size_gb must be between 10 and 65536."
  }
}

variable "bucket_location" {
  description = "Location of the GCS buckets; null uses region (same-region data avoids egress charges)."
  type        = string
  default     = null
}

variable "labels" {
  description = "Labels added to every resource, on top of riftdrill-drill-target=true which the guard requires."
  type        = map(string)
  default     = {}
}

variable "enable_apis" {
  description = "Enable the Compute, Storage, Secret Manager and IAM APIs in the project (left enabled on destroy)."
  type        = bool
  default     = true
}

variable "security" {
  description = "What protects the nodes: \"sasl-tls\" or \"off\" (infra/modules/node-layout renders it; docs/security.md). With sasl-tls every node needs its files under secrets_dir before it starts."
  type        = string
  default     = "off"

  validation {
    condition     = contains(["off", "sasl-tls"], var.security)
    error_message = "security must be \"off\" or \"sasl-tls\"."
  }
}

variable "secrets_dir" {
  description = "security sasl-tls: the nodes' directory of ca.pem, brokers/<node key>.pem and broker-jaas.properties (riftdrill's .riftdrill/secrets layout); with it, an add-scram file of SCRAM credentials the controllers' storage format adds."
  type        = string
  default     = "/etc/riftdrill/secrets"
}
