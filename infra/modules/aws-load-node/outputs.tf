output "instance_id" {
  description = "EC2 instance id of the load VM: the SSM Run Command target."
  value       = aws_instance.this.id
}

output "private_ip" {
  description = "Private address of the load VM."
  value       = aws_instance.this.private_ip
}

output "role_arn" {
  description = "IAM role of the load VM (SSM core + its carrier prefix)."
  value       = aws_iam_role.this.arn
}

output "load_node" {
  description = "The load VM as the env's `riftdrill` output carries it (riftdrill.cloud.inventory reads it)."
  value = {
    name      = "${var.name}-load"
    handle    = aws_instance.this.id
    address   = aws_instance.this.private_ip
    transport = "ssm"
    carrier   = "s3://${var.carrier_bucket}/${var.carrier_prefix}"
  }
}
