output "project_id" {
  description = "GCP project the cluster lives in (the guard checks it against the allow-list)."
  value       = var.project_id
}

output "region" {
  description = "GCP region of the cluster."
  value       = var.region
}

output "network_id" {
  description = "ID of the VPC network (the interconnect's HA VPN gateway and BGP router attach here)."
  value       = google_compute_network.this.id
}

output "network_name" {
  description = "Name of the VPC network."
  value       = google_compute_network.this.name
}

output "subnet_cidr" {
  description = "CIDR of the nodes' subnet."
  value       = var.subnet_cidr
}

output "sever_firewall_names" {
  description = "The disabled deny rules the link-sever drill enables: in = traffic from the peer cloud, out = traffic to it."
  value       = { for k, f in google_compute_firewall.sever : k => f.name }
}

output "store_outage_firewall_name" {
  description = "The disabled egress deny rule the block-object-store drill enables: the nodes' requests to GCS (through the private.googleapis.com VIP) time out."
  value       = google_compute_firewall.store_outage.name
}

output "data_bucket" {
  description = "Name of the GCS data bucket (AutoMQ s3.data.buckets and s3.wal.path)."
  value       = google_storage_bucket.data.name
}

output "ops_bucket" {
  description = "Name of the GCS ops bucket."
  value       = google_storage_bucket.ops.name
}

output "gcs_endpoint" {
  description = "Endpoint of GCS's S3-compatible API the brokers use."
  value       = local.gcs_endpoint
}

output "service_account_email" {
  description = "Service account of the nodes."
  value       = google_service_account.nodes.email
}

output "hmac_access_id" {
  description = "Access id of the nodes' HMAC key (not secret); the block-object-store drill deactivates this key. The secret stays in Secret Manager and Terraform state only."
  value       = google_storage_hmac_key.nodes.access_id
}

output "nodes" {
  description = "Every node: name, node.id, roles, zone, fixed address, port and handle (projects/<p>/zones/<z>/instances/<name>)."
  value = [for k, n in local.nodes : {
    name    = google_compute_instance.node[k].name
    node_id = n.node_id
    roles   = n.roles
    zone    = n.zone
    address = n.address
    port    = n.port
    handle  = "projects/${var.project_id}/zones/${n.zone}/instances/${google_compute_instance.node[k].name}"
  }]
}

output "controller_addresses" {
  description = "Fixed addresses of this cloud's controllers, by node.id (the env checks its quorum against them)."
  value       = module.layout.controller_addresses
}

output "bootstrap" {
  description = "Bootstrap servers for clients in this cloud: every broker."
  value       = module.layout.bootstrap
}

output "subnet_id" {
  description = "ID of the nodes' subnetwork (the load VM runs in it)."
  value       = google_compute_subnetwork.nodes.id
}
