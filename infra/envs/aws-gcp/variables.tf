variable "name_prefix" {
  description = "Prefix of every resource name; pick a distinct one per deployment sharing an account/project."
  type        = string
  default     = "rd"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,12}$", var.name_prefix))
    error_message = "name_prefix must be 2-13 characters of a-z, 0-9 and '-', starting with a letter."
  }
}

variable "allowed_aws_account_ids" {
  description = "AWS accounts this env may touch; the AWS provider refuses any other (riftdrill passes RIFTDRILL_ALLOWED_ACCOUNTS here)."
  type        = list(string)

  validation {
    condition     = length(var.allowed_aws_account_ids) > 0 && alltrue([for a in var.allowed_aws_account_ids : can(regex("^[0-9]{12}$", a))])
    error_message = "allowed_aws_account_ids must list at least one 12-digit AWS account id."
  }
}

variable "aws_region" {
  description = "AWS region of the aws cloud."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must look like eu-west-1."
  }
}

variable "aws_azs" {
  description = "Three availability zones of aws_region; null takes the region's first three."
  type        = list(string)
  default     = null

  validation {
    condition     = var.aws_azs == null ? true : length(var.aws_azs) == 3
    error_message = "aws_azs must name exactly three zones (or be null)."
  }
}

variable "aws_vpc_cidr" {
  description = "CIDR of the AWS VPC."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.aws_vpc_cidr, 0))
    error_message = "aws_vpc_cidr must be a CIDR block, e.g. 10.40.0.0/16."
  }
}

# CIDR checks below: a lies inside b when a's prefix is at least b's and a's address masked to
# b's prefix is b's network (cidrhost of "<address>/<prefix>" masks it); two blocks overlap
# when both, masked to the shorter of their prefixes, give the same network.
variable "aws_private_subnet_cidrs" {
  description = "Private subnets of the AWS nodes, one per AZ, inside aws_vpc_cidr."
  type        = list(string)
  default     = ["10.40.0.0/20", "10.40.16.0/20", "10.40.32.0/20"]

  validation {
    condition = try(alltrue([for c in var.aws_private_subnet_cidrs :
      tonumber(split("/", c)[1]) >= tonumber(split("/", var.aws_vpc_cidr)[1]) &&
      cidrhost("${cidrhost(c, 0)}/${split("/", var.aws_vpc_cidr)[1]}", 0) == cidrhost(var.aws_vpc_cidr, 0)
    ]), false)
    error_message = "aws_private_subnet_cidrs must be CIDR blocks inside aws_vpc_cidr (${var.aws_vpc_cidr})."
  }
}

variable "aws_public_subnet_cidrs" {
  description = "Public subnets (NAT gateway only), one per AZ, inside aws_vpc_cidr."
  type        = list(string)
  default     = ["10.40.128.0/24", "10.40.129.0/24", "10.40.130.0/24"]

  validation {
    condition = try(alltrue([for c in var.aws_public_subnet_cidrs :
      tonumber(split("/", c)[1]) >= tonumber(split("/", var.aws_vpc_cidr)[1]) &&
      cidrhost("${cidrhost(c, 0)}/${split("/", var.aws_vpc_cidr)[1]}", 0) == cidrhost(var.aws_vpc_cidr, 0)
    ]), false)
    error_message = "aws_public_subnet_cidrs must be CIDR blocks inside aws_vpc_cidr (${var.aws_vpc_cidr})."
  }

  # The subnets of both lists must not overlap one another.
  validation {
    condition = try(alltrue(flatten([
      for i, a in concat(var.aws_private_subnet_cidrs, var.aws_public_subnet_cidrs) : [
        for j, b in concat(var.aws_private_subnet_cidrs, var.aws_public_subnet_cidrs) :
        i >= j || cidrhost("${cidrhost(a, 0)}/${min(tonumber(split("/", a)[1]), tonumber(split("/", b)[1]))}", 0) != cidrhost("${cidrhost(b, 0)}/${min(tonumber(split("/", a)[1]), tonumber(split("/", b)[1]))}", 0)
      ]
    ])), false)
    error_message = "aws_private_subnet_cidrs and aws_public_subnet_cidrs must not overlap one another."
  }
}

variable "gcp_project_id" {
  description = "GCP project of the gcp cloud; must be on riftdrill's allow-list."
  type        = string
}

variable "gcp_region" {
  description = "GCP region of the gcp cloud."
  type        = string
  default     = "europe-west1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.gcp_region))
    error_message = "gcp_region must look like europe-west1."
  }
}

variable "gcp_zones" {
  description = "Three zones of gcp_region; null takes <region>-b, -c, -d."
  type        = list(string)
  default     = null

  validation {
    condition     = var.gcp_zones == null ? true : length(var.gcp_zones) == 3
    error_message = "gcp_zones must name exactly three zones (or be null)."
  }
}

variable "gcp_subnet_cidr" {
  description = "CIDR of the GCP nodes' subnet; must not overlap aws_vpc_cidr."
  type        = string
  default     = "10.50.0.0/20"

  # BGP routes each cloud's block to the other: an overlap makes some addresses unreachable.
  validation {
    condition = try(
      cidrhost("${cidrhost(var.gcp_subnet_cidr, 0)}/${min(tonumber(split("/", var.gcp_subnet_cidr)[1]), tonumber(split("/", var.aws_vpc_cidr)[1]))}", 0) != cidrhost("${cidrhost(var.aws_vpc_cidr, 0)}/${min(tonumber(split("/", var.gcp_subnet_cidr)[1]), tonumber(split("/", var.aws_vpc_cidr)[1]))}", 0),
    false)
    error_message = "gcp_subnet_cidr must be a CIDR block that does not overlap aws_vpc_cidr (${var.aws_vpc_cidr})."
  }
}

variable "client_cidrs" {
  description = "Extra CIDRs (both clouds) allowed to reach the Kafka listeners, e.g. a load-generator network; must not overlap aws_vpc_cidr or gcp_subnet_cidr (those are allowed already)."
  type        = list(string)
  default     = []

  validation {
    condition = try(alltrue(flatten([for c in var.client_cidrs : [
      for net in [var.aws_vpc_cidr, var.gcp_subnet_cidr] :
      cidrhost("${cidrhost(c, 0)}/${min(tonumber(split("/", c)[1]), tonumber(split("/", net)[1]))}", 0) != cidrhost("${cidrhost(net, 0)}/${min(tonumber(split("/", c)[1]), tonumber(split("/", net)[1]))}", 0)
    ]])), false)
    error_message = "client_cidrs must be CIDR blocks outside aws_vpc_cidr (${var.aws_vpc_cidr}) and gcp_subnet_cidr (${var.gcp_subnet_cidr})."
  }
}

variable "engine" {
  description = "Broker engine: automq (default on clouds: data in S3 / GCS) or kafka."
  type        = string
  default     = "automq"

  validation {
    condition     = contains(["automq", "kafka"], var.engine)
    error_message = "engine must be automq or kafka."
  }
}

variable "engine_version" {
  description = "Pinned engine version, e.g. 1.5.5 for AutoMQ or 3.9.1 for Kafka."
  type        = string
}

variable "engine_url" {
  description = "HTTPS URL of the engine's binary tarball (see terraform.tfvars.example)."
  type        = string
}

variable "engine_sha256" {
  description = "SHA-256 of that tarball; nodes refuse to install anything else."
  type        = string
}

variable "topology" {
  description = "stretched: one KRaft cluster over both clouds (kafka only); per-cloud: one cluster per cloud."
  type        = string
  default     = "per-cloud"

  validation {
    condition     = contains(["stretched", "per-cloud"], var.topology)
    error_message = "topology must be stretched or per-cloud."
  }

  # AutoMQ brokers of one cluster must all reach one set of buckets; across clouds that is
  # cross-cloud object traffic on every read, which the reference deployment does not do.
  validation {
    condition     = !(var.engine == "automq" && var.topology == "stretched")
    error_message = "engine automq runs per-cloud clusters; use topology = \"per-cloud\" or engine = \"kafka\"."
  }
}

variable "brokers_per_cloud" {
  description = "Brokers in each cloud."
  type        = number
  default     = 3

  validation {
    condition     = var.brokers_per_cloud >= 1 && floor(var.brokers_per_cloud) == var.brokers_per_cloud
    error_message = "brokers_per_cloud must be a whole number, at least 1."
  }
}

variable "controllers" {
  description = "KRaft controllers per cloud; null: 3 in each (per-cloud), or 2 on aws + 1 on gcp (stretched). The voters of a quorum must be odd: per-cloud, each cloud's count; stretched, the two together (2 + 1 keeps a majority on aws when the link is severed)."
  type        = object({ aws = number, gcp = number })
  default     = null

  validation {
    condition     = var.controllers == null || try(var.controllers.aws >= 0 && var.controllers.gcp >= 0 && floor(var.controllers.aws) == var.controllers.aws && floor(var.controllers.gcp) == var.controllers.gcp, false)
    error_message = "controllers must be whole numbers, none negative."
  }

  # An even quorum loses its majority to a clean split: a severed link then leaves neither side
  # able to elect a leader.
  validation {
    condition = var.controllers == null || try(var.topology == "stretched"
      ? (var.controllers.aws + var.controllers.gcp) % 2 == 1
    : var.controllers.aws % 2 == 1 && var.controllers.gcp % 2 == 1, false)
    error_message = "controllers must give an odd number of KRaft voters: topology ${var.topology} counts ${var.topology == "stretched" ? "both clouds together, e.g. { aws = 2, gcp = 1 }" : "each cloud on its own, e.g. { aws = 3, gcp = 3 }"}."
  }
}

variable "kafka_settings" {
  description = "Overrides of the broker template's durability and sizing values; null picks the engine's defaults (kafka: RF 3 / min ISR 2; automq: RF 1 / min ISR 1, storage is shared)."
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
  default = null
}

variable "security" {
  description = "What protects the nodes (docs/security.md): \"sasl-tls\" renders TLS listeners, SASL/SCRAM-SHA-512 and the authorizer into every node's configuration, reading its files from secrets_dir; \"off\": plaintext. Delivering the secrets to the VMs is not built yet: `riftdrill deploy` refuses sasl-tls here."
  type        = string
  default     = "off"

  validation {
    condition     = contains(["off", "sasl-tls"], var.security)
    error_message = "security must be \"off\" or \"sasl-tls\"."
  }
}

variable "aws_ami_id" {
  description = "AMI of the aws nodes, pinned by id: Canonical's Ubuntu 24.04 amd64 image of aws_region, which `scripts/cloud/print-ami.sh --region <aws_region>` prints. A new id never replaces a running node."
  type        = string

  validation {
    condition     = can(regex("^ami-[0-9a-f]{8}([0-9a-f]{9})?$", var.aws_ami_id))
    error_message = "aws_ami_id must be an AMI id such as ami-0123456789abcdef0; scripts/cloud/print-ami.sh --region <aws_region> prints the current Ubuntu 24.04 one."
  }
}

variable "create_nlb" {
  description = "AWS: put an internal NLB in front of the brokers as the aws bootstrap address."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Extra tags (AWS) and labels (GCP) on every resource. As GCP labels, keys are lower-cased with ':' made '-', values lower-cased; both must then be of a-z, 0-9, '_' and '-', at most 63 characters, keys starting with a letter."
  type        = map(string)
  default     = {}

  # The transformation main.tf's local.gcp_labels makes, checked against GCP's label rules.
  validation {
    condition = alltrue([for k, v in var.tags :
      can(regex("^[a-z][a-z0-9_-]{0,62}$", lower(replace(k, ":", "-")))) && can(regex("^[a-z0-9_-]{0,63}$", lower(v)))
    ])
    error_message = "tags must make valid GCP labels (keys: a letter, then a-z 0-9 _ -, at most 63; values: a-z 0-9 _ -, at most 63; ':' in keys becomes '-', upper case is lowered); these do not: ${join(", ", [for k, v in var.tags : "${k}=${v}" if !can(regex("^[a-z][a-z0-9_-]{0,62}$", lower(replace(k, ":", "-")))) || !can(regex("^[a-z0-9_-]{0,63}$", lower(v)))])}."
  }
}
