output "account_id" {
  description = "AWS account the cluster lives in (the guard checks it against the allow-list)."
  value       = data.aws_caller_identity.current.account_id
}

output "region" {
  description = "AWS region of the cluster."
  value       = local.region
}

output "vpc_id" {
  description = "ID of the cluster's VPC (the interconnect attaches its VPN gateway here)."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "CIDR of the cluster's VPC."
  value       = var.vpc_cidr
}

output "private_subnet_ids" {
  description = "Private subnets of the nodes, one per AZ."
  value       = aws_subnet.private[*].id
}

output "private_route_table_ids" {
  description = "Route tables into which the interconnect propagates the peer cloud's BGP routes."
  value       = [aws_route_table.private.id]
}

output "security_group_id" {
  description = "Security group of every node."
  value       = aws_security_group.nodes.id
}

output "network_acl_id" {
  description = "Network ACL of the private subnets; the link-sever drill inserts DENY entries numbered 10-19 here."
  value       = aws_network_acl.private.id
}

output "data_bucket" {
  description = "Name of the S3 data bucket (AutoMQ s3.data.buckets and s3.wal.path)."
  value       = aws_s3_bucket.data.id
}

output "ops_bucket" {
  description = "Name of the S3 ops bucket (AutoMQ s3.ops.buckets, access and flow logs)."
  value       = aws_s3_bucket.ops.id
}

output "s3_endpoint" {
  description = "Regional S3 endpoint the brokers use."
  value       = local.s3_endpoint
}

output "node_role_arn" {
  description = "IAM role of the nodes; the block-object-store drill denies exactly this principal."
  value       = aws_iam_role.nodes.arn
}

output "kms_key_arn" {
  description = "KMS key that encrypts both buckets."
  value       = aws_kms_key.buckets.arn
}

output "nodes" {
  description = "Every node: name, node.id, roles, zone, fixed address, port and handle (EC2 instance id)."
  value = [for k, n in local.nodes : {
    name    = "${var.name}-${k}"
    node_id = n.node_id
    roles   = n.roles
    zone    = n.zone
    address = n.address
    port    = n.port
    handle  = aws_instance.node[k].id
  }]
}

output "controller_addresses" {
  description = "Fixed addresses of this cloud's controllers, by node.id (the env checks its quorum against them)."
  value       = module.layout.controller_addresses
}

output "bootstrap" {
  description = "Bootstrap servers for clients in this cloud: the NLB when created, else every broker."
  value       = var.create_nlb ? "${aws_lb.bootstrap[0].dns_name}:${var.kafka_port}" : module.layout.bootstrap
}
