variable "engine" {
  type        = string
  description = "Broker engine: kafka (Apache Kafka KRaft, stateful) or tansu (stateless brokers, log in S3)."
  default     = "kafka"
  validation {
    condition     = contains(["kafka", "tansu"], var.engine)
    error_message = "engine must be one of: kafka, tansu."
  }
}

variable "topology" {
  type        = string
  description = "stretched: one cluster over both clouds (racks = clouds); per-cloud: a cluster per cloud joined by MirrorMaker 2 (aws -> gcp); hub: stretched plus the integration hub (PostgreSQL in each cloud, Kafka Connect workers in both running Debezium's CDC source and JDBC sink)."
  default     = "stretched"
  validation {
    condition     = contains(["stretched", "per-cloud", "hub"], var.topology)
    error_message = "topology must be stretched, per-cloud or hub."
  }
}

variable "hub_delivery" {
  type        = string
  default     = "at-least-once"
  description = "topology hub: what the CDC source promises. at-least-once: a restarted source task re-sends what it had not committed; exactly-once: KIP-618 (every worker exactly.once.source.support=enabled, the source connector exactly.once.support=required, the sink reads committed records only)."
  validation {
    condition     = contains(["at-least-once", "exactly-once"], var.hub_delivery)
    error_message = "hub_delivery must be at-least-once or exactly-once."
  }
}

variable "security" {
  type        = string
  default     = "off"
  description = "What protects the clusters (docs/security.md). sasl-tls: TLS on every listener, SASL/SCRAM-SHA-512 for clients and between brokers, brokers' certificates to the controllers, StandardAuthorizer with one principal per role and its ACLs; the deploy makes the secrets in .riftdrill/secrets first. off: plaintext, no authorizer. Kafka only (Tansu 0.6 has neither TLS nor ACLs)."
  validation {
    condition     = contains(["off", "sasl-tls"], var.security)
    error_message = "security must be off or sasl-tls."
  }
}

variable "brokers_per_cloud" {
  type        = number
  description = "Brokers in each cloud."
  default     = 2
  validation {
    condition     = var.brokers_per_cloud >= 1 && var.brokers_per_cloud <= 9 && floor(var.brokers_per_cloud) == var.brokers_per_cloud
    error_message = "brokers_per_cloud must be a whole number from 1 to 9."
  }
}

variable "controllers" {
  type        = map(number)
  description = "Stretched topology: KRaft voters per cloud (combined broker+controller nodes). 2+1 keeps the quorum in aws when the link is cut."
  default     = { aws = 2, gcp = 1 }
}

variable "replication_factor" {
  type        = number
  description = "Default topic replication factor (per-cloud: capped at the brokers of one cloud)."
  default     = 3
  validation {
    condition     = var.replication_factor >= 1
    error_message = "replication_factor must be at least 1."
  }
}

variable "min_insync_replicas" {
  type        = number
  description = "min.insync.replicas (per-cloud: capped at replication_factor - 1, at least 1)."
  default     = 2
}

variable "partitions" {
  type        = number
  description = "Default partitions of a new topic."
  default     = 6
}

variable "broker_heap_mb" {
  type        = number
  description = "JVM heap of each broker."
  default     = 512
}

variable "wan_profile" {
  type        = string
  description = "Weather of the cross-cloud link, emulated in userspace (src/riftdrill/lab/wan.py): inter-region (25 ms one way +- 5 ms, 1 Gbit/s), metro, none, or latency=25ms,jitter=5ms,loss=0%,rate=1000mbit."
  default     = "inter-region"
}

variable "mirror_topics" {
  type        = string
  description = "per-cloud: regex of topics MirrorMaker 2 replicates aws -> gcp (drill-.*: every drill's topic, so the verifier checks its mirror)."
  default     = "riftdrill.*|mirror.*|drill-.*"
}

variable "riftdrill_python" {
  type        = string
  description = "Python of the riftdrill virtualenv; provisioners run `<python> -m riftdrill.lab`."
}

variable "riftdrill_home" {
  type        = string
  description = "The checkout whose .riftdrill/ holds lab state."
}
