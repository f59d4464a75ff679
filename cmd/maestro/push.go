package main

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/maestro-sql/maestro/internal/project"
)

const pushLong = `Send a project folder's definitions to a running Maestro (the api service): tables
new in the folder are created, changed ones get a new revision, tables gone from the folder are
deleted, schedules and connections are replaced. It needs an admin's API token.

The folder is checked here first (SQL that does not parse, a cycle, an unknown schedule: nothing
is sent) and again by the server, which keeps every stored definition as it was if anything is
wrong. The project's default_project and default_dataset must match the server's.

--api is the api service's URL ($MAESTRO_API; by default maestro dev's, http://127.0.0.1:8080);
--token the API token ($MAESTRO_TOKEN; by default the admin token maestro dev keeps in its
--state folder).`

func newPushCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "push DIR",
		Short: "Send a project folder's definitions to a running Maestro",
		Long:  pushLong,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// A cycle is an error here: the server would refuse it anyway.
			p, _, err := project.LoadGraph(cmd.Context(), args[0])
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return exitError{code: 1}
			}
			c, err := f.client(&http.Client{Timeout: 5 * time.Minute})
			if err != nil {
				return err
			}
			var res struct {
				Created, Updated, Deleted, Unchanged int
				Warnings                             []struct{ Message string }
				HistoryError                         string `json:"history_error"`
			}
			if err := c.call(cmd.Context(), http.MethodPut, "/project", p, &res); err != nil {
				return errors.New("the server refused the project: " + err.Error())
			}
			if res.HistoryError != "" {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", res.HistoryError)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pushed %d tables: %d created, %d updated, %d deleted, %d unchanged\n",
				len(p.Tables), res.Created, res.Updated, res.Deleted, res.Unchanged)
			for _, w := range res.Warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w.Message)
			}
			return nil
		},
	}
	f.register(cmd)
	return cmd
}
