package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/store/sqlitestore"
)

// benchAPIConfig is what maestro bench api measures.
type benchAPIConfig struct {
	tables   int
	path     string
	rate     int
	duration time.Duration
	warmup   time.Duration
	wrk      bool
	// wrkThreads and wrkConns are wrk's -t and -c.
	wrkThreads, wrkConns int
}

func newBenchAPICmd() *cobra.Command {
	cfg := benchAPIConfig{}
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Drive the JSON API at a constant request rate and print its latency percentiles",
		Long: `bench api stores --tables tables in a SQLite store, serves the JSON API (service.API, a
viewer's token) on a loopback port, and sends GET --path at a constant --rate for --duration from an
open-loop generator: requests leave on schedule whether or not earlier ones have been answered, and
each latency counts from when its request was due, so a slow server cannot hide its queue
(coordinated omission). Before measuring it sends --warmup of the same load.

When the wrk binary is on PATH (Debian package wrk) and --wrk is left on, it first runs wrk on the
same URL with a Lua script that paces each thread to its share of --rate, and prints wrk's latency
distribution for comparison (wrk times each request from when it is sent).

It prints, last:
requests=N errors=E rate_per_s=R p50_ms=A p90_ms=B p99_ms=C max_ms=D`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBenchAPI(cmd.Context(), cfg, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().IntVar(&cfg.tables, "tables", 1000, "tables stored")
	cmd.Flags().StringVar(&cfg.path, "path", "/api/v1/tables?limit=100", "path and query requested")
	cmd.Flags().IntVar(&cfg.rate, "rate", 500, "requests per second")
	cmd.Flags().DurationVar(&cfg.duration, "duration", 10*time.Second, "how long to measure")
	cmd.Flags().DurationVar(&cfg.warmup, "warmup", 2*time.Second, "load sent before measuring")
	cmd.Flags().BoolVar(&cfg.wrk, "wrk", true, "also run wrk when it is on PATH")
	cmd.Flags().IntVar(&cfg.wrkThreads, "wrk-threads", 2, "wrk's threads (-t)")
	cmd.Flags().IntVar(&cfg.wrkConns, "wrk-connections", 32, "wrk's connections (-c)")
	return cmd
}

func runBenchAPI(ctx context.Context, cfg benchAPIConfig, stdout, stderr io.Writer) error {
	if cfg.rate <= 0 || cfg.duration <= 0 {
		return errors.New("--rate and --duration must be positive")
	}
	dir, err := os.MkdirTemp("", "maestro-bench-api-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, err := sqlitestore.Open(ctx, filepath.Join(dir, "maestro.db"))
	if err != nil {
		return fmt.Errorf("error opening the store: %w", err)
	}
	defer st.Close()
	for i := range cfg.tables {
		if _, err := st.TablePut(ctx, &store.TablePutParams{Create: true, User: "bench", Table: spec.Table{
			Name: fmt.Sprintf("ds.t%05d", i), Kind: "query", Group: "g", Owner: "bench@example.com",
			SQL: fmt.Sprintf("SELECT %d AS x, name FROM ds.src WHERE id > %d", i, i)}}); err != nil {
			return fmt.Errorf("error storing table %d: %w", i, err)
		}
	}
	if err := st.UserPut(ctx, store.User{Email: "bench@example.com", Role: "viewer"}); err != nil {
		return fmt.Errorf("error adding the bench user: %w", err)
	}
	token, _, err := service.NewToken(ctx, st, "bench@example.com", "bench", time.Now())
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("error listening on loopback: %w", err)
	}
	srv := &http.Server{Handler: service.API(st, nil, zap.NewNop(), service.APIConfig{}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	url := "http://" + ln.Addr().String() + cfg.path
	fmt.Fprintf(stderr, "serving %d tables at %s\n", cfg.tables, url)

	gen := &openLoop{url: url, token: token, rate: cfg.rate, client: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: time.Minute},
	}}
	if cfg.warmup > 0 {
		if _, err := gen.run(ctx, cfg.warmup); err != nil {
			return err
		}
	}
	if path, err := exec.LookPath("wrk"); err == nil && cfg.wrk {
		if err := runWrk(ctx, path, dir, url, token, cfg, stdout, stderr); err != nil {
			return err
		}
	}
	res, err := gen.run(ctx, cfg.duration)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, res)
	return nil
}

// openLoop sends GET url at a constant rate, each request on its own goroutine when it falls due.
type openLoop struct {
	url, token string
	rate       int
	client     *http.Client
}

// loadResult is what a load run measured.
type loadResult struct {
	requests, errors int
	elapsed          time.Duration
	// latencies are of the successful requests, from when each was due to its last byte read.
	latencies []time.Duration
}

func (r *loadResult) String() string {
	slices.Sort(r.latencies)
	pct := func(p float64) string {
		if len(r.latencies) == 0 {
			return "NaN"
		}
		i := int(p*float64(len(r.latencies))+0.5) - 1
		i = max(0, min(i, len(r.latencies)-1))
		return strconv.FormatFloat(ms(r.latencies[i]), 'f', 2, 64)
	}
	maxLat := "NaN"
	if len(r.latencies) > 0 {
		maxLat = strconv.FormatFloat(ms(r.latencies[len(r.latencies)-1]), 'f', 2, 64)
	}
	return fmt.Sprintf("requests=%d errors=%d rate_per_s=%.1f p50_ms=%s p90_ms=%s p99_ms=%s max_ms=%s",
		r.requests, r.errors, float64(r.requests-r.errors)/r.elapsed.Seconds(), pct(0.50), pct(0.90), pct(0.99), maxLat)
}

// run sends rate×d requests, one every 1/rate s from now, and waits for every answer. The
// achieved rate is the answered requests over the time from the first being due to the last
// answer: it falls short of the rate when the server (or this machine) cannot keep up.
func (g *openLoop) run(ctx context.Context, d time.Duration) (*loadResult, error) {
	n := int(d.Seconds() * float64(g.rate))
	interval := time.Second / time.Duration(g.rate)
	res := &loadResult{requests: n, latencies: make([]time.Duration, 0, n)}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			select {
			case <-ctx.Done():
				wg.Wait()
				return nil, ctx.Err()
			case <-time.After(wait):
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := g.get(ctx)
			lat := time.Since(due)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.errors++
				return
			}
			res.latencies = append(res.latencies, lat)
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res, nil
}

func (g *openLoop) get(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+g.token)
	resp, err := g.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// wrkPacing makes each wrk thread send its share of the rate: every request takes the thread's
// next free slot (one every 1000 × threads / rate ms) and waits for it, read on a monotonic
// clock through LuaJIT's FFI. wrk starts each request's timer when the request is written, so the
// wait is not counted as latency.
const wrkPacing = `local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } maestro_timespec;
int clock_gettime(int clk_id, maestro_timespec *tp);
]]
local ts = ffi.new("maestro_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
local interval, nextSlot
function init(args)
  interval = 1000 * tonumber(args[2]) / tonumber(args[1])
end
function delay()
  local t = now_ms()
  if nextSlot == nil or nextSlot < t then nextSlot = t end
  local wait = nextSlot - t
  nextSlot = nextSlot + interval
  return math.floor(wait)
end
`

// runWrk runs wrk on url, paced to cfg.rate, and copies its report to stdout.
func runWrk(ctx context.Context, wrk, dir, url, token string, cfg benchAPIConfig, stdout, stderr io.Writer) error {
	script := filepath.Join(dir, "pace.lua")
	if err := os.WriteFile(script, []byte(wrkPacing), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrk -t%d -c%d -d%s --latency, paced to %d requests/s:\n", cfg.wrkThreads, cfg.wrkConns, cfg.duration, cfg.rate)
	cmd := exec.CommandContext(ctx, wrk, "-t"+strconv.Itoa(cfg.wrkThreads), "-c"+strconv.Itoa(cfg.wrkConns),
		"-d"+strconv.Itoa(int(cfg.duration.Seconds()))+"s", "--latency", "-s", script,
		"-H", "Authorization: Bearer "+token, url, "--", strconv.Itoa(cfg.rate), strconv.Itoa(cfg.wrkThreads))
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("error running wrk: %w", err)
	}
	return nil
}
