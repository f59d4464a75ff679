package duckdbwarehouse

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/warehouse"
)

// MaxValue returns the greatest value of column in table: the lower bound of an incremental
// import's next read. ok is false when the table does not exist yet or has no non-NULL value.
func (w *Warehouse) MaxValue(ctx context.Context, table sqlref.TableName, column string) (v any, ok bool, err error) {
	if _, err := w.Table(ctx, table); errors.Is(err, warehouse.ErrNotFound) {
		return nil, false, nil
	} else if err != nil {
		return nil, false, err
	}
	quote := func(s string) string { return "`" + strings.ReplaceAll(s, "`", "\\`") + "`" }
	src := "SELECT MAX(" + quote(column) + ") FROM " + quote(table.Project+"."+table.Dataset+"."+table.Table)
	rows, err := w.Read(ctx, src, sqlref.Options{DefaultProject: table.Project}, 1)
	if err != nil {
		return nil, false, fmt.Errorf("error reading the greatest %s of %s: %w", column, table, err)
	}
	if len(rows.Values) == 0 || rows.Values[0][0] == nil {
		return nil, false, nil
	}
	return rows.Values[0][0], true, nil
}
