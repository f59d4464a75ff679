# Maestro on Google Cloud: everything one `terraform apply` creates in an empty project.
# Read ../README.md first; variables are in variables.tf.

terraform {
  required_version = ">= 1.5"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 7.0"
    }
  }
}

provider "google" {
  project = var.project
  region  = var.region
}

data "google_project" "this" {
  project_id = var.project
}

locals {
  # Cloud Run gives every service a URL fixed by its name, project number and region, so the
  # OIDC audiences, push endpoints and the tick job can name a service before it exists.
  run_url = {
    for s in ["maestro-scheduler", "maestro-worker", "maestro-api"] :
    s => "https://${s}-${data.google_project.this.number}.${var.region}.run.app"
  }
  bucket           = var.bucket != "" ? var.bucket : "${var.project}-maestro"
  image            = "${var.region}-docker.pkg.dev/${var.project}/maestro"
  pubsub_agent     = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
  push_tasks       = var.worker_mode == "push"
  push_completions = var.completions_mode == "push"
}

resource "google_project_service" "apis" {
  for_each = toset([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "bigquery.googleapis.com",
    "cloudscheduler.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "storage.googleapis.com",
  ])
  service            = each.value
  disable_on_destroy = false
}

resource "google_artifact_registry_repository" "maestro" {
  repository_id = "maestro"
  location      = var.region
  format        = "DOCKER"
  description   = "Maestro service images (deploy/docker)."
  depends_on    = [google_project_service.apis]
}

# Extracts and exports. Uniform access: only IAM decides who reads objects.
resource "google_storage_bucket" "maestro" {
  name                        = local.bucket
  location                    = var.bq_location
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  lifecycle_rule {
    condition {
      age            = var.object_retention_days
      matches_prefix = ["extracts/", "imports/"] # the importer stages its Parquet files under imports/
    }
    action {
      type = "Delete"
    }
  }
  depends_on = [google_project_service.apis]
}
