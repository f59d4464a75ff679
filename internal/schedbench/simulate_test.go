package schedbench

import "testing"

// On the benchmark's graph an idealised scheduler that starts ready nodes in the order they
// became ready makes most of them wait for a backlog of hundreds; starting the deepest first
// leaves most hops at zero and a short tail. The figures are the bound the README quotes.
func TestSimulatedHopsDeepestFirstBeatsFIFO(t *testing.T) {
	fifo, err := Simulate(10000, 20, 1, PolicyFIFO, 25)
	if err != nil {
		t.Fatal(err)
	}
	deepest, err := Simulate(10000, 20, 1, PolicyDeepest, 25)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(fifo)
	t.Log(deepest)
	if fifo.HopP50Units < 100 {
		t.Errorf("FIFO hop p50 = %d units, want a backlog of at least 100", fifo.HopP50Units)
	}
	if deepest.HopP50Units > 2 || deepest.HopP99Units*5 > fifo.HopP99Units {
		t.Errorf("deepest first: p50 %d, p99 %d units; want p50 at most 2 and p99 under a fifth of FIFO's %d",
			deepest.HopP50Units, deepest.HopP99Units, fifo.HopP99Units)
	}
	lastReady, err := Simulate(10000, 20, 1, PolicyDeepestLastReady, 25)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(lastReady)
	if lastReady.HopP99Units >= deepest.HopP99Units {
		t.Errorf("deepest, last ready first: p99 %d units, want under deepest first's %d", lastReady.HopP99Units, deepest.HopP99Units)
	}
	if _, err := Simulate(100, 5, 1, "random", 25); err == nil {
		t.Error("an unknown policy was accepted")
	}
}
