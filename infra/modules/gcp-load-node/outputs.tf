output "instance_id" {
  description = "GCE resource path of the load VM (projects/<p>/zones/<z>/instances/<name>)."
  value       = google_compute_instance.this.id
}

output "private_ip" {
  description = "Private address of the load VM."
  value       = google_compute_instance.this.network_interface[0].network_ip
}

output "service_account_email" {
  description = "Identity of the load VM: object user on its carrier prefix only."
  value       = google_service_account.this.email
}

output "load_node" {
  description = "The load VM as the env's `riftdrill` output carries it (riftdrill.cloud.inventory reads it)."
  value = {
    name      = google_compute_instance.this.name
    handle    = "projects/${var.project_id}/zones/${var.zone}/instances/${google_compute_instance.this.name}"
    address   = google_compute_instance.this.network_interface[0].network_ip
    transport = "iap"
    carrier   = "gs://${var.carrier_bucket}/${var.carrier_prefix}"
  }
}
