# One service account per service and per caller identity, each with the least it needs.
# Pub/Sub roles are granted on the one topic or subscription used, storage roles on the bucket;
# only Firestore and BigQuery roles are project-wide (their data spans the project).

resource "google_service_account" "scheduler" {
  account_id   = "maestro-scheduler"
  display_name = "Maestro scheduler (Cloud Run service)"
  depends_on   = [google_project_service.apis]
}

resource "google_service_account" "worker" {
  account_id   = "maestro-worker"
  display_name = "Maestro worker (Cloud Run worker pool or service)"
  depends_on   = [google_project_service.apis]
}

resource "google_service_account" "api" {
  account_id   = "maestro-api"
  display_name = "Maestro API (Cloud Run service)"
  depends_on   = [google_project_service.apis]
}

# The identity Pub/Sub push deliveries carry; the services accept only its tokens.
resource "google_service_account" "push" {
  account_id   = "maestro-push"
  display_name = "Maestro Pub/Sub push identity"
  depends_on   = [google_project_service.apis]
}

# The identity Cloud Scheduler calls POST /tick with.
resource "google_service_account" "tick" {
  account_id   = "maestro-tick"
  display_name = "Maestro Cloud Scheduler identity"
  depends_on   = [google_project_service.apis]
}

# --- project-wide: Firestore and BigQuery -------------------------------------------------

resource "google_project_iam_member" "datastore_user" {
  for_each = {
    scheduler = google_service_account.scheduler.email
    worker    = google_service_account.worker.email
    api       = google_service_account.api.email
  }
  project = var.project
  role    = "roles/datastore.user"
  member  = "serviceAccount:${each.value}"
}

resource "google_project_iam_member" "bigquery_job_user" {
  for_each = {
    worker = google_service_account.worker.email
    api    = google_service_account.api.email # dry runs
  }
  project = var.project
  role    = "roles/bigquery.jobUser"
  member  = "serviceAccount:${each.value}"
}

# Workers write the tables they build. Narrow this to datasets with
# google_bigquery_dataset_iam_member if Maestro builds only some of the project's datasets.
resource "google_project_iam_member" "worker_bigquery_data_editor" {
  project = var.project
  role    = "roles/bigquery.dataEditor"
  member  = "serviceAccount:${google_service_account.worker.email}"
}

# --- Pub/Sub: publish to one topic, consume one subscription --------------------------------

resource "google_pubsub_topic_iam_member" "tasks_publisher" {
  for_each = {
    scheduler = google_service_account.scheduler.email
    api       = google_service_account.api.email # "run now"
  }
  topic  = google_pubsub_topic.tasks.name
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${each.value}"
}

resource "google_pubsub_topic_iam_member" "completions_publisher" {
  topic  = google_pubsub_topic.completions.name
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${google_service_account.worker.email}"
}

resource "google_pubsub_subscription_iam_member" "tasks_subscriber" {
  subscription = google_pubsub_subscription.tasks.name
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${google_service_account.worker.email}"
}

resource "google_pubsub_subscription_iam_member" "completions_subscriber" {
  subscription = google_pubsub_subscription.completions.name
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${google_service_account.scheduler.email}"
}

# Receivers read their subscription's ack deadline, which is their lease on a message.
resource "google_pubsub_subscription_iam_member" "tasks_viewer" {
  subscription = google_pubsub_subscription.tasks.name
  role         = "roles/pubsub.viewer"
  member       = "serviceAccount:${google_service_account.worker.email}"
}

resource "google_pubsub_subscription_iam_member" "completions_viewer" {
  subscription = google_pubsub_subscription.completions.name
  role         = "roles/pubsub.viewer"
  member       = "serviceAccount:${google_service_account.scheduler.email}"
}

# The scheduler reports (logs and counts) what reaches the dead-letter subscriptions, reading
# their ack deadline as any receiver does.
resource "google_pubsub_subscription_iam_member" "tasks_dead_scheduler" {
  subscription = google_pubsub_subscription.tasks_dead.name
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${google_service_account.scheduler.email}"
}

resource "google_pubsub_subscription_iam_member" "completions_dead_scheduler" {
  subscription = google_pubsub_subscription.completions_dead.name
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${google_service_account.scheduler.email}"
}

resource "google_pubsub_subscription_iam_member" "tasks_dead_viewer" {
  subscription = google_pubsub_subscription.tasks_dead.name
  role         = "roles/pubsub.viewer"
  member       = "serviceAccount:${google_service_account.scheduler.email}"
}

resource "google_pubsub_subscription_iam_member" "completions_dead_viewer" {
  subscription = google_pubsub_subscription.completions_dead.name
  role         = "roles/pubsub.viewer"
  member       = "serviceAccount:${google_service_account.scheduler.email}"
}

# --- Cloud Storage ----------------------------------------------------------------------------

resource "google_storage_bucket_iam_member" "worker_object_admin" {
  bucket = google_storage_bucket.maestro.name
  role   = "roles/storage.objectAdmin"
  member = "serviceAccount:${google_service_account.worker.email}"
}

# The API lists and links to exports; it never writes them.
resource "google_storage_bucket_iam_member" "api_object_viewer" {
  bucket = google_storage_bucket.maestro.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.api.email}"
}

# External tables: the API signs upload URLs (a signed URL carries its signer's permissions, and a
# second upload overwrites the first) and marks uploads ready, under external/ only.
resource "google_storage_bucket_iam_member" "api_external_uploads" {
  bucket = google_storage_bucket.maestro.name
  role   = "roles/storage.objectAdmin"
  member = "serviceAccount:${google_service_account.api.email}"
  condition {
    title      = "external-uploads-only"
    expression = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.maestro.name}/objects/external/\")"
  }
}

resource "google_service_account_iam_member" "api_signs_as_itself" {
  service_account_id = google_service_account.api.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${google_service_account.api.email}"
}

# Signed URLs for exports are signed by IAM signBlob as the worker itself (no key to store).
resource "google_service_account_iam_member" "worker_signs_as_itself" {
  service_account_id = google_service_account.worker.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${google_service_account.worker.email}"
}

# --- Who may call whom ------------------------------------------------------------------------

# Pub/Sub mints the push identity's OIDC tokens.
resource "google_service_account_iam_member" "pubsub_mints_push_tokens" {
  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

resource "google_cloud_run_v2_service_iam_member" "tick_invokes_scheduler" {
  name     = google_cloud_run_v2_service.scheduler.name
  location = var.region
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.tick.email}"
}

resource "google_cloud_run_v2_service_iam_member" "push_invokes_scheduler" {
  count    = local.push_completions ? 1 : 0
  name     = google_cloud_run_v2_service.scheduler.name
  location = var.region
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.push.email}"
}

resource "google_cloud_run_v2_service_iam_member" "push_invokes_worker" {
  count    = local.push_tasks ? 1 : 0
  name     = google_cloud_run_v2_service.worker[0].name
  location = var.region
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.push.email}"
}

# Who may call the API is the operator's choice (var.api_invokers): users, groups, a load
# balancer's identity. Nobody by default.
resource "google_cloud_run_v2_service_iam_member" "api_invokers" {
  for_each = toset(var.api_invokers)
  name     = google_cloud_run_v2_service.api.name
  location = var.region
  role     = "roles/run.invoker"
  member   = each.value
}
