terraform {
  # 1.9+: variable validations may refer to other variables (engine vs topology).
  required_version = ">= 1.9.0, < 2.0.0"

  # Exact pins: a drill result is only comparable with another made on the same providers.
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "= 5.100.0"
    }
    google = {
      source  = "hashicorp/google"
      version = "= 6.44.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "= 3.7.2"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "= 2.7.0"
    }
  }

  # The backend is declared in backend.tf (local state under .riftdrill/ by default).
}
