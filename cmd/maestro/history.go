package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/maestro-sql/maestro/internal/history"
)

const historyLong = `Print every revision of a table, newest first, as a running Maestro (the api
service) keeps them: who changed it, when, what changed, and the unified diff of its SQL and its
sidecar (TABLE.yaml) from the revision before.

--api is the api service's URL; --token, when set, is sent as a bearer token.`

func newHistoryCmd() *cobra.Command {
	var apiURL, token string
	cmd := &cobra.Command{
		Use:   "history TABLE",
		Short: "Show who changed a table, when, and how",
		Long:  historyLong,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if apiURL == "" {
				return errors.New("--api is required: the URL of the api service")
			}
			table := strings.ToLower(args[0])
			u := strings.TrimRight(apiURL, "/") + "/tables/" + url.PathEscape(table) + "/history"
			req, err := http.NewRequestWithContext(cmd.Context(), http.MethodGet, u, nil)
			if err != nil {
				return fmt.Errorf("error building the request to %s: %w", apiURL, err)
			}
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
			if err != nil {
				return fmt.Errorf("error asking %s for the history of %s: %w", apiURL, table, err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
			if err != nil {
				return fmt.Errorf("error reading the history of %s: %w", table, err)
			}
			if resp.StatusCode != http.StatusOK {
				var e struct {
					Error string `json:"error"`
				}
				if json.Unmarshal(body, &e) == nil && e.Error != "" {
					return fmt.Errorf("the server answered %s: %s", resp.Status, e.Error)
				}
				return fmt.Errorf("the server answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
			}
			var h struct {
				Revisions []history.Entry `json:"revisions"`
			}
			if err := json.Unmarshal(body, &h); err != nil {
				return fmt.Errorf("error reading the history of %s: %w", table, err)
			}
			printHistory(cmd.OutOrStdout(), table, h.Revisions)
			return nil
		},
	}
	cmd.Flags().StringVar(&apiURL, "api", "", "URL of the api service")
	cmd.Flags().StringVar(&token, "token", "", "bearer token sent to the api service")
	return cmd
}

// printHistory writes revisions newest first, in the manner of git log -p.
func printHistory(w io.Writer, table string, revs []history.Entry) {
	for i := len(revs) - 1; i >= 0; i-- {
		e := revs[i]
		who := e.User
		if e.UserName != "" && e.UserName != e.User {
			who = e.UserName + " <" + e.User + ">"
		}
		fmt.Fprintf(w, "revision %s@%d\nAuthor: %s\nDate:   %s\n\n    %s\n", table, e.Revision, who,
			e.At.UTC().Format("2006-01-02 15:04:05 MST"), e.Summary)
		if msg := strings.TrimSpace(e.Message); msg != "" {
			fmt.Fprintf(w, "\n    %s\n", strings.ReplaceAll(msg, "\n", "\n    "))
		}
		if e.Diff != "" {
			fmt.Fprintf(w, "\n%s", e.Diff)
		}
		if i > 0 {
			fmt.Fprintln(w)
		}
	}
}
