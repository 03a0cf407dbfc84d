# One cloud of a riftdrill deployment on GCP: network, GCS buckets (reached by AutoMQ through
# the S3-compatible XML API with an HMAC key), a bucket-scoped service account and the nodes.
# The node layout (fixed addresses, node ids, quorum, the broker template's values) comes from
# ../node-layout, so the KRaft quorum is known at plan time and laid out as on every other cloud.

module "layout" {
  source = "../node-layout"

  node_id_base             = var.node_id_base
  controller_count         = var.controller_count
  broker_count             = var.broker_count
  zones                    = var.zones
  subnet_cidrs             = [var.subnet_cidr] # one regional subnet spans the three zones
  kafka_port               = var.kafka_port
  controller_port          = var.controller_port
  controller_quorum_voters = var.controller_quorum_voters
  kafka_settings           = var.kafka_settings
  security                 = var.security
  secrets_dir              = var.secrets_dir
}

locals {
  labels = merge(var.labels, {
    "riftdrill-drill-target" = "true"
    "riftdrill-cloud"        = "gcp"
    "riftdrill-name"         = var.name
  })
  bucket_location = var.bucket_location != null ? var.bucket_location : upper(var.region)

  # Which nodes exist, their node.id, zone and fixed address: one rule for every cloud.
  nodes = module.layout.nodes

  gcs_endpoint = "https://storage.googleapis.com"
  # private.googleapis.com: Google's documented VIP for Private Google Access
  private_googleapis_cidr = "199.36.153.8/30"
  private_googleapis_ips  = ["199.36.153.8", "199.36.153.9", "199.36.153.10", "199.36.153.11"]
  # AutoMQ speaks S3 to GCS's XML API (why that works, and what is unverified: README.md,
  # "AutoMQ on GCS"); the HMAC key reaches it as KAFKA_S3_ACCESS_KEY/SECRET_KEY. Path-style
  # addressing: storage.googleapis.com/<bucket>, no per-bucket host name to resolve.
  automq_query = "region=${var.region}&endpoint=${local.gcs_endpoint}&pathStyle=true&authType=static"

  node_properties = { for k, values in module.layout.template_values : k => templatefile(
    "${path.module}/../../templates/${var.engine}/server.properties.tftpl",
    merge(values, {
      data_buckets = "0@s3://${google_storage_bucket.data.name}?${local.automq_query}"
      ops_buckets  = "1@s3://${google_storage_bucket.ops.name}?${local.automq_query}"
      wal_path     = "0@s3://${google_storage_bucket.data.name}?${local.automq_query}"
    })
  ) }

  # Fetches the HMAC secret from Secret Manager with the VM's own identity at boot, so the
  # secret is never in instance metadata (which any process on the VM and any project viewer reads).
  credentials_script = templatefile("${path.module}/../../templates/cloud-init/gcs-hmac-credentials.sh.tftpl", {
    access_id   = google_storage_hmac_key.nodes.access_id
    secret_path = "${google_secret_manager_secret.hmac.id}/versions/latest"
  })

  node_user_data = { for k, n in local.nodes : k => templatefile(
    "${path.module}/../../templates/cloud-init/broker.yaml.tftpl",
    {
      engine                 = var.engine
      engine_version         = var.engine_version
      engine_url             = var.engine_url
      engine_sha256          = var.engine_sha256
      cluster_id             = var.cluster_id
      node_name              = "${var.name}-${k}"
      server_properties_b64  = base64encode(local.node_properties[k])
      credentials_script_b64 = base64encode(var.engine == "automq" ? local.credentials_script : "#!/bin/sh\nexit 0\n")
      heap_opts              = n.roles == "controller" ? "-Xms1g -Xmx1g" : "-Xms4g -Xmx4g"
      secrets_dir            = var.secrets_dir
      # google_compute_instance.node attaches the data disk as device "data".
      data_device = "/dev/disk/by-id/google-data"
    }
  ) }
}

################################################################################
# APIs the module needs (kept enabled on destroy: other things in the project may use them)
################################################################################

resource "google_project_service" "this" {
  for_each           = var.enable_apis ? toset(["compute.googleapis.com", "storage.googleapis.com", "secretmanager.googleapis.com", "iam.googleapis.com", "dns.googleapis.com"]) : toset([])
  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

################################################################################
# Network
################################################################################

resource "google_compute_network" "this" {
  depends_on              = [google_project_service.this]
  project                 = var.project_id
  name                    = var.name
  auto_create_subnetworks = false
  routing_mode            = "GLOBAL"
}

resource "google_compute_subnetwork" "nodes" {
  project                  = var.project_id
  name                     = "${var.name}-nodes"
  region                   = var.region
  network                  = google_compute_network.this.id
  ip_cidr_range            = var.subnet_cidr
  private_ip_google_access = true # GCS and Secret Manager without external addresses

  log_config {
    aggregation_interval = "INTERVAL_10_MIN"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_router" "nat" {
  count   = var.enable_cloud_nat ? 1 : 0
  project = var.project_id
  name    = "${var.name}-nat"
  region  = var.region
  network = google_compute_network.this.id
}

resource "google_compute_router_nat" "this" {
  count                              = var.enable_cloud_nat ? 1 : 0
  project                            = var.project_id
  name                               = var.name
  router                             = google_compute_router.nat[0].name
  region                             = var.region
  nat_ip_allocate_option             = "AUTO_ONLY"
  source_subnetwork_ip_ranges_to_nat = "LIST_OF_SUBNETWORKS"

  subnetwork {
    name                    = google_compute_subnetwork.nodes.id
    source_ip_ranges_to_nat = ["ALL_IP_RANGES"]
  }

  log_config {
    enable = true
    filter = "ERRORS_ONLY"
  }
}

################################################################################
# Firewall: the same narrow intent as the AWS security group
################################################################################

resource "google_compute_firewall" "cluster" {
  project     = var.project_id
  name        = "${var.name}-cluster"
  network     = google_compute_network.this.id
  description = "Kafka and controller listeners from this cloud's nodes and the peer cloud"
  direction   = "INGRESS"
  priority    = 1000

  source_ranges = concat([var.subnet_cidr], var.peer_cidrs)
  target_tags   = ["${var.name}-node"]

  allow {
    protocol = "tcp"
    ports    = [tostring(var.kafka_port), tostring(var.controller_port)]
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_firewall" "clients" {
  count       = length(var.client_cidrs) > 0 ? 1 : 0
  project     = var.project_id
  name        = "${var.name}-clients"
  network     = google_compute_network.this.id
  description = "Kafka listener from declared client networks"
  direction   = "INGRESS"
  priority    = 1000

  source_ranges = var.client_cidrs
  target_tags   = ["${var.name}-node"]

  allow {
    protocol = "tcp"
    ports    = [tostring(var.kafka_port)]
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

# The link-sever drill's switches: deny rules above every allow, created disabled. The driver
# enables them (one per direction) and disables them on heal; Terraform ignores the flag so an
# apply in the middle of a drill does not heal it behind the drill's back.
resource "google_compute_firewall" "sever" {
  for_each    = { in = "INGRESS", out = "EGRESS" }
  project     = var.project_id
  name        = "${var.link_name}-sever-${each.key}"
  network     = google_compute_network.this.id
  description = "riftdrill link-sever drill (${lower(each.value)}); disabled unless a drill is running"
  direction   = each.value
  priority    = 10
  disabled    = true

  source_ranges      = each.value == "INGRESS" ? var.peer_cidrs : null
  destination_ranges = each.value == "EGRESS" ? var.peer_cidrs : null

  deny {
    protocol = "all"
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }

  # The driver also writes the sever's deadline at the end of the description (rules carry no
  # labels; riftdrill.cloud.reaper): an apply mid-drill must not drop it either.
  lifecycle {
    ignore_changes = [disabled, description]
  }
}

################################################################################
# GCS through the private.googleapis.com VIP, and the store-outage drill's switch
################################################################################

# The network resolves storage.googleapis.com to the private.googleapis.com VIP (Private Google
# Access; the network's default route to the internet gateway carries it), so GCS has one
# fixed, documented range here instead of Google's many public ones. That is what lets a
# firewall rule take GCS away from the nodes the way an outage does: requests time out.
resource "google_dns_managed_zone" "storage" {
  depends_on  = [google_project_service.this]
  project     = var.project_id
  name        = "${var.name}-storage-googleapis"
  dns_name    = "storage.googleapis.com."
  description = "GCS through the private.googleapis.com VIP (riftdrill store-outage drill)"
  visibility  = "private"
  labels      = local.labels

  private_visibility_config {
    networks {
      network_url = google_compute_network.this.id
    }
  }
}

resource "google_dns_record_set" "storage" {
  project      = var.project_id
  managed_zone = google_dns_managed_zone.storage.name
  name         = "storage.googleapis.com."
  type         = "A"
  ttl          = 300
  rrdatas      = local.private_googleapis_ips
}

# The block-object-store drill's switch: an egress deny from the nodes to the VIP, above every
# allow, created disabled. The driver enables it (its deadline at the end of the description,
# like the sever rules) and disables it on heal; the reaper disables it past that deadline.
resource "google_compute_firewall" "store_outage" {
  project     = var.project_id
  name        = "${var.name}-store-outage"
  network     = google_compute_network.this.id
  description = "riftdrill block-object-store drill: the nodes lose GCS; disabled unless a drill is running"
  direction   = "EGRESS"
  priority    = 10
  disabled    = true

  destination_ranges = [local.private_googleapis_cidr]
  target_tags        = ["${var.name}-node"]

  deny {
    protocol = "all"
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }

  lifecycle {
    ignore_changes = [disabled, description]
  }
}

################################################################################
# Object storage and the identity that may use it
################################################################################

resource "random_id" "bucket_suffix" {
  byte_length = 4
}

resource "google_storage_bucket" "ops" {
  #checkov:skip=CKV_GCP_62:this is the access-log sink; logging it into itself would loop
  project                     = var.project_id
  name                        = "${var.name}-ops-${random_id.bucket_suffix.hex}"
  location                    = local.bucket_location
  force_destroy               = var.force_destroy_buckets
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  labels                      = merge(local.labels, { "riftdrill-bucket" = "ops" })

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      age = var.ops_retention_days
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 1
    }
    action {
      type = "Delete"
    }
  }
}

resource "google_storage_bucket" "data" {
  #checkov:skip=CKV_GCP_78:AutoMQ rewrites and deletes its objects; versions would only cost
  project                     = var.project_id
  name                        = "${var.name}-data-${random_id.bucket_suffix.hex}"
  location                    = local.bucket_location
  force_destroy               = var.force_destroy_buckets
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  labels                      = merge(local.labels, { "riftdrill-bucket" = "data" })

  # No versioning: AutoMQ compacts and deletes its own objects; old versions would only cost.
  versioning {
    enabled = false
  }

  logging {
    log_bucket        = google_storage_bucket.ops.name
    log_object_prefix = "access-logs/data"
  }

  # Multipart (XML API) uploads abandoned by killed brokers.
  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }
}

resource "google_service_account" "nodes" {
  project      = var.project_id
  account_id   = "${var.name}-nodes"
  display_name = "riftdrill ${var.name} nodes"
  description  = "Identity of riftdrill's brokers and controllers: their own buckets and HMAC secret, nothing else"
}

resource "google_storage_bucket_iam_member" "nodes" {
  for_each = { data = google_storage_bucket.data.name, ops = google_storage_bucket.ops.name }
  bucket   = each.value
  role     = "roles/storage.objectUser"
  member   = google_service_account.nodes.member
}

# AutoMQ reaches GCS through the S3-compatible API, which authenticates with HMAC keys. The
# block-object-store drill deactivates this key (and heal re-activates it).
resource "google_storage_hmac_key" "nodes" {
  project               = var.project_id
  service_account_email = google_service_account.nodes.email
  state                 = "ACTIVE"

  lifecycle {
    ignore_changes = [state]
  }
}

resource "google_secret_manager_secret" "hmac" {
  depends_on = [google_project_service.this]
  project    = var.project_id
  secret_id  = "${var.name}-hmac-secret"
  labels     = local.labels

  replication {
    user_managed {
      replicas {
        location = var.region
      }
    }
  }
}

resource "google_secret_manager_secret_version" "hmac" {
  secret      = google_secret_manager_secret.hmac.id
  secret_data = google_storage_hmac_key.nodes.secret
}

resource "google_secret_manager_secret_iam_member" "nodes" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.hmac.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.nodes.member
}

################################################################################
# Nodes
################################################################################

# Each node's data disk, mounted by the cloud-init at /var/lib/riftdrill (log.dirs' parent);
# formatted once when blank, never again. A disk of its own, not the boot disk: it survives
# an instance replacement only if detached first, but never shares space with the OS.
resource "google_compute_disk" "data" {
  #checkov:skip=CKV_GCP_37:customer-supplied keys would have to be handed to Terraform in clear; disks use Google-managed encryption
  for_each = local.nodes
  project  = var.project_id
  name     = "${var.name}-${each.key}-data"
  zone     = each.value.zone
  type     = "pd-balanced"
  size     = var.data_disk_size_gb
  labels   = merge(local.labels, { "riftdrill-node-id" = tostring(each.value.node_id) })
}

resource "google_compute_instance" "node" {
  #checkov:skip=CKV_GCP_38:customer-supplied keys would have to be handed to Terraform in clear; disks use Google-managed encryption
  for_each       = local.nodes
  project        = var.project_id
  name           = "${var.name}-${each.key}"
  zone           = each.value.zone
  machine_type   = each.value.roles == "controller" ? var.controller_machine_type : var.broker_machine_type
  tags           = ["${var.name}-node"]
  labels         = merge(local.labels, { "riftdrill-node-id" = tostring(each.value.node_id), "riftdrill-roles" = each.value.roles })
  can_ip_forward = false

  boot_disk {
    initialize_params {
      image  = var.image
      size   = var.boot_disk_size_gb
      type   = "pd-balanced"
      labels = local.labels
    }
  }

  # Seen by the guest as /dev/disk/by-id/google-data (the cloud-init's data_device).
  attached_disk {
    source      = google_compute_disk.data[each.key].id
    device_name = "data"
  }

  network_interface {
    subnetwork = google_compute_subnetwork.nodes.id
    network_ip = each.value.address
    # No access_config: no external address.
  }

  service_account {
    email  = google_service_account.nodes.email
    scopes = ["cloud-platform"] # narrowed by the service account's IAM bindings, not by scopes
  }

  shielded_instance_config {
    enable_secure_boot          = true
    enable_vtpm                 = true
    enable_integrity_monitoring = true
  }

  metadata = {
    # Ubuntu images run cloud-init on user-data: the same document the EC2 nodes get.
    user-data              = local.node_user_data[each.key]
    startup-script         = "#!/bin/sh\ncloud-init status --wait >/dev/null 2>&1 || true\nsystemctl is-active --quiet riftdrill-engine || systemctl start riftdrill-engine\n"
    block-project-ssh-keys = "true"
    enable-oslogin         = "TRUE"
  }

  scheduling {
    on_host_maintenance = "MIGRATE"
    automatic_restart   = true
  }

  # Drills stop, suspend and start instances; Terraform must not undo that on the next apply.
  lifecycle {
    ignore_changes = [desired_status, metadata["user-data"], boot_disk[0].initialize_params[0].image]
  }

  depends_on = [google_secret_manager_secret_version.hmac, google_storage_bucket_iam_member.nodes]
}
