package duckdbwarehouse

import (
	"context"
	"fmt"

	"github.com/maestro-sql/maestro/internal/sqlref"
)

// Rows is the result of a read-only query.
type Rows struct {
	Columns []string
	Values  [][]any
	// Truncated: the query had more than the limit's rows.
	Truncated bool
}

// Read runs a GoogleSQL SELECT (rewritten for DuckDB like a job's SQL) and returns up to limit
// rows, for people looking at what a pipeline built. It writes nothing and logs no job.
func (w *Warehouse) Read(ctx context.Context, src string, opts sqlref.Options, limit int) (*Rows, error) {
	if opts.DefaultProject == "" {
		opts.DefaultProject = w.project
	}
	res, err := sqlref.Extract(src, opts)
	if err != nil {
		return nil, fmt.Errorf("error reading the query: %w", err)
	}
	if len(res.Writes) > 0 {
		return nil, fmt.Errorf("the query writes %s: only reads are allowed here", res.Writes[0])
	}
	tr, err := w.translate(ctx, src, opts)
	if err != nil {
		return nil, fmt.Errorf("error translating the query for DuckDB: %w", err)
	}
	conn, err := w.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	rows, err := conn.QueryContext(ctx, tr.sql)
	if err != nil {
		return nil, fmt.Errorf("error running the query: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	out := &Rows{Columns: cols}
	for rows.Next() {
		if len(out.Values) == limit {
			out.Truncated = true
			break
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("error reading a row: %w", err)
		}
		out.Values = append(out.Values, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("error running the query: %w", err)
	}
	return out, nil
}
