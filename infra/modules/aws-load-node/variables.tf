variable "name" {
  description = "Prefix of every resource name (e.g. rd-aws); the instance is named <name>-load."
  type        = string
}

variable "subnet_id" {
  description = "Private subnet the load VM runs in (one of the brokers' subnets); it gets no public IP."
  type        = string
}

variable "security_group_ids" {
  description = "Security groups of the load VM. Pass the nodes' group: its self rule admits the VM to the Kafka listener, its egress rules reach S3 and, through the NAT gateway, SSM and the package index."
  type        = list(string)
}

variable "carrier_bucket" {
  description = "Name of the S3 bucket that carries the runtime bundle to the VM and its run results back (the deployment's ops bucket)."
  type        = string
}

variable "carrier_prefix" {
  description = "Key prefix inside carrier_bucket the VM may read and write; it may touch nothing else in the bucket."
  type        = string
  default     = "riftdrill-load/"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]*/$", var.carrier_prefix))
    error_message = "carrier_prefix must be lower-case letters, digits and dashes ending in \"/\" (e.g. riftdrill-load/)."
  }
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the carrier bucket (SSE-KMS); the VM may encrypt and decrypt with it."
  type        = string
}

variable "ami_id" {
  description = "AMI of the load VM. Null: the current Ubuntu 24.04 amd64 image from Canonical's public SSM parameter, read once (a later image never replaces the VM: ami is ignored after creation)."
  type        = string
  default     = null
}

variable "instance_type" {
  description = "EC2 instance type of the load VM: Locust and librdkafka want cores more than memory."
  type        = string
  default     = "c6i.xlarge"
}

variable "root_volume_size_gb" {
  description = "Root volume size in GiB: the venv, the run directories (ledgers) and their tarballs."
  type        = number
  default     = 40
}

variable "tags" {
  description = "Tags added to every resource, on top of riftdrill:role=load."
  type        = map(string)
  default     = {}
}
