package importer

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/extract"
	"github.com/maestro-sql/maestro/internal/warehouse"
)

func TestCompareSchemaTakesBigQueryNamesAndCase(t *testing.T) {
	// As BigQuery's tables.get reports them: legacy type names, the user's casing.
	have := []warehouse.Column{{Name: "ID", Type: "INTEGER"}, {Name: "amount", Type: "BIGNUMERIC"},
		{Name: "ok", Type: "BOOLEAN"}, {Name: "ratio", Type: "FLOAT"}, {Name: "payload", Type: "STRING"},
		{Name: "at", Type: "TIMESTAMP"}, {Name: "gone", Type: "DATE"}}
	got := []extract.Column{{Name: "id", Kind: extract.KindInt64}, {Name: "amount", Kind: extract.KindDecimal, Precision: 12, Scale: 2},
		{Name: "ok", Kind: extract.KindBool}, {Name: "ratio", Kind: extract.KindString, SourceType: "text"},
		{Name: "payload", Kind: extract.KindJSON}, {Name: "at", Kind: extract.KindTimestamp}, {Name: "extra", Kind: extract.KindDate}}
	ch := compareSchema(have, got)
	require.Equal(t, []string{"extra"}, ch.Added)
	require.Equal(t, []string{
		`column "ratio" changed type from FLOAT to STRING (source type text)`,
		`column "gone" (DATE) is no longer in the import's result`,
	}, ch.Incompatible)
}
