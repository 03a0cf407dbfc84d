output "link_name" {
  description = "Name of the link in the riftdrill inventory."
  value       = var.name
}

output "aws_vpn_gateway_id" {
  description = "AWS virtual private gateway of the link."
  value       = aws_vpn_gateway.this.id
}

output "aws_vpn_connection_ids" {
  description = "The two AWS site-to-site VPN connections (two tunnels each)."
  value       = aws_vpn_connection.this[*].id
}

output "gcp_ha_vpn_gateway" {
  description = "Self link of the GCP HA VPN gateway."
  value       = google_compute_ha_vpn_gateway.this.self_link
}

output "gcp_tunnel_names" {
  description = "The four GCP VPN tunnels; `riftdrill status` reports their state."
  value       = google_compute_vpn_tunnel.this[*].name
}

output "bgp_sessions" {
  description = "BGP sessions: GCP inside address, AWS inside address, per tunnel."
  value       = [for t in local.tunnels : { gcp = t.gcp_inside, aws = t.aws_inside }]
}
