package dag_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/dag"
	"github.com/maestro-sql/maestro/internal/sqlref"
)

// tn parses "p.d.t", "d.t" (default project) for tests.
func tn(s string) sqlref.TableName {
	parts := strings.Split(s, ".")
	if len(parts) == 2 {
		return sqlref.TableName{Project: "p", Dataset: parts[0], Table: parts[1]}
	}
	return sqlref.TableName{Project: parts[0], Dataset: parts[1], Table: parts[2]}
}

func node(name string, reads ...string) dag.Input {
	r := &sqlref.Result{}
	for _, x := range reads {
		r.Reads = append(r.Reads, tn(x))
	}
	return dag.Input{Name: tn(name), Result: r}
}

var opts = &dag.Options{DefaultProject: "p"}

func TestBuild(t *testing.T) {
	t.Parallel()

	t.Run("Diamond", func(t *testing.T) {
		t.Parallel()
		g, err := dag.Build([]dag.Input{
			node("d.bottom", "d.left", "d.right"),
			node("d.left", "d.top"),
			node("d.right", "d.top"),
			node("d.top"),
		}, opts)
		require.NoError(t, err)
		require.Equal(t, [][]string{{"d.top"}, {"d.left", "d.right"}, {"d.bottom"}}, g.Layers())
		require.Equal(t, []string{"d.left", "d.right"}, g.Upstream("d.bottom"))
		require.Equal(t, []string{"d.left", "d.right"}, g.Downstream("d.top"))
		require.Empty(t, g.Externals())
		require.Empty(t, g.Cycles())
	})

	t.Run("Chain", func(t *testing.T) {
		t.Parallel()
		g, err := dag.Build([]dag.Input{node("a.c", "a.b"), node("a.b", "a.a"), node("a.a")}, opts)
		require.NoError(t, err)
		require.Equal(t, [][]string{{"a.a"}, {"a.b"}, {"a.c"}}, g.Layers())
		require.Equal(t, []string{"a.a", "a.b", "a.c"}, g.Nodes())
	})

	t.Run("SelfReadIsNoCycle", func(t *testing.T) {
		t.Parallel()
		g, err := dag.Build([]dag.Input{node("a.log", "a.log", "a.src"), node("a.src")}, opts)
		require.NoError(t, err)
		require.Equal(t, []string{"a.src"}, g.Upstream("a.log"))
		require.Empty(t, g.External("a.log"), "own destination is not an external source")
	})

	t.Run("WildcardFanIn", func(t *testing.T) {
		t.Parallel()
		g, err := dag.Build([]dag.Input{
			node("a.events_2024", "raw.x"),
			node("a.events_2025", "raw.x"),
			node("a.eventsx"),
			node("a.all", "a.events_*"),
			node("a.ext", "raw.clicks_*"),
		}, opts)
		require.NoError(t, err)
		require.Equal(t, []string{"a.events_2024", "a.events_2025"}, g.Upstream("a.all"))
		require.Empty(t, g.External("a.all"))
		require.Equal(t, []string{"raw.clicks_*"}, g.External("a.ext"))
		require.Equal(t, [][]string{{"a.events_2024", "a.events_2025", "a.eventsx", "a.ext"}, {"a.all"}}, g.Layers())
	})

	t.Run("ExternalSources", func(t *testing.T) {
		t.Parallel()
		g, err := dag.Build([]dag.Input{
			node("a.x", "raw.orders", "other.raw.users"),
			node("a.y", "raw.orders", "a.x"),
		}, opts)
		require.NoError(t, err)
		require.Equal(t, []string{"other.raw.users", "raw.orders"}, g.External("a.x"))
		require.Equal(t, []string{"raw.orders"}, g.External("a.y"))
		require.Equal(t, []string{"other.raw.users", "raw.orders"}, g.Externals())
		require.Equal(t, [][]string{{"a.x"}, {"a.y"}}, g.Layers(), "external sources are not waited for")
	})

	t.Run("OtherProjectKeyedInFull", func(t *testing.T) {
		t.Parallel()
		g, err := dag.Build([]dag.Input{node("q.d.t"), node("d.u", "q.d.t")}, opts)
		require.NoError(t, err)
		require.Equal(t, []string{"d.u", "q.d.t"}, g.Nodes())
		require.Equal(t, []string{"q.d.t"}, g.Upstream("d.u"))
	})

	t.Run("ReadsPreviousBreaksPair", func(t *testing.T) {
		t.Parallel()
		a := node("d.a", "d.b")
		a.ReadsPrevious = []sqlref.TableName{tn("d.b")}
		g, err := dag.Build([]dag.Input{a, node("d.b", "d.a")}, opts)
		require.NoError(t, err)
		require.Empty(t, g.Upstream("d.a"))
		require.Empty(t, g.External("d.a"), "a previous run of a produced table is not external")
		require.Equal(t, [][]string{{"d.a"}, {"d.b"}}, g.Layers())
	})

	t.Run("TwoCycle", func(t *testing.T) {
		t.Parallel()
		g, err := dag.Build([]dag.Input{node("d.b", "d.a"), node("d.a", "d.b"), node("d.c", "d.a")}, opts)
		var ce *dag.CycleError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, [][]string{{"d.a", "d.b"}}, ce.Cycles)
		require.EqualError(t, err, "cycle: d.a -> d.b -> d.a")
		require.NotNil(t, g)
		require.Empty(t, g.Layers(), "cycle members and their downstream are in no layer")
	})

	t.Run("ThreeCycleInOrder", func(t *testing.T) {
		t.Parallel()
		// x.z feeds x.y, x.y feeds x.a... data flows a -> z -> y -> a.
		_, err := dag.Build([]dag.Input{
			node("x.a", "x.y"), node("x.y", "x.z"), node("x.z", "x.a"),
			node("x.p", "x.q"), node("x.q", "x.p"),
		}, opts)
		var ce *dag.CycleError
		require.True(t, errors.As(err, &ce))
		require.Equal(t, [][]string{{"x.a", "x.z", "x.y"}, {"x.p", "x.q"}}, ce.Cycles)
		require.EqualError(t, err, "cycle: x.a -> x.z -> x.y -> x.a; cycle: x.p -> x.q -> x.p")
	})

	t.Run("DuplicateDestination", func(t *testing.T) {
		t.Parallel()
		_, err := dag.Build([]dag.Input{node("d.a"), node("p.d.a")}, opts)
		require.ErrorContains(t, err, "more than one table produces d.a")
	})

	t.Run("WriterOfOtherTableIsProducer", func(t *testing.T) {
		t.Parallel()
		a := node("d.a")
		a.Result.Writes = []sqlref.TableName{tn("d.helper")}
		g, err := dag.Build([]dag.Input{a, node("d.b", "d.helper")}, opts)
		require.NoError(t, err)
		require.Equal(t, []string{"d.a"}, g.Upstream("d.b"))
	})

	t.Run("Deterministic", func(t *testing.T) {
		t.Parallel()
		in := randomInputs(500, 42, true)
		g1, err1 := dag.Build(in, opts)
		rand.New(rand.NewPCG(1, 2)).Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
		g2, err2 := dag.Build(in, opts)
		require.Equal(t, err1, err2)
		require.Equal(t, g1.Layers(), g2.Layers())
		require.Equal(t, g1.Cycles(), g2.Cycles())
		for _, k := range g1.Nodes() {
			require.Equal(t, g1.Upstream(k), g2.Upstream(k))
		}
	})
}

func TestSubgraph(t *testing.T) {
	t.Parallel()
	g, err := dag.Build([]dag.Input{
		node("d.a"), node("d.b", "d.a"), node("d.c", "d.b", "raw.x"), node("d.other", "d.a"),
	}, opts)
	require.NoError(t, err)

	s, err := g.Subgraph([]string{"d.b"}, true)
	require.NoError(t, err)
	require.Equal(t, []string{"d.b", "d.c"}, s.Nodes())
	require.Equal(t, [][]string{{"d.b"}, {"d.c"}}, s.Layers())
	require.Empty(t, s.Upstream("d.b"), "d.a is not in the subgraph, so not waited for")
	require.Equal(t, []string{"raw.x"}, s.Externals())

	s, err = g.Subgraph([]string{"d.b"}, false)
	require.NoError(t, err)
	require.Equal(t, []string{"d.b"}, s.Nodes())

	_, err = g.Subgraph([]string{"d.nope"}, false)
	require.ErrorContains(t, err, "d.nope")
}

// randomInputs makes a layered random graph; with back edges it also has cycles.
func randomInputs(n int, seed uint64, backEdges bool) []dag.Input {
	r := rand.New(rand.NewPCG(seed, seed))
	in := make([]dag.Input, n)
	for i := range n {
		in[i] = node(fmt.Sprintf("d%d.t%05d", i%20, i))
		for range 5 {
			var j int
			if i > 0 {
				j = r.IntN(i)
			}
			if backEdges && r.IntN(200) == 0 {
				j = i + 1 + r.IntN(n-i)
				if j >= n {
					continue
				}
			}
			if i == 0 || r.IntN(10) == 0 {
				in[i].Result.Reads = append(in[i].Result.Reads, tn(fmt.Sprintf("raw.src%d", r.IntN(50))))
				continue
			}
			in[i].Result.Reads = append(in[i].Result.Reads, tn(fmt.Sprintf("d%d.t%05d", j%20, j)))
		}
	}
	return in
}

func TestBuildIsFast(t *testing.T) {
	t.Parallel()
	in := randomInputs(10000, 7, false)
	start := time.Now()
	g, err := dag.Build(in, opts)
	elapsed := time.Since(start)
	require.NoError(t, err)
	require.Equal(t, 10000, g.Len())
	require.Less(t, elapsed, 500*time.Millisecond, "10,000 nodes should build in a few ms (generous bound for a busy machine)")
}

func BenchmarkBuild(b *testing.B) {
	in := randomInputs(10000, 7, false)
	b.ResetTimer()
	for b.Loop() {
		if _, err := dag.Build(in, opts); err != nil {
			b.Fatal(err)
		}
	}
}
