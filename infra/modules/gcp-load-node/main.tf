# One load VM in a GCP cloud of a riftdrill deployment: the brokers' subnetwork, no external
# address, reached only through IAP TCP forwarding with OS Login, with object access to one
# prefix of the carrier bucket. The run itself is sent by `riftdrill load`
# (riftdrill.load.remote); cloud-init installs the runtime riftdrill's wheel needs.

locals {
  labels   = merge(var.labels, { "riftdrill-role" = "load" })
  vm_name  = "${var.name}-load"
  iap_tag  = "${var.name}-load-iap"
  carrier  = "gs://${var.carrier_bucket}/${var.carrier_prefix}"
  iap_cidr = "35.235.240.0/20" # the range IAP TCP forwarding connects from (Google documents it)

  user_data = templatefile("${path.module}/../../templates/cloud-init/load-node.yaml.tftpl", {
    cloud   = "gcp"
    carrier = local.carrier
    cli     = "gcloud"
    snap    = "google-cloud-cli"
  })
}

resource "google_service_account" "this" {
  project      = var.project_id
  account_id   = local.vm_name
  display_name = "riftdrill ${var.name} load VM"
  description  = "Identity of riftdrill's load VM: objects under its carrier prefix, nothing else"
}

# Object read/write on the carrier prefix only (an IAM condition; the bucket uses uniform access).
resource "google_storage_bucket_iam_member" "carrier" {
  bucket = var.carrier_bucket
  role   = "roles/storage.objectUser"
  member = google_service_account.this.member

  condition {
    title      = "riftdrill-load-prefix"
    expression = "resource.name.startsWith(\"projects/_/buckets/${var.carrier_bucket}/objects/${var.carrier_prefix}\")"
  }
}

# SSH only from IAP's forwarding range, only to the load VM.
resource "google_compute_firewall" "iap_ssh" {
  project     = var.project_id
  name        = "${local.vm_name}-iap-ssh"
  network     = var.network_id
  description = "SSH to the riftdrill load VM through IAP TCP forwarding only"
  direction   = "INGRESS"
  priority    = 1000

  source_ranges = [local.iap_cidr]
  target_tags   = [local.iap_tag]

  allow {
    protocol = "tcp"
    ports    = ["22"]
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_instance" "this" {
  #checkov:skip=CKV_GCP_38:customer-supplied keys would have to be handed to Terraform in clear; the disk uses Google-managed encryption
  project        = var.project_id
  name           = local.vm_name
  zone           = var.zone
  machine_type   = var.machine_type
  tags           = [local.iap_tag]
  labels         = local.labels
  can_ip_forward = false

  boot_disk {
    initialize_params {
      image  = var.image
      size   = var.boot_disk_size_gb
      type   = "pd-balanced"
      labels = local.labels
    }
  }

  network_interface {
    subnetwork = var.subnetwork_id
    # No access_config: no external address.
  }

  service_account {
    email  = google_service_account.this.email
    scopes = ["cloud-platform"] # narrowed by the service account's IAM binding, not by scopes
  }

  shielded_instance_config {
    enable_secure_boot          = true
    enable_vtpm                 = true
    enable_integrity_monitoring = true
  }

  metadata = {
    user-data              = local.user_data
    block-project-ssh-keys = "true"
    enable-oslogin         = "TRUE"
  }

  # A newer image or a changed cloud-init must not replace a VM a drill may be using.
  lifecycle {
    ignore_changes = [metadata["user-data"], boot_disk[0].initialize_params[0].image]
  }

  depends_on = [google_storage_bucket_iam_member.carrier]
}

# Who may reach it: IAP tunnel, OS Login with sudo, and acting as its service account (OS Login
# requires the latter on a VM that has one).
resource "google_iap_tunnel_instance_iam_member" "operators" {
  for_each = toset(var.operator_members)
  project  = var.project_id
  zone     = var.zone
  instance = google_compute_instance.this.name
  role     = "roles/iap.tunnelResourceAccessor"
  member   = each.value
}

resource "google_compute_instance_iam_member" "operators" {
  for_each      = toset(var.operator_members)
  project       = var.project_id
  zone          = var.zone
  instance_name = google_compute_instance.this.name
  role          = "roles/compute.osAdminLogin"
  member        = each.value
}

resource "google_service_account_iam_member" "operators" {
  for_each           = toset(var.operator_members)
  service_account_id = google_service_account.this.name
  role               = "roles/iam.serviceAccountUser"
  member             = each.value
}
