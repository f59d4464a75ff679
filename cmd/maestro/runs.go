package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/service"
)

// The API's own types for runs, their nodes and deliveries: what the server writes, the
// client reads.
type (
	apiRun      = service.RunJSON
	apiNode     = service.NodeJSON
	apiDelivery = service.DeliveryJSON
)

func runPath(id string) string { return "/runs/" + url.PathEscape(id) }

// what names what a run runs: its schedule, else "tables".
func runWhat(r *apiRun) string {
	switch {
	case r.ResumedFrom != "":
		return "resume of " + r.ResumedFrom
	case r.Schedule != "":
		return "schedule " + r.Schedule
	}
	return "tables"
}

// counts says how many nodes are in each state, in the order a run moves through them.
func counts(c map[run.NodeState]int) string {
	var parts []string
	for _, s := range []run.NodeState{run.NodeSucceeded, run.NodeFailed, run.NodeSkipped, run.NodeCancelled, run.NodeRunning, run.NodeReady, run.NodePending} {
		if c[s] > 0 {
			parts = append(parts, strconv.Itoa(c[s])+" "+string(s))
		}
	}
	return strings.Join(parts, ", ")
}

const runsLong = `List the runs of a running Maestro (the api service), newest first: state, what it ran, who
started it, when, how long it took and how its tables ended. --state keeps the runs in one state
(running, succeeded, failed, cancelled).

maestro run starts one, maestro logs RUN shows what each of its tables did.`

func newRunsCmd() *cobra.Command {
	var f apiFlags
	var state string
	var limit int
	cmd := &cobra.Command{
		Use:     "runs",
		Short:   "List runs, newest first",
		Long:    runsLong,
		Example: "  maestro runs --state failed --limit 10",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client(&http.Client{Timeout: time.Minute})
			if err != nil {
				return err
			}
			q := url.Values{"limit": {strconv.Itoa(limit)}}
			if state != "" {
				q.Set("state", state)
			}
			var out struct {
				Runs []apiRun `json:"runs"`
			}
			if err := c.call(cmd.Context(), http.MethodGet, "/runs?"+q.Encode(), nil, &out); err != nil {
				return err
			}
			if len(out.Runs) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no runs")
				return nil
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "RUN\tSTATE\tWHAT\tBY\tSTARTED\tDURATION\tTABLES")
			for _, r := range out.Runs {
				took := "-"
				if r.FinishedAt != nil {
					took = r.FinishedAt.Sub(r.CreatedAt).Round(time.Millisecond).String()
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.State, runWhat(&r), r.CreatedBy,
					r.CreatedAt.UTC().Format("2006-01-02 15:04:05"), took, dash(counts(r.Counts)))
			}
			return w.Flush()
		},
	}
	f.registerAPI(cmd)
	cmd.Flags().StringVar(&state, "state", "", "only runs in this state: running, succeeded, failed or cancelled")
	cmd.Flags().IntVar(&limit, "limit", 20, "at most this many runs (1 to 1000)")
	return cmd
}

const runLong = `Start a run on a running Maestro (the api service): a schedule's tables (maestro run SCHEDULE),
or the tables named with --table (repeatable), with --downstream also every table downstream of
them. It needs an editor's or an admin's token, and prints the run's id.

With --wait it then follows the run until it finishes, printing each table as it ends, and exits
0 when the run succeeded, 1 when it failed or was cancelled (naming the tables that failed), and
2 when it is still running after --timeout (the run goes on; maestro run cancel ID stops it).

maestro run cancel ID cancels a running run; maestro run resume ID re-runs the failed and skipped
tables of a finished run as a new run (--wait follows it).`

type waitFlags struct {
	wait    bool
	timeout time.Duration
	every   time.Duration
}

func (w *waitFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&w.wait, "wait", false, "follow the run until it finishes; exit 1 if it failed")
	cmd.Flags().DurationVar(&w.timeout, "timeout", time.Hour, "with --wait: give up waiting after this long (exit 2)")
	cmd.Flags().DurationVar(&w.every, "poll", 2*time.Second, "with --wait: how often to ask how the run is doing")
}

func newRunCmd() *cobra.Command {
	var f apiFlags
	var wf waitFlags
	var tables []string
	var downstream bool
	cmd := &cobra.Command{
		Use:   "run SCHEDULE | --table T... [--downstream]",
		Short: "Start a run of a schedule or of tables; --wait follows it to the end",
		Long:  runLong,
		Example: "  maestro run daily --wait\n  maestro run --table staging.orders_enriched --downstream --wait --timeout 30m\n" +
			"  maestro run cancel r20261126t060000-4c8253\n  maestro run resume r20261126t060000-4c8253 --wait",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := map[string]any{}
			switch {
			case len(args) == 1 && len(tables) > 0:
				return errors.New("name a schedule or give --table, not both")
			case len(args) == 1:
				if downstream {
					return errors.New("--downstream goes with --table")
				}
				req["schedule"] = args[0]
			case len(tables) > 0:
				for i := range tables {
					tables[i] = strings.ToLower(tables[i])
				}
				req["tables"], req["downstream"] = tables, downstream
			default:
				return errors.New("name a schedule (maestro run daily) or tables (maestro run --table ds.t)")
			}
			c, err := f.client(&http.Client{Timeout: time.Minute})
			if err != nil {
				return err
			}
			var r apiRun
			if err := c.call(cmd.Context(), http.MethodPost, "/runs", req, &r); err != nil {
				return err
			}
			return startedRun(cmd, c, &r, wf)
		},
	}
	f.register(cmd)
	wf.register(cmd)
	cmd.Flags().StringSliceVar(&tables, "table", nil, "run these tables (dataset.table; repeatable) instead of a schedule")
	cmd.Flags().BoolVar(&downstream, "downstream", false, "with --table: also every table downstream of them")
	cmd.AddCommand(newRunCancelCmd(), newRunResumeCmd())
	return cmd
}

// startedRun reports a run just started and, with --wait, follows it.
func startedRun(cmd *cobra.Command, c *apiClient, r *apiRun, wf waitFlags) error {
	fmt.Fprintf(cmd.OutOrStdout(), "started run %s (%s, %d tables)\n", r.ID, runWhat(r), len(r.Nodes))
	if !wf.wait {
		return nil
	}
	return waitRun(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), c, r.ID, wf)
}

// waitRun polls a run until it is over, printing each table as it ends. It returns an
// exitError: 1 when the run did not succeed, 2 when it still runs at the timeout.
func waitRun(ctx context.Context, out, errOut io.Writer, c *apiClient, id string, wf waitFlags) error {
	ctx, cancel := context.WithTimeout(ctx, wf.timeout)
	defer cancel()
	every := max(wf.every, 10*time.Millisecond)
	reported := map[string]bool{}
	for {
		var r apiRun
		err := c.call(ctx, http.MethodGet, runPath(id), nil, &r)
		switch {
		case ctx.Err() != nil:
			fmt.Fprintf(errOut, "run %s is still running after %s; it goes on (maestro run cancel %s stops it)\n", id, wf.timeout, id)
			return exitError{code: 2}
		case err != nil:
			return err
		}
		for _, n := range r.Nodes {
			if n.State.Terminal() && !reported[n.Name] {
				reported[n.Name] = true
				fmt.Fprintf(out, "  %-40s %s%s\n", n.Name, n.State, nodeNote(&n))
			}
		}
		if r.State.Terminal() {
			took := ""
			if r.FinishedAt != nil {
				took = " in " + r.FinishedAt.Sub(r.CreatedAt).Round(time.Millisecond).String()
			}
			fmt.Fprintf(out, "run %s %s%s: %s\n", r.ID, r.State, took, counts(r.Counts))
			if r.State == run.RunSucceeded {
				return nil
			}
			for _, n := range r.Nodes {
				if n.State == run.NodeFailed {
					fmt.Fprintf(errOut, "%s failed: %s\n", n.Name, n.Error)
				}
			}
			if r.State == run.RunFailed {
				fmt.Fprintf(errOut, "maestro logs %s shows every table; maestro run resume %s re-runs what failed\n", r.ID, r.ID)
			}
			return exitError{code: 1}
		}
		select {
		case <-ctx.Done():
		case <-time.After(every):
		}
	}
}

// nodeNote is what follows a finished table's state: its rows and time, or its error.
func nodeNote(n *apiNode) string {
	switch n.State {
	case run.NodeSucceeded:
		return fmt.Sprintf("  %d rows, %s", n.Stats.Rows, (time.Duration(n.Stats.DurationMillis) * time.Millisecond).String())
	case run.NodeFailed:
		return fmt.Sprintf("  attempt %d: %s", n.Attempt, firstLine(n.Error))
	}
	return ""
}

func newRunCancelCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "cancel RUN",
		Short: "Cancel a running run: its unfinished tables are cancelled",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(&http.Client{Timeout: time.Minute})
			if err != nil {
				return err
			}
			var r apiRun
			if err := c.call(cmd.Context(), http.MethodPost, runPath(args[0])+"/cancel", nil, &r); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "run %s %s: %s\n", r.ID, r.State, counts(r.Counts))
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

func newRunResumeCmd() *cobra.Command {
	var f apiFlags
	var wf waitFlags
	cmd := &cobra.Command{
		Use:   "resume RUN",
		Short: "Re-run the failed and skipped tables of a finished run, as a new run",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(&http.Client{Timeout: time.Minute})
			if err != nil {
				return err
			}
			var r apiRun
			if err := c.call(cmd.Context(), http.MethodPost, runPath(args[0])+"/resume", nil, &r); err != nil {
				return err
			}
			return startedRun(cmd, c, &r, wf)
		},
	}
	f.register(cmd)
	wf.register(cmd)
	return cmd
}

const logsLong = `Show what a run did, table by table: state, attempts, start and end, the warehouse job, its
statistics (rows, bytes processed and billed, slot time), the error of a table that failed, why a
table was skipped, and each callback delivery of its exports and webhooks (URL, status, time,
error). --node keeps one table.

Maestro keeps no log store: this is the run as the API records it (GET /api/v1/runs/RUN and
/deliveries); the services' own logs carry the same run_id and node fields.`

func newLogsCmd() *cobra.Command {
	var f apiFlags
	var node string
	cmd := &cobra.Command{
		Use:     "logs RUN",
		Short:   "Show what a run did, table by table",
		Long:    logsLong,
		Example: "  maestro logs r20261126t060000-4c8253 --node marts.daily_revenue",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(&http.Client{Timeout: time.Minute})
			if err != nil {
				return err
			}
			var r apiRun
			if err := c.call(cmd.Context(), http.MethodGet, runPath(args[0]), nil, &r); err != nil {
				return err
			}
			var ds struct {
				Deliveries []apiDelivery `json:"deliveries"`
			}
			if err := c.call(cmd.Context(), http.MethodGet, runPath(args[0])+"/deliveries", nil, &ds); err != nil {
				return err
			}
			node = strings.ToLower(node)
			if node != "" && !slices.ContainsFunc(r.Nodes, func(n apiNode) bool { return n.Name == node }) {
				names := make([]string, len(r.Nodes))
				for i, n := range r.Nodes {
					names[i] = n.Name
				}
				return fmt.Errorf("run %s has no table %s; it ran %s", r.ID, node, strings.Join(names, ", "))
			}
			printRunLog(cmd.OutOrStdout(), &r, ds.Deliveries, node)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&node, "node", "", "only this table (dataset.table)")
	return cmd
}

// printRunLog writes a run's header, then each node (or only the one named) with its
// deliveries; deliveries of no table (run webhooks) follow the header.
func printRunLog(w io.Writer, r *apiRun, ds []apiDelivery, only string) {
	fmt.Fprintf(w, "run %s  %s  %s  started %s by %s", r.ID, r.State, runWhat(r), r.CreatedAt.UTC().Format("2006-01-02 15:04:05 MST"), r.CreatedBy)
	if r.FinishedAt != nil {
		fmt.Fprintf(w, ", took %s", r.FinishedAt.Sub(r.CreatedAt).Round(time.Millisecond))
	}
	fmt.Fprintf(w, "\n  %s; %s\n", dash(counts(r.Counts)), stats(r.Stats))
	byTable := map[string][]apiDelivery{}
	for _, d := range ds {
		byTable[d.Table] = append(byTable[d.Table], d)
	}
	if only == "" {
		printDeliveries(w, byTable[""])
	}
	failed := map[string]bool{}
	for _, n := range r.Nodes {
		if n.State == run.NodeFailed || n.State == run.NodeSkipped {
			failed[n.Name] = true
		}
	}
	for _, n := range r.Nodes {
		if only != "" && n.Name != only {
			continue
		}
		fmt.Fprintf(w, "\n%s  %s", n.Name, n.State)
		if n.StartedAt != nil {
			fmt.Fprintf(w, "  attempt %d  %s", n.Attempt, n.StartedAt.UTC().Format("15:04:05"))
			if n.FinishedAt != nil {
				fmt.Fprintf(w, " → %s (%s)", n.FinishedAt.UTC().Format("15:04:05"), n.FinishedAt.Sub(*n.StartedAt).Round(time.Millisecond))
			}
		}
		fmt.Fprintln(w)
		if n.JobID != "" {
			fmt.Fprintf(w, "  job %s\n", n.JobID)
		}
		if n.State == run.NodeSucceeded || n.Stats != (run.Stats{}) {
			fmt.Fprintf(w, "  %s\n", stats(n.Stats))
		}
		if n.Error != "" {
			fmt.Fprintf(w, "  error: %s\n", strings.ReplaceAll(strings.TrimSpace(n.Error), "\n", "\n    "))
		}
		if n.State == run.NodeSkipped {
			var because []string
			for _, u := range n.Upstream {
				if failed[u] {
					because = append(because, u)
				}
			}
			if len(because) > 0 {
				fmt.Fprintf(w, "  skipped: %s did not succeed\n", strings.Join(because, ", "))
			}
		}
		printDeliveries(w, byTable[n.Name])
	}
}

func printDeliveries(w io.Writer, ds []apiDelivery) {
	for _, d := range ds {
		what := d.Event
		if what == "" {
			what = "callback"
		}
		result := fmt.Sprintf("HTTP %d", d.StatusCode)
		if d.StatusCode == 0 {
			result = "no answer"
		}
		fmt.Fprintf(w, "  %s %s → %s, attempt %d, %s at %s", what, d.URL, result, d.Attempt,
			time.Duration(d.DurationMS)*time.Millisecond, d.StartedAt.UTC().Format("15:04:05"))
		if d.Error != "" {
			fmt.Fprintf(w, ": %s", d.Error)
		}
		fmt.Fprintln(w)
	}
}

func stats(s run.Stats) string {
	out := fmt.Sprintf("%d rows, %s processed, %s billed, %s slot time", s.Rows, bytesText(s.BytesProcessed), bytesText(s.BytesBilled),
		(time.Duration(s.SlotMillis) * time.Millisecond).String())
	if s.CacheHit {
		out += ", from cache"
	}
	return out
}

func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
