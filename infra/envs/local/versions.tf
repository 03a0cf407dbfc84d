terraform {
  required_version = ">= 1.6.0"
  # Only built-in resources (terraform_data + local-exec): the lab needs no provider download.
  backend "local" {}
}
