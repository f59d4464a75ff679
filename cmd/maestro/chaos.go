package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/maestro-sql/maestro/internal/chaos"
)

func newChaosCmd() *cobra.Command {
	cfg := chaos.Config{}
	cmd := &cobra.Command{
		Use:   "chaos",
		Short: "Run projects on the production services under injected faults and check the invariants",
		Long: `chaos builds the scheduler, worker and api binaries, starts the Firestore and Pub/Sub
emulators (or uses FIRESTORE_EMULATOR_HOST and PUBSUB_EMULATOR_HOST), fake Cloud Storage, the
BigQuery REST server and Slack's test server, all on loopback, and for each seed runs a generated
project (--nodes tables, a few planted to fail for good) with the scheduler and three workers as
separate processes, while it kill -9s a random worker every few seconds and the scheduler twice,
copies task and completion messages late and out of order, and injects BigQuery transient errors,
lost insert responses, retryable job failures, slow jobs and Firestore commit aborts, all decided
by the seed. After each run it checks, from BigQuery's job log, the store and Slack: every node
succeeded, or failed where planted with everything downstream skipped; no job ran twice; no node's
job was submitted before its upstream jobs succeeded; the run finished once; one Slack message per
planted failure. It prints a line per seed and, last,
seeds=N passed=P nodes=X double_submissions=D lost_nodes=L order_violations=O,
and exits 1 unless every seed passed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if cfg.Binaries == "" {
				root, err := chaos.ModuleRoot(ctx)
				if err != nil {
					return err
				}
				dir, err := os.MkdirTemp("", "maestro-chaos-bin-")
				if err != nil {
					return fmt.Errorf("error making a folder for the service binaries: %w", err)
				}
				defer os.RemoveAll(dir)
				if err := chaos.BuildServices(ctx, root, dir); err != nil {
					return err
				}
				cfg.Binaries = dir
			}
			// The harness's own clients (setting the run up, reading the store) find them in the
			// environment; the services it starts are told.
			fsHost, psHost, stop, err := startEmulators(ctx)
			if err != nil {
				return err
			}
			defer stop()
			cfg.FirestoreHost, cfg.PubSubHost = fsHost, psHost
			res, err := chaos.Run(ctx, cfg, cmd.OutOrStdout())
			if err != nil {
				return err
			}
			if res.Passed != res.Seeds {
				return exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&cfg.Seeds, "seeds", 20, "how many seeds to run, one run each")
	cmd.Flags().Int64Var(&cfg.SeedStart, "seed-start", 1, "the first seed")
	cmd.Flags().IntVar(&cfg.Nodes, "nodes", 500, "tables in each seed's project")
	cmd.Flags().IntVar(&cfg.Layers, "layers", 10, "layers of the project's graph")
	cmd.Flags().IntVar(&cfg.Planted, "planted", 3, "tables per seed planted to fail for good")
	cmd.Flags().IntVar(&cfg.Workers, "workers", 3, "worker processes")
	cmd.Flags().DurationVar(&cfg.SeedLimit, "duration-limit", 4*time.Minute, "the longest one seed's run may take")
	cmd.Flags().StringVar(&cfg.Binaries, "binaries", "", "folder with prebuilt scheduler, worker and api binaries (default: build them)")
	cmd.Flags().StringVar(&cfg.LogDir, "logs", "", "keep the services' logs here, a folder per seed (default: a temporary folder, kept only for failed seeds)")
	return cmd
}
