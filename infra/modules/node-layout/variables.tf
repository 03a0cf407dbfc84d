variable "node_id_base" {
  description = "node.id of the first controller; controllers take base+i, brokers base+10+i. Must not overlap another cloud's ids in a stretched cluster."
  type        = number

  validation {
    condition     = var.node_id_base >= 0 && floor(var.node_id_base) == var.node_id_base
    error_message = "node_id_base must be a non-negative integer."
  }
}

variable "controller_count" {
  description = "KRaft controllers in this cloud (0 when the quorum lives elsewhere); at most 10."
  type        = number

  validation {
    condition     = var.controller_count >= 0 && var.controller_count <= 10 && floor(var.controller_count) == var.controller_count
    error_message = "controller_count must be an integer between 0 and 10 (hosts .10-.19, below the brokers' ids and hosts)."
  }
}

variable "broker_count" {
  description = "Brokers in this cloud."
  type        = number

  validation {
    condition     = var.broker_count >= 0 && floor(var.broker_count) == var.broker_count
    error_message = "broker_count must be a non-negative integer."
  }
}

variable "zones" {
  description = "Exactly three zones (availability zones) of the cloud's region; node i of each role lives in zone i % 3 and takes it as broker.rack."
  type        = list(string)

  validation {
    condition     = length(var.zones) == 3
    error_message = "zones must name exactly three zones."
  }
}

variable "subnet_cidrs" {
  description = "The nodes' subnets: three (one per zone, same order as zones, as on AWS) or one regional subnet for all zones (as on GCP)."
  type        = list(string)

  validation {
    condition     = contains([1, 3], length(var.subnet_cidrs)) && alltrue([for c in var.subnet_cidrs : can(cidrhost(c, 0))])
    error_message = "subnet_cidrs must be one or three valid IPv4 CIDRs."
  }
}

variable "kafka_port" {
  description = "TCP port of the client/inter-broker listener."
  type        = number
  default     = 9092
}

variable "controller_port" {
  description = "TCP port of the KRaft controller listener."
  type        = number
  default     = 9093
}

variable "controller_quorum_voters" {
  description = "controller.quorum.voters the nodes join; null: this cloud's own controllers (the voters output joined), as in a per-cloud cluster."
  type        = string
  default     = null
}

variable "kafka_settings" {
  description = "Values of the durability and sizing variables of the broker templates (the fields of riftdrill.engines.kafka.KafkaSettings)."
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
}

variable "security" {
  description = "What protects the nodes (docs/security.md): \"sasl-tls\" (SASL_SSL listener with SCRAM-SHA-512 for clients and brokers, TLS with the brokers' certificates to the controllers, StandardAuthorizer, User:broker the super user) or \"off\" (plaintext)."
  type        = string
  default     = "off"

  validation {
    condition     = contains(["off", "sasl-tls"], var.security)
    error_message = "security must be \"off\" or \"sasl-tls\"."
  }
}

variable "secrets_dir" {
  description = "security sasl-tls: where each node finds ca.pem, brokers/<node key>.pem (its key and certificate chain) and broker-jaas.properties (its SCRAM login), laid out as riftdrill's .riftdrill/secrets. Only paths reach the configuration; putting the files there is the deployment's."
  type        = string
  default     = "/etc/riftdrill/secrets"
}
