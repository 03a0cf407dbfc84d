variable "name" {
  description = "Prefix of every resource name; also the link's name in the riftdrill inventory."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name must be 2-31 characters of a-z, 0-9 and '-', starting with a letter."
  }
}

variable "aws_vpc_id" {
  description = "VPC the AWS VPN gateway attaches to."
  type        = string
}

variable "aws_route_table_ids" {
  description = "AWS route tables that learn the GCP prefixes over BGP (route propagation)."
  type        = list(string)
}

variable "aws_asn" {
  description = "Private BGP ASN of the AWS virtual private gateway."
  type        = number
  default     = 64512

  validation {
    condition     = (var.aws_asn >= 64512 && var.aws_asn <= 65534) || (var.aws_asn >= 4200000000 && var.aws_asn <= 4294967294)
    error_message = "aws_asn must be a private ASN."
  }
}

variable "gcp_project_id" {
  description = "GCP project of the HA VPN gateway and Cloud Router."
  type        = string
}

variable "gcp_region" {
  description = "GCP region of the HA VPN gateway (the nodes' region)."
  type        = string
}

variable "gcp_network_id" {
  description = "VPC network the HA VPN gateway attaches to."
  type        = string
}

variable "gcp_asn" {
  description = "Private BGP ASN of the GCP Cloud Router; must differ from aws_asn."
  type        = number
  default     = 65010

  validation {
    condition     = (var.gcp_asn >= 64512 && var.gcp_asn <= 65534) || (var.gcp_asn >= 4200000000 && var.gcp_asn <= 4294967294)
    error_message = "gcp_asn must be a private ASN."
  }
}

variable "tags" {
  description = "Tags added to every AWS resource, on top of riftdrill:drill-target=true."
  type        = map(string)
  default     = {}
}
