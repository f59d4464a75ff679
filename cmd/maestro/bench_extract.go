package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/maestro-sql/maestro/internal/blob/localblob"
	"github.com/maestro-sql/maestro/internal/extract"
)

func newBenchExtractCmd() *cobra.Command {
	var rows int64
	var dsn string
	cmd := &cobra.Command{
		Use:   "extract",
		Short: "Time an import from PostgreSQL into Parquet against psql \\copy of the same table",
		Long: `bench extract makes sure table bench_extract in the PostgreSQL database holds --rows rows
(int8 id, text, numeric(12,2), timestamptz, bool), times psql \copy (SELECT ...) TO /dev/null CSV
and Maestro's import of the same table into a zstd Parquet file in a temporary local bucket, and
prints, last: rows=N ours_rows_per_s=X psql_rows_per_s=Y ratio=R peak_rss_mb=M
(peak RSS is this process's high-water mark, VmHWM).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				return fmt.Errorf("error connecting to PostgreSQL: %w", err)
			}
			defer conn.Close(context.WithoutCancel(ctx))
			if err := fillBenchTable(ctx, conn, rows); err != nil {
				return err
			}
			query := "SELECT id, name, amount, created, active FROM bench_extract"
			cfg := conn.Config()
			start := time.Now()
			psql := exec.CommandContext(ctx, "psql", "-X", "-q", "-h", cfg.Host, "-p", strconv.Itoa(int(cfg.Port)),
				"-U", cfg.User, "-d", cfg.Database, "-c", `\copy (`+query+`) TO '/dev/null' CSV`)
			psql.Stderr = os.Stderr
			if err := psql.Run(); err != nil {
				return fmt.Errorf("error running psql: %w", err)
			}
			psqlDur := time.Since(start)

			dir, err := os.MkdirTemp("", "maestro-bench-extract-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			bucket, err := localblob.Open(dir)
			if err != nil {
				return err
			}
			defer bucket.Close()
			start = time.Now()
			res, err := extract.Run(ctx, extract.NewPostgres(conn), extract.Query{SQL: query},
				extract.Sink{Bucket: bucket, ShardRows: rows + 1})
			if err != nil {
				return fmt.Errorf("error importing: %w", err)
			}
			ours := time.Since(start)
			if res.Rows != rows {
				return fmt.Errorf("imported %d rows, want %d", res.Rows, rows)
			}
			hwm, err := peakRSSMB()
			if err != nil {
				return err
			}
			oursRate := float64(rows) / ours.Seconds()
			psqlRate := float64(rows) / psqlDur.Seconds()
			fmt.Fprintf(cmd.OutOrStdout(), "ours_seconds=%.2f psql_seconds=%.2f parquet_mb=%.1f\n", ours.Seconds(), psqlDur.Seconds(), float64(res.Bytes)/1e6)
			fmt.Fprintf(cmd.OutOrStdout(), "rows=%d ours_rows_per_s=%.0f psql_rows_per_s=%.0f ratio=%.2f peak_rss_mb=%.1f\n",
				rows, oursRate, psqlRate, oursRate/psqlRate, hwm)
			return nil
		},
	}
	cmd.Flags().Int64Var(&rows, "rows", 1_000_000, "rows in the table")
	cmd.Flags().StringVar(&dsn, "dsn", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL to use")
	return cmd
}

func fillBenchTable(ctx context.Context, conn *pgx.Conn, rows int64) error {
	var have int64
	err := conn.QueryRow(ctx, "SELECT count(*) FROM bench_extract").Scan(&have)
	if err == nil && have == rows {
		return nil
	}
	for _, stmt := range []string{
		"DROP TABLE IF EXISTS bench_extract",
		"CREATE TABLE bench_extract (id int8, name text, amount numeric(12,2), created timestamptz, active bool)",
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("error preparing the benchmark table: %w", err)
		}
	}
	_, err = conn.Exec(ctx, `INSERT INTO bench_extract
		SELECT g, 'customer ' || g, (g % 100000) / 100.0 + 0.01,
		       timestamptz '2020-01-01 00:00:00+00' + g * interval '1 second', g % 3 = 0
		FROM generate_series(1, $1::int8) g`, rows)
	if err != nil {
		return fmt.Errorf("error filling the benchmark table: %w", err)
	}
	_, err = conn.Exec(ctx, "VACUUM ANALYZE bench_extract")
	return err
}

// peakRSSMB is this process's resident set high-water mark.
func peakRSSMB() (float64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("error reading peak RSS: %w", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				return 0, fmt.Errorf("error parsing VmHWM %q: %w", rest, err)
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/self/status")
}
