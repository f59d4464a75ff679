package bqfake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/storage"
	bq "google.golang.org/api/bigquery/v2"

	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/warehouse/duckdbwarehouse"
)

// Options configure a Server. A nil *Options means all defaults.
type Options struct {
	// Engine runs the queries. Defaults to a private in-memory DuckDB warehouse that Close closes;
	// a given engine is left open.
	Engine *duckdbwarehouse.Warehouse
	// Location is the location of jobs that name none. Defaults to "US".
	Location string
	// Now is the clock for job and table timestamps. Defaults to time.Now.
	Now func() time.Time
	// MaxWait bounds how long jobs.getQueryResults and jobs.query hold a request open for a job
	// to finish (BigQuery's timeoutMs, 10 s by default, is capped by it). Defaults to 10 s.
	MaxWait time.Duration
	// Storage is the Cloud Storage the gs:// URIs of load and extract jobs name: a client of
	// fake-gcs-server (fakestorage.Server.Client) or of any server speaking the GCS JSON API.
	// Load jobs then read their source objects into tables and extract jobs write tables to
	// objects, staged in the engine's files folder (a given Engine must have one). Nil: load and
	// extract jobs are validated and recorded but move no data. Close leaves the client open.
	Storage *storage.Client
}

// Server answers the BigQuery v2 REST API. It is safe for concurrent use.
type Server struct {
	engine    *duckdbwarehouse.Warehouse
	ownEngine bool
	location  string
	now       func() time.Time
	maxWait   time.Duration
	storage   *storage.Client
	// scratch is the files folder of an engine the server opened itself; Close removes it.
	scratch string

	// ctx outlives requests: jobs keep running when the client that inserted them goes away, as
	// in BigQuery. Close cancels it and waits for the jobs (wg).
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex
	jobs       map[jobKey]*job
	requestIDs map[string]jobKey // jobs.query requestId → the job it created
	scripts    []*scriptState
	requests   []Request
	executions map[string]int
	tables     map[sqlref.TableName]*tableMeta
	seq        int

	faults      Faults
	faultCounts FaultCounts
	callCounts  map[string]int // calls by "METHOD path", for Faults' decisions
}

// Request is one HTTP request the server received.
type Request struct {
	Method string
	// Path is the request path without the API prefix: "/projects/p/jobs".
	Path  string
	Query url.Values
	Body  []byte
	Time  time.Time
	// Status is the HTTP status answered; 0 while the request is being answered.
	Status int
}

// New returns a server with no jobs. Serve it with httptest.NewServer or any http.Server.
func New(ctx context.Context, opts *Options) (*Server, error) {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.Location == "" {
		o.Location = "US"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 10 * time.Second
	}
	s := &Server{
		engine:     o.Engine,
		location:   o.Location,
		now:        o.Now,
		maxWait:    o.MaxWait,
		storage:    o.Storage,
		jobs:       map[jobKey]*job{},
		requestIDs: map[string]jobKey{},
		executions: map[string]int{},
		tables:     map[sqlref.TableName]*tableMeta{},
		callCounts: map[string]int{},
	}
	if s.engine == nil {
		var eo *duckdbwarehouse.Options
		if s.storage != nil {
			dir, err := os.MkdirTemp("", "bqfake-files-")
			if err != nil {
				return nil, fmt.Errorf("error making the files folder of the fake BigQuery: %w", err)
			}
			s.scratch, eo = dir, &duckdbwarehouse.Options{FilesDir: dir}
		}
		e, err := duckdbwarehouse.Open(ctx, "", eo)
		if err != nil {
			if s.scratch != "" {
				_ = os.RemoveAll(s.scratch)
			}
			return nil, fmt.Errorf("error opening the engine of the fake BigQuery: %w", err)
		}
		s.engine, s.ownEngine = e, true
	} else if s.storage != nil && s.engine.FilesDir() == "" {
		return nil, errors.New("bqfake: with Options.Storage, Options.Engine needs a files folder (duckdbwarehouse.Options.FilesDir) to stage objects in")
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	return s, nil
}

// Close stops running jobs, waits for them and closes the engine if the server opened it.
func (s *Server) Close() error {
	s.cancel()
	s.wg.Wait()
	if !s.ownEngine {
		return nil
	}
	err := s.engine.Close()
	if s.scratch != "" {
		err = errors.Join(err, os.RemoveAll(s.scratch))
	}
	return err
}

// Engine returns the warehouse the server runs queries on, for seeding and inspecting tables.
func (s *Server) Engine() *duckdbwarehouse.Warehouse { return s.engine }

// Requests returns the requests received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// InsertedJobs returns the bodies of the jobs.insert requests received so far, oldest first,
// duplicates included: what the client asked for, before the server filled anything in.
func (s *Server) InsertedJobs() []*bq.Job {
	var out []*bq.Job
	for _, r := range s.Requests() {
		if r.Method != http.MethodPost || !isJobsCollection(r.Path) {
			continue
		}
		var j bq.Job
		if json.Unmarshal(r.Body, &j) == nil {
			out = append(out, &j)
		}
	}
	return out
}

func isJobsCollection(path string) bool {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	return len(parts) == 3 && parts[0] == "projects" && parts[2] == "jobs"
}

// Executions returns how many times the work of the job with id ran (a query on the engine, a
// load or an extract): 1 for a job that ran, however often its id was submitted; 0 for a job that
// failed by script or before execution.
func (s *Server) Executions(jobID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.executions[jobID]
}

// Job returns the job resource as jobs.get would (without consuming a scripted RUNNING poll).
func (s *Server) Job(project, jobID string) (*bq.Job, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[jobKey{project: project, id: jobID}]
	if !ok {
		return nil, false
	}
	return s.resourceLocked(j, j.finished), true
}

// ServeHTTP answers one REST call. Paths are accepted with or without the /bigquery/v2 prefix,
// so the client works with option.WithEndpoint set to the bare server URL or to URL+"/bigquery/v2/".
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid", "error reading the request body: "+err.Error())
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/bigquery/v2")
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: path, Query: r.URL.Query(), Body: body, Time: s.now()})
	idx := len(s.requests) - 1
	s.mu.Unlock()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	s.route(rec, r, path, body)
	s.mu.Lock()
	s.requests[idx].Status = rec.status
	s.mu.Unlock()
}

// statusRecorder remembers the status a handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (s *Server) route(w http.ResponseWriter, r *http.Request, path string, body []byte) {

	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) < 3 || parts[0] != "projects" {
		notImplemented(w, r)
		return
	}
	project := parts[1]
	jobCall := (len(parts) == 3 && parts[2] == "jobs" && r.Method == http.MethodPost) ||
		(len(parts) == 4 && (parts[2] == "jobs" || parts[2] == "queries") && r.Method == http.MethodGet)
	if jobCall && s.transientFault(w, r, path) {
		return
	}
	switch {
	case len(parts) == 3 && parts[2] == "jobs" && r.Method == http.MethodPost:
		s.insertJob(w, r, project, body)
	case len(parts) == 4 && parts[2] == "jobs" && r.Method == http.MethodGet:
		s.getJob(w, r, project, parts[3])
	case len(parts) == 3 && parts[2] == "queries" && r.Method == http.MethodPost:
		s.query(w, r, project, body)
	case len(parts) == 4 && parts[2] == "queries" && r.Method == http.MethodGet:
		s.getQueryResults(w, r, project, parts[3])
	case len(parts) == 6 && parts[2] == "datasets" && parts[4] == "tables" && r.Method == http.MethodGet:
		s.getTable(w, r, sqlref.TableName{Project: project, Dataset: parts[3], Table: parts[5]})
	default:
		notImplemented(w, r)
	}
}

func notImplemented(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotImplemented, "notImplemented",
		fmt.Sprintf("bqfake does not implement %s %s", r.Method, r.URL.Path))
}

// writeJSON writes v with status 200. The generated API types encode their int64 fields as
// strings, as the REST API does.
func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internalError", "error encoding the response: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, code int, reason, message string) {
	writeErrorProtos(w, code, message, []*bq.ErrorProto{{Reason: reason, Message: message}})
}

func writeErrorProtos(w http.ResponseWriter, code int, message string, errs []*bq.ErrorProto) {
	type wireProto struct {
		Domain   string `json:"domain"`
		Reason   string `json:"reason"`
		Message  string `json:"message"`
		Location string `json:"location,omitempty"`
	}
	wire := struct {
		Error struct {
			Code    int         `json:"code"`
			Message string      `json:"message"`
			Errors  []wireProto `json:"errors"`
			Status  string      `json:"status,omitempty"`
		} `json:"error"`
	}{}
	wire.Error.Code, wire.Error.Message, wire.Error.Status = code, message, statusName(code)
	for _, e := range errs {
		wire.Error.Errors = append(wire.Error.Errors, wireProto{Domain: "global", Reason: e.Reason, Message: e.Message, Location: e.Location})
	}
	b, _ := json.Marshal(wire)
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

func statusName(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusConflict:
		return "ALREADY_EXISTS"
	case http.StatusNotImplemented:
		return "UNIMPLEMENTED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	case http.StatusInternalServerError:
		return "INTERNAL"
	}
	return ""
}

// HTTPCode is the HTTP status BigQuery answers with for an ErrorProto reason, as its error
// messages reference lists it (a failed query job's reason becomes the status of
// jobs.getQueryResults and jobs.query).
func HTTPCode(reason string) int {
	switch reason {
	case "notFound":
		return http.StatusNotFound
	case "accessDenied", "rateLimitExceeded", "quotaExceeded", "billingNotEnabled", "responseTooLarge", "billingTierLimitExceeded":
		return http.StatusForbidden
	case "duplicate":
		return http.StatusConflict
	case "backendError", "internalError":
		return http.StatusInternalServerError
	case "notImplemented":
		return http.StatusNotImplemented
	}
	return http.StatusBadRequest // invalid, invalidQuery, resourcesExceeded, timeout, stopped...
}
