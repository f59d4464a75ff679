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
	// Kind is "query" (SQL is GoogleSQL run in the warehouse) or "import" (SQL is a query in the
	// source database's own dialect, run there, its rows loaded into the table). Defaults to
	// "query".
	Kind string `json:"kind"`
	// Import configures an import table; nil for other kinds.
	Import *Import `json:"import,omitempty"`
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
}

// Export writes the built table to a file in object storage, and then, optionally, tells
// another system where it is.
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
	// Callback, when set, is POSTed a signed JSON message naming the file once it is written.
	Callback *Callback `json:"callback,omitempty"`
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
	SlackChannel string   `json:"slack_channel,omitempty"`
	Webhooks     []string `json:"webhooks,omitempty"`
	// SlackToken references (env:NAME, file:PATH, secretmanager:...) the Slack bot token, never
	// the token itself. Empty: env:SLACK_BOT_TOKEN.
	SlackToken string `json:"slack_token,omitempty"`
	// Routes send some tables' messages to other channels: the first route that matches a table
	// wins; a table no route matches goes to SlackChannel.
	Routes []NotifyRoute `json:"routes,omitempty"`
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
