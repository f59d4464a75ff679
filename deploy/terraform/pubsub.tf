# Topics and subscriptions, named as in internal/engine. Each subscription sends a message that
# failed max_delivery_attempts times to its dead-letter topic, whose own subscription keeps it
# for inspection (a topic without subscriptions drops what it receives). The ack deadlines and
# delivery limits are those internal/cloud creates in tests, so both behave alike.

resource "google_pubsub_topic" "tasks" {
  name       = "maestro-tasks"
  depends_on = [google_project_service.apis]
}

resource "google_pubsub_topic" "tasks_dead" {
  name       = "maestro-tasks-dead"
  depends_on = [google_project_service.apis]
}

resource "google_pubsub_topic" "completions" {
  name       = "maestro-completions"
  depends_on = [google_project_service.apis]
}

resource "google_pubsub_topic" "completions_dead" {
  name       = "maestro-completions-dead"
  depends_on = [google_project_service.apis]
}

# Workers receive tasks: pulled by the worker pool, or pushed to the worker service's
# /push/tasks with an OIDC token of the push account.
resource "google_pubsub_subscription" "tasks" {
  name                       = "maestro-tasks-worker"
  topic                      = google_pubsub_topic.tasks.id
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  expiration_policy {
    ttl = ""
  }
  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.tasks_dead.id
    max_delivery_attempts = 10
  }
  dynamic "push_config" {
    for_each = local.push_tasks ? [1] : []
    content {
      push_endpoint = "${local.run_url["maestro-worker"]}/push/tasks"
      oidc_token {
        service_account_email = google_service_account.push.email
        audience              = local.run_url["maestro-worker"]
      }
    }
  }
}

# The scheduler receives completions: pulled (the scheduler keeps one instance warm), or pushed
# to its /push/completions.
resource "google_pubsub_subscription" "completions" {
  name                       = "maestro-completions-scheduler"
  topic                      = google_pubsub_topic.completions.id
  ack_deadline_seconds       = 30
  message_retention_duration = "604800s"
  expiration_policy {
    ttl = ""
  }
  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.completions_dead.id
    max_delivery_attempts = 10
  }
  dynamic "push_config" {
    for_each = local.push_completions ? [1] : []
    content {
      push_endpoint = "${local.run_url["maestro-scheduler"]}/push/completions"
      oidc_token {
        service_account_email = google_service_account.push.email
        audience              = local.run_url["maestro-scheduler"]
      }
    }
  }
}

resource "google_pubsub_subscription" "tasks_dead" {
  name                       = "maestro-tasks-dead"
  topic                      = google_pubsub_topic.tasks_dead.id
  message_retention_duration = "604800s"
  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_subscription" "completions_dead" {
  name                       = "maestro-completions-dead"
  topic                      = google_pubsub_topic.completions_dead.id
  message_retention_duration = "604800s"
  expiration_policy {
    ttl = ""
  }
}

# Dead-lettering works through Pub/Sub's own service agent: it must be able to publish to the
# dead-letter topics and to acknowledge on the subscriptions it forwards from.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  for_each = {
    tasks       = google_pubsub_topic.tasks_dead.name
    completions = google_pubsub_topic.completions_dead.name
  }
  topic  = each.value
  role   = "roles/pubsub.publisher"
  member = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  for_each = {
    tasks       = google_pubsub_subscription.tasks.name
    completions = google_pubsub_subscription.completions.name
  }
  subscription = each.value
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}
