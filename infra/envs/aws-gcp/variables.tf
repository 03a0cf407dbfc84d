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
}

variable "aws_private_subnet_cidrs" {
  description = "Private subnets of the AWS nodes, one per AZ, inside aws_vpc_cidr."
  type        = list(string)
  default     = ["10.40.0.0/20", "10.40.16.0/20", "10.40.32.0/20"]
}

variable "aws_public_subnet_cidrs" {
  description = "Public subnets (NAT gateway only), one per AZ, inside aws_vpc_cidr."
  type        = list(string)
  default     = ["10.40.128.0/24", "10.40.129.0/24", "10.40.130.0/24"]
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
}

variable "client_cidrs" {
  description = "Extra CIDRs (both clouds) allowed to reach the Kafka listeners, e.g. a load-generator network."
  type        = list(string)
  default     = []
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
}

variable "controllers" {
  description = "KRaft controllers per cloud. per-cloud needs an odd count in each; stretched counts the two together (2 + 1 keeps a majority on aws)."
  type        = object({ aws = number, gcp = number })
  default     = { aws = 3, gcp = 3 }

  validation {
    condition     = var.controllers.aws >= 0 && var.controllers.gcp >= 0 && var.controllers.aws + var.controllers.gcp >= 1
    error_message = "controllers must be non-negative and at least one in total."
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
  description = "Extra tags (AWS) and labels (GCP, keys/values lower-cased) on every resource."
  type        = map(string)
  default     = {}
}
