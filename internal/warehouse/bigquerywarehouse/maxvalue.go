package bigquerywarehouse

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"

	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/warehouse"
)

// MaxValue returns the greatest value of column in table: the lower bound of an incremental
// import's next read. ok is false when the table does not exist or has no non-NULL value. The
// query reads (and bills) that one column. DATE, DATETIME and TIME values come back as
// time.Time in UTC and NUMERIC ones as decimal strings, so that a source database's driver can
// bind them.
func (w *Warehouse) MaxValue(ctx context.Context, table sqlref.TableName, column string) (v any, ok bool, err error) {
	if table.Project == "" {
		table.Project = w.project
	}
	if table.Dataset == "" || table.Table == "" || table.IsWildcard() {
		return nil, false, fmt.Errorf("error reading the greatest %s: %q is not a table path", column, table.String())
	}
	if column == "" {
		return nil, false, fmt.Errorf("error reading the greatest value of %s: no column named", table)
	}
	// Asking first keeps a missing table from being a failed (and logged) query job.
	if _, err := w.Table(ctx, table); errors.Is(err, warehouse.ErrNotFound) {
		return nil, false, nil
	} else if err != nil {
		return nil, false, err
	}
	q := w.client.Query("SELECT MAX(" + QuoteIdentifier(column) + ") FROM " +
		QuoteIdentifier(table.Project) + "." + QuoteIdentifier(table.Dataset) + "." + QuoteIdentifier(table.Table))
	q.Location = w.location
	it, err := q.Read(ctx)
	var row []bigquery.Value
	if err == nil {
		err = it.Next(&row)
	}
	if errors.Is(err, iterator.Done) {
		return nil, false, nil
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, false, ctxErr
		}
		var ge *googleapi.Error
		if errors.As(err, &ge) && ge.Code == http.StatusNotFound {
			return nil, false, nil // dropped since we looked
		}
		return nil, false, fmt.Errorf("error reading the greatest %s of %s: %w", column, table, err)
	}
	if len(row) == 0 || row[0] == nil {
		return nil, false, nil
	}
	return bindable(row[0]), true, nil
}

// bindable turns the client's civil and big-number values into types database drivers bind.
func bindable(v bigquery.Value) any {
	switch x := v.(type) {
	case civil.Date:
		return x.In(time.UTC)
	case civil.DateTime:
		return x.In(time.UTC)
	case civil.Time:
		return x.String()
	case *big.Rat:
		return strings.TrimRight(strings.TrimRight(x.FloatString(38), "0"), ".")
	}
	return v
}

// QuoteIdentifier quotes name as a GoogleSQL identifier: in backticks, with backslashes,
// backticks and control characters escaped, so that no name can end the identifier early.
func QuoteIdentifier(name string) string {
	var b strings.Builder
	b.WriteByte('`')
	for _, r := range name {
		switch {
		case r == '`' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('`')
	return b.String()
}
