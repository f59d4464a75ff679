// Package config reads the production services' settings from environment variables, the way
// Cloud Run passes them. Every variable is declared once in Vars, which also renders the table
// in deploy/README.md and is what the deploy tests check the service definitions against.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/maestro-sql/maestro/internal/spec"
)

// Service names one of the three production services.
type Service string

// The services.
const (
	Scheduler Service = "scheduler"
	Worker    Service = "worker"
	API       Service = "api"
)

// Var is one environment variable.
type Var struct {
	Name        string
	Default     string
	Required    bool
	Services    []Service // the services that read it
	Description string
}

var all = []Service{Scheduler, Worker, API}

// maxSignedURLExpiry is the longest validity Cloud Storage accepts for a V4 signed URL
// (gcsblob.MaxSignedURLExpiry, not imported: config stays free of client libraries).
const maxSignedURLExpiry = 7 * 24 * time.Hour

// Vars lists every variable the services read.
var Vars = []Var{
	{Name: "MAESTRO_PROJECT", Required: true, Services: all,
		Description: "Google Cloud project that hosts Maestro's Firestore database, Pub/Sub topics and bucket."},
	{Name: "MAESTRO_FIRESTORE_DATABASE", Default: "(default)", Services: all,
		Description: "Firestore database id."},
	{Name: "MAESTRO_BUCKET", Services: []Service{Worker, API},
		Description: "Cloud Storage bucket for extracts and exports (without gs://)."},
	{Name: "MAESTRO_BQ_PROJECT", Services: []Service{Worker, API},
		Description: "Project that runs BigQuery jobs and is billed for them. Defaults to MAESTRO_PROJECT."},
	{Name: "MAESTRO_BQ_LOCATION", Default: "US", Services: []Service{Worker, API},
		Description: "BigQuery location of the jobs (US, EU, europe-west1, ...)."},
	{Name: "MAESTRO_DEFAULT_PROJECT", Services: all,
		Description: "Project of table names written without one (`dataset.table`). Defaults to MAESTRO_BQ_PROJECT."},
	{Name: "MAESTRO_DEFAULT_DATASET", Services: all,
		Description: "Dataset of table names written without one."},
	{Name: "MAESTRO_WORKER_MODE", Default: "pull", Services: []Service{Worker},
		Description: "pull: a Cloud Run worker pool pulls tasks; push: Pub/Sub pushes them to POST /push/tasks."},
	{Name: "MAESTRO_COMPLETIONS_MODE", Default: "pull", Services: []Service{Scheduler},
		Description: "pull: the scheduler pulls completions (min-instances 1); push: Pub/Sub pushes them to POST /push/completions."},
	{Name: "MAESTRO_PUSH_AUDIENCE", Services: []Service{Scheduler, Worker},
		Description: "Audience of the OIDC tokens Pub/Sub push and Cloud Scheduler send (the service URL). Required in push mode and for /tick."},
	{Name: "MAESTRO_PUSH_SERVICE_ACCOUNT", Services: []Service{Scheduler, Worker},
		Description: "Service account e-mail whose OIDC token Pub/Sub push deliveries must carry."},
	{Name: "MAESTRO_TICK_SERVICE_ACCOUNT", Services: []Service{Scheduler},
		Description: "Service account e-mail whose OIDC token Cloud Scheduler's call to POST /tick must carry."},
	{Name: "MAESTRO_WORKERS", Default: "8", Services: []Service{Worker},
		Description: "Tasks one worker instance runs at once."},
	{Name: "MAESTRO_MAX_PARALLEL", Default: "16", Services: all,
		Description: "Nodes running at once across all runs (workers dispatch what a finished node unlocks, within it)."},
	{Name: "MAESTRO_LEASE", Default: "60s", Services: []Service{Worker},
		Description: "A worker's lease on a running node; it heartbeats at a third of it. A node whose lease lapses is reclaimed by the sweeper."},
	{Name: "MAESTRO_SWEEP_EVERY", Default: "15s", Services: []Service{Scheduler},
		Description: "How often the scheduler sweeps for lost messages and expired leases."},
	{Name: "MAESTRO_REDISPATCH_AFTER", Default: "30s", Services: []Service{Scheduler},
		Description: "A task published (or about to be, by a process that died) and not claimed within this is published again by the sweeper."},
	{Name: "MAESTRO_LOG_LEVEL", Default: "info", Services: all,
		Description: "debug, info, warn or error."},
	{Name: "MAESTRO_SIGNED_URL_SERVICE_ACCOUNT", Services: []Service{Worker, API},
		Description: "Service account whose signature the V4 signed URLs carry: export URLs sent to callbacks (worker), external tables' upload URLs (api). Defaults to the service's own account, which signs through IAM signBlob and needs roles/iam.serviceAccountTokenCreator on itself."},
	{Name: "MAESTRO_SIGNED_URL_KEY", Services: []Service{Worker, API},
		Description: "Secret reference (env:NAME, file:PATH or secretmanager:projects/P/secrets/S) to the PEM private key of MAESTRO_SIGNED_URL_SERVICE_ACCOUNT, to sign without calling IAM. Unset: IAM signBlob signs, and no key has to be kept."},
	{Name: "MAESTRO_SIGNED_URL_EXPIRY", Default: "24h", Services: []Service{Worker},
		Description: "How long an export's signed URL works after the callback is sent; at most 168h (Cloud Storage's limit)."},
	{Name: "MAESTRO_CALLBACK_ALLOW_CIDRS", Services: []Service{Scheduler, Worker, API},
		Description: "Comma-separated address ranges (10.8.0.0/16, 127.0.0.1/32) export callbacks and webhooks may reach although they are refused by default: loopback, private, link-local and the metadata server. Unset: only public addresses."},
	{Name: "MAESTRO_BIGQUERY_ENDPOINT", Services: []Service{Worker, API},
		Description: "Overrides the BigQuery API endpoint (tests and private endpoints); unset in production."},
	{Name: "MAESTRO_INSECURE_SKIP_AUTH", Services: []Service{Scheduler, Worker},
		Description: "true turns off the OIDC checks of /tick and push deliveries; only for local tests, refused when K_SERVICE is set (on Cloud Run)."},
	{Name: "MAESTRO_SLACK_TOKEN", Services: []Service{Scheduler, API},
		Description: "Reference to the Slack bot token (`env:NAME` or `file:PATH`: mount the Secret Manager secret into the service), never the token. Unset: failures and run summaries go to the log. The api service uses it to find the email of whoever presses a button or types /maestro (users.info)."},
	{Name: "MAESTRO_SLACK_SIGNING_SECRET", Services: []Service{API},
		Description: "Reference (`env:NAME`, `file:PATH` or `secretmanager:...`) to the Slack app's signing secret, never the secret. Set: /api/v1/slack/interactions (the buttons of failure and summary messages) and /api/v1/slack/commands (/maestro) accept requests Slack signed; unset, they answer 404."},
	{Name: "MAESTRO_TRIGGER_KEY", Services: []Service{API},
		Description: "Reference (`env:NAME`, `file:PATH` or `secretmanager:...`) to a random key (32 bytes or more) from which each trigger URL's secret is derived, so the store holds none. Unset: no trigger URL can be made. A new key changes every trigger's secret."},
	{Name: "MAESTRO_SLACK_CHANNEL", Services: []Service{Scheduler},
		Description: "Slack channel of failures, run summaries and cost alerts that no route claims."},
	{Name: "MAESTRO_SLACK_ROUTES", Services: []Service{Scheduler},
		Description: "JSON list of routes, as maestro.yaml's `notify.routes`: `[{\"tables\": [\"sales.*\"], \"group\": \"\", \"schedule\": \"\", \"slack_channel\": \"#sales\"}]`."},
	{Name: "MAESTRO_WEBHOOKS", Services: []Service{Scheduler, API},
		Description: "JSON list of webhooks told about runs and failed tables, as maestro.yaml's `notify.webhooks`: `[{\"url\": \"https://...\", \"secret\": \"secretmanager:projects/P/secrets/S\", \"events\": [\"run.failed\", \"table.failed\"]}]` (events: run.started, run.finished, run.failed, table.failed; none: all). Messages are signed like export callbacks; deliveries are listed at GET /runs/{id}/deliveries."},
	{Name: "MAESTRO_SLACK_API_URL", Services: []Service{Scheduler, API},
		Description: "Overrides Slack's Web API URL (tests); unset in production."},
	{Name: "MAESTRO_UI_URL", Services: []Service{Scheduler},
		Description: "Base URL of the UI that Slack messages link tables and runs to. Unset: no links."},
	{Name: "MAESTRO_PRICING", Services: []Service{Scheduler, API},
		Description: "How costs are computed: `on_demand:USD_PER_TIB` (e.g. `on_demand:6.25`) or `editions:USD_PER_SLOT_HOUR` (e.g. `editions:0.06`). Unset: costs are unknown."},
	{Name: "MAESTRO_COST_ANOMALY_MULTIPLE", Default: "3", Services: []Service{Scheduler},
		Description: "Alert in Slack when a table's run costs more than this many times its recent median; 0 turns alerts off."},
	{Name: "MAESTRO_COST_ANOMALY_RUNS", Default: "10", Services: []Service{Scheduler},
		Description: "How many recent successful runs of a table the cost median is taken over (at least 3)."},
	{Name: "MAESTRO_ESTIMATE_WARN_USD", Services: []Service{API},
		Description: "Warn, in the answer to a project push, about each changed table whose dry-run estimate costs more than this many USD. Unset: no estimates."},
	{Name: "MAESTRO_HISTORY_REMOTE", Services: []Service{API},
		Description: "Git repository the history of every table change is pushed to after each sync (https://..., ssh://... or git@host:path): one commit per revision, authored by its user. Empty: no history is kept."},
	{Name: "MAESTRO_HISTORY_BRANCH", Default: "main", Services: []Service{API},
		Description: "Branch of MAESTRO_HISTORY_REMOTE the history is committed to."},
	{Name: "MAESTRO_HISTORY_AUTH", Services: []Service{API},
		Description: "Secret reference (env:NAME or file:PATH) to the history remote's credential: a token (or USER:TOKEN) for https, a PEM private key for ssh. Never the credential itself: Cloud Run exposes a Secret Manager secret as a variable or a file."},
	{Name: "MAESTRO_HISTORY_DIR", Default: "/tmp/maestro-history", Services: []Service{API},
		Description: "Local copy of the history repository; rebuilt from the remote and the store when missing."},
	{Name: "MAESTRO_IAP_AUDIENCE", Services: []Service{API},
		Description: "Audience of Identity-Aware Proxy's signed header (/projects/NUMBER/global/backendServices/ID). Empty: IAP identities are not accepted, only API tokens."},
	{Name: "MAESTRO_IAP_JWKS_URL", Default: "https://www.gstatic.com/iap/verify/public_key-jwk", Services: []Service{API},
		Description: "Where IAP's public keys are published."},
	{Name: "MAESTRO_IAP_DEFAULT_ROLE", Services: []Service{API},
		Description: "Role (viewer or editor) of a person IAP lets in whom Maestro does not know yet. Empty: they are refused until an admin adds them."},
	{Name: "MAESTRO_ADMINS", Services: []Service{API},
		Description: "Comma-separated e-mails made admins when the api service starts (the first admin; others are added through the API)."},
	{Name: "PORT", Default: "8080", Services: all,
		Description: "HTTP port (set by Cloud Run)."},
}

// Config is the parsed environment of one service.
type Config struct {
	Service           Service
	Project           string
	FirestoreDatabase string
	Bucket            string
	BQProject         string
	BQLocation        string
	DefaultProject    string
	DefaultDataset    string
	WorkerMode        string
	CompletionsMode   string
	PushAudience      string
	PushAccount       string
	TickAccount       string
	Workers           int
	MaxParallel       int
	Lease             time.Duration
	SweepEvery        time.Duration
	RedispatchAfter   time.Duration
	LogLevel          string
	BigQueryEndpoint  string
	InsecureSkipAuth  bool
	HistoryRemote     string
	HistoryBranch     string
	HistoryAuth       string
	HistoryDir        string
	Port              int
	// SignerAccount, SignerKeyRef and SignedURLExpiry say how export URLs are signed.
	SignerAccount   string
	SignerKeyRef    string
	SignedURLExpiry time.Duration
	// CallbackAllow are the ranges callbacks may reach beyond public addresses.
	CallbackAllow []netip.Prefix
	// Notifications and costs.
	SlackToken string // a reference, never the token
	// SlackSigningSecret and TriggerKey are references, never the secrets.
	SlackSigningSecret string
	TriggerKey         string
	SlackChannel       string
	SlackRoutes        []spec.NotifyRoute
	Webhooks           []spec.Webhook
	SlackAPIURL        string
	UIURL              string
	Pricing            spec.Pricing
	IAPAudience        string
	IAPJWKSURL         string
	IAPDefaultRole     string
	Admins             []string
}

// Load reads the variables svc uses through getenv (os.Getenv in the services) and checks them.
// The error lists every bad variable at once, by name.
func Load(svc Service, getenv func(string) string) (*Config, error) {
	var errs []error
	get := func(name string) string {
		for _, v := range Vars {
			if v.Name != name {
				continue
			}
			val := strings.TrimSpace(getenv(name))
			if val == "" {
				val = v.Default
			}
			if val == "" && v.Required && uses(v, svc) {
				errs = append(errs, fmt.Errorf("%s is required: %s", name, v.Description))
			}
			return val
		}
		panic("config: undeclared variable " + name) // a programming error, not input
	}
	atoi := func(name string) int {
		s := get(name)
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("%s must be a positive whole number, not %q", name, s))
		}
		return n
	}
	duration := func(name string) time.Duration {
		s := get(name)
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be a positive duration such as 30s or 2m, not %q", name, s))
		}
		return d
	}
	oneOf := func(name string, allowed ...string) string {
		s := strings.ToLower(get(name))
		for _, a := range allowed {
			if s == a {
				return s
			}
		}
		errs = append(errs, fmt.Errorf("%s must be one of %s, not %q", name, strings.Join(allowed, ", "), s))
		return s
	}
	c := &Config{
		Service:           svc,
		Project:           get("MAESTRO_PROJECT"),
		FirestoreDatabase: get("MAESTRO_FIRESTORE_DATABASE"),
		Bucket:            get("MAESTRO_BUCKET"),
		BQProject:         get("MAESTRO_BQ_PROJECT"),
		BQLocation:        get("MAESTRO_BQ_LOCATION"),
		DefaultProject:    get("MAESTRO_DEFAULT_PROJECT"),
		DefaultDataset:    get("MAESTRO_DEFAULT_DATASET"),
		WorkerMode:        oneOf("MAESTRO_WORKER_MODE", "pull", "push"),
		CompletionsMode:   oneOf("MAESTRO_COMPLETIONS_MODE", "pull", "push"),
		PushAudience:      get("MAESTRO_PUSH_AUDIENCE"),
		PushAccount:       get("MAESTRO_PUSH_SERVICE_ACCOUNT"),
		TickAccount:       get("MAESTRO_TICK_SERVICE_ACCOUNT"),
		Workers:           atoi("MAESTRO_WORKERS"),
		MaxParallel:       atoi("MAESTRO_MAX_PARALLEL"),
		Lease:             duration("MAESTRO_LEASE"),
		SweepEvery:        duration("MAESTRO_SWEEP_EVERY"),
		RedispatchAfter:   duration("MAESTRO_REDISPATCH_AFTER"),
		LogLevel:          oneOf("MAESTRO_LOG_LEVEL", "debug", "info", "warn", "error"),
		BigQueryEndpoint:  get("MAESTRO_BIGQUERY_ENDPOINT"),
		HistoryRemote:     get("MAESTRO_HISTORY_REMOTE"),
		HistoryBranch:     get("MAESTRO_HISTORY_BRANCH"),
		HistoryAuth:       get("MAESTRO_HISTORY_AUTH"),
		HistoryDir:        get("MAESTRO_HISTORY_DIR"),
		Port:              atoi("PORT"),
		SignerAccount:     get("MAESTRO_SIGNED_URL_SERVICE_ACCOUNT"),
		SignerKeyRef:      get("MAESTRO_SIGNED_URL_KEY"),
		SignedURLExpiry:   duration("MAESTRO_SIGNED_URL_EXPIRY"),
		IAPAudience:       get("MAESTRO_IAP_AUDIENCE"),
		IAPJWKSURL:        get("MAESTRO_IAP_JWKS_URL"),
		IAPDefaultRole:    strings.ToLower(get("MAESTRO_IAP_DEFAULT_ROLE")),
	}
	if c.SignedURLExpiry > maxSignedURLExpiry {
		errs = append(errs, fmt.Errorf("MAESTRO_SIGNED_URL_EXPIRY must be at most 168h (Cloud Storage refuses longer signed URLs), not %q", get("MAESTRO_SIGNED_URL_EXPIRY")))
	}
	if c.SignerKeyRef != "" && c.SignerAccount == "" {
		errs = append(errs, errors.New("MAESTRO_SIGNED_URL_KEY needs MAESTRO_SIGNED_URL_SERVICE_ACCOUNT, the account the key belongs to"))
	}
	for _, cidr := range strings.Split(get("MAESTRO_CALLBACK_ALLOW_CIDRS"), ",") {
		if cidr = strings.TrimSpace(cidr); cidr == "" {
			continue
		}
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			errs = append(errs, fmt.Errorf("MAESTRO_CALLBACK_ALLOW_CIDRS must list address ranges such as 10.8.0.0/16, not %q", cidr))
			continue
		}
		c.CallbackAllow = append(c.CallbackAllow, p.Masked())
	}
	switch c.IAPDefaultRole {
	case "", "viewer", "editor":
	default:
		errs = append(errs, fmt.Errorf("MAESTRO_IAP_DEFAULT_ROLE must be viewer or editor (or empty), not %q: admins are named by MAESTRO_ADMINS", c.IAPDefaultRole))
	}
	for _, a := range strings.Split(get("MAESTRO_ADMINS"), ",") {
		if a = strings.ToLower(strings.TrimSpace(a)); a != "" {
			if !strings.Contains(a, "@") {
				errs = append(errs, fmt.Errorf("MAESTRO_ADMINS must list e-mail addresses, not %q", a))
			}
			c.Admins = append(c.Admins, a)
		}
	}
	switch skip := strings.ToLower(get("MAESTRO_INSECURE_SKIP_AUTH")); skip {
	case "", "false", "0":
	case "true", "1":
		if getenv("K_SERVICE") != "" {
			errs = append(errs, errors.New("MAESTRO_INSECURE_SKIP_AUTH cannot be set on Cloud Run (K_SERVICE is set): it would let anyone run tasks"))
		}
		c.InsecureSkipAuth = true
	default:
		errs = append(errs, fmt.Errorf("MAESTRO_INSECURE_SKIP_AUTH must be true or false, not %q", skip))
	}
	errs = append(errs, c.loadNotify(get)...)
	if c.HistoryAuth != "" {
		kind, _, _ := strings.Cut(c.HistoryAuth, ":")
		if kind != "env" && kind != "file" {
			// Never echoed: it may be the credential itself.
			errs = append(errs, errors.New("MAESTRO_HISTORY_AUTH must be a secret reference (env:NAME or file:PATH; Cloud Run exposes a Secret Manager secret as either), never the credential itself"))
		}
		if c.HistoryRemote == "" {
			errs = append(errs, errors.New("MAESTRO_HISTORY_AUTH is set but MAESTRO_HISTORY_REMOTE is not"))
		}
	}
	if c.BQProject == "" {
		c.BQProject = c.Project
	}
	if c.DefaultProject == "" {
		c.DefaultProject = c.BQProject
	}
	if !c.InsecureSkipAuth {
		needsAudience := (svc == Worker && c.WorkerMode == "push") || svc == Scheduler
		if needsAudience && c.PushAudience == "" {
			errs = append(errs, fmt.Errorf("MAESTRO_PUSH_AUDIENCE is required by the %s service: %s", svc, varNamed("MAESTRO_PUSH_AUDIENCE").Description))
		}
		if svc == Worker && c.WorkerMode == "push" && c.PushAccount == "" {
			errs = append(errs, errors.New("MAESTRO_PUSH_SERVICE_ACCOUNT is required in push mode: only Pub/Sub's push identity may deliver tasks"))
		}
		if svc == Scheduler && c.CompletionsMode == "push" && c.PushAccount == "" {
			errs = append(errs, errors.New("MAESTRO_PUSH_SERVICE_ACCOUNT is required in push mode: only Pub/Sub's push identity may deliver completions"))
		}
		if svc == Scheduler && c.TickAccount == "" {
			errs = append(errs, errors.New("MAESTRO_TICK_SERVICE_ACCOUNT is required: only Cloud Scheduler's identity may call /tick"))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("invalid %s configuration:\n%w", svc, err)
	}
	return c, nil
}

func uses(v Var, svc Service) bool {
	for _, s := range v.Services {
		if s == svc {
			return true
		}
	}
	return false
}

func varNamed(name string) Var {
	for _, v := range Vars {
		if v.Name == name {
			return v
		}
	}
	return Var{}
}

// Markdown renders Vars as the table of deploy/README.md.
func Markdown() string {
	var b strings.Builder
	b.WriteString("| variable | default | services | meaning |\n|---|---|---|---|\n")
	for _, v := range Vars {
		def := v.Default
		if v.Required {
			def = "required"
		}
		if def != "" {
			def = "`" + def + "`"
		}
		svcs := make([]string, len(v.Services))
		for i, s := range v.Services {
			svcs[i] = string(s)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", v.Name, def, strings.Join(svcs, ", "), v.Description)
	}
	return b.String()
}
