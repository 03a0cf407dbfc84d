# One load VM in an AWS cloud of a riftdrill deployment: private subnet, no public IP, reached
# only through SSM (Run Command), with read/write on one prefix of the carrier bucket. The run
# itself is sent by `riftdrill load` (riftdrill.load.remote); cloud-init installs the
# runtime riftdrill's wheel needs.

data "aws_partition" "current" {}

# Canonical publishes its current images as public SSM parameters: one read, no filter guessing.
data "aws_ssm_parameter" "ubuntu" {
  count = var.ami_id == null ? 1 : 0
  name  = "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id"
}

locals {
  tags       = merge(var.tags, { "riftdrill:role" = "load" })
  ami_id     = var.ami_id != null ? var.ami_id : nonsensitive(data.aws_ssm_parameter.ubuntu[0].value)
  bucket_arn = "arn:${data.aws_partition.current.partition}:s3:::${var.carrier_bucket}"

  user_data = templatefile("${path.module}/../../templates/cloud-init/load-node.yaml.tftpl", {
    cloud   = "aws"
    carrier = "s3://${var.carrier_bucket}/${var.carrier_prefix}"
    cli     = "aws"
    snap    = "aws-cli"
  })
}

################################################################################
# IAM: the SSM agent's core permissions and the carrier prefix, nothing else
################################################################################

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name_prefix        = "${var.name}-load-"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
  tags               = local.tags
}

# AWS's managed policy for the SSM agent (register, Run Command, Session Manager channels). It
# grants no S3 or KMS: the carrier is the inline policy below.
resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.this.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

data "aws_iam_policy_document" "carrier" {
  statement {
    sid       = "ListCarrierPrefix"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.carrier_prefix}*"]
    }
  }

  statement {
    sid       = "CarrierObjects"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${local.bucket_arn}/${var.carrier_prefix}*"]
  }

  statement {
    sid       = "UseBucketKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "carrier" {
  name_prefix = "${var.name}-load-carrier-"
  role        = aws_iam_role.this.id
  policy      = data.aws_iam_policy_document.carrier.json
}

resource "aws_iam_instance_profile" "this" {
  name_prefix = "${var.name}-load-"
  role        = aws_iam_role.this.name
  tags        = local.tags
}

################################################################################
# The VM
################################################################################

resource "aws_instance" "this" {
  ami                         = local.ami_id
  instance_type               = var.instance_type
  subnet_id                   = var.subnet_id
  vpc_security_group_ids      = var.security_group_ids
  associate_public_ip_address = false
  iam_instance_profile        = aws_iam_instance_profile.this.name
  user_data                   = local.user_data
  ebs_optimized               = true
  monitoring                  = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    volume_type           = "gp3"
    volume_size           = var.root_volume_size_gb
    encrypted             = true
    delete_on_termination = true
  }

  tags        = merge(local.tags, { Name = "${var.name}-load" })
  volume_tags = local.tags

  # A newer image or a changed cloud-init must not replace a VM a drill may be using; taint it
  # to rebuild.
  lifecycle {
    ignore_changes = [ami, user_data]
  }

  depends_on = [aws_iam_role_policy_attachment.ssm, aws_iam_role_policy.carrier]
}
