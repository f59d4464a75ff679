package bigquerywarehouse_test

import (
	"testing"

	"github.com/maestro-sql/maestro/internal/warehouse/warehousetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	warehousetest.Run(t, func(t *testing.T) warehousetest.Harness {
		b := setup(t)
		return warehousetest.Harness{Warehouse: b.w, Project: testProject, Dataset: testDataset}
	})
}
