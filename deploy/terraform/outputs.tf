output "api_url" {
  description = "The API's URL (maestro CLI: --api)."
  value       = google_cloud_run_v2_service.api.uri
}

output "scheduler_url" {
  description = "The scheduler's URL, which Cloud Scheduler calls."
  value       = google_cloud_run_v2_service.scheduler.uri
}

output "image_repository" {
  description = "Where to push the images: REPOSITORY/{scheduler,worker,api}:TAG."
  value       = local.image
}

output "bucket" {
  description = "The extracts and exports bucket."
  value       = google_storage_bucket.maestro.name
}
