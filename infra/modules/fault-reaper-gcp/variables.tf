variable "name" {
  description = "Prefix of every resource name (e.g. rd-gcp); lower case, at most 17 characters."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,16}$", var.name))
    error_message = "name must be lower case letters, digits and hyphens, at most 17 characters, starting with a letter."
  }
}

variable "project_id" {
  description = "GCP project of the deployment (riftdrill's allow-listed drill project)."
  type        = string
}

variable "region" {
  description = "Region of the function and its schedule (the nodes' region)."
  type        = string
}

variable "deployment" {
  description = "Value of the riftdrill-deployment label of the deployment's VMs: the reaper touches only those (the env's name_prefix)."
  type        = string
}

variable "firewall_names" {
  description = "The drills' deny firewall rules (gcp-cluster outputs sever_firewall_names and store_outage_firewall_name): the reaper disables each once past its deadline."
  type        = list(string)
}

variable "marker_bucket" {
  description = "The store's ops bucket (gcp-cluster output ops_bucket): store blocks leave their deadline there (riftdrill/expiry/), and the function's source zip is kept there."
  type        = string
}

variable "schedule" {
  description = "Cron schedule of the reaper (Cloud Scheduler); riftdrill's deadline rule assumes every minute."
  type        = string
  default     = "* * * * *"
}

variable "labels" {
  description = "Labels added to every resource that takes them."
  type        = map(string)
  default     = {}
}

variable "reaper_source" {
  description = "Path of the reaper's Python module; null takes src/riftdrill/cloud/reaper.py of this checkout."
  type        = string
  default     = null
}
