package cloud

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/blob/gcsblob"
	"github.com/maestro-sql/maestro/internal/callback"
	"github.com/maestro-sql/maestro/internal/config"
	"github.com/maestro-sql/maestro/internal/exporter"
	"github.com/maestro-sql/maestro/internal/external"
	"github.com/maestro-sql/maestro/internal/importer"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/secret"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/warehouse"
	"github.com/maestro-sql/maestro/internal/warehouse/bigquerywarehouse"
	"github.com/maestro-sql/maestro/internal/worker"
)

// WorkerParts are what the worker's executors use beside the configuration.
type WorkerParts struct {
	// Connections lists the project's connections (the store's).
	Connections func(ctx context.Context) ([]spec.Connection, error)
	Warehouse   *bigquerywarehouse.Warehouse
	// Secrets resolves connection and callback secrets; see Secrets.
	Secrets secret.Resolver
	// Runs reads a run: a sheet export names its tab by the run's creation time.
	Runs func(ctx context.Context, id string) (*run.Run, error)
	// Deliveries keeps every callback delivery attempt (the store).
	Deliveries exporter.DeliveryRecorder
	// Getenv reads STORAGE_EMULATOR_HOST, which points signed URLs at an emulator.
	Getenv func(string) string
	Log    *zap.Logger
}

// WorkerExecutors assembles the worker's executors by node kind: "query" runs SQL in BigQuery,
// "import" copies a source database's rows through the bucket into BigQuery (PostgreSQL and
// MySQL: a SQLite file is out of a Cloud Run worker's reach), "external" waits for another
// system's upload into the bucket and loads it, and all then run the table's exports — an
// extract job into the bucket, a Google Sheet tab or a PostgreSQL table — each with a signed
// callback (a V4 signed URL of a file). close releases the bucket's client.
//
// Without a bucket (MAESTRO_BUCKET unset) queries without exports still run; imports and
// exports fail for good with an error naming the setting.
func WorkerExecutors(ctx context.Context, cfg *config.Config, p WorkerParts) (execs map[string]worker.Executor, close func() error, err error) {
	query := &worker.QueryExecutor{Warehouse: p.Warehouse, DefaultProject: cfg.DefaultProject, DefaultDataset: cfg.DefaultDataset}
	if cfg.Bucket == "" {
		p.Log.Warn("MAESTRO_BUCKET is not set: import tables and exports will fail")
		return map[string]worker.Executor{"query": noBucket{query}, "import": noBucket{}, external.Kind: noBucket{}},
			func() error { return nil }, nil
	}
	bucket, err := gcsblob.Open(ctx, cfg.Bucket)
	if err != nil {
		return nil, nil, fmt.Errorf("error opening bucket %s: %w", cfg.Bucket, err)
	}
	signing, err := SigningBucket(ctx, cfg, p.Secrets, p.Getenv, bucket)
	if err != nil {
		_ = bucket.Close()
		return nil, nil, err
	}
	// "bucket" or "bucket/prefix": the bucket's part of gs:// URIs.
	location := strings.TrimSuffix(strings.TrimPrefix(bucket.URI(""), "gs://"), "/")
	imports := &importer.Importer{
		Connections: p.Connections,
		Resolve:     p.Secrets.Resolve,
		Drivers:     importer.ServerDrivers(),
		Bucket:      bucket, BucketName: location,
		Warehouse:      p.Warehouse,
		DefaultProject: cfg.DefaultProject, DefaultDataset: cfg.DefaultDataset,
	}
	exports := &exporter.Exporter{
		Warehouse: p.Warehouse, BucketName: location,
		FileURL: func(ctx context.Context, key string) (callback.File, error) {
			expires := time.Now().Add(cfg.SignedURLExpiry)
			u, err := signing.SignedURL(ctx, key, http.MethodGet, cfg.SignedURLExpiry)
			if err != nil {
				return callback.File{}, err
			}
			return callback.File{URL: u, ExpiresAt: expires.UTC().Truncate(time.Second)}, nil
		},
		// Refused by default: loopback, private ranges, link-local and the metadata server.
		Callbacks:      callback.New(callback.Config{Allow: cfg.CallbackAllow}),
		Resolve:        p.Secrets.Resolve,
		DefaultProject: cfg.DefaultProject, DefaultDataset: cfg.DefaultDataset,
		Bucket: bucket,
		Sheets: exporter.SheetsService(""),
		RunTime: func(ctx context.Context, id string) (time.Time, error) {
			r, err := p.Runs(ctx, id)
			if err != nil {
				return time.Time{}, err
			}
			return r.CreatedAt, nil
		},
		Connections: p.Connections,
		Deliveries:  p.Deliveries,
	}
	externals := &external.Executor{
		Bucket: bucket, URI: bucket.URI, Warehouse: p.Warehouse,
		DefaultProject: cfg.DefaultProject, DefaultDataset: cfg.DefaultDataset, Log: p.Log,
	}
	return map[string]worker.Executor{"query": exports.Wrap(query), "import": exports.Wrap(imports),
		external.Kind: exports.Wrap(externals)}, bucket.Close, nil
}

// SigningBucket is bucket signing URLs as the configuration says: as the service's own account
// (IAM signBlob on Cloud Run), as MAESTRO_SIGNED_URL_SERVICE_ACCOUNT through IAM, or with that
// account's key from MAESTRO_SIGNED_URL_KEY. Against an emulator (STORAGE_EMULATOR_HOST, read
// with getenv when it is not nil) the URLs point at it.
func SigningBucket(ctx context.Context, cfg *config.Config, secrets secret.Resolver, getenv func(string) string, bucket *gcsblob.Bucket) (*gcsblob.Bucket, error) {
	opts := gcsblob.SignOptions{ServiceAccount: cfg.SignerAccount}
	if cfg.SignerKeyRef != "" {
		key, err := secrets.Resolve(ctx, cfg.SignerKeyRef)
		if err != nil {
			return nil, fmt.Errorf("error reading MAESTRO_SIGNED_URL_KEY: %w", err)
		}
		opts.PrivateKey = []byte(key)
	}
	if getenv != nil {
		if host := getenv("STORAGE_EMULATOR_HOST"); host != "" {
			opts.BaseURL = host
			if !strings.Contains(host, "://") {
				opts.BaseURL = "http://" + host
			}
		}
	}
	signing, err := bucket.WithSigning(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("error setting up URL signing: %w", err)
	}
	return signing, nil
}

// noBucket stands in when no bucket is configured: imports fail, and so do tables with
// exports, before any work, naming the setting.
type noBucket struct {
	query worker.Executor // nil for imports
}

func (e noBucket) Execute(ctx context.Context, jobID string, t spec.Table, n *run.Node) (run.Stats, error) {
	switch {
	case e.query == nil:
		return run.Stats{}, &warehouse.JobError{JobID: jobID, Reason: "invalid",
			Message: fmt.Sprintf("%s table %s needs a bucket for its files, and this worker has none: set MAESTRO_BUCKET", t.Kind, t.Name)}
	case len(t.Exports) > 0:
		return run.Stats{}, &warehouse.JobError{JobID: jobID, Reason: "invalid",
			Message: fmt.Sprintf("table %s has exports, which need a bucket, and this worker has none: set MAESTRO_BUCKET", t.Name)}
	}
	return e.query.Execute(ctx, jobID, t, n)
}
