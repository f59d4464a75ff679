package duckdbwarehouse_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/warehouse/duckdbwarehouse"
	"github.com/maestro-sql/maestro/internal/warehouse/warehousetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	warehousetest.Run(t, func(t *testing.T) warehousetest.Harness {
		w, err := duckdbwarehouse.Open(context.Background(), "", nil)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, w.Close()) })
		return warehousetest.Harness{Warehouse: w, Project: "maestro-test-1", Dataset: "analytics"}
	})
}
