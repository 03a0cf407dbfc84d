# One cloud of a riftdrill deployment on AWS: network, object storage, IAM and the Kafka-compatible
# nodes. The node layout (fixed private addresses, node ids, quorum, the broker template's values)
# comes from ../node-layout, so the KRaft quorum and the advertised listeners are known at plan
# time, before any instance exists, and are laid out as on every other cloud.

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

# The AMI is pinned by id (var.ami_id; scripts/cloud/print-ami.sh prints the current Ubuntu one):
# a newer image published between two applies must never decide what a node runs. This reads
# that one image only for its root device name (Ubuntu: /dev/sda1, Amazon Linux: /dev/xvda).
data "aws_ami" "node" {
  filter {
    name   = "image-id"
    values = [var.ami_id]
  }
}

module "layout" {
  source = "../node-layout"

  node_id_base             = var.node_id_base
  controller_count         = var.controller_count
  broker_count             = var.broker_count
  zones                    = var.azs
  subnet_cidrs             = var.private_subnet_cidrs
  kafka_port               = var.kafka_port
  controller_port          = var.controller_port
  controller_quorum_voters = var.controller_quorum_voters
  kafka_settings           = var.kafka_settings
  security                 = var.security
  secrets_dir              = var.secrets_dir
}

locals {
  tags = merge(var.tags, {
    "riftdrill:drill-target" = "true"
    "riftdrill:cloud"        = "aws"
    "riftdrill:name"         = var.name
  })
  region = data.aws_region.current.name

  # Which nodes exist, their node.id, AZ and fixed address: one rule for every cloud.
  nodes = module.layout.nodes

  # The data volume's name in the block device mapping (riftdrill.cloud.render.DATA_DEVICE).
  data_device_name = "/dev/sdf"

  s3_endpoint = "https://s3.${local.region}.amazonaws.com"
  # AutoMQ bucket URLs: <bucket index>@s3://<bucket>?region=..&endpoint=..; the instance role signs.
  automq_query = "region=${local.region}&endpoint=${local.s3_endpoint}&authType=instance"

  node_properties = { for k, values in module.layout.template_values : k => templatefile(
    "${path.module}/../../templates/${var.engine}/server.properties.tftpl",
    merge(values, {
      data_buckets = "0@s3://${aws_s3_bucket.data.id}?${local.automq_query}"
      ops_buckets  = "1@s3://${aws_s3_bucket.ops.id}?${local.automq_query}"
      wal_path     = "0@s3://${aws_s3_bucket.data.id}?${local.automq_query}"
    })
  ) }

  node_user_data = { for k, n in local.nodes : k => templatefile(
    "${path.module}/../../templates/cloud-init/broker.yaml.tftpl",
    {
      engine                = var.engine
      engine_version        = var.engine_version
      engine_url            = var.engine_url
      engine_sha256         = var.engine_sha256
      cluster_id            = var.cluster_id
      node_name             = "${var.name}-${k}"
      server_properties_b64 = base64encode(local.node_properties[k])
      # The instance profile signs S3 requests: there are no keys to fetch or keep on disk.
      credentials_script_b64 = base64encode("#!/bin/sh\nexit 0\n")
      heap_opts              = n.roles == "controller" ? "-Xms1g -Xmx1g" : "-Xms4g -Xmx4g"
      secrets_dir            = var.secrets_dir
      # Xen instances show the data volume here; Nitro ones as NVMe, found as the second disk.
      data_device = local.data_device_name
    }
  ) }
}

################################################################################
# Network: three private subnets for nodes, public ones only for the NAT gateway
################################################################################

resource "aws_vpc" "this" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(local.tags, { Name = var.name })
}

# Deny-all default security group: nothing may fall back to it.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(local.tags, { Name = "${var.name}-default-deny" })
}

resource "aws_flow_log" "this" {
  vpc_id                   = aws_vpc.this.id
  traffic_type             = "REJECT"
  log_destination_type     = "s3"
  log_destination          = "${aws_s3_bucket.ops.arn}/flow-logs/"
  max_aggregation_interval = 600
  tags                     = local.tags
}

resource "aws_subnet" "private" {
  count             = 3
  vpc_id            = aws_vpc.this.id
  cidr_block        = var.private_subnet_cidrs[count.index]
  availability_zone = var.azs[count.index]
  tags              = merge(local.tags, { Name = "${var.name}-private-${var.azs[count.index]}" })
}

resource "aws_subnet" "public" {
  count             = var.enable_nat_gateway ? 3 : 0
  vpc_id            = aws_vpc.this.id
  cidr_block        = var.public_subnet_cidrs[count.index]
  availability_zone = var.azs[count.index]
  tags              = merge(local.tags, { Name = "${var.name}-public-${var.azs[count.index]}" })
}

resource "aws_internet_gateway" "this" {
  count  = var.enable_nat_gateway ? 1 : 0
  vpc_id = aws_vpc.this.id
  tags   = merge(local.tags, { Name = var.name })
}

resource "aws_eip" "nat" {
  count  = var.enable_nat_gateway ? 1 : 0
  domain = "vpc"
  tags   = merge(local.tags, { Name = "${var.name}-nat" })
}

resource "aws_nat_gateway" "this" {
  count         = var.enable_nat_gateway ? 1 : 0
  allocation_id = aws_eip.nat[0].id
  subnet_id     = aws_subnet.public[0].id
  tags          = merge(local.tags, { Name = var.name })
  depends_on    = [aws_internet_gateway.this]
}

resource "aws_route_table" "public" {
  count  = var.enable_nat_gateway ? 1 : 0
  vpc_id = aws_vpc.this.id
  tags   = merge(local.tags, { Name = "${var.name}-public" })
}

resource "aws_route" "public_internet" {
  count                  = var.enable_nat_gateway ? 1 : 0
  route_table_id         = aws_route_table.public[0].id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this[0].id
}

resource "aws_route_table_association" "public" {
  count          = var.enable_nat_gateway ? 3 : 0
  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public[0].id
}

resource "aws_route_table" "private" {
  vpc_id = aws_vpc.this.id
  tags   = merge(local.tags, { Name = "${var.name}-private" })
}

resource "aws_route" "private_nat" {
  count                  = var.enable_nat_gateway ? 1 : 0
  route_table_id         = aws_route_table.private.id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[0].id
}

resource "aws_route_table_association" "private" {
  count          = 3
  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private.id
}

# S3 traffic stays on the AWS network and keeps flowing when the NAT gateway is absent.
resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${local.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.private.id]
  tags              = merge(local.tags, { Name = "${var.name}-s3" })
}

# The private subnets' network ACL. Rules 100+ allow the VPC, the peer cloud and replies
# (security groups do the narrow filtering); rule numbers 10-19 are reserved for riftdrill's link-sever drill, which inserts
# stateless DENY entries for the peer CIDRs here. NACLs are stateless, so a sever also cuts
# connections that were already established - which security group changes would not.
resource "aws_network_acl" "private" {
  vpc_id     = aws_vpc.this.id
  subnet_ids = aws_subnet.private[*].id
  tags = merge(local.tags, {
    Name                   = "${var.name}-private"
    "riftdrill:sever-link" = var.link_name
  })
}

resource "aws_network_acl_rule" "private_ingress_vpc" {
  #checkov:skip=CKV_AWS_352:only from the VPC itself; security groups restrict the ports
  network_acl_id = aws_network_acl.private.id
  rule_number    = 100
  egress         = false
  protocol       = "-1"
  rule_action    = "allow"
  cidr_block     = var.vpc_cidr
}

resource "aws_network_acl_rule" "private_ingress_peer" {
  #checkov:skip=CKV_AWS_352:only from the peer cloud over the VPN; security groups restrict the ports
  count          = length(var.peer_cidrs)
  network_acl_id = aws_network_acl.private.id
  rule_number    = 110 + count.index
  egress         = false
  protocol       = "-1"
  rule_action    = "allow"
  cidr_block     = var.peer_cidrs[count.index]
}

# Replies to the nodes' own outbound connections (packages, S3, SSM) on ephemeral ports.
resource "aws_network_acl_rule" "private_ingress_replies" {
  #checkov:skip=CKV_AWS_231:the ephemeral range carries replies (NACLs are stateless); no security group admits 3389
  for_each       = toset(["tcp", "udp"])
  network_acl_id = aws_network_acl.private.id
  rule_number    = each.value == "tcp" ? 200 : 201
  egress         = false
  protocol       = each.value
  rule_action    = "allow"
  cidr_block     = "0.0.0.0/0"
  from_port      = 1024
  to_port        = 65535
}

resource "aws_network_acl_rule" "private_egress_allow" {
  network_acl_id = aws_network_acl.private.id
  rule_number    = 100
  egress         = true
  protocol       = "-1"
  rule_action    = "allow"
  cidr_block     = "0.0.0.0/0"
}

################################################################################
# Security groups: only the Kafka and controller ports, only from the cluster, the peer
# cloud and the declared clients
################################################################################

resource "aws_security_group" "nodes" {
  name        = "${var.name}-nodes"
  description = "riftdrill ${var.name}: Kafka-compatible brokers and KRaft controllers"
  vpc_id      = aws_vpc.this.id
  tags        = merge(local.tags, { Name = "${var.name}-nodes" })
}

resource "aws_vpc_security_group_ingress_rule" "kafka_self" {
  security_group_id            = aws_security_group.nodes.id
  description                  = "Kafka listener between nodes of this cloud"
  referenced_security_group_id = aws_security_group.nodes.id
  ip_protocol                  = "tcp"
  from_port                    = var.kafka_port
  to_port                      = var.kafka_port
  tags                         = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "controller_self" {
  security_group_id            = aws_security_group.nodes.id
  description                  = "KRaft controller listener between nodes of this cloud"
  referenced_security_group_id = aws_security_group.nodes.id
  ip_protocol                  = "tcp"
  from_port                    = var.controller_port
  to_port                      = var.controller_port
  tags                         = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "kafka_peer" {
  for_each          = toset(var.peer_cidrs)
  security_group_id = aws_security_group.nodes.id
  description       = "Kafka listener from the peer cloud over the interconnect"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = var.kafka_port
  to_port           = var.kafka_port
  tags              = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "controller_peer" {
  for_each          = toset(var.peer_cidrs)
  security_group_id = aws_security_group.nodes.id
  description       = "KRaft controller listener from the peer cloud over the interconnect"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = var.controller_port
  to_port           = var.controller_port
  tags              = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "kafka_clients" {
  for_each          = toset(var.client_cidrs)
  security_group_id = aws_security_group.nodes.id
  description       = "Kafka listener from declared client networks"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = var.kafka_port
  to_port           = var.kafka_port
  tags              = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "kafka_nlb" {
  count             = var.create_nlb ? 1 : 0
  security_group_id = aws_security_group.nodes.id
  description       = "Kafka listener from the internal NLB (it preserves no client address in the VPC range)"
  cidr_ipv4         = var.vpc_cidr
  ip_protocol       = "tcp"
  from_port         = var.kafka_port
  to_port           = var.kafka_port
  tags              = local.tags
}

resource "aws_vpc_security_group_egress_rule" "cluster" {
  for_each          = toset(concat([var.vpc_cidr], var.peer_cidrs))
  security_group_id = aws_security_group.nodes.id
  description       = "Kafka and controller traffic inside the VPC and to the peer cloud"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = min(var.kafka_port, var.controller_port)
  to_port           = max(var.kafka_port, var.controller_port)
  tags              = local.tags
}

resource "aws_vpc_security_group_egress_rule" "s3" {
  security_group_id = aws_security_group.nodes.id
  description       = "HTTPS to S3 through the gateway endpoint"
  prefix_list_id    = aws_vpc_endpoint.s3.prefix_list_id
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  tags              = local.tags
}

resource "aws_vpc_security_group_egress_rule" "https" {
  count             = var.enable_nat_gateway ? 1 : 0
  security_group_id = aws_security_group.nodes.id
  description       = "HTTPS through the NAT gateway: OS packages, engine tarball, SSM"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  tags              = local.tags
}

resource "aws_vpc_security_group_egress_rule" "http" {
  count             = var.enable_nat_gateway ? 1 : 0
  security_group_id = aws_security_group.nodes.id
  description       = "HTTP through the NAT gateway: Debian package mirrors (packages are signed)"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  tags              = local.tags
}

################################################################################
# Object storage: data (no versioning: AutoMQ rewrites and deletes objects itself) and ops
################################################################################

resource "aws_kms_key" "buckets" {
  description             = "riftdrill ${var.name}: encrypts the data and ops buckets"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_key_deletion_window_days
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = local.tags
}

data "aws_iam_policy_document" "kms" {
  # A key policy's "*" resource means "this key"; the account root line is AWS's default.
  #checkov:skip=CKV_AWS_111:key policy; resource "*" is this key only
  #checkov:skip=CKV_AWS_356:key policy; resource "*" is this key only
  #checkov:skip=CKV_AWS_109:key policy; the account administers its own key (AWS default)
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  # VPC flow logs are delivered by a service principal that must encrypt into the ops bucket.
  statement {
    sid       = "FlowLogsDelivery"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["delivery.logs.amazonaws.com"]
    }
  }
}

resource "aws_kms_alias" "buckets" {
  name          = "alias/${var.name}-buckets"
  target_key_id = aws_kms_key.buckets.key_id
}

resource "aws_s3_bucket" "data" {
  #checkov:skip=CKV_AWS_21:AutoMQ rewrites and deletes its objects; versions would only cost
  #checkov:skip=CKV_AWS_144:drill data is disposable; replication would double every write
  #checkov:skip=CKV2_AWS_62:nothing consumes object events
  bucket_prefix = "${var.name}-data-"
  force_destroy = var.force_destroy_buckets
  tags          = merge(local.tags, { "riftdrill:bucket" = "data" })
}

resource "aws_s3_bucket" "ops" {
  #checkov:skip=CKV_AWS_144:ops data (metrics, logs) of a drill is disposable
  #checkov:skip=CKV2_AWS_62:nothing consumes object events
  bucket_prefix = "${var.name}-ops-"
  force_destroy = var.force_destroy_buckets
  tags          = merge(local.tags, { "riftdrill:bucket" = "ops" })
}

resource "aws_s3_bucket_versioning" "data" {
  bucket = aws_s3_bucket.data.id
  versioning_configuration {
    status = "Disabled"
  }
}

resource "aws_s3_bucket_versioning" "ops" {
  bucket = aws_s3_bucket.ops.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = { data = aws_s3_bucket.data.id, ops = aws_s3_bucket.ops.id }
  bucket   = each.value
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.buckets.arn
    }
    bucket_key_enabled = true # one KMS call per bucket key, not per object: AutoMQ writes many
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each                = { data = aws_s3_bucket.data.id, ops = aws_s3_bucket.ops.id }
  bucket                  = each.value
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = { data = aws_s3_bucket.data.id, ops = aws_s3_bucket.ops.id }
  bucket   = each.value
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

# Data bucket: abort dangling multipart uploads left by killed brokers (they cost money forever).
resource "aws_s3_bucket_lifecycle_configuration" "data" {
  bucket = aws_s3_bucket.data.id
  rule {
    id     = "abort-incomplete-multipart"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "ops" {
  bucket     = aws_s3_bucket.ops.id
  depends_on = [aws_s3_bucket_versioning.ops]
  rule {
    id     = "expire-ops"
    status = "Enabled"
    filter {}
    expiration {
      days = var.ops_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_s3_bucket_logging" "data" {
  bucket        = aws_s3_bucket.data.id
  target_bucket = aws_s3_bucket.ops.id
  target_prefix = "access-logs/data/"
}

data "aws_iam_policy_document" "tls_only" {
  for_each = { data = aws_s3_bucket.data.arn, ops = aws_s3_bucket.ops.arn }
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [each.value, "${each.value}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  dynamic "statement" {
    for_each = each.key == "ops" ? [1] : []
    content {
      sid       = "LogDelivery"
      actions   = ["s3:PutObject"]
      resources = ["${each.value}/access-logs/*", "${each.value}/flow-logs/*"]
      principals {
        type        = "Service"
        identifiers = ["logging.s3.amazonaws.com", "delivery.logs.amazonaws.com"]
      }
      condition {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [data.aws_caller_identity.current.account_id]
      }
    }
  }
}

# riftdrill's block-object-store drill adds a "RiftdrillBlock" deny statement to the data
# bucket's policy at run time and removes it on heal; an apply in between would remove it too.
resource "aws_s3_bucket_policy" "this" {
  for_each   = { data = aws_s3_bucket.data.id, ops = aws_s3_bucket.ops.id }
  bucket     = each.value
  policy     = data.aws_iam_policy_document.tls_only[each.key].json
  depends_on = [aws_s3_bucket_public_access_block.this]
}

################################################################################
# IAM: nodes may touch only their own buckets and key
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

resource "aws_iam_role" "nodes" {
  name_prefix        = "${var.name}-nodes-"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
  tags               = local.tags
}

data "aws_iam_policy_document" "buckets" {
  statement {
    sid       = "ListOwnBuckets"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"]
    resources = [aws_s3_bucket.data.arn, aws_s3_bucket.ops.arn]
  }

  statement {
    sid = "ObjectsInOwnBuckets"
    actions = [
      "s3:GetObject", "s3:PutObject", "s3:DeleteObject",
      "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
    ]
    resources = ["${aws_s3_bucket.data.arn}/*", "${aws_s3_bucket.ops.arn}/*"]
  }

  statement {
    sid       = "UseBucketKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.buckets.arn]
  }
}

resource "aws_iam_role_policy" "buckets" {
  name_prefix = "${var.name}-buckets-"
  role        = aws_iam_role.nodes.id
  policy      = data.aws_iam_policy_document.buckets.json
}

resource "aws_iam_role_policy_attachment" "ssm" {
  count      = var.enable_ssm ? 1 : 0
  role       = aws_iam_role.nodes.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "nodes" {
  name_prefix = "${var.name}-nodes-"
  role        = aws_iam_role.nodes.name
  tags        = local.tags
}

################################################################################
# Nodes: one launch template per node (fixed address, own user data)
################################################################################

resource "aws_launch_template" "node" {
  for_each      = local.nodes
  name_prefix   = "${var.name}-${each.key}-"
  image_id      = var.ami_id
  instance_type = each.value.roles == "controller" ? var.controller_instance_type : var.broker_instance_type
  user_data     = base64encode(local.node_user_data[each.key])
  ebs_optimized = true
  # A change makes a new version and makes it the default, which aws_instance.node launches
  # from (by the name "$Default", so the instance's own configuration never changes).
  update_default_version = true

  iam_instance_profile {
    arn = aws_iam_instance_profile.nodes.arn
  }

  network_interfaces {
    subnet_id             = aws_subnet.private[each.value.zone_index].id
    private_ip_address    = each.value.address
    security_groups       = [aws_security_group.nodes.id]
    delete_on_termination = true
  }

  # The root volume under the AMI's own root device name: a mapping under any other name
  # (e.g. /dev/xvda on Ubuntu, whose root is /dev/sda1) adds a stray volume and leaves the
  # root at the AMI's 8 GB.
  block_device_mappings {
    device_name = data.aws_ami.node.root_device_name
    ebs {
      volume_size           = var.root_volume_size_gb
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  # The data volume: the cloud-init formats it once (never again) and mounts it at
  # /var/lib/riftdrill, the parent of log.dirs, before the storage is formatted.
  block_device_mappings {
    device_name = local.data_device_name
    ebs {
      volume_size           = var.data_volume_size_gb
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required" # IMDSv2 only
    http_put_response_hop_limit = 1
  }

  monitoring {
    enabled = true
  }

  tag_specifications {
    resource_type = "instance"
    tags = merge(local.tags, {
      Name                = "${var.name}-${each.key}"
      "riftdrill:node-id" = tostring(each.value.node_id)
      "riftdrill:roles"   = each.value.roles
    })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(local.tags, { Name = "${var.name}-${each.key}" })
  }

  tags = local.tags
}

resource "aws_instance" "node" {
  #checkov:skip=CKV_AWS_79:IMDSv2-only is set in aws_launch_template.node
  #checkov:skip=CKV_AWS_135:EBS optimisation is set in aws_launch_template.node
  #checkov:skip=CKV_AWS_8:the root volume is encrypted in aws_launch_template.node
  #checkov:skip=CKV_AWS_126:detailed monitoring is set in aws_launch_template.node
  #checkov:skip=CKV2_AWS_41:the instance profile is set in aws_launch_template.node
  for_each = local.nodes

  # "$Default", a name that never changes, instead of latest_version (a number that changes
  # with every template edit and would replace the instance): a later change of the template
  # (new user data, another AMI id) makes a new default version but leaves running brokers be.
  # To roll a node onto it: terraform apply -replace='module.aws.aws_instance.node["broker-1"]'.
  launch_template {
    id      = aws_launch_template.node[each.key].id
    version = "$Default"
  }

  # Drills stop and start instances, and a broker's data lives on it: Terraform must not replace
  # one because its launch template, AMI or user data changed (see launch_template above).
  lifecycle {
    ignore_changes = [ami, user_data, user_data_base64, launch_template]
  }

  tags = merge(local.tags, {
    Name                = "${var.name}-${each.key}"
    "riftdrill:node-id" = tostring(each.value.node_id)
    "riftdrill:roles"   = each.value.roles
  })
}

################################################################################
# Optional internal NLB: one stable bootstrap address for this cloud's clients
################################################################################

resource "aws_lb" "bootstrap" {
  count                            = var.create_nlb ? 1 : 0
  name_prefix                      = "rdnlb-"
  internal                         = true
  load_balancer_type               = "network"
  subnets                          = aws_subnet.private[*].id
  enable_cross_zone_load_balancing = true
  enable_deletion_protection       = false # drill environments must always be destroyable
  tags                             = local.tags
}

resource "aws_lb_target_group" "bootstrap" {
  count       = var.create_nlb ? 1 : 0
  name_prefix = "rdkfk-"
  port        = var.kafka_port
  protocol    = "TCP"
  target_type = "ip"
  vpc_id      = aws_vpc.this.id
  tags        = local.tags

  health_check {
    protocol = "TCP"
  }
}

resource "aws_lb_target_group_attachment" "bootstrap" {
  for_each         = var.create_nlb ? { for b in module.layout.brokers : b.key => b } : {}
  target_group_arn = aws_lb_target_group.bootstrap[0].arn
  target_id        = each.value.address
  port             = var.kafka_port
}

resource "aws_lb_listener" "bootstrap" {
  count             = var.create_nlb ? 1 : 0
  load_balancer_arn = aws_lb.bootstrap[0].arn
  port              = var.kafka_port
  protocol          = "TCP"
  tags              = local.tags

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.bootstrap[0].arn
  }
}
