output "function_name" {
  description = "Name of the reaper Cloud Function (its logs are in Cloud Logging under that name)."
  value       = google_cloudfunctions2_function.this.name
}

output "service_account_email" {
  description = "Service account the reaper runs as."
  value       = google_service_account.reaper.email
}
