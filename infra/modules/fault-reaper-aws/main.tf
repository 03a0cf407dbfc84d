# The in-cloud half of riftdrill's fault expiry on AWS: a Lambda, run every minute, that undoes
# every fault of this deployment whose deadline has passed (riftdrill.cloud.reaper: the same
# Python module the unit tests run against moto), and the FIS template of the store outage.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  region    = data.aws_region.current.name
  partition = data.aws_partition.current.partition
  ec2_arn   = "arn:${local.partition}:ec2:${local.region}:${local.account}"
  function  = "${var.name}-fault-reaper"
  source    = var.reaper_source != null ? var.reaper_source : "${path.module}/../../../src/riftdrill/cloud/reaper.py"
  tags      = merge(var.tags, { "riftdrill:component" = "fault-reaper" })
}

################################################################################
# The reaper: stdlib + boto3 only, so the zip is the one module
################################################################################

data "archive_file" "reaper" {
  type        = "zip"
  output_path = "${path.root}/.terraform/${local.function}.zip"

  source {
    content  = file(local.source)
    filename = "reaper.py"
  }
}

data "aws_iam_policy_document" "assume_lambda" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "reaper" {
  name               = local.function
  assume_role_policy = data.aws_iam_policy_document.assume_lambda.json
  tags               = local.tags
}

# Least privilege: it reads what it must list, and changes only this deployment's objects, and
# only in the ways a heal does.
data "aws_iam_policy_document" "reaper" {
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.reaper.arn}:*"]
  }
  statement {
    sid       = "Traces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"] # X-Ray has no resource-level permissions
  }
  statement {
    sid       = "FindFaults"
    actions   = ["ec2:DescribeNetworkAcls", "ec2:DescribeInstances", "fis:ListExperiments"]
    resources = ["*"] # List/Describe calls have no resource-level permissions
  }
  statement {
    sid       = "HealLinkSever"
    actions   = ["ec2:DeleteNetworkAclEntry"]
    resources = ["${local.ec2_arn}:network-acl/${var.network_acl_id}"]
  }
  statement {
    sid       = "HealBrokerKill"
    actions   = ["ec2:StartInstances"]
    resources = ["${local.ec2_arn}:instance/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/riftdrill:deployment"
      values   = [var.deployment]
    }
  }
  statement {
    sid       = "ForgetDeadlines"
    actions   = ["ec2:DeleteTags"]
    resources = ["${local.ec2_arn}:network-acl/${var.network_acl_id}", "${local.ec2_arn}:instance/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/riftdrill:deployment"
      values   = [var.deployment]
    }
    condition {
      test     = "ForAllValues:StringLike"
      variable = "aws:TagKeys"
      values   = ["riftdrill:expires-at*"]
    }
  }
  statement {
    sid       = "HealStoreBlock"
    actions   = ["s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"]
    resources = [for b in var.bucket_names : "arn:${local.partition}:s3:::${b}"]
  }
  statement {
    sid       = "HealStoreOutage"
    actions   = ["fis:StopExperiment"]
    resources = ["arn:${local.partition}:fis:${local.region}:${local.account}:experiment/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/riftdrill:drill-target"
      values   = ["true"]
    }
  }
}

resource "aws_iam_role_policy" "reaper" {
  name   = "heal-expired-faults"
  role   = aws_iam_role.reaper.id
  policy = data.aws_iam_policy_document.reaper.json
}

resource "aws_cloudwatch_log_group" "reaper" {
  #checkov:skip=CKV_AWS_158:the reaper logs resource ids and deadlines only, no secrets; the AWS-owned key encrypts it
  name              = "/aws/lambda/${local.function}"
  retention_in_days = var.log_retention_days
  tags              = local.tags
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:a scheduled run that fails is retried by the next minute's run; a DLQ adds nothing
  #checkov:skip=CKV_AWS_117:it calls only AWS APIs; outside a VPC it needs no NAT or endpoints
  #checkov:skip=CKV_AWS_173:its environment holds resource names only, no secrets
  #checkov:skip=CKV_AWS_272:the code is riftdrill's own module, zipped by this plan; its hash is in the plan
  function_name                  = local.function
  description                    = "riftdrill: undoes the deployment's faults whose deadline has passed"
  role                           = aws_iam_role.reaper.arn
  runtime                        = "python3.12"
  handler                        = "reaper.handler"
  filename                       = data.archive_file.reaper.output_path
  source_code_hash               = data.archive_file.reaper.output_base64sha256
  timeout                        = 50 # inside the one-minute schedule
  memory_size                    = 128
  reserved_concurrent_executions = 1 # one reaper at a time

  environment {
    variables = {
      RIFTDRILL_DEPLOYMENT    = var.deployment
      RIFTDRILL_BUCKETS       = join(",", var.bucket_names)
      RIFTDRILL_FIS_TEMPLATES = aws_fis_experiment_template.store_outage.id
    }
  }

  tracing_config {
    mode = "Active"
  }

  tags       = local.tags
  depends_on = [aws_iam_role_policy.reaper, aws_cloudwatch_log_group.reaper]
}

resource "aws_cloudwatch_event_rule" "schedule" {
  name                = local.function
  description         = "riftdrill fault reaper schedule"
  schedule_expression = var.schedule_expression
  tags                = local.tags
}

resource "aws_cloudwatch_event_target" "reaper" {
  rule = aws_cloudwatch_event_rule.schedule.name
  arn  = aws_lambda_function.this.arn
}

resource "aws_lambda_permission" "schedule" {
  statement_id  = "AllowEventBridgeSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.schedule.arn
}

################################################################################
# FIS: the store outage (timeouts, not 403s), with a duration and a stop condition
################################################################################

# The stop condition of every riftdrill experiment: a kill switch. Nothing publishes the metric;
# `aws cloudwatch set-alarm-state --alarm-name <stop_alarm_name> --state-value ALARM
# --state-reason abort` stops every running experiment of this deployment at once.
resource "aws_cloudwatch_metric_alarm" "stop" {
  alarm_name          = "${var.name}-fault-stop"
  alarm_description   = "riftdrill: set to ALARM to stop every FIS experiment of ${var.deployment}"
  namespace           = "Riftdrill"
  metric_name         = "StopFaults"
  dimensions          = { Deployment = var.deployment }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  tags                = local.tags
}

data "aws_iam_policy_document" "assume_fis" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["fis.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "fis" {
  name               = "${var.name}-fis"
  assume_role_policy = data.aws_iam_policy_document.assume_fis.json
  tags               = local.tags
}

# AWS's managed policy for the network actions: create/associate/delete the temporary network
# ACL, read the S3 prefix list.
resource "aws_iam_role_policy_attachment" "fis_network" {
  role       = aws_iam_role.fis.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWSFaultInjectionSimulatorNetworkAccess"
}

resource "aws_fis_experiment_template" "store_outage" {
  description = "riftdrill store outage: ${var.name} nodes' subnets cut off S3 (timeouts)"
  role_arn    = aws_iam_role.fis.arn

  stop_condition {
    source = "aws:cloudwatch:alarm"
    value  = aws_cloudwatch_metric_alarm.stop.arn
  }

  action {
    name      = "cut-off-s3"
    action_id = "aws:network:disrupt-connectivity"

    parameter {
      key   = "duration"
      value = "PT${ceil(var.outage_max_duration_s / 60)}M"
    }
    parameter {
      key   = "scope"
      value = "s3"
    }

    target {
      key   = "Subnets"
      value = "nodes"
    }
  }

  target {
    name           = "nodes"
    resource_type  = "aws:ec2:subnet"
    selection_mode = "ALL"
    resource_arns  = [for id in var.subnet_ids : "${local.ec2_arn}:subnet/${id}"]
  }

  tags = merge(local.tags, { Name = "${var.name}-store-outage" })
}
