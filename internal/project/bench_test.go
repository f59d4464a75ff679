package project_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/project"
	"github.com/maestro-sql/maestro/internal/project/projectgen"
)

func TestGeneratedProjectLoads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, projectgen.Write(dir, projectgen.Options{Tables: 300, Layers: 10, Seed: 3}))
	p, g, err := project.LoadGraph(context.Background(), dir)
	require.NoError(t, err)
	require.Len(t, p.Tables, 300)
	require.Len(t, g.Layers(), 10, "the generated graph is as deep as asked")
	require.NotEmpty(t, g.Externals())
}

// BenchmarkPlan loads and builds the graph of a generated project of 10,000 tables, as
// `maestro plan` does. Generating the files takes a few seconds before the timer starts.
func BenchmarkPlan(b *testing.B) {
	dir := b.TempDir()
	require.NoError(b, projectgen.Write(dir, projectgen.Options{Tables: 10000}))
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		_, g, err := project.LoadGraph(ctx, dir)
		if err != nil {
			b.Fatal(err)
		}
		if g.Len() != 10000 {
			b.Fatalf("graph has %d nodes", g.Len())
		}
	}
}
