variable "name" {
  description = "Prefix of every resource name (e.g. rd-aws)."
  type        = string
}

variable "deployment" {
  description = "Value of the riftdrill:deployment tag of the deployment's resources: the reaper touches only those (the env's name_prefix)."
  type        = string
}

variable "network_acl_id" {
  description = "The private network ACL the link-sever drill edits (aws-cluster output network_acl_id); the reaper may delete its entries 10-19 and its riftdrill:expires-at:* tags."
  type        = string
}

variable "bucket_names" {
  description = "S3 buckets whose policy the 403 store block edits; the reaper may rewrite exactly these policies."
  type        = list(string)
}

variable "subnet_ids" {
  description = "Private subnets of the nodes: the FIS store outage cuts them off S3."
  type        = list(string)
}

variable "outage_max_duration_s" {
  description = "Duration of the FIS store-outage action: the ceiling of one outage should the reaper fail too. The reaper stops it at its deadline (hold + 180 s)."
  type        = number
  default     = 1800

  validation {
    condition     = var.outage_max_duration_s >= 60 && var.outage_max_duration_s <= 43200
    error_message = "outage_max_duration_s must be in [60, 43200] (FIS allows up to 12 hours)."
  }
}

variable "schedule_expression" {
  description = "How often the reaper runs; riftdrill's deadline rule (riftdrill.expiry) assumes every minute."
  type        = string
  default     = "rate(1 minute)"
}

variable "log_retention_days" {
  description = "Retention of the reaper's and FIS's CloudWatch log groups."
  type        = number
  default     = 365
}

variable "reaper_source" {
  description = "Path of the reaper's Python module; null takes src/riftdrill/cloud/reaper.py of this checkout."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource, on top of the provider's default tags."
  type        = map(string)
  default     = {}
}
