// Command maestro is Maestro's command line: `dev` runs the whole system in one process on
// embedded backends, `refs` and `plan` show what the SQL depends on, and more.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		var ex exitError
		if asExit(err, &ex) {
			os.Exit(ex.code)
		}
		fmt.Fprintln(os.Stderr, "maestro:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "maestro",
		Short:         "Maestro runs BigQuery SQL pipelines whose dependencies come from the SQL itself",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newRefsCmd(), newPlanCmd(), newGenProjectCmd(),
		newDevCmd(), newChaosCmd(), newBenchCmd(), newQueryCmd(), newPushCmd(), newUploadCmd(), newHistoryCmd(),
	)
	root.AddCommand(newCostsCmd())
	root.AddCommand(newTablesCmd(), newRunsCmd(), newRunCmd(), newLogsCmd(), newApplyCmd(), newTriggersCmd())
	return root
}

// exitError ends the process with a code after the command already reported what went wrong.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func asExit(err error, target *exitError) bool {
	e, ok := err.(exitError)
	if ok {
		*target = e
	}
	return ok
}
