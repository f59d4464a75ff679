package importer

import (
	"fmt"
	"strings"
	"time"

	"github.com/maestro-sql/maestro/internal/extract"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/warehouse"
)

// schemaChange is how an import's result differs from the columns of the table it appends to.
type schemaChange struct {
	// Added are result columns the table lacks: the load adds them.
	Added []string
	// Incompatible describes each column removed or retyped, which an append cannot take.
	Incompatible []string
}

// compareSchema compares the columns an import produced with those of the table it appends to.
// Names compare case-insensitively, as BigQuery's do; types by family (typeFamily).
func compareSchema(have []warehouse.Column, got []extract.Column) schemaChange {
	var ch schemaChange
	byName := make(map[string]warehouse.Column, len(have))
	for _, c := range have {
		byName[strings.ToLower(c.Name)] = c
	}
	seen := make(map[string]bool, len(got))
	for _, c := range got {
		key := strings.ToLower(c.Name)
		seen[key] = true
		old, ok := byName[key]
		if !ok {
			ch.Added = append(ch.Added, c.Name)
			continue
		}
		if typeFamily(old.Type) != typeFamily(c.BigQueryType()) {
			ch.Incompatible = append(ch.Incompatible, fmt.Sprintf("column %q changed type from %s to %s (source type %s)",
				old.Name, old.Type, c.BigQueryType(), c.SourceType))
		}
	}
	for _, c := range have {
		if !seen[strings.ToLower(c.Name)] {
			ch.Incompatible = append(ch.Incompatible, fmt.Sprintf("column %q (%s) is no longer in the import's result", c.Name, c.Type))
		}
	}
	return ch
}

// typeFamily names the types one column may hold across appends. BigQuery's legacy names are
// the same types; NUMERIC and BIGNUMERIC are one family because the embedded warehouse names
// every decimal NUMERIC (a value that does not fit fails the load itself); JSON and STRING are
// one because a Parquet JSON column loaded without an explicit schema may become STRING, and
// both hold the same text; DATETIME and TIMESTAMP are one because BigQuery may load a zoneless
// Parquet timestamp as TIMESTAMP (same digits, read as UTC), and a check that failed every
// append after the first would be worse than one that misses that change.
func typeFamily(t string) string {
	switch t = strings.ToUpper(strings.TrimSpace(t)); t {
	case "INTEGER":
		return "INT64"
	case "FLOAT":
		return "FLOAT64"
	case "BOOLEAN":
		return "BOOL"
	case "BIGNUMERIC", "DECIMAL", "BIGDECIMAL":
		return "NUMERIC"
	case "JSON":
		return "STRING"
	case "DATETIME":
		return "TIMESTAMP"
	}
	return t
}

// schemaError is the permanent error of an incompatible change.
func schemaError(jobID string, dest sqlref.TableName, ch schemaChange) error {
	return permanent(jobID, "invalid", fmt.Sprintf("the import's result no longer fits table %s: %s; "+
		"change the query back, or set on_schema_change: full_refresh in the table's import block to re-import it in full",
		dest, strings.Join(ch.Incompatible, "; ")))
}

// fullRefreshDue reports whether an incremental import starting at now re-imports in full.
func fullRefreshDue(fr *spec.FullRefresh, now time.Time) (bool, error) {
	if fr == nil {
		return false, nil
	}
	loc := time.UTC
	if fr.TimeZone != "" {
		var err error
		if loc, err = time.LoadLocation(fr.TimeZone); err != nil {
			return false, fmt.Errorf("full_refresh time zone %q: %w", fr.TimeZone, err)
		}
	}
	return fr.Allows(now.In(loc)), nil
}
