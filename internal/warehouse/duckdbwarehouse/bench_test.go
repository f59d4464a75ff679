package duckdbwarehouse

import (
	"context"
	"fmt"
	"testing"

	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/warehouse"
)

// BenchmarkSmallJob measures the fixed cost of one job: translate, size inputs, write, log.
func BenchmarkSmallJob(b *testing.B) {
	w, err := Open(context.Background(), b.TempDir()+"/w.duckdb", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	ctx := context.Background()
	src := sqlref.TableName{Project: "p", Dataset: "d", Table: "src"}
	if _, err := w.Query(ctx, &warehouse.QueryJob{JobID: "seed", Destination: src,
		SQL: "SELECT i AS id, 'name ' || i AS name FROM range(1000) r(i)"}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, err := w.Query(ctx, &warehouse.QueryJob{JobID: fmt.Sprint("j", i),
			Destination: sqlref.TableName{Project: "p", Dataset: "d", Table: fmt.Sprint("t", i%10)},
			SQL:         "SELECT id, UPPER(name) AS name FROM `p.d.src` WHERE id > 10"})
		if err != nil {
			b.Fatal(err)
		}
	}
}
