"""The cloud side of riftdrill: target "aws-gcp" (Terraform outputs, cloud-init rendering)."""
