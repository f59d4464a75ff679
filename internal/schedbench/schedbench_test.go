package schedbench

import (
	"regexp"
	"testing"
)

// The benchmark runs every node of its graph through the real store, queue, scheduler and
// workers, with maestro dev's configuration, and reports in the format.
func TestRunRunsEveryNode(t *testing.T) {
	t.Parallel()
	res, err := Run(t.Context(), Config{Nodes: 600, Layers: 6, Workers: 4, GlobalLimit: 4, Seed: 3, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Nodes != 600 {
		t.Fatalf("the run had %d nodes, want 600", res.Nodes)
	}
	if res.Start <= 0 || res.Start.Seconds() >= res.Seconds || res.HopP99 < res.HopP50 {
		t.Errorf("implausible figures: %+v", res)
	}
	line := regexp.MustCompile(`^nodes=600 seconds=[0-9.]+ nodes_per_s=[0-9]+ hop_p50_ms=[0-9.]+ hop_p99_ms=[0-9.]+$`)
	if !line.MatchString(res.String()) {
		t.Errorf("last line %q is not in the issue's format", res.String())
	}
}
