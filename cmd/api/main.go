// Command api is Maestro's HTTP API service for Cloud Run: run triggers and listings, the
// project sync that `maestro push` calls, and external tables' signed upload URLs, on Firestore and Pub/Sub. Configuration comes from
// environment variables (deploy/README.md lists them).
package main

import (
	"context"
	"fmt"
	"os"

	"go.uber.org/zap"
	"google.golang.org/api/option"

	"github.com/maestro-sql/maestro/internal/blob/gcsblob"
	"github.com/maestro-sql/maestro/internal/cloud"
	"github.com/maestro-sql/maestro/internal/config"
	"github.com/maestro-sql/maestro/internal/definitions"
	"github.com/maestro-sql/maestro/internal/engine"
	"github.com/maestro-sql/maestro/internal/history"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/secret"
	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/warehouse/bigquerywarehouse"
)

func main() { cloud.Main(config.API, run) }

func run(ctx context.Context, cfg *config.Config, log *zap.Logger) error {
	b, err := cloud.OpenBackends(ctx, cfg)
	if err != nil {
		return err
	}
	defer b.Close()
	st, q := b.Store, b.Queue
	// Starting a run is assembling it in the store and publishing its first tasks: the API does
	// it itself, so a run starts even while the scheduler service is scaled to zero.
	sched := scheduler.New(st, q.Topic(engine.TasksTopic), scheduler.ProjectGraph(cfg.DefaultProject, cfg.DefaultDataset), cloud.APINotifier(cfg, st, log), log,
		scheduler.Config{GlobalLimit: cfg.MaxParallel})
	// External tables' files go straight to the bucket, through URLs this service signs.
	var uploads service.ExternalConfig
	if cfg.Bucket != "" {
		bucket, err := gcsblob.Open(ctx, cfg.Bucket)
		if err != nil {
			return fmt.Errorf("error opening bucket %s: %w", cfg.Bucket, err)
		}
		defer bucket.Close()
		signing, err := cloud.SigningBucket(ctx, cfg, cloud.Secrets(), os.Getenv, bucket)
		if err != nil {
			return err
		}
		uploads = service.ExternalConfig{Bucket: signing, Signer: signing}
	}
	// The history is derived from the store's revisions: an instance starts from an empty
	// folder, fetches the remote and commits only what it lacks.
	var mirror *history.Mirror
	if cfg.HistoryRemote != "" {
		if mirror, err = history.Open(st, history.Config{Dir: cfg.HistoryDir, Branch: cfg.HistoryBranch,
			Remote: cfg.HistoryRemote, Auth: cfg.HistoryAuth, Resolve: secret.Resolver{}.Resolve}, log); err != nil {
			return err
		}
	}
	// Until the API authenticates its callers it acts as one user, "api": an admin unless the
	// store registers "api" with a narrower role.
	acfg := service.APIConfig{User: "api", UserRole: definitions.RoleAdmin,
		DefaultProject: cfg.DefaultProject, DefaultDataset: cfg.DefaultDataset, Pricing: cfg.Pricing,
		External: uploads, History: mirror}
	if cfg.Pricing.EstimateWarnUSD > 0 {
		// Only for dry runs of pushed tables: BigQuery prices them without running anything.
		var bqOpts []option.ClientOption
		if cfg.BigQueryEndpoint != "" {
			bqOpts = append(bqOpts, option.WithEndpoint(cfg.BigQueryEndpoint), option.WithoutAuthentication())
		}
		wh, err := bigquerywarehouse.OpenWithOptions(ctx, cfg.BQProject, &bigquerywarehouse.Options{Location: cfg.BQLocation}, bqOpts...)
		if err != nil {
			return fmt.Errorf("error opening BigQuery of project %s for estimates: %w", cfg.BQProject, err)
		}
		defer wh.Close()
		acfg.DryRun = wh
	}
	h := service.API(st, sched, log, acfg)
	return cloud.Serve(ctx, cfg, h, func(ctx context.Context) error {
		// Catch up on revisions a previous instance could not push; a failure is logged and
		// the next project sync retries.
		_, _ = mirror.Sync(ctx)
		<-ctx.Done()
		return nil
	}, log)
}
