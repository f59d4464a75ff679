package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/spf13/cobra"

	"github.com/maestro-sql/maestro/internal/schedbench"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "bench", Short: "Measure Maestro's own machinery"}
	cfg := schedbench.Config{}
	var (
		cpuProfile string
		simulate   bool
	)
	sched := &cobra.Command{
		Use:   "scheduler",
		Short: "Push a random layered graph of no-op tasks through the real scheduler, queue, store and workers",
		Long: `bench scheduler builds a random layered graph (fan-in 1-5) of no-op tasks, runs it on the
embedded backends (SQLite store, in-process queue) and prints, last:
nodes=N seconds=S nodes_per_s=X hop_p50_ms=A hop_p99_ms=B
where a hop is the time from an upstream node finishing to its downstream node starting.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := os.MkdirTemp("", "maestro-bench-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			cfg.Dir = dir
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			if simulate {
				// 5 ms at 5,000 nodes/s is 25 nodes' time.
				for _, p := range []schedbench.Policy{schedbench.PolicyFIFO, schedbench.PolicyDeepest, schedbench.PolicyDeepestLastReady} {
					sim, err := schedbench.Simulate(cfg.Nodes, cfg.Layers, cfg.Seed, p, 25)
					if err != nil {
						return err
					}
					fmt.Fprintln(cmd.OutOrStdout(), sim.String())
				}
				return nil
			}
			if cfg.GlobalLimit < 0 {
				// As maestro dev: the limit is the worker slots, so ready nodes wait in the
				// store, where a freed slot takes the deepest first, not in the queue.
				cfg.GlobalLimit = cfg.Workers
			}
			res, err := schedbench.Run(cmd.Context(), cfg)
			if err != nil {
				return fmt.Errorf("error running the scheduler benchmark: %w", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.Detail())
			fmt.Fprintln(cmd.OutOrStdout(), res.String())
			return nil
		},
	}
	sched.Flags().IntVar(&cfg.Nodes, "nodes", 10000, "nodes in the graph")
	sched.Flags().IntVar(&cfg.Layers, "layers", 20, "layers in the graph")
	sched.Flags().IntVar(&cfg.Workers, "workers", 4, "tasks run at once (maestro dev's default)")
	sched.Flags().Uint64Var(&cfg.Seed, "seed", 1, "random seed of the graph")
	sched.Flags().IntVar(&cfg.GlobalLimit, "global-limit", -1,
		"nodes dispatched or running at once (0: no bound; default: --workers, as maestro dev)")
	sched.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile to this file")
	sched.Flags().BoolVar(&simulate, "simulate", false,
		"instead, run the graph through an idealised single-writer scheduler and print its hops in units of one node's time")
	cmd.AddCommand(sched, newBenchEmulatorsCmd(), newBenchExtractCmd(), newBenchAPICmd())
	return cmd
}
