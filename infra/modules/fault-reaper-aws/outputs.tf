output "function_name" {
  description = "Name of the reaper Lambda (its log group is /aws/lambda/<name>)."
  value       = aws_lambda_function.this.function_name
}

output "store_outage_template_id" {
  description = "FIS experiment template that cuts the nodes' subnets off S3 (riftdrill's store block on aws: timeouts, not 403s)."
  value       = aws_fis_experiment_template.store_outage.id
}

output "stop_alarm_name" {
  description = "CloudWatch alarm every riftdrill FIS experiment stops on: set it to ALARM to abort all of them."
  value       = aws_cloudwatch_metric_alarm.stop.alarm_name
}
