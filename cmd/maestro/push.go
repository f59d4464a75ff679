package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/maestro-sql/maestro/internal/project"
)

const pushLong = `Send a project folder's definitions to a running Maestro (the api service): tables
new in the folder are created, changed ones get a new revision, tables gone from the folder are
deleted, schedules and connections are replaced.

The folder is checked here first (SQL that does not parse, a cycle, an unknown schedule: nothing
is sent) and again by the server, which keeps every stored definition as it was if anything is
wrong. The project's default_project and default_dataset must match the server's.

--api is the api service's URL; --token, when set, is sent as a bearer token (on Cloud Run:
$(gcloud auth print-identity-token)).`

func newPushCmd() *cobra.Command {
	var apiURL, token string
	cmd := &cobra.Command{
		Use:   "push DIR",
		Short: "Send a project folder's definitions to a running Maestro",
		Long:  pushLong,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if apiURL == "" {
				return errors.New("--api is required: the URL of the api service")
			}
			// A cycle is an error here: the server would refuse it anyway.
			p, _, err := project.LoadGraph(cmd.Context(), args[0])
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return exitError{code: 1}
			}
			body, err := json.Marshal(p)
			if err != nil {
				return fmt.Errorf("error encoding the project: %w", err)
			}
			req, err := http.NewRequestWithContext(cmd.Context(), http.MethodPut, strings.TrimRight(apiURL, "/")+"/project", bytes.NewReader(body))
			if err != nil {
				return fmt.Errorf("error building the request to %s: %w", apiURL, err)
			}
			req.Header.Set("Content-Type", "application/json")
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req)
			if err != nil {
				return fmt.Errorf("error sending the project to %s: %w", apiURL, err)
			}
			defer resp.Body.Close()
			reply, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			if resp.StatusCode != http.StatusOK {
				var e struct {
					Error string `json:"error"`
				}
				if json.Unmarshal(reply, &e) == nil && e.Error != "" {
					return fmt.Errorf("the server refused the project (%s): %s", resp.Status, e.Error)
				}
				return fmt.Errorf("the server refused the project (%s): %s", resp.Status, strings.TrimSpace(string(reply)))
			}
			var res struct {
				Created, Updated, Deleted, Unchanged int
				Warnings                             []struct{ Message string }
				HistoryError                         string `json:"history_error"`
			}
			if err := json.Unmarshal(reply, &res); err != nil {
				return fmt.Errorf("error reading the server's answer %q: %w", reply, err)
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
	cmd.Flags().StringVar(&apiURL, "api", "", "URL of the api service")
	cmd.Flags().StringVar(&token, "token", "", "bearer token sent to the api service")
	return cmd
}
