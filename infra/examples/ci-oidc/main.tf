# OIDC trust for .github/workflows/cloud-drill.yml: an AWS role and a GCP service account that
# only that repository's `cloud-drill` environment can assume, and that may do what
# `make deploy/destroy TARGET=aws-gcp` and the drills do in one region and one project, to
# resources named with the deployment's prefix where the clouds can scope by name.
# Apply once per drill account/project with an administrator's credentials; never applied yet.

provider "aws" {
  region = var.aws_region
}

provider "google" {
  project = var.gcp_project_id
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  issuer  = "token.actions.githubusercontent.com"
  subject = "repo:${var.github_owner}/${var.github_repository}:environment:${var.github_environment}"
  account = data.aws_caller_identity.current.account_id
  arn     = "arn:${data.aws_partition.current.partition}"
  tags    = merge(var.tags, { "riftdrill:purpose" = "cloud-drill-ci" })
}

################################################################################
# AWS: OIDC provider and the deploy role
################################################################################

resource "aws_iam_openid_connect_provider" "github" {
  count          = var.create_aws_oidc_provider ? 1 : 0
  url            = "https://${local.issuer}"
  client_id_list = ["sts.amazonaws.com"]
  # GitHub's published intermediate thumbprints; AWS verifies this issuer by its own CA store.
  thumbprint_list = ["6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd"]
  tags            = local.tags
}

data "aws_iam_policy_document" "trust" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = ["${local.arn}:iam::${local.account}:oidc-provider/${local.issuer}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
    # Exactly this repository's environment: no branch, fork or other workflow.
    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:sub"
      values   = [local.subject]
    }
  }
}

resource "aws_iam_role" "this" {
  name                 = "${var.name_prefix}-cloud-drill-ci"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = 14400 # the workflow's RUN_HOURS: destroy runs at the end of the job
  tags                 = local.tags
}

data "aws_iam_policy_document" "deploy" {
  #checkov:skip=CKV_AWS_111:EC2/ELB/ASG/KMS create calls cannot be scoped to an ARN before the resource exists; limited to one region by condition
  #checkov:skip=CKV_AWS_356:same: create and describe calls of EC2, ELB, ASG and KMS take no resource ARN; one region by condition
  statement {
    sid       = "Identity"
    actions   = ["sts:GetCallerIdentity"]
    resources = ["*"]
  }

  # The VPC, subnets, NACLs (link sever), security groups, instances, launch templates, EBS,
  # NAT, VPN, the optional NLB and ASGs (broker kill), in one region.
  statement {
    sid       = "NetworkAndComputeInOneRegion"
    actions   = ["ec2:*", "elasticloadbalancing:*", "autoscaling:*"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [var.aws_region]
    }
  }

  statement {
    sid       = "BucketKeyInOneRegion"
    actions   = ["kms:CreateKey", "kms:TagResource", "kms:ListAliases"] # tags on CreateKey need TagResource
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [var.aws_region]
    }
  }

  # The bucket key after creation: only keys tagged as drill targets (the module tags it).
  statement {
    sid = "DrillKeys"
    actions = ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:EnableKeyRotation",
      "kms:PutKeyPolicy", "kms:ListResourceTags", "kms:TagResource", "kms:UntagResource",
    "kms:ScheduleKeyDeletion", "kms:GenerateDataKey", "kms:Decrypt", "kms:Encrypt"]
    resources = ["${local.arn}:kms:${var.aws_region}:${local.account}:key/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/riftdrill:drill-target"
      values   = ["true"]
    }
  }

  statement {
    sid       = "DrillKeyAliases"
    actions   = ["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"]
    resources = ["${local.arn}:kms:${var.aws_region}:${local.account}:alias/${var.name_prefix}-*", "${local.arn}:kms:${var.aws_region}:${local.account}:key/*"]
  }

  # The VPC flow log delivers to the ops bucket: CloudWatch Logs' delivery calls take no ARN.
  statement {
    sid       = "FlowLogDelivery"
    actions   = ["logs:CreateLogDelivery", "logs:DeleteLogDelivery"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [var.aws_region]
    }
  }

  # The service-linked roles Auto Scaling (broker ASGs) and ELB (the NLB) need on first use.
  statement {
    sid       = "ServiceLinkedRoles"
    actions   = ["iam:CreateServiceLinkedRole"]
    resources = ["${local.arn}:iam::${local.account}:role/aws-service-role/*"]
    condition {
      test     = "StringEquals"
      variable = "iam:AWSServiceName"
      values   = ["autoscaling.amazonaws.com", "elasticloadbalancing.amazonaws.com"]
    }
  }

  # Data and ops buckets (and their policies: the store-block drill) named <prefix>-aws-*.
  statement {
    sid       = "DrillBuckets"
    actions   = ["s3:*"]
    resources = ["${local.arn}:s3:::${var.name_prefix}-*", "${local.arn}:s3:::${var.name_prefix}-*/*"]
  }

  # The nodes' role and instance profile, <prefix>-*; only the SSM managed policy may be attached.
  statement {
    sid = "DrillRoles"
    actions = ["iam:CreateRole", "iam:DeleteRole", "iam:GetRole", "iam:TagRole", "iam:UntagRole",
      "iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy",
      "iam:ListRolePolicies", "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole",
      "iam:CreateInstanceProfile", "iam:DeleteInstanceProfile", "iam:GetInstanceProfile",
    "iam:TagInstanceProfile", "iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile"]
    resources = ["${local.arn}:iam::${local.account}:role/${var.name_prefix}-*",
    "${local.arn}:iam::${local.account}:instance-profile/${var.name_prefix}-*"]
  }

  statement {
    sid       = "AttachOnlySsm"
    actions   = ["iam:AttachRolePolicy", "iam:DetachRolePolicy"]
    resources = ["${local.arn}:iam::${local.account}:role/${var.name_prefix}-*"]
    condition {
      test     = "ArnEquals"
      variable = "iam:PolicyARN"
      values   = ["${local.arn}:iam::aws:policy/AmazonSSMManagedInstanceCore"]
    }
  }

  statement {
    sid       = "PassNodeRoleToEc2"
    actions   = ["iam:PassRole"]
    resources = ["${local.arn}:iam::${local.account}:role/${var.name_prefix}-*"]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ec2.amazonaws.com"]
    }
  }

  dynamic "statement" {
    for_each = var.state_bucket == null ? [] : [var.state_bucket]
    content {
      sid       = "TerraformState"
      actions   = ["s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
      resources = ["${local.arn}:s3:::${statement.value}", "${local.arn}:s3:::${statement.value}/*"]
    }
  }
}

resource "aws_iam_role_policy" "deploy" {
  name   = "riftdrill-cloud-drill"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.deploy.json
}

################################################################################
# GCP: workload identity pool and provider, the deploy service account
################################################################################

resource "google_iam_workload_identity_pool" "github" {
  workload_identity_pool_id = "${var.name_prefix}-github"
  display_name              = "GitHub Actions (riftdrill)"
}

resource "google_iam_workload_identity_pool_provider" "github" {
  workload_identity_pool_id          = google_iam_workload_identity_pool.github.workload_identity_pool_id
  workload_identity_pool_provider_id = "cloud-drill"
  attribute_mapping = {
    "google.subject"         = "assertion.sub"
    "attribute.repository"   = "assertion.repository"
    "attribute.environment"  = "assertion.environment"
    "attribute.workflow_ref" = "assertion.job_workflow_ref"
  }
  # Only this repository's environment gets a token at all.
  attribute_condition = "assertion.sub == 'repo:${var.github_owner}/${var.github_repository}:environment:${var.github_environment}'"
  oidc {
    issuer_uri = "https://${local.issuer}"
  }
}

resource "google_service_account" "this" {
  account_id   = "${var.name_prefix}-cloud-drill-ci"
  display_name = "riftdrill cloud drill (GitHub Actions)"
}

resource "google_service_account_iam_member" "github" {
  service_account_id = google_service_account.this.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principal://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/subject/${local.subject}"
}

# What infra/modules/gcp-cluster and interconnect create and the drills change: network,
# firewall (link sever), VMs and HA VPN (compute), buckets, HMAC keys and their bucket IAM
# (storage), the HMAC secret (secret manager), enabling those APIs.
resource "google_project_iam_member" "deploy" {
  for_each = toset(["roles/compute.admin", "roles/storage.admin", "roles/secretmanager.admin",
  "roles/serviceusage.serviceUsageAdmin"])
  project = var.gcp_project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.this.email}"
}

# Creating and deleting the nodes' service account (<prefix>-gcp-nodes).
resource "google_project_iam_member" "node_accounts" {
  #checkov:skip=CKV_GCP_49:the deploy creates and deletes the nodes' service account; GCP has no create-and-delete role narrower than this
  project = var.gcp_project_id
  role    = "roles/iam.serviceAccountAdmin"
  member  = "serviceAccount:${google_service_account.this.email}"
}

# Attaching the nodes' service account to the VMs. Project-wide: that account is created by
# the deploy itself, so it cannot be bound on the account before the first deploy.
resource "google_project_iam_member" "act_as_nodes" {
  #checkov:skip=CKV_GCP_41:the deploy attaches the nodes' service account it creates itself; it cannot be bound before it exists
  #checkov:skip=CKV_GCP_49:same: serviceAccountUser at project level, for the nodes' account the deploy creates
  project = var.gcp_project_id
  role    = "roles/iam.serviceAccountUser"
  member  = "serviceAccount:${google_service_account.this.email}"
}
