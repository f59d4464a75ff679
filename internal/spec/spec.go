// Package spec holds the definitions users write: tables, schedules, connections and the
// project settings around them. The project folder (package project) and the API produce these;
// the store keeps them with their revisions.
package spec

import "time"

// Disposition says what a query does to its destination table.
type Disposition string

const (
	// DispositionTruncate replaces the table's contents. The default.
	DispositionTruncate Disposition = "truncate"
	// DispositionAppend appends the query's rows.
	DispositionAppend Disposition = "append"
)

// Table is the definition of one table: its SQL and options.
type Table struct {
	// Name is "dataset.table", lowercase.
	Name string `json:"name"`
	// SQL is the table's SELECT (or script), plain GoogleSQL.
	SQL string `json:"sql"`
	// Kind is "query" (SQL is GoogleSQL run in the warehouse), "import" (SQL is a query in the
	// source database's own dialect, run there, its rows loaded into the table) or "external"
	// (an outside system uploads the rows during each run; SQL holds at most comments).
	// Defaults to "query".
	Kind string `json:"kind"`
	// Import configures an import table; nil for other kinds.
	Import *Import `json:"import,omitempty"`
	// External configures an external table; nil for other kinds.
	External *External `json:"external,omitempty"`
	// Exports run, in order, each time the table is built.
	Exports     []Export `json:"exports,omitempty"`
	Description string   `json:"description,omitempty"`
	Owner       string   `json:"owner,omitempty"`
	Group       string   `json:"group,omitempty"`
	// Schedules are the names of the schedules that run this table.
	Schedules   []string    `json:"schedules,omitempty"`
	Disposition Disposition `json:"disposition,omitempty"`
	// PartitionBy is a column or expression (e.g. "DATE(created_at)"); empty means unpartitioned.
	PartitionBy string   `json:"partition_by,omitempty"`
	ClusterBy   []string `json:"cluster_by,omitempty"`
	// Retries is how many more attempts follow a failed one. Defaults to the project's default.
	Retries int `json:"retries"`
	// RetryBackoff is the wait before the first retry; it doubles each attempt. Defaults to 30s.
	RetryBackoff time.Duration `json:"retry_backoff,omitempty"`
	// Conditions further restrict when a scheduled run includes this table.
	Conditions Conditions `json:"conditions,omitempty"`
	// ReadsPrevious names tables whose previous run this table reads (a date-offset read):
	// they add no dependency edge, so A reading yesterday's B and B reading today's A is no cycle.
	ReadsPrevious []string `json:"reads_previous,omitempty"`
	// File is where the definition came from (for error messages), if from a project folder.
	File string `json:"file,omitempty"`
}

// Import says where an import table's rows come from.
type Import struct {
	// Connection names the project's connection to the source database.
	Connection string `json:"connection"`
	// Watermark, when set, makes the import incremental: only rows whose value in this column
	// (an integer or a timestamp, growing) is greater than the greatest one already in the table
	// are read and appended. Empty: every run re-imports the whole result (truncate).
	Watermark string `json:"watermark,omitempty"`
	// OnSchemaChange is what an incremental import does when its result's columns no longer fit
	// the table (a column removed, or its type changed): SchemaChangeFail (the default) or
	// SchemaChangeFullRefresh. New columns are always added.
	OnSchemaChange string `json:"on_schema_change,omitempty"`
	// FullRefresh, when set, makes an incremental import re-import everything (truncate) when it
	// starts at a time the conditions allow, in FullRefresh.TimeZone.
	FullRefresh *FullRefresh `json:"full_refresh,omitempty"`
}

// What an incremental import does when the source's columns change incompatibly.
const (
	// SchemaChangeFail fails the import, naming the table, the column and both types.
	SchemaChangeFail = "fail"
	// SchemaChangeFullRefresh re-imports the whole result, replacing the table and its schema.
	SchemaChangeFullRefresh = "full_refresh"
)

// FullRefresh is when an incremental import re-imports in full: at the times Conditions allow,
// in TimeZone (an IANA name; empty means UTC).
type FullRefresh struct {
	Conditions
	TimeZone string `json:"time_zone,omitempty"`
}

// External says what an outside system uploads for an external table, and how long a run
// waits for it.
type External struct {
	// Format is "csv" or "json" (newline-delimited, one object per line).
	Format string `json:"format"`
	// Timeout is how long a run waits for the upload, from when the table first starts waiting
	// in that run; then the table fails.
	Timeout time.Duration `json:"timeout"`
	// Header says the first line of a CSV file names the columns (it is not loaded as data).
	Header bool `json:"header,omitempty"`
	// Schema gives the columns and their GoogleSQL types; empty means detect them from the file.
	Schema []Column `json:"schema,omitempty"`
}

// Column is a named, typed column (a GoogleSQL type name such as INT64 or STRING).
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Export writes the built table to a file in object storage, a Google Sheet or a PostgreSQL
// table, and then, optionally, tells another system where it is. A file export has Format and
// Path; a sheet or PostgreSQL export has Sheet or Postgres instead, and no Format or Path.
type Export struct {
	// Format is "csv", "json" (newline-delimited) or "parquet".
	Format string `json:"format"`
	// Path is the object key of the file, relative to the bucket; {table} (dataset.table) and
	// {run} (the run id) are replaced, so that runs do not overwrite each other's files.
	Path string `json:"path"`
	// Header writes a header row (csv only).
	Header bool `json:"header,omitempty"`
	// Gzip compresses the file (csv and json).
	Gzip bool `json:"gzip,omitempty"`
	// Sheet, when set, writes the table to a new tab of a Google Sheet.
	Sheet *SheetExport `json:"sheet,omitempty"`
	// Postgres, when set, replaces a PostgreSQL table with the table's rows.
	Postgres *PostgresExport `json:"postgres,omitempty"`
	// Callback, when set, is POSTed a signed JSON message naming the file (or the tab, or the
	// PostgreSQL table) once it is written.
	Callback *Callback `json:"callback,omitempty"`
}

// SheetExport writes each build to a new tab, named by the run's time, of a Google Sheet.
type SheetExport struct {
	SpreadsheetID string `json:"spreadsheet_id"`
	// KeepTabs is how many of this export's tabs survive, the new one included. 0 means 10.
	KeepTabs int `json:"keep_tabs,omitempty"`
	// CredentialsRef references (env:NAME, file:PATH, secretmanager:...) a service account's
	// JSON key; empty means the service's own (default) credentials.
	CredentialsRef string `json:"credentials_ref,omitempty"`
}

// PostgresExport replaces a PostgreSQL table with the built table's rows, in one transaction.
type PostgresExport struct {
	// Connection names one of the project's connections, of driver postgres.
	Connection string `json:"connection"`
	// Table is "schema.table" or "table" (schema public), used exactly as written (case kept).
	Table string `json:"table"`
}

// Callback is an HTTP endpoint told when an export is done.
type Callback struct {
	URL string `json:"url"`
	// SecretRef references (env:NAME, file:PATH, secretmanager:...) the key that signs the
	// message, never the key itself.
	SecretRef string `json:"secret_ref"`
}

// Conditions restrict the times at which a scheduled run includes a table. An empty list means
// any. Values: months 1-12, weekdays 0-6 (Sunday = 0), days of month 1-31, hours 0-23, all in the
// schedule's time zone.
type Conditions struct {
	Months   []int `json:"months,omitempty"`
	Weekdays []int `json:"weekdays,omitempty"`
	Days     []int `json:"days,omitempty"`
	Hours    []int `json:"hours,omitempty"`
}

// Allows reports whether the conditions allow a run at t (already in the schedule's zone).
func (c Conditions) Allows(t time.Time) bool {
	return in(c.Months, int(t.Month())) && in(c.Weekdays, int(t.Weekday())) &&
		in(c.Days, t.Day()) && in(c.Hours, t.Hour())
}

func in(list []int, v int) bool {
	if len(list) == 0 {
		return true
	}
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// Schedule is a named cron schedule.
type Schedule struct {
	Name string `json:"name"`
	// Cron is a five-field cron expression (minute hour day-of-month month day-of-week), or a
	// descriptor such as @daily or @every 1h.
	Cron string `json:"cron"`
	// TimeZone is an IANA zone name. Defaults to UTC.
	TimeZone    string `json:"time_zone,omitempty"`
	Description string `json:"description,omitempty"`
	// MaxParallel bounds the nodes of one run of this schedule running at once. 0: no bound.
	MaxParallel int `json:"max_parallel,omitempty"`
}

// Connection is a named source database. Its secret is a reference (env:NAME, file:PATH,
// secretmanager:projects/p/secrets/s/versions/v), never the secret itself.
type Connection struct {
	Name      string `json:"name"`
	Driver    string `json:"driver"` // postgres, mysql, sqlite
	SecretRef string `json:"secret_ref"`
	// Seed is a SQL script (a path relative to the project folder) that maestro dev runs in the
	// source before the first run, to give examples a real database to import from. Production
	// ignores it.
	Seed string `json:"seed,omitempty"`
}

// Notify lists where failures and run summaries go.
type Notify struct {
	SlackChannel string    `json:"slack_channel,omitempty"`
	Webhooks     []Webhook `json:"webhooks,omitempty"`
	// SlackToken references (env:NAME, file:PATH, secretmanager:...) the Slack bot token, never
	// the token itself. Empty: env:SLACK_BOT_TOKEN.
	SlackToken string `json:"slack_token,omitempty"`
	// Routes send some tables' messages to other channels: the first route that matches a table
	// wins; a table no route matches goes to SlackChannel.
	Routes []NotifyRoute `json:"routes,omitempty"`
}

// Webhook is an HTTP endpoint told about runs and failed tables, in messages signed like export
// callbacks.
type Webhook struct {
	URL string `json:"url"`
	// SecretRef references (env:NAME, file:PATH, secretmanager:...) the key that signs the
	// messages, never the key itself.
	SecretRef string `json:"secret_ref"`
	// Events are the events it receives (run.started, run.finished, run.failed, table.failed);
	// empty means all.
	Events []string `json:"events,omitempty"`
}

// NotifyRoute matches tables by name, owner group or schedule (every criterion it sets must
// match) and names the Slack channel their messages go to.
type NotifyRoute struct {
	// Tables are table names or patterns ("sales.*", "*.daily_*").
	Tables   []string `json:"tables,omitempty"`
	Group    string   `json:"group,omitempty"`
	Schedule string   `json:"schedule,omitempty"`
	// SlackChannel receives the matched tables' failures and cost alerts; a route with only a
	// schedule also receives that schedule's run summaries.
	SlackChannel string `json:"slack_channel"`
}

// Pricing says how warehouse statistics turn into money. Model empty: cost unknown (never
// guessed).
type Pricing struct {
	// Model is "on_demand" (bytes billed) or "editions" (slot time).
	Model          string  `json:"model,omitempty"`
	USDPerTiB      float64 `json:"usd_per_tib,omitempty"`
	USDPerSlotHour float64 `json:"usd_per_slot_hour,omitempty"`
	// EstimateWarnUSD: a saved table whose dry-run estimate costs more is warned about. 0: never.
	EstimateWarnUSD float64 `json:"estimate_warn_usd,omitempty"`
	// AnomalyMultiple: a table whose run costs more than this many times its recent median is
	// alerted on. 0: no alerts.
	AnomalyMultiple float64 `json:"anomaly_multiple,omitempty"`
	// AnomalyRuns is how many recent successful runs the median is taken over.
	AnomalyRuns int `json:"anomaly_runs,omitempty"`
}

// Project is a whole project: settings plus every definition.
type Project struct {
	DefaultProject string `json:"default_project"`
	DefaultDataset string `json:"default_dataset"`
	// DefaultSchedule names the schedule of tables that do not list their own; empty means such
	// tables run only when asked.
	DefaultSchedule string `json:"default_schedule,omitempty"`
	// MaxParallel bounds nodes running at once across all runs. Defaults to 4.
	MaxParallel int `json:"max_parallel"`
	// DefaultRetries applies to tables that do not set retries. Defaults to 2.
	DefaultRetries int          `json:"default_retries"`
	Schedules      []Schedule   `json:"schedules"`
	Connections    []Connection `json:"connections"`
	Notify         Notify       `json:"notify"`
	Pricing        Pricing      `json:"pricing,omitzero"`
	Tables         []Table      `json:"tables"`
}
