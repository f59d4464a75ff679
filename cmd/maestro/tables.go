package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/maestro-sql/maestro/internal/history"
	"github.com/maestro-sql/maestro/internal/service"
)

// apiTable is a table as the API shows it (GET /tables, GET /tables/{name}): the server's type.
type apiTable = service.TableJSON

// tablesPage is how many tables a page of the listing asks for (the API's most).
const tablesPage = 1000

// listTables reads every table matching the filters (owner, group, dataset, kind), following the
// listing's cursor page after page of pageSize tables.
func (c *apiClient) listTables(ctx context.Context, filters url.Values, pageSize int) ([]apiTable, error) {
	var all []apiTable
	q := url.Values{}
	for k, v := range filters {
		if len(v) > 0 && v[0] != "" {
			q[k] = v
		}
	}
	q.Set("limit", strconv.Itoa(pageSize))
	for {
		var page struct {
			Tables     []apiTable `json:"tables"`
			NextCursor string     `json:"next_cursor"`
		}
		if err := c.call(ctx, http.MethodGet, "/tables?"+q.Encode(), nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Tables...)
		if page.NextCursor == "" {
			return all, nil
		}
		q.Set("cursor", page.NextCursor)
	}
}

const tablesLong = `List the tables of a running Maestro (the api service), by name, with their kind, owner,
group, schedules and revision: every page of GET /api/v1/tables, filtered by --owner, --group,
--dataset and --kind (query, import or external).

maestro tables get NAME shows one table: its definition (the SQL, and the options as its
sidecar TABLE.yaml would say them), who changed it last, its ETag (the revision a change must
name in If-Match) and the tables it reads and that read it.

--api is the api service's URL (default $MAESTRO_API, else maestro dev's); --token is an API token
(default $MAESTRO_TOKEN, else the one maestro dev keeps).`

func newTablesCmd() *cobra.Command {
	var f apiFlags
	var owner, group, dataset, kind string
	cmd := &cobra.Command{
		Use:     "tables",
		Short:   "List tables, or show one (tables get NAME)",
		Long:    tablesLong,
		Example: "  maestro tables --group analytics\n  maestro tables --dataset raw --kind import\n  maestro tables get marts.daily_revenue",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client(&http.Client{Timeout: time.Minute})
			if err != nil {
				return err
			}
			tables, err := c.listTables(cmd.Context(), url.Values{"owner": {owner}, "group": {group}, "dataset": {dataset}, "kind": {kind}}, tablesPage)
			if err != nil {
				return err
			}
			if len(tables) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no tables")
				return nil
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tKIND\tOWNER\tGROUP\tSCHEDULES\tREV\tUPDATED")
			for _, t := range tables {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s by %s\n", t.Name, kindName(t.Kind), dash(t.Owner), dash(t.Group),
					dash(strings.Join(t.Schedules, ",")), t.Revision, t.UpdatedAt.UTC().Format("2006-01-02 15:04"), t.UpdatedBy)
			}
			return w.Flush()
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&owner, "owner", "", "only tables of this owner")
	cmd.Flags().StringVar(&group, "group", "", "only tables of this group")
	cmd.Flags().StringVar(&dataset, "dataset", "", "only tables of this dataset")
	cmd.Flags().StringVar(&kind, "kind", "", "only tables of this kind: query, import or external")
	cmd.AddCommand(newTablesGetCmd())
	return cmd
}

func newTablesGetCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "get NAME",
		Short: "Show a table: definition, upstream and downstream tables, ETag",
		Long:  tablesLong,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(&http.Client{Timeout: time.Minute})
			if err != nil {
				return err
			}
			name := strings.ToLower(args[0])
			var t apiTable
			h, err := c.send(cmd.Context(), http.MethodGet, "/tables/"+url.PathEscape(name), nil, nil, &t)
			if err != nil {
				return err
			}
			printTable(cmd.OutOrStdout(), &t, h.Get("ETag"))
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

// printTable writes a table's definition as a project folder would hold it, headed by who
// changed it and where it stands in the graph.
func printTable(w io.Writer, t *apiTable, etag string) {
	fmt.Fprintf(w, "table %s (%s)\n", t.Name, kindName(t.Kind))
	if t.Description != "" {
		fmt.Fprintf(w, "  %s\n", t.Description)
	}
	fmt.Fprintf(w, "owner:      %s\ngroup:      %s\nschedules:  %s\n", dash(t.Owner), dash(t.Group), dash(strings.Join(t.Schedules, ", ")))
	fmt.Fprintf(w, "revision:   %d (ETag %s), changed %s by %s; created %s by %s\n", t.Revision, etag,
		t.UpdatedAt.UTC().Format("2006-01-02 15:04:05 MST"), t.UpdatedBy, t.CreatedAt.UTC().Format("2006-01-02"), t.CreatedBy)
	if g := t.Graph; g != nil {
		fmt.Fprintf(w, "upstream:   %s\ndownstream: %s\n", dash(strings.Join(g.Upstream, ", ")), dash(strings.Join(g.Downstream, ", ")))
		if len(g.ExternalSources) > 0 {
			fmt.Fprintf(w, "external sources: %s\n", strings.Join(g.ExternalSources, ", "))
		}
	}
	sql, sidecar := history.Files(&t.Table)
	dataset, base, _ := strings.Cut(t.Name, ".")
	fmt.Fprintf(w, "\n-- %s/%s.sql\n%s", dataset, base, sql)
	if !strings.HasSuffix(sql, "\n") {
		fmt.Fprintln(w)
	}
	if sidecar != nil {
		fmt.Fprintf(w, "\n# %s/%s.yaml\n%s", dataset, base, sidecar)
	}
}

func kindName(k string) string {
	if k == "" {
		return "query"
	}
	return k
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// etagOf is a revision as the API's ETag.
func etagOf(revision int) string { return `"` + strconv.Itoa(revision) + `"` }
