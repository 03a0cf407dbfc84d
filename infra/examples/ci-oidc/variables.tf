variable "github_owner" {
  description = "Owner (user or organisation) of the repository whose cloud-drill workflow may deploy."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+$", var.github_owner))
    error_message = "github_owner is the owner's name only, without a slash."
  }
}

variable "github_repository" {
  description = "Name of that repository (without the owner)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository is the repository's name only, without the owner."
  }
}

variable "github_environment" {
  description = "The GitHub environment of the workflow's job (.github/workflows/cloud-drill.yml: cloud-drill); only its tokens are trusted."
  type        = string
  default     = "cloud-drill"
}

variable "name_prefix" {
  description = "name_prefix of the drill deployment (infra/envs/aws-gcp); the role may only create and change IAM roles, buckets and service accounts whose names start with it."
  type        = string
  default     = "rd"
}

variable "aws_region" {
  description = "The one AWS region the role may act in (aws_region of the deployment)."
  type        = string
  default     = "eu-west-1"
}

variable "create_aws_oidc_provider" {
  description = "Create the account's GitHub OIDC provider; false when the account already has one (there can be only one per URL)."
  type        = bool
  default     = true
}

variable "state_bucket" {
  description = "S3 bucket of the deployment's Terraform state (backend.tf), or null for none."
  type        = string
  default     = null
}

variable "gcp_project_id" {
  description = "GCP project of the drill deployment (gcp_project_id of infra/envs/aws-gcp)."
  type        = string
}

variable "tags" {
  description = "Tags added to the AWS resources."
  type        = map(string)
  default     = {}
}
