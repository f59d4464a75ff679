package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/maestro-sql/maestro/internal/engine"
	"github.com/maestro-sql/maestro/internal/gcpemu"
	"github.com/maestro-sql/maestro/internal/queue"
	"github.com/maestro-sql/maestro/internal/queue/pubsubqueue"
	"github.com/maestro-sql/maestro/internal/schedbench"
	"github.com/maestro-sql/maestro/internal/store/firestorestore"
)

// startEmulators starts the Firestore and Pub/Sub emulators and points this process's Google
// clients at them (FIRESTORE_EMULATOR_HOST, PUBSUB_EMULATOR_HOST); stop stops both.
func startEmulators(ctx context.Context) (firestoreHost, pubsubHost string, stop func(), err error) {
	fs, err := gcpemu.StartFirestore(ctx)
	if err != nil {
		return "", "", nil, err
	}
	ps, err := gcpemu.StartPubSub(ctx)
	if err != nil {
		fs.Stop()
		return "", "", nil, err
	}
	os.Setenv("FIRESTORE_EMULATOR_HOST", fs.Host)
	os.Setenv("PUBSUB_EMULATOR_HOST", ps.Host)
	return fs.Host, ps.Host, func() { ps.Stop(); fs.Stop() }, nil
}

func newBenchEmulatorsCmd() *cobra.Command {
	cfg := schedbench.Config{}
	var warmups int
	cmd := &cobra.Command{
		Use:   "emulators",
		Short: "Measure hop latency on the Firestore and Pub/Sub emulators",
		Long: `bench emulators starts the official Firestore and Pub/Sub emulators (or uses
FIRESTORE_EMULATOR_HOST and PUBSUB_EMULATOR_HOST), pushes a random layered graph of no-op tasks
through the production store and queue with the real scheduler and workers, and prints
nodes=N seconds=S nodes_per_s=X hop_p50_ms=A hop_p99_ms=B, then, last, hop_p50_ms=A hop_p99_ms=B,
where a hop is the time from an upstream node finishing to its downstream node starting.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			_, _, stop, err := startEmulators(ctx)
			if err != nil {
				return err
			}
			defer stop()
			// The emulators run on the JVM, which compiles its hot paths during the first runs;
			// those are run and thrown away so the figures are of the protocol, not the JIT.
			var res schedbench.Result
			for i := 0; i <= warmups; i++ {
				if res, err = benchOnEmulators(ctx, cfg); err != nil {
					return fmt.Errorf("error running the benchmark on the emulators: %w", err)
				}
				if i < warmups {
					fmt.Fprintln(cmd.OutOrStdout(), "warm-up:", res.String())
				}
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.String())
			fmt.Fprintf(cmd.OutOrStdout(), "hop_p50_ms=%.3f hop_p99_ms=%.3f\n", ms(res.HopP50), ms(res.HopP99))
			return nil
		},
	}
	cmd.Flags().IntVar(&warmups, "warmups", 2, "runs before the measured one, to warm the emulators' JIT")
	cmd.Flags().IntVar(&cfg.Nodes, "nodes", 200, "nodes in the graph")
	cmd.Flags().IntVar(&cfg.Layers, "layers", 20, "layers in the graph")
	cmd.Flags().IntVar(&cfg.Workers, "workers", 8, "tasks run at once (the services' MAESTRO_WORKERS default)")
	cmd.Flags().Uint64Var(&cfg.Seed, "seed", 1, "random seed of the graph")
	cmd.Flags().IntVar(&cfg.GlobalLimit, "global-limit", 0, "nodes dispatched or running at once (0: no bound)")
	return cmd
}

// benchOnEmulators runs one benchmark in a project of its own on the emulators.
func benchOnEmulators(ctx context.Context, cfg schedbench.Config) (schedbench.Result, error) {
	project := fmt.Sprintf("maestro-bench-%d", time.Now().UnixNano())
	st, err := firestorestore.Open(ctx, project)
	if err != nil {
		return schedbench.Result{}, err
	}
	defer st.Close()
	// As the services open it: several streams per receiver (internal/cloud).
	q, err := pubsubqueue.OpenWithConfig(ctx, project, pubsubqueue.Config{ReceiveStreams: 4})
	if err != nil {
		return schedbench.Result{}, err
	}
	defer q.Close()
	tasks, err := q.CreateSubscription(ctx, engine.TasksSubscription, queue.SubscriptionConfig{
		Topic: engine.TasksTopic, MaxOutstanding: cfg.Workers, AckDeadline: time.Minute})
	if err != nil {
		return schedbench.Result{}, err
	}
	completions, err := q.CreateSubscription(ctx, engine.CompletionsSubscription, queue.SubscriptionConfig{
		Topic: engine.CompletionsTopic, MaxOutstanding: 32, AckDeadline: time.Minute})
	if err != nil {
		return schedbench.Result{}, err
	}
	return schedbench.RunOn(ctx, cfg, schedbench.Backends{Store: st,
		Tasks: q.Topic(engine.TasksTopic), Completions: q.Topic(engine.CompletionsTopic),
		TaskSub: tasks, CompletionSub: completions})
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
