# The three services. Each reads the environment variables of internal/config (the table in
# ../README.md). PORT is set by Cloud Run itself. ../run/*.yaml define the same services for
# `gcloud run services replace`; the deploy tests keep both in step.

resource "google_cloud_run_v2_service" "scheduler" {
  name                = "maestro-scheduler"
  location            = var.region
  deletion_protection = false
  # Only Cloud Scheduler and Pub/Sub push (both internal sources in this project) call it.
  ingress = "INGRESS_TRAFFIC_INTERNAL_ONLY"
  template {
    service_account = google_service_account.scheduler.email
    timeout         = "60s"
    scaling {
      # Pulling completions needs an instance that is always there, with CPU between requests.
      min_instance_count = local.push_completions ? 0 : 1
      max_instance_count = 3
    }
    containers {
      image = "${local.image}/scheduler:${var.image_tag}"
      resources {
        limits            = { cpu = "1", memory = "512Mi" }
        cpu_idle          = local.push_completions
        startup_cpu_boost = true
      }
      env {
        name  = "MAESTRO_PROJECT"
        value = var.project
      }
      env {
        name  = "MAESTRO_FIRESTORE_DATABASE"
        value = var.firestore_database
      }
      env {
        name  = "MAESTRO_COMPLETIONS_MODE"
        value = var.completions_mode
      }
      env {
        name  = "MAESTRO_PUSH_AUDIENCE"
        value = local.run_url["maestro-scheduler"]
      }
      env {
        name  = "MAESTRO_PUSH_SERVICE_ACCOUNT"
        value = google_service_account.push.email
      }
      env {
        name  = "MAESTRO_TICK_SERVICE_ACCOUNT"
        value = google_service_account.tick.email
      }
      env {
        name  = "MAESTRO_MAX_PARALLEL"
        value = tostring(var.max_parallel)
      }
      env {
        name  = "MAESTRO_DEFAULT_DATASET"
        value = var.default_dataset
      }
      env {
        name  = "MAESTRO_LOG_LEVEL"
        value = var.log_level
      }
      startup_probe {
        http_get {
          path = "/healthz"
        }
      }
    }
  }
  depends_on = [google_project_iam_member.datastore_user]
}

resource "google_cloud_run_v2_service" "api" {
  name                = "maestro-api"
  location            = var.region
  deletion_protection = false
  ingress             = "INGRESS_TRAFFIC_ALL"
  template {
    service_account = google_service_account.api.email
    scaling {
      min_instance_count = 0
      max_instance_count = 5
    }
    containers {
      image = "${local.image}/api:${var.image_tag}"
      resources {
        limits            = { cpu = "1", memory = "512Mi" }
        startup_cpu_boost = true
      }
      env {
        name  = "MAESTRO_PROJECT"
        value = var.project
      }
      env {
        name  = "MAESTRO_FIRESTORE_DATABASE"
        value = var.firestore_database
      }
      env {
        name  = "MAESTRO_BUCKET"
        value = google_storage_bucket.maestro.name
      }
      env {
        name  = "MAESTRO_BQ_LOCATION"
        value = var.bq_location
      }
      env {
        name  = "MAESTRO_MAX_PARALLEL"
        value = tostring(var.max_parallel)
      }
      env {
        name  = "MAESTRO_DEFAULT_DATASET"
        value = var.default_dataset
      }
      env {
        name  = "MAESTRO_LOG_LEVEL"
        value = var.log_level
      }
      startup_probe {
        http_get {
          path = "/healthz"
        }
      }
    }
  }
  depends_on = [google_project_iam_member.datastore_user]
}

# Push mode: Pub/Sub delivers each task as an HTTP request; Cloud Run scales on them.
resource "google_cloud_run_v2_service" "worker" {
  count               = local.push_tasks ? 1 : 0
  name                = "maestro-worker"
  location            = var.region
  deletion_protection = false
  ingress             = "INGRESS_TRAFFIC_INTERNAL_ONLY"
  template {
    service_account = google_service_account.worker.email
    # A push delivery waits for its task; the push ack deadline is at most 600 s.
    timeout                          = "600s"
    max_instance_request_concurrency = var.workers
    scaling {
      min_instance_count = 0
      max_instance_count = var.worker_instances
    }
    containers {
      image = "${local.image}/worker:${var.image_tag}"
      resources {
        limits            = { cpu = "1", memory = "1Gi" }
        startup_cpu_boost = true
      }
      env {
        name  = "MAESTRO_PROJECT"
        value = var.project
      }
      env {
        name  = "MAESTRO_FIRESTORE_DATABASE"
        value = var.firestore_database
      }
      env {
        name  = "MAESTRO_BUCKET"
        value = google_storage_bucket.maestro.name
      }
      env {
        name  = "MAESTRO_BQ_LOCATION"
        value = var.bq_location
      }
      env {
        name  = "MAESTRO_WORKER_MODE"
        value = "push"
      }
      env {
        name  = "MAESTRO_PUSH_AUDIENCE"
        value = local.run_url["maestro-worker"]
      }
      env {
        name  = "MAESTRO_PUSH_SERVICE_ACCOUNT"
        value = google_service_account.push.email
      }
      env {
        name  = "MAESTRO_WORKERS"
        value = tostring(var.workers)
      }
      env {
        name  = "MAESTRO_LEASE"
        value = var.lease
      }
      env {
        name  = "MAESTRO_DEFAULT_DATASET"
        value = var.default_dataset
      }
      env {
        name  = "MAESTRO_LOG_LEVEL"
        value = var.log_level
      }
      startup_probe {
        http_get {
          path = "/healthz"
        }
      }
    }
  }
  depends_on = [google_project_iam_member.datastore_user]
}

# Pull mode (the default): a worker pool, with no URL, pulls tasks; each instance runs
# var.workers at once. Scale it by changing worker_instances.
resource "google_cloud_run_v2_worker_pool" "worker" {
  count               = local.push_tasks ? 0 : 1
  name                = "maestro-worker"
  location            = var.region
  deletion_protection = false
  scaling {
    manual_instance_count = var.worker_instances
  }
  template {
    service_account = google_service_account.worker.email
    containers {
      image = "${local.image}/worker:${var.image_tag}"
      resources {
        limits = { cpu = "1", memory = "1Gi" }
      }
      env {
        name  = "MAESTRO_PROJECT"
        value = var.project
      }
      env {
        name  = "MAESTRO_FIRESTORE_DATABASE"
        value = var.firestore_database
      }
      env {
        name  = "MAESTRO_BUCKET"
        value = google_storage_bucket.maestro.name
      }
      env {
        name  = "MAESTRO_BQ_LOCATION"
        value = var.bq_location
      }
      env {
        name  = "MAESTRO_WORKER_MODE"
        value = "pull"
      }
      env {
        name  = "MAESTRO_WORKERS"
        value = tostring(var.workers)
      }
      env {
        name  = "MAESTRO_LEASE"
        value = var.lease
      }
      env {
        name  = "MAESTRO_DEFAULT_DATASET"
        value = var.default_dataset
      }
      env {
        name  = "MAESTRO_LOG_LEVEL"
        value = var.log_level
      }
    }
  }
  depends_on = [google_project_iam_member.datastore_user]
}
