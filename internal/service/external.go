package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/blob"
	"github.com/maestro-sql/maestro/internal/external"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

// URLSigner signs URLs that let their holder act on one object without credentials
// (gcsblob.Bucket after WithSigning).
type URLSigner interface {
	SignedURL(ctx context.Context, key, method string, expires time.Duration) (string, error)
}

// ExternalConfig configures the upload routes of external tables.
type ExternalConfig struct {
	// Bucket is where uploads land: the bucket the workers' external executor reads. Nil: the
	// routes answer 503.
	Bucket blob.Bucket
	// Signer, when set, signs PUT URLs on Bucket, so that uploads go straight to Cloud Storage.
	// Nil (maestro dev, whose local folder cannot sign): the API receives uploads itself at
	// PUT /api/v1/runs/{id}/tables/{table}/data, from a caller with the same API token (an
	// editor of the table's group) that asked for the URL.
	Signer URLSigner
	// BaseURL is this API's scheme and host as uploaders reach it, for the data URL when there
	// is no Signer. Defaults to http://<the request's Host>.
	BaseURL string
	// MaxUploadBytes bounds a file received at PUT .../data. Defaults to 1 GiB.
	MaxUploadBytes int64
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
}

// minUploadURLExpiry is the least an upload URL is valid for: even when the wait is nearly
// over, the uploader gets a URL it can use.
const minUploadURLExpiry = time.Minute

type externalAPI struct {
	st  store.Store
	log *zap.Logger
	cfg ExternalConfig
}

// newExternalAPI makes the handlers of the upload routes of external tables (see routeTable).
func newExternalAPI(st store.Store, log *zap.Logger, cfg ExternalConfig) *externalAPI {
	if cfg.MaxUploadBytes <= 0 {
		cfg.MaxUploadBytes = 1 << 30
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &externalAPI{st: st, log: log, cfg: cfg}
}

// uploadJSON says where and how to upload an external table's file.
type uploadJSON struct {
	UploadURL string            `json:"upload_url"`
	Method    string            `json:"method"`
	Headers   map[string]string `json:"headers"`
	ExpiresAt time.Time         `json:"expires_at"`
	Format    string            `json:"format"`
	Header    bool              `json:"header"`
}

// uploadedJSON acknowledges a complete upload.
type uploadedJSON struct {
	Run    string `json:"run"`
	Table  string `json:"table"`
	Status string `json:"status"`
}

// waiting is an external table of a running run that has not finished.
type waiting struct {
	runID string
	table spec.Table
	node  *run.Node
}

// find checks that the request names an external table its run still waits for (pending,
// ready or running: an upload made before the table starts waiting is found when it does). It
// writes the error response and returns nil otherwise.
func (x *externalAPI) find(w http.ResponseWriter, r *http.Request) *waiting {
	if x.cfg.Bucket == nil {
		writeJSONError(w, http.StatusServiceUnavailable, "this server has no bucket for uploads of external tables")
		return nil
	}
	ctx := r.Context()
	runID, name := r.PathValue("id"), strings.ToLower(r.PathValue("table"))
	rn, err := x.st.RunGet(ctx, runID)
	if err != nil {
		x.storeError(w, err, fmt.Sprintf("no run %q", runID))
		return nil
	}
	if rn.State != run.RunRunning {
		writeJSONError(w, http.StatusConflict, fmt.Sprintf("run %s is %s: it no longer waits for uploads", runID, rn.State))
		return nil
	}
	n, err := x.st.NodeGet(ctx, runID, name)
	if err != nil {
		x.storeError(w, err, fmt.Sprintf("run %s has no table %q", runID, name))
		return nil
	}
	if n.Kind != external.Kind {
		writeJSONError(w, http.StatusConflict, fmt.Sprintf("%s is a table of kind %q: only external tables take uploads", name, n.Kind))
		return nil
	}
	if n.State.Terminal() {
		writeJSONError(w, http.StatusConflict, fmt.Sprintf("%s has %s in run %s: it no longer waits for an upload", name, n.State, runID))
		return nil
	}
	rec, err := x.st.TableGet(ctx, name)
	if err != nil {
		x.storeError(w, err, fmt.Sprintf("table %q no longer exists", name))
		return nil
	}
	if rec.Table.External == nil {
		writeJSONError(w, http.StatusConflict, fmt.Sprintf("%s is no longer an external table", name))
		return nil
	}
	// Uploading a table's rows is writing the table.
	if !canWriteTable(w, r, name, rec.Table.Group) {
		return nil
	}
	return &waiting{runID: runID, table: rec.Table, node: n}
}

func (x *externalAPI) storeError(w http.ResponseWriter, err error, notFound string) {
	if errors.Is(err, store.ErrNotFound) {
		writeJSONError(w, http.StatusNotFound, notFound)
		return
	}
	x.log.Error("external upload: reading the store", zap.Error(err))
	writeJSONError(w, http.StatusInternalServerError, "the store could not be read; see the log")
}

var contentTypes = map[string]string{"csv": "text/csv", "json": "application/x-ndjson"}

// upload answers where and how to upload the file: a signed PUT URL valid until the table's
// wait ends (when it has begun; else for the whole timeout).
func (x *externalAPI) upload(w http.ResponseWriter, r *http.Request) {
	wt := x.find(w, r)
	if wt == nil {
		return
	}
	ctx := r.Context()
	now := x.cfg.Now()
	ext := wt.table.External
	until := now.Add(external.Timeout(ext))
	started, ok, err := external.Started(ctx, x.cfg.Bucket, wt.runID, wt.table.Name)
	if err != nil {
		x.log.Error("external upload", zap.String("run_id", wt.runID), zap.String("node", wt.table.Name), zap.Error(err))
		writeJSONError(w, http.StatusInternalServerError, "the upload could not be prepared; see the log")
		return
	}
	if ok {
		until = started.Add(external.Timeout(ext))
	}
	expires := min(max(until.Sub(now), minUploadURLExpiry), 7*24*time.Hour)
	key := external.DataKey(wt.runID, wt.table.Name, ext.Format)
	var uploadURL string
	if x.cfg.Signer != nil {
		if uploadURL, err = x.cfg.Signer.SignedURL(ctx, key, http.MethodPut, expires); err != nil {
			x.log.Error("external upload: signing the URL", zap.String("run_id", wt.runID), zap.String("node", wt.table.Name), zap.Error(err))
			writeJSONError(w, http.StatusInternalServerError, "the upload URL could not be signed; see the log")
			return
		}
	} else {
		base := x.cfg.BaseURL
		if base == "" {
			base = "http://" + r.Host
		}
		uploadURL = strings.TrimSuffix(base, "/") + APIPrefix + "/runs/" + wt.runID + "/tables/" + wt.table.Name + "/data"
	}
	writeJSON(w, uploadJSON{UploadURL: uploadURL, Method: http.MethodPut,
		Headers: map[string]string{"Content-Type": contentTypes[ext.Format]}, ExpiresAt: now.Add(expires).UTC(),
		Format: ext.Format, Header: ext.Header})
}

// data receives an upload when the bucket cannot sign URLs (maestro dev).
func (x *externalAPI) data(w http.ResponseWriter, r *http.Request) {
	if x.cfg.Signer != nil {
		// Files go straight to Cloud Storage: Cloud Run caps request bodies at 32 MiB.
		writeJSONError(w, http.StatusNotFound, "this server takes no files itself: PUT the file to the upload_url that POST /runs/{id}/tables/{table}/upload returns")
		return
	}
	wt := x.find(w, r)
	if wt == nil {
		return
	}
	key := external.DataKey(wt.runID, wt.table.Name, wt.table.External.Format)
	body := http.MaxBytesReader(w, r.Body, x.cfg.MaxUploadBytes)
	if err := x.cfg.Bucket.Write(r.Context(), key, body); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeJSONError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the file is larger than %d bytes", x.cfg.MaxUploadBytes))
			return
		}
		x.log.Error("external upload: writing the file", zap.String("run_id", wt.runID), zap.String("node", wt.table.Name), zap.Error(err))
		writeJSONError(w, http.StatusInternalServerError, "the file could not be stored; see the log")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// uploaded marks the upload complete, once its file is there and not empty; the table's wait
// then ends at its next look.
func (x *externalAPI) uploaded(w http.ResponseWriter, r *http.Request) {
	wt := x.find(w, r)
	if wt == nil {
		return
	}
	ctx := r.Context()
	key := external.DataKey(wt.runID, wt.table.Name, wt.table.External.Format)
	exists, nonEmpty, err := external.Exists(ctx, x.cfg.Bucket, key)
	switch {
	case err != nil:
		x.log.Error("external upload: reading the file", zap.String("run_id", wt.runID), zap.String("node", wt.table.Name), zap.Error(err))
		writeJSONError(w, http.StatusInternalServerError, "the file could not be read; see the log")
		return
	case !exists:
		writeJSONError(w, http.StatusConflict, fmt.Sprintf("no file was uploaded for %s in run %s: PUT it to the upload_url first", wt.table.Name, wt.runID))
		return
	case !nonEmpty:
		writeJSONError(w, http.StatusUnprocessableEntity, fmt.Sprintf("the file uploaded for %s in run %s is empty", wt.table.Name, wt.runID))
		return
	}
	if err := external.MarkReady(ctx, x.cfg.Bucket, wt.runID, wt.table.Name, x.cfg.Now()); err != nil {
		x.log.Error("external upload", zap.String("run_id", wt.runID), zap.String("node", wt.table.Name), zap.Error(err))
		writeJSONError(w, http.StatusInternalServerError, "the upload could not be marked complete; see the log")
		return
	}
	x.log.Info("external table uploaded", zap.String("run_id", wt.runID), zap.String("node", wt.table.Name))
	writeJSON(w, uploadedJSON{Run: wt.runID, Table: wt.table.Name, Status: "uploaded"})
}
