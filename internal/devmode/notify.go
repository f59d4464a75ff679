package devmode

import (
	"context"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/run"
)

// logNotifier tells the log what Slack and webhooks will be told once they are configured.
type logNotifier struct{ log *zap.Logger }

func (n logNotifier) RunFinished(ctx context.Context, r *run.Run, nodes []*run.Node) {
	for _, node := range nodes {
		if node.State == run.NodeFailed {
			n.log.Error("table failed", zap.String("run_id", r.ID), zap.String("node", node.Name),
				zap.Int("attempt", node.Attempt), zap.String("job_id", node.JobID), zap.String("error", node.Error))
		}
	}
}
