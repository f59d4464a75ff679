package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/devmode"
	"github.com/maestro-sql/maestro/internal/engine"
	"github.com/maestro-sql/maestro/internal/project"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/webui"
)

type devFlags struct {
	once       bool
	tables     []string
	downstream bool
	schedules  []string
	resume     string
	stateDir   string
	addr       string
	logFormat  string
	workers    int
	sources    []string
}

func newDevCmd() *cobra.Command {
	var f devFlags
	cmd := &cobra.Command{
		Use:   "dev [DIR]",
		Short: "Run scheduler, workers and the HTTP server in one process on embedded backends",
		Long: `dev runs a whole Maestro in one process: the store on SQLite, the queue in memory, the
warehouse on DuckDB and objects in a local folder, all kept in the state folder (--state).
DIR is a project folder; it defaults to examples/quickstart.

With --once it runs every schedule once now (finishing first any run a previous process left
unfinished), prints a summary, and exits 0 only if every node succeeded. --schedule picks
schedules; --table runs only those tables (with --downstream, and everything downstream of
them); --resume RUN re-runs the failed and skipped nodes of a failed run.

While it runs, the HTTP server answers:
  GET  /healthz, GET /            health and the web UI (sign in with the link printed at start)
  /api/v1/...                     the JSON API (GET /api/v1/openapi.json describes it): tables,
                                  schedules, connections, runs, uploads of external tables,
                                  users and tokens
  GET  /dev/callbacks             the export callbacks its own receiver accepted (POST: receive)

The API wants a token (Authorization: Bearer). On first start dev makes an admin user
(dev@localhost) and a token of theirs, prints it once and keeps it in the state folder
(api-token), where maestro push, maestro upload and the other client commands find it.

An external table waits, in each run, for a file that another system uploads through these
routes (see internal/project/README.md), up to its timeout; maestro upload does it by hand.

A connection with a seed script (maestro.yaml) reads, unless its secret resolves, a SQLite
database made in the state folder from that script. --source [NAME=]DSN points a connection
elsewhere (NAME may be left out when the project has one connection, or one with a seed): a
postgres:// URL, a MySQL DSN (user@tcp(host:3306)/db) or a SQLite file; its seed runs there too.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "examples/quickstart"
			if len(args) == 1 {
				dir = args[0]
			}
			return runDev(cmd.Context(), dir, f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().BoolVar(&f.once, "once", false, "run every schedule once now, print a summary and exit")
	cmd.Flags().StringSliceVar(&f.schedules, "schedule", nil, "with --once: run these schedules (default: all)")
	cmd.Flags().StringSliceVar(&f.tables, "table", nil, "with --once: run these tables (dataset.table) instead of schedules")
	cmd.Flags().BoolVar(&f.downstream, "downstream", false, "with --table: also run everything downstream of the tables")
	cmd.Flags().StringVar(&f.resume, "resume", "", "with --once: resume this failed run")
	cmd.Flags().StringVar(&f.stateDir, "state", ".maestro", "folder holding the store, warehouse and objects (delete it to start over)")
	cmd.Flags().StringVar(&f.addr, "addr", "127.0.0.1:8080", "HTTP listen address (empty: no HTTP server)")
	cmd.Flags().StringVar(&f.logFormat, "log-format", "console", "log format: console or json")
	cmd.Flags().IntVar(&f.workers, "workers", 0, "tasks run at once (default: the project's max_parallel)")
	cmd.Flags().StringArrayVar(&f.sources, "source", nil, "[NAME=]DSN: read connection NAME from this database instead (repeatable)")
	return cmd
}

func runDev(ctx context.Context, dir string, f devFlags, stdout, stderr io.Writer) error {
	log, err := newLogger(f.logFormat, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	p, err := project.Load(ctx, dir)
	if err != nil {
		return fmt.Errorf("error loading project %s:\n%w", dir, err)
	}
	if _, err := project.Graph(p); err != nil {
		return fmt.Errorf("error in the dependency graph of %s: %w", dir, err)
	}
	sources, err := parseSources(p, f.sources)
	if err != nil {
		return err
	}
	sys, err := devmode.Open(ctx, devmode.Config{StateDir: f.stateDir, Project: p, Workers: f.workers,
		ProjectDir: dir, Sources: sources, SheetsEndpoint: os.Getenv("MAESTRO_SHEETS_ENDPOINT"),
		SlackAPIURL: os.Getenv(devmode.SlackAPIURLEnv), UIURL: uiURL(f.addr)}, log)
	if err != nil {
		return err
	}
	defer sys.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	loopsDone := make(chan error, 1)
	go func() {
		loopsDone <- sys.Run(ctx, engine.SchedulerLoops{SweepEvery: time.Second, NoTick: f.once})
	}()

	if f.addr != "" {
		srv, err := serveStatus(ctx, f.addr, f.stateDir, sys, log, stderr)
		if err != nil {
			return err
		}
		defer srv.Close()
	}

	if !f.once {
		log.Info("maestro dev is running; Ctrl-C stops it", zap.String("project", dir), zap.String("state", f.stateDir))
		<-ctx.Done()
		cancel()
		return <-loopsDone
	}

	runs, err := runOnce(ctx, sys, p.Schedules, f, log)
	cancel()
	if lerr := <-loopsDone; lerr != nil && err == nil {
		err = lerr
	}
	if err != nil {
		return err
	}
	ok, err := printSummary(context.Background(), stdout, sys.Store, runs)
	if err != nil {
		return err
	}
	if !ok {
		return exitError{code: 1}
	}
	return nil
}

// runOnce first waits for runs a previous process left unfinished (they resume on their own:
// the sweeper recovers their nodes), then does what the flags ask: resume a run, run some
// tables, or run each schedule that had no unfinished run, one after another, so that a
// schedule reading another's tables finds them built.
func runOnce(ctx context.Context, sys *devmode.System, schedules []spec.Schedule, f devFlags, log *zap.Logger) ([]string, error) {
	for _, name := range f.schedules {
		if !slices.ContainsFunc(schedules, func(s spec.Schedule) bool { return s.Name == name }) {
			return nil, fmt.Errorf("unknown schedule %q: maestro.yaml defines %s", name, scheduleNames(schedules))
		}
	}
	unfinished, err := sys.Store.RunList(ctx, &store.RunListParams{State: run.RunRunning})
	if err != nil {
		return nil, fmt.Errorf("error listing unfinished runs: %w", err)
	}
	var ids []string
	covered := map[string]bool{}
	for i := len(unfinished) - 1; i >= 0; i-- {
		r := unfinished[i]
		log.Info("finishing a run left unfinished", zap.String("run_id", r.ID), zap.String("schedule", r.Schedule))
		if err := waitForRun(ctx, sys.Store, r.ID); err != nil {
			return ids, err
		}
		ids = append(ids, r.ID)
		covered[r.Schedule] = true
	}
	start := func(r *run.Run, err error) error {
		if err != nil {
			return err
		}
		ids = append(ids, r.ID)
		return waitForRun(ctx, sys.Store, r.ID)
	}
	switch {
	case f.resume != "":
		return ids, start(sys.Scheduler.Resume(ctx, f.resume, "dev"))
	case len(f.tables) > 0:
		return ids, start(sys.Scheduler.Start(ctx, scheduler.StartParams{
			Tables: f.tables, WithDownstream: f.downstream, Trigger: run.TriggerManual, User: "dev"}))
	}
	for _, s := range schedules {
		if covered[s.Name] || (len(f.schedules) > 0 && !slices.Contains(f.schedules, s.Name)) {
			continue
		}
		r, err := sys.Scheduler.Start(ctx, scheduler.StartParams{Schedule: s.Name, Trigger: run.TriggerManual, User: "dev", At: time.Now()})
		if errors.Is(err, scheduler.ErrNothingToRun) {
			log.Info("schedule has no table to run now", zap.String("schedule", s.Name))
			continue
		}
		if err := start(r, err); err != nil {
			return ids, fmt.Errorf("error running schedule %q: %w", s.Name, err)
		}
	}
	return ids, nil
}

// parseSources reads --source values: NAME=DSN, or a bare DSN for the project's only connection
// (or its only seeded one). A DSN may itself hold '=' (key=value PostgreSQL strings): a prefix
// counts as a name only when it names a connection.
func parseSources(p *spec.Project, values []string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range values {
		name, dsn, ok := strings.Cut(v, "=")
		if !ok || !slices.ContainsFunc(p.Connections, func(c spec.Connection) bool { return c.Name == name }) {
			name, dsn = "", v
			var seeded []string
			for _, c := range p.Connections {
				if c.Seed != "" {
					seeded = append(seeded, c.Name)
				}
			}
			switch {
			case len(p.Connections) == 1:
				name = p.Connections[0].Name
			case len(seeded) == 1:
				name = seeded[0]
			case len(p.Connections) == 0:
				return nil, errors.New("--source: the project defines no connection (maestro.yaml connections)")
			default:
				names := make([]string, len(p.Connections))
				for i, c := range p.Connections {
					names[i] = c.Name
				}
				// The DSN is not echoed: it may hold a password.
				return nil, fmt.Errorf("--source: say which connection it is for, as NAME=DSN (connections: %s)", strings.Join(names, ", "))
			}
		}
		if strings.TrimSpace(dsn) == "" {
			return nil, fmt.Errorf("--source for connection %q: empty DSN", name)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("--source given twice for connection %q", name)
		}
		out[name] = dsn
	}
	return out, nil
}

func scheduleNames(schedules []spec.Schedule) string {
	if len(schedules) == 0 {
		return "no schedule"
	}
	names := make([]string, len(schedules))
	for i, s := range schedules {
		names[i] = strconv.Quote(s.Name)
	}
	return strings.Join(names, ", ")
}

func waitForRun(ctx context.Context, st store.Store, id string) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		r, err := st.RunGet(ctx, id)
		if err != nil {
			return fmt.Errorf("error reading run %q: %w", id, err)
		}
		if r.State.Terminal() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// printSummary prints one line per node of the given runs and reports whether all succeeded.
func printSummary(ctx context.Context, w io.Writer, st store.Store, runIDs []string) (bool, error) {
	allOK := true
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tNODE\tSTATE\tATTEMPT\tDURATION\tROWS\tBYTES")
	for _, id := range runIDs {
		r, err := st.RunGet(ctx, id)
		if err != nil {
			return false, fmt.Errorf("error reading run %q: %w", id, err)
		}
		nodes, err := st.NodeList(ctx, id)
		if err != nil {
			return false, fmt.Errorf("error listing nodes of run %q: %w", id, err)
		}
		for _, n := range nodes {
			if n.State != run.NodeSucceeded {
				allOK = false
			}
			dur := "-"
			if !n.StartedAt.IsZero() && !n.FinishedAt.IsZero() {
				dur = n.FinishedAt.Sub(n.StartedAt).Round(time.Millisecond).String()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%d\n", id, n.Name, n.State, n.Attempt, dur, n.Stats.Rows, n.Stats.BytesProcessed)
			if n.Error != "" {
				fmt.Fprintf(tw, "\t  error:\t%s\t\t\t\t\n", firstLine(n.Error))
			}
		}
		if r.State != run.RunSucceeded {
			allOK = false
		}
	}
	if err := tw.Flush(); err != nil {
		return false, err
	}
	if len(runIDs) == 0 {
		fmt.Fprintln(w, "no run: no schedule has a table to run")
	}
	return allOK, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// Timeouts of maestro dev's HTTP server; the API sets tighter (or, for uploads, looser)
// deadlines per route.
const (
	devReadHeaderTimeout = 5 * time.Second
	devIdleTimeout       = 2 * time.Minute
)

func serveStatus(ctx context.Context, addr, stateDir string, sys *devmode.System, log *zap.Logger, stderr io.Writer) (*http.Server, error) {
	token, err := ensureDevToken(ctx, sys.Store, stateDir, stderr)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("error listening on %s (use --addr to pick another, or --addr '' for none): %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle(devmode.CallbackPath, &devmode.Receiver{Key: sys.CallbackKey, Log: log})
	// External tables' files are PUT to the API itself, into the object folder. The web UI's
	// sign-in link carries a one-time code for the admin token, never the token.
	codes := webui.NewSignInCodes(time.Now)
	code, err := codes.Issue(token)
	if err != nil {
		return nil, err
	}
	mux.Handle("/", service.API(sys.Store, sys.Scheduler, log, service.APIConfig{
		External: service.ExternalConfig{Bucket: sys.Objects}, SignInCodes: codes,
		Pricing: sys.Project.Pricing, History: sys.History,
		ExportURL:      func(_ context.Context, key string) (string, error) { return sys.FileURL(key) },
		DefaultProject: sys.Project.DefaultProject, DefaultDataset: sys.Project.DefaultDataset,
		Slack: slackConfig(sys), TriggerKey: sys.TriggerKey}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: devReadHeaderTimeout, IdleTimeout: devIdleTimeout}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", zap.Error(err))
		}
	}()
	log.Info("serving the web UI and API", zap.String("url", "http://"+ln.Addr().String()+"/"))
	// The code rides in the fragment, which the browser keeps to itself: it reaches no server
	// log, and the sign-in page removes it from the address bar and history.
	fmt.Fprintf(stderr, "Web UI: sign in at http://%s/signin#code=%s (the link works once)\n", ln.Addr().String(), code)
	return srv, nil
}

// slackConfig serves Slack's buttons and /maestro when SLACK_SIGNING_SECRET is set.
func slackConfig(sys *devmode.System) service.SlackConfig {
	sc := service.SlackConfig{SigningSecret: sys.SlackSigningSecret}
	if sys.SlackBotToken != "" {
		sc.Users = service.SlackWebUsers(sys.SlackUsersAPIURL, sys.SlackBotToken, nil)
	}
	return sc
}

// uiURL is the base URL of maestro dev's own pages, for links in notifications.
func uiURL(addr string) string {
	if addr == "" {
		return ""
	}
	return "http://" + addr
}

// devUser is the admin maestro dev's token acts as.
const devUser = "dev@localhost"

// ensureDevToken returns the admin token dev keeps in its state folder, making the user and
// the token on first start (or when the store no longer accepts the kept one) and printing it
// then, once.
func ensureDevToken(ctx context.Context, st store.Store, stateDir string, stderr io.Writer) (string, error) {
	path := filepath.Join(stateDir, devTokenFile)
	if b, err := os.ReadFile(path); err == nil {
		if raw := strings.TrimSpace(string(b)); service.TokenValid(ctx, st, raw) {
			return raw, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("error reading the API token: %w", err)
	}
	if _, err := st.UserGet(ctx, devUser); errors.Is(err, store.ErrNotFound) {
		if err := st.UserPut(ctx, store.User{Email: devUser, Name: "maestro dev", Role: "admin"}); err != nil {
			return "", err
		}
	} else if err != nil {
		return "", err
	}
	raw, _, err := service.NewToken(ctx, st, devUser, "maestro dev", time.Now())
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(raw+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("error keeping the API token: %w", err)
	}
	fmt.Fprintf(stderr, "API token (admin %s), shown once and kept in %s:\n  %s\n", devUser, path, raw)
	return raw, nil
}
