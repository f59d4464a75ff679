package main

import (
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

--api is the api service's URL (default $MAESTRO_API, else maestro dev's); --token is an API token
(default $MAESTRO_TOKEN, else the one maestro dev keeps).`

func newHistoryCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "history TABLE",
		Short: "Show who changed a table, when, and how",
		Long:  historyLong,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(&http.Client{Timeout: time.Minute})
			if err != nil {
				return err
			}
			table := strings.ToLower(args[0])
			var h struct {
				Revisions []history.Entry `json:"revisions"`
			}
			if err := c.call(cmd.Context(), http.MethodGet, "/tables/"+url.PathEscape(table)+"/history", nil, &h); err != nil {
				return err
			}
			printHistory(cmd.OutOrStdout(), table, h.Revisions)
			return nil
		},
	}
	f.register(cmd)
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
