# The in-cloud half of riftdrill's fault expiry on GCP: a Cloud Function (2nd gen), called by
# Cloud Scheduler every minute, that undoes every fault of this deployment whose deadline has
# passed (riftdrill.cloud.reaper, the module the unit tests run; packaged as main.py).
#
# Why a function and not a timer on a VM: nothing to patch or keep running, the same shape as
# the AWS Lambda, and a broker VM cannot be its own reaper (a stopped VM runs no timer).

locals {
  function = "${var.name}-fault-reaper"
  source   = var.reaper_source != null ? var.reaper_source : "${path.module}/../../../src/riftdrill/cloud/reaper.py"
  labels   = merge(var.labels, { "riftdrill-component" = "fault-reaper" })
  services = ["cloudfunctions.googleapis.com", "run.googleapis.com", "cloudbuild.googleapis.com",
  "artifactregistry.googleapis.com", "cloudscheduler.googleapis.com"]
}

resource "google_project_service" "this" {
  for_each = toset(local.services)

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false # other workloads of the project may use them
}

data "archive_file" "reaper" {
  type        = "zip"
  output_path = "${path.root}/.terraform/${local.function}.zip"

  source {
    content  = file(local.source)
    filename = "main.py"
  }
  source {
    # What the GCP half imports (the versions riftdrill's own tests run with).
    content  = "google-cloud-compute==1.57.0\ngoogle-cloud-storage==3.17.1\n"
    filename = "requirements.txt"
  }
}

resource "google_storage_bucket_object" "source" {
  name   = "riftdrill/fault-reaper/${data.archive_file.reaper.output_md5}.zip"
  bucket = var.marker_bucket
  source = data.archive_file.reaper.output_path
}

################################################################################
# Identities: the reaper's, and the scheduler's (which may only invoke it)
################################################################################

resource "google_service_account" "reaper" {
  project      = var.project_id
  account_id   = local.function
  display_name = "riftdrill fault reaper (${var.deployment})"
}

resource "google_service_account" "scheduler" {
  project      = var.project_id
  account_id   = "${var.name}-reaper-cron"
  display_name = "riftdrill fault reaper schedule (${var.deployment})"
}

# Exactly what a heal does. GCE IAM cannot condition on instance labels, so the VM permissions
# hold in the project (the allow-listed drill project); the code touches only VMs labelled
# riftdrill-deployment=<deployment>, and the rules and bucket it is given.
resource "google_project_iam_custom_role" "reaper" {
  project     = var.project_id
  role_id     = replace("${var.name}_fault_reaper", "-", "_")
  title       = "riftdrill fault reaper (${var.deployment})"
  description = "Start/resume riftdrill's stopped VMs, disable its sever rules, re-activate its HMAC key"
  permissions = [
    "compute.instances.list", "compute.instances.get", "compute.instances.start",
    "compute.instances.resume", "compute.instances.setLabels", "compute.zoneOperations.get",
    "compute.firewalls.get", "compute.firewalls.update", "compute.networks.updatePolicy",
    "compute.globalOperations.get", "storage.hmacKeys.get", "storage.hmacKeys.update",
  ]
}

resource "google_project_iam_member" "reaper" {
  project = var.project_id
  role    = google_project_iam_custom_role.reaper.id
  member  = "serviceAccount:${google_service_account.reaper.email}"
}

resource "google_project_iam_custom_role" "markers" {
  project     = var.project_id
  role_id     = replace("${var.name}_fault_markers", "-", "_")
  title       = "riftdrill fault markers (${var.deployment})"
  description = "Read and delete the store blocks' deadline markers"
  permissions = ["storage.objects.list", "storage.objects.get", "storage.objects.delete"]
}

resource "google_storage_bucket_iam_member" "markers" {
  bucket = var.marker_bucket
  role   = google_project_iam_custom_role.markers.id
  member = "serviceAccount:${google_service_account.reaper.email}"
}

################################################################################
# The function and its schedule
################################################################################

resource "google_cloudfunctions2_function" "this" {
  project     = var.project_id
  location    = var.region
  name        = local.function
  description = "riftdrill: undoes the deployment's faults whose deadline has passed"
  labels      = local.labels

  build_config {
    runtime     = "python312"
    entry_point = "gcp_handler"
    source {
      storage_source {
        bucket = var.marker_bucket
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    max_instance_count    = 1 # one reaper at a time
    available_memory      = "256M"
    timeout_seconds       = 50 # inside the one-minute schedule
    service_account_email = google_service_account.reaper.email
    ingress_settings      = "ALLOW_INTERNAL_ONLY" # Cloud Scheduler's calls count as internal
    environment_variables = {
      RIFTDRILL_GCP_PROJECT    = var.project_id
      RIFTDRILL_DEPLOYMENT     = var.deployment
      RIFTDRILL_FIREWALLS      = join(",", var.firewall_names)
      RIFTDRILL_MARKER_BUCKETS = var.marker_bucket
    }
  }

  depends_on = [google_project_service.this]
}

resource "google_cloud_run_service_iam_member" "scheduler" {
  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.this.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.scheduler.email}"
}

resource "google_cloud_scheduler_job" "this" {
  project          = var.project_id
  region           = var.region
  name             = local.function
  description      = "riftdrill fault reaper schedule (${var.deployment})"
  schedule         = var.schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = "60s"

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.this.service_config[0].uri

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = google_cloudfunctions2_function.this.service_config[0].uri
    }
  }

  depends_on = [google_cloud_run_service_iam_member.scheduler]
}
