terraform {
  required_version = ">= 1.6.0, < 2.0.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.10.0, < 7.0.0"
    }
    # Zips riftdrill/cloud/reaper.py for the function; pinned exactly (as in the env) because
    # the zip's hash is part of the plan.
    archive = {
      source  = "hashicorp/archive"
      version = "= 2.7.0"
    }
  }
}
