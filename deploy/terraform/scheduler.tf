# Cloud Scheduler calls the scheduler's POST /tick every minute with an OIDC token of the tick
# account; the scheduler starts the runs that fell due since the last tick.
resource "google_cloud_scheduler_job" "tick" {
  name             = "maestro-tick"
  region           = var.region
  schedule         = var.tick_schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = "60s"
  retry_config {
    retry_count = 1
  }
  http_target {
    http_method = "POST"
    uri         = "${local.run_url["maestro-scheduler"]}/tick"
    oidc_token {
      service_account_email = google_service_account.tick.email
      audience              = local.run_url["maestro-scheduler"]
    }
  }
  depends_on = [google_project_service.apis]
}
