package main

import (
	"fmt"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/maestro-sql/maestro/internal/project"
	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/warehouse/duckdbwarehouse"
)

func newQueryCmd() *cobra.Command {
	var stateDir, projectDir string
	var limit int
	cmd := &cobra.Command{
		Use:   "query SQL",
		Short: "Query the tables `maestro dev` built (GoogleSQL, read-only)",
		Long: `query runs a SELECT against the embedded warehouse in the state folder, with the default
project and dataset of the project folder, and prints the rows. Stop 'maestro dev' first:
DuckDB lets one process open the warehouse at a time.`,
		Example: `  maestro query "SELECT segment, COUNT(*) AS customers FROM marts.customer_ltv GROUP BY segment"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			p, err := project.Load(ctx, projectDir)
			if err != nil {
				return fmt.Errorf("error loading project %s:\n%w", projectDir, err)
			}
			wh, err := duckdbwarehouse.Open(ctx, filepath.Join(stateDir, "warehouse"), &duckdbwarehouse.Options{DefaultProject: p.DefaultProject})
			if err != nil {
				return fmt.Errorf("error opening the warehouse in %s (is 'maestro dev' still running?): %w", stateDir, err)
			}
			defer wh.Close()
			rows, err := wh.Read(ctx, args[0], sqlref.Options{DefaultProject: p.DefaultProject, DefaultDataset: p.DefaultDataset}, limit)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			for i, c := range rows.Columns {
				if i > 0 {
					fmt.Fprint(tw, "\t")
				}
				fmt.Fprint(tw, c)
			}
			fmt.Fprintln(tw)
			for _, row := range rows.Values {
				for i, v := range row {
					if i > 0 {
						fmt.Fprint(tw, "\t")
					}
					fmt.Fprint(tw, cell(v))
				}
				fmt.Fprintln(tw)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if rows.Truncated {
				fmt.Fprintf(cmd.ErrOrStderr(), "(first %d rows shown; --limit to see more)\n", limit)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&stateDir, "state", ".maestro", "state folder of 'maestro dev'")
	cmd.Flags().StringVar(&projectDir, "project", "examples/quickstart", "project folder (for its default project and dataset)")
	cmd.Flags().IntVar(&limit, "limit", 100, "rows to print at most")
	return cmd
}

func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case time.Time:
		if x.Hour() == 0 && x.Minute() == 0 && x.Second() == 0 && x.Nanosecond() == 0 {
			return x.Format("2006-01-02")
		}
		return x.Format(time.RFC3339Nano)
	case []byte:
		return fmt.Sprintf("%x", x)
	default:
		return fmt.Sprint(x)
	}
}
