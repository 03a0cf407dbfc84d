variable "name" {
  description = "Prefix of every resource name (e.g. \"rd-aws\"); lower case, starts with a letter."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name must be 2-21 characters of a-z, 0-9 and '-', starting with a letter."
  }
}

variable "vpc_cidr" {
  description = "CIDR of the VPC. Must not overlap the peer cloud's CIDRs (the VPN routes between them)."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0))
    error_message = "vpc_cidr must be a valid IPv4 CIDR."
  }
}

variable "azs" {
  description = "Exactly three availability zones of the provider's region; brokers and controllers are spread over them."
  type        = list(string)

  validation {
    condition     = length(var.azs) == 3
    error_message = "azs must name exactly three availability zones."
  }
}

variable "private_subnet_cidrs" {
  description = "One private subnet CIDR per AZ (same order as azs). Brokers and controllers live here with fixed addresses (host .10+ for controllers, .20+ for brokers)."
  type        = list(string)
  default     = ["10.40.0.0/20", "10.40.16.0/20", "10.40.32.0/20"]

  validation {
    condition     = length(var.private_subnet_cidrs) == 3 && alltrue([for c in var.private_subnet_cidrs : can(cidrhost(c, 0))])
    error_message = "private_subnet_cidrs must be three valid IPv4 CIDRs."
  }
}

variable "public_subnet_cidrs" {
  description = "One public subnet CIDR per AZ; only the NAT gateway lives there (nothing is reachable from the internet)."
  type        = list(string)
  default     = ["10.40.128.0/24", "10.40.129.0/24", "10.40.130.0/24"]

  validation {
    condition     = length(var.public_subnet_cidrs) == 3 && alltrue([for c in var.public_subnet_cidrs : can(cidrhost(c, 0))])
    error_message = "public_subnet_cidrs must be three valid IPv4 CIDRs."
  }
}

variable "enable_nat_gateway" {
  description = "Create one NAT gateway so instances can fetch OS packages and the engine tarball. Object storage traffic uses the S3 gateway endpoint either way."
  type        = bool
  default     = true
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
  description = "Name of the cross-cloud link in the riftdrill inventory; tags the network ACL a link-sever drill edits."
  type        = string
}

variable "engine" {
  description = "Broker engine: \"automq\" (brokers keep data in S3) or \"kafka\" (Apache Kafka, data on EBS)."
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

variable "controller_instance_type" {
  description = "EC2 instance type of controllers."
  type        = string
  default     = "m7i.large"
}

variable "broker_instance_type" {
  description = "EC2 instance type of brokers."
  type        = string
  default     = "m7i.xlarge"
}

variable "ami_id" {
  description = "AMI of every node, pinned by id (e.g. Canonical's Ubuntu 24.04 amd64 image of the region, printed by scripts/cloud/print-ami.sh --region <region>); the cloud-init needs apt and systemd. Changing it never replaces a running node."
  type        = string

  validation {
    condition     = can(regex("^ami-[0-9a-f]{8}([0-9a-f]{9})?$", var.ami_id))
    error_message = "ami_id must be an AMI id such as ami-0123456789abcdef0 (scripts/cloud/print-ami.sh --region <region> prints the current Ubuntu one)."
  }
}

variable "root_volume_size_gb" {
  description = "Size of each node's encrypted gp3 root volume (OS, engine install); mapped under the AMI's own root device name."
  type        = number
  default     = 30

  validation {
    condition     = var.root_volume_size_gb >= 10 && var.root_volume_size_gb <= 16384
    error_message = "root_volume_size_gb must be between 10 and 16384."
  }
}

variable "data_volume_size_gb" {
  description = "Size of each node's encrypted gp3 data volume (/dev/sdf; NVMe on Nitro), mounted at /var/lib/riftdrill: log.dirs (Kafka data, AutoMQ's KRaft metadata)."
  type        = number
  default     = 100

  validation {
    condition     = var.data_volume_size_gb >= 10 && var.data_volume_size_gb <= 16384
    error_message = "data_volume_size_gb must be between 10 and 16384."
  }
}

variable "create_nlb" {
  description = "Create an internal network load balancer whose DNS name serves as this cloud's bootstrap address."
  type        = bool
  default     = false
}

variable "kms_key_deletion_window_days" {
  description = "Waiting period before the bucket KMS key is deleted after destroy."
  type        = number
  default     = 7

  validation {
    condition     = var.kms_key_deletion_window_days >= 7 && var.kms_key_deletion_window_days <= 30
    error_message = "kms_key_deletion_window_days must be between 7 and 30."
  }
}

variable "ops_retention_days" {
  description = "Days the ops bucket (AutoMQ metrics/logs, S3 access logs) keeps objects."
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

variable "enable_ssm" {
  description = "Attach AmazonSSMManagedInstanceCore so operators reach nodes with Session Manager (there is no SSH)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every resource, on top of riftdrill:drill-target=true which the guard requires."
  type        = map(string)
  default     = {}
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
