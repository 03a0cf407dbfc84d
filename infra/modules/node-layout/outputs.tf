output "nodes" {
  description = "Every node by key (controller-1.., broker-1..): key, node_id, roles (\"controller\" or \"broker\"), zone, zone_index (which of zones, and of three subnets), fixed address and listener port."
  value       = local.nodes
}

output "controllers" {
  description = "The controllers, in order (same objects as in nodes)."
  value       = local.controllers
}

output "brokers" {
  description = "The brokers, in order (same objects as in nodes)."
  value       = local.brokers
}

output "voters" {
  description = "This cloud's controllers as KRaft voters (node_id@address:controller_port); the env joins every cloud's into controller.quorum.voters."
  value       = local.voters
}

output "controller_addresses" {
  description = "Fixed addresses of the controllers, by node.id."
  value       = { for c in local.controllers : tostring(c.node_id) => c.address }
}

output "bootstrap" {
  description = "Bootstrap servers of this cloud's brokers (address:kafka_port,...)."
  value       = join(",", [for b in local.brokers : "${b.address}:${var.kafka_port}"])
}

output "template_values" {
  description = "By node key: the values of infra/templates/<engine>/server.properties.tftpl common to every engine (layout, quorum, listeners, log.dirs, security and kafka_settings); a cluster module merges in its engine's extras (AutoMQ bucket URLs)."
  value       = local.template_values
}
