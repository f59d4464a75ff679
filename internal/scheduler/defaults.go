package scheduler

import (
	"context"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/project"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/spec"
)

// ProjectGraph builds the graph of stored tables as a project folder's would be, resolving names
// without a project or dataset against these defaults.
func ProjectGraph(defaultProject, defaultDataset string) GraphFunc {
	return func(ctx context.Context, tables []spec.Table) (Graph, error) {
		return project.Graph(&spec.Project{DefaultProject: defaultProject, DefaultDataset: defaultDataset, Tables: tables})
	}
}

// LogNotifier tells the log what Slack and webhooks will be told once they are configured.
type LogNotifier struct{ Log *zap.Logger }

// RunFinished logs each failed node of a finished run.
func (n LogNotifier) RunFinished(ctx context.Context, r *run.Run, nodes []*run.Node) {
	for _, node := range nodes {
		if node.State == run.NodeFailed {
			n.Log.Error("table failed", zap.String("run_id", r.ID), zap.String("node", node.Name),
				zap.Int("attempt", node.Attempt), zap.String("job_id", node.JobID), zap.String("error", node.Error))
		}
	}
}
