package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/maestro-sql/maestro/internal/project/projectgen"
)

// newGenProjectCmd is a hidden command that writes a synthetic project folder, for measuring
// `maestro plan` and the scheduler on large graphs.
func newGenProjectCmd() *cobra.Command {
	var opts projectgen.Options
	cmd := &cobra.Command{
		Use:    "gen-project DIR",
		Short:  "Write a synthetic project folder (for benchmarks)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := projectgen.Write(args[0], opts); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %d tables to %s\n", opts.Tables, args[0])
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.Tables, "tables", 10000, "number of tables")
	f.IntVar(&opts.Datasets, "datasets", 20, "number of datasets")
	f.IntVar(&opts.Layers, "layers", 25, "depth of the graph")
	f.Uint64Var(&opts.Seed, "seed", 1, "random seed (same seed, same project)")
	return cmd
}
