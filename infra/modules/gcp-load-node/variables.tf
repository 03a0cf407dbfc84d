variable "name" {
  description = "Prefix of every resource name (e.g. rd-gcp); the instance is named <name>-load."
  type        = string
}

variable "project_id" {
  description = "GCP project of the load VM."
  type        = string
}

variable "zone" {
  description = "Zone of the load VM (one of the brokers' zones)."
  type        = string
}

variable "network_id" {
  description = "VPC network of the brokers: the IAP firewall rule is created in it."
  type        = string
}

variable "subnetwork_id" {
  description = "Subnetwork of the brokers; the cluster firewall admits it to the Kafka listener. The VM gets no external address."
  type        = string
}

variable "carrier_bucket" {
  description = "Name of the GCS bucket that carries the runtime bundle to the VM and its run results back (the deployment's ops bucket). Must use uniform bucket-level access (the grant is conditional on a prefix)."
  type        = string
}

variable "carrier_prefix" {
  description = "Object name prefix inside carrier_bucket the VM may read and write; it may touch nothing else in the bucket."
  type        = string
  default     = "riftdrill-load/"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]*/$", var.carrier_prefix))
    error_message = "carrier_prefix must be lower-case letters, digits and dashes ending in \"/\" (e.g. riftdrill-load/)."
  }
}

variable "operator_members" {
  description = "IAM members (user:..., serviceAccount:..., group:...) allowed to reach the VM: IAP tunnel, OS Login with sudo, and acting as its service account. Empty: grant these elsewhere (e.g. at project level)."
  type        = list(string)
  default     = []
}

variable "machine_type" {
  description = "Machine type of the load VM: Locust and librdkafka want cores more than memory."
  type        = string
  default     = "c2d-standard-4"
}

variable "image" {
  description = "Boot image; Ubuntu 24.04 so the same cloud-init runs as on AWS. Changes after creation are ignored (no replacement)."
  type        = string
  default     = "ubuntu-os-cloud/ubuntu-2404-lts-amd64"
}

variable "boot_disk_size_gb" {
  description = "Boot disk size in GB: the venv, the run directories (ledgers) and their tarballs."
  type        = number
  default     = 40
}

variable "labels" {
  description = "Labels added to every resource that takes them, on top of riftdrill-role=load."
  type        = map(string)
  default     = {}
}
