output "aws_role_arn" {
  description = "Set as the repository variable AWS_DRILL_ROLE_ARN (role-to-assume)."
  value       = aws_iam_role.this.arn
}

output "gcp_workload_identity_provider" {
  description = "Set as the repository variable GCP_WORKLOAD_IDENTITY_PROVIDER."
  value       = google_iam_workload_identity_pool_provider.github.name
}

output "gcp_service_account" {
  description = "Set as the repository variable GCP_SERVICE_ACCOUNT."
  value       = google_service_account.this.email
}
