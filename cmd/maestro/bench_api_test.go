package main

import (
	"bytes"
	"context"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestBenchAPI: bench api answers every request it sends (a listing of the stored tables, with a
// valid token) and prints its figures last, in the documented format.
func TestBenchAPI(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, runBenchAPI(context.Background(), benchAPIConfig{tables: 20, path: "/api/v1/tables?limit=5",
		rate: 50, duration: time.Second}, &out, io.Discard))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Regexp(t, `^requests=50 errors=0 rate_per_s=[0-9.]+ p50_ms=[0-9.]+ p90_ms=[0-9.]+ p99_ms=[0-9.]+ max_ms=[0-9.]+$`, lines[len(lines)-1])
}

// TestBenchAPIWrk: with wrk installed, its paced run reports and the generator's line still
// comes last.
func TestBenchAPIWrk(t *testing.T) {
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Skip("wrk is not installed (Debian package wrk)")
	}
	var out bytes.Buffer
	require.NoError(t, runBenchAPI(context.Background(), benchAPIConfig{tables: 20, path: "/api/v1/tables?limit=5",
		rate: 50, duration: time.Second, wrk: true, wrkThreads: 1, wrkConns: 4}, &out, io.Discard))
	require.Contains(t, out.String(), "Latency Distribution")
	// wrk reports answers other than 2xx; the token must have been sent.
	require.NotContains(t, out.String(), "Non-2xx")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.True(t, strings.HasPrefix(lines[len(lines)-1], "requests=50 errors=0 "), lines[len(lines)-1])
}
