# Where this env's state lives. Default: a local file that riftdrill keeps at
# .riftdrill/terraform/aws-gcp.tfstate (it passes that path to `terraform init`; the `path`
# below sends a plain `terraform init` in this directory to the same file, never next to it).
# Remote state instead: replace this file with backend.tf.example (README.md, "State").
terraform {
  backend "local" {
    path = "../../../.riftdrill/terraform/aws-gcp.tfstate"
  }
}
