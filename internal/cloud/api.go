package cloud

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"

	"go.uber.org/zap"
	"google.golang.org/api/option"

	"github.com/maestro-sql/maestro/internal/blob/gcsblob"
	"github.com/maestro-sql/maestro/internal/config"
	"github.com/maestro-sql/maestro/internal/history"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/secret"
	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/warehouse/bigquerywarehouse"
)

// APIService assembles the api service's handler: the JSON API with external tables' uploads
// signed on MAESTRO_BUCKET, the Git history pushed to MAESTRO_HISTORY_REMOTE, dry-run estimates
// of pushed tables when MAESTRO_ESTIMATE_WARN_USD is set, and the first admins of
// MAESTRO_ADMINS. loop runs beside the server; closeAll releases what was opened.
func APIService(ctx context.Context, cfg *config.Config, st store.Store, sched *scheduler.Scheduler, log *zap.Logger) (h http.Handler, loop func(context.Context) error, closeAll func(), err error) {
	var closers []func()
	closeAll = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()
	if err := ensureAdmins(ctx, st, cfg.Admins, log); err != nil {
		return nil, nil, nil, err
	}
	acfg := service.APIConfig{DefaultProject: cfg.DefaultProject, DefaultDataset: cfg.DefaultDataset,
		IAP: service.IAPConfig{Audience: cfg.IAPAudience, JWKSURL: cfg.IAPJWKSURL}, IAPDefaultRole: cfg.IAPDefaultRole,
		Pricing: cfg.Pricing}
	// External tables' files go straight to the bucket, through URLs this service signs.
	if cfg.Bucket != "" {
		bucket, err := gcsblob.Open(ctx, cfg.Bucket)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("error opening bucket %s: %w", cfg.Bucket, err)
		}
		closers = append(closers, func() { _ = bucket.Close() })
		signing, err := SigningBucket(ctx, cfg, Secrets(), os.Getenv, bucket)
		if err != nil {
			return nil, nil, nil, err
		}
		acfg.External = service.ExternalConfig{Bucket: signing, Signer: signing}
	}
	// The history is derived from the store's revisions: an instance starts from an empty
	// folder, fetches the remote and commits only what it lacks.
	var mirror *history.Mirror
	if cfg.HistoryRemote != "" {
		if mirror, err = history.Open(st, history.Config{Dir: cfg.HistoryDir, Branch: cfg.HistoryBranch,
			Remote: cfg.HistoryRemote, Auth: cfg.HistoryAuth, Resolve: secret.Resolver{}.Resolve}, log); err != nil {
			return nil, nil, nil, err
		}
		acfg.History = mirror
	}
	if cfg.Pricing.EstimateWarnUSD > 0 {
		// Only for dry runs of pushed tables: BigQuery prices them without running anything.
		var bqOpts []option.ClientOption
		if cfg.BigQueryEndpoint != "" {
			bqOpts = append(bqOpts, option.WithEndpoint(cfg.BigQueryEndpoint), option.WithoutAuthentication())
		}
		wh, err := bigquerywarehouse.OpenWithOptions(ctx, cfg.BQProject, &bigquerywarehouse.Options{Location: cfg.BQLocation}, bqOpts...)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("error opening BigQuery of project %s for estimates: %w", cfg.BQProject, err)
		}
		closers = append(closers, func() { _ = wh.Close() })
		acfg.DryRun = wh
	}
	if acfg.Slack, acfg.TriggerKey, err = Inbound(ctx, cfg, Secrets()); err != nil {
		return nil, nil, nil, err
	}
	loop = func(ctx context.Context) error {
		if mirror != nil {
			// Catch up on revisions a previous instance could not push; a failure is logged
			// and the next project sync retries.
			_, _ = mirror.Sync(ctx)
		}
		<-ctx.Done()
		return nil
	}
	return service.API(st, sched, log, acfg), loop, closeAll, nil
}

// ensureAdmins makes the configured e-mails admins, keeping their name and group: the first
// admin has to come from somewhere, and the API lets only admins add users.
func ensureAdmins(ctx context.Context, st store.Store, admins []string, log *zap.Logger) error {
	for _, email := range admins {
		u, err := st.UserGet(ctx, email)
		switch {
		case errors.Is(err, store.ErrNotFound):
			u = &store.User{Email: email}
		case err != nil:
			return fmt.Errorf("error reading admin %s: %w", email, err)
		case u.Role == "admin":
			continue
		}
		u.Role = "admin"
		if err := st.UserPut(ctx, *u); err != nil {
			return fmt.Errorf("error making %s an admin: %w", email, err)
		}
		log.Info("made an admin (MAESTRO_ADMINS)", zap.String("email", email))
	}
	return nil
}
