variable "kind" {
  type        = string
  description = "Component kind understood by `python -m riftdrill.lab`: cloud, link, store, broker, ready, mirror, database, connect, pipeline."
  validation {
    condition     = contains(["cloud", "link", "store", "broker", "ready", "mirror", "database", "connect", "pipeline"], var.kind)
    error_message = "kind must be one of: cloud, link, store, broker, ready, mirror, database, connect, pipeline."
  }
}

variable "spec" {
  type        = any
  description = "The component's specification, passed to the lab as JSON."
}

variable "runner" {
  type = object({
    python = string
    home   = string
  })
  description = "python: interpreter of the riftdrill virtualenv; home: the checkout whose .riftdrill/ holds lab state."
}

variable "replace_when" {
  type        = any
  description = "Anything whose change must rebuild the component besides its spec (e.g. the brokers a readiness check covers)."
  default     = null
}
