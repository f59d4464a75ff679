// Package chaos proves Maestro under faults: it runs a generated project on the production
// services — the scheduler, three workers and the api as separate OS processes — on the
// production backends' local servers (the Firestore and Pub/Sub emulators, fake Cloud Storage,
// the BigQuery REST server bqfake, Slack's test server), and injects from a seed: kill -9 of a
// random worker every few seconds and of the scheduler twice (each started again), copies of task
// and completion messages delivered late and out of order, BigQuery transient errors, lost insert
// responses, retryable job failures and slow jobs, and Firestore commit aborts. At the end of each
// run it checks the invariants from BigQuery's job log, the store and Slack (see check).
//
// `maestro chaos` runs it; see README.md.
package chaos
