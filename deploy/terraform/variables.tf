variable "project" {
  description = "Google Cloud project id to deploy into (MAESTRO_PROJECT)."
  type        = string
}

variable "region" {
  description = "Region of the Cloud Run services, Artifact Registry and the Cloud Scheduler job."
  type        = string
  default     = "europe-west1"
}

variable "image_tag" {
  description = "Tag of the images pushed to REGION-docker.pkg.dev/PROJECT/maestro/{scheduler,worker,api}."
  type        = string
  default     = "latest"
}

variable "bq_location" {
  description = "BigQuery location of the jobs (MAESTRO_BQ_LOCATION); also the bucket's location."
  type        = string
  default     = "US"
}

variable "bucket" {
  description = "Cloud Storage bucket for extracts and exports (MAESTRO_BUCKET). Defaults to PROJECT-maestro."
  type        = string
  default     = ""
}

variable "object_retention_days" {
  description = "Days after which staged files (objects under extracts/ and imports/) are deleted."
  type        = number
  default     = 7
}

variable "firestore_database" {
  description = "Firestore database id (MAESTRO_FIRESTORE_DATABASE)."
  type        = string
  default     = "(default)"
}

variable "create_firestore_database" {
  description = "Create the Firestore database; false when the project has one already."
  type        = bool
  default     = true
}

variable "firestore_location" {
  description = "Location of a new Firestore database (nam5, eur3, or a region)."
  type        = string
  default     = "nam5"
}

variable "worker_mode" {
  description = "pull: a Cloud Run worker pool pulls tasks; push: Pub/Sub pushes them to a worker service (MAESTRO_WORKER_MODE)."
  type        = string
  default     = "pull"
  validation {
    condition     = contains(["pull", "push"], var.worker_mode)
    error_message = "worker_mode must be pull or push."
  }
}

variable "completions_mode" {
  description = "pull: the scheduler pulls completions and keeps one instance; push: Pub/Sub pushes them (MAESTRO_COMPLETIONS_MODE)."
  type        = string
  default     = "pull"
  validation {
    condition     = contains(["pull", "push"], var.completions_mode)
    error_message = "completions_mode must be pull or push."
  }
}

variable "workers" {
  description = "Tasks one worker instance runs at once (MAESTRO_WORKERS)."
  type        = number
  default     = 8
}

variable "worker_instances" {
  description = "Worker instances: the worker pool's count in pull mode, the maximum in push mode."
  type        = number
  default     = 1
}

variable "lease" {
  description = "A worker's lease on a running node (MAESTRO_LEASE)."
  type        = string
  default     = "60s"
}

variable "max_parallel" {
  description = "Nodes running at once across all runs (MAESTRO_MAX_PARALLEL)."
  type        = number
  default     = 16
}

variable "default_dataset" {
  description = "Dataset of table names written without one (MAESTRO_DEFAULT_DATASET)."
  type        = string
  default     = ""
}

variable "log_level" {
  description = "debug, info, warn or error (MAESTRO_LOG_LEVEL)."
  type        = string
  default     = "info"
}

variable "tick_schedule" {
  description = "Cron schedule of the call to the scheduler's /tick."
  type        = string
  default     = "* * * * *"
}

variable "api_invokers" {
  description = "IAM members allowed to call the API service, e.g. [\"group:data@example.com\"]."
  type        = list(string)
  default     = []
}
