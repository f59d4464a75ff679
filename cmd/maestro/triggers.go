package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/maestro-sql/maestro/internal/service"
)

const triggersLong = `Trigger URLs let another system start a run when its data lands: a signed POST to the URL
(Maestro-Signature, as Maestro's own callbacks; an Idempotency-Key makes retries start one run).

  maestro triggers                          list them (never their secrets)
  maestro triggers create --table T [--downstream] | --schedule S
                                            make one; its secret is printed this once
  maestro triggers rotate ID                a new secret, printed this once; the old one stops working
  maestro triggers deliveries ID            what each delivery did: accepted, duplicate, refused and why
  maestro triggers delete ID

A table's editors (its group's) manage its triggers; a schedule's are the admins'.`

func newTriggersCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "triggers",
		Short: "Trigger URLs other systems call to start runs: list, create, rotate, deliveries, delete",
		Long:  triggersLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out struct {
				Triggers []service.TriggerJSON `json:"triggers"`
			}
			if err := triggerCall(cmd, &f, http.MethodGet, "/triggers", nil, &out); err != nil {
				return err
			}
			if len(out.Triggers) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no triggers")
				return nil
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "TRIGGER\tRUNS\tPATH\tBY\tCREATED")
			for _, tr := range out.Triggers {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", tr.ID, triggerWhat(&tr), tr.Path, tr.CreatedBy, tr.CreatedAt.UTC().Format("2006-01-02 15:04:05"))
			}
			return w.Flush()
		},
	}
	f.registerAPI(cmd)

	var table, schedule string
	var downstream bool
	create := &cobra.Command{
		Use:     "create --table T [--downstream] | --schedule S",
		Short:   "Make a trigger URL; its secret is printed this once",
		Example: "  maestro triggers create --table raw.orders --downstream",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (table == "") == (schedule == "") {
				return errors.New("give exactly one of --table or --schedule")
			}
			body := map[string]any{}
			if table != "" {
				body["table"], body["downstream"] = table, downstream
			} else {
				body["schedule"] = schedule
			}
			var tr service.TriggerJSON
			if err := triggerCall(cmd, &f, http.MethodPost, "/triggers", body, &tr); err != nil {
				return err
			}
			printSecret(cmd.OutOrStdout(), &tr)
			return nil
		},
	}
	create.Flags().StringVar(&table, "table", "", "the table each delivery runs")
	create.Flags().BoolVar(&downstream, "downstream", false, "with --table: also every table downstream of it")
	create.Flags().StringVar(&schedule, "schedule", "", "the schedule each delivery runs (admins)")
	f.registerAPI(create)

	rotate := &cobra.Command{
		Use:   "rotate ID",
		Short: "Give a trigger a new secret, printed this once; the old one stops working",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var tr service.TriggerJSON
			if err := triggerCall(cmd, &f, http.MethodPost, "/triggers/"+url.PathEscape(args[0])+"/rotate", nil, &tr); err != nil {
				return err
			}
			printSecret(cmd.OutOrStdout(), &tr)
			return nil
		},
	}
	f.registerAPI(rotate)

	deliveries := &cobra.Command{
		Use:   "deliveries ID",
		Short: "A trigger's deliveries, newest first: accepted, duplicate, refused and why",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out struct {
				Deliveries []service.TriggerDeliveryJSON `json:"deliveries"`
			}
			if err := triggerCall(cmd, &f, http.MethodGet, "/triggers/"+url.PathEscape(args[0])+"/deliveries", nil, &out); err != nil {
				return err
			}
			if len(out.Deliveries) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no deliveries")
				return nil
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "AT\tOUTCOME\tRUN\tKEY\tFROM\tREASON")
			for _, d := range out.Deliveries {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", d.At.UTC().Format("2006-01-02 15:04:05"), d.Outcome, dash(d.RunID),
					dash(d.IdempotencyKey), d.Remote, dash(d.Reason))
			}
			return w.Flush()
		},
	}
	f.registerAPI(deliveries)

	del := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a trigger URL (its deliveries stay listed)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := triggerCall(cmd, &f, http.MethodDelete, "/triggers/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "deleted trigger "+args[0])
			return nil
		},
	}
	f.registerAPI(del)
	cmd.AddCommand(create, rotate, deliveries, del)
	return cmd
}

func triggerCall(cmd *cobra.Command, f *apiFlags, method, path string, body, out any) error {
	c, err := f.client(&http.Client{Timeout: time.Minute})
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return c.call(ctx, method, path, body, out)
}

func triggerWhat(tr *service.TriggerJSON) string {
	if tr.Schedule != "" {
		return "schedule " + tr.Schedule
	}
	if tr.Downstream {
		return tr.Table + " and downstream"
	}
	return tr.Table
}

func printSecret(w io.Writer, tr *service.TriggerJSON) {
	fmt.Fprintf(w, "trigger %s runs %s\nURL path: %s\nsecret (shown once, keep it where the caller keeps secrets):\n%s\n",
		tr.ID, triggerWhat(tr), tr.Path, tr.Secret)
}
