package bqfake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	bq "google.golang.org/api/bigquery/v2"

	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/warehouse"
)

type jobKey struct{ project, id string }

// job is one job the server accepted. Fields other than ref, config, kind, created and done are
// guarded by Server.mu.
type job struct {
	ref     bq.JobReference
	config  *bq.JobConfiguration
	kind    string // query, load, extract
	created time.Time
	done    chan struct{} // closed when the work has finished

	started, ended time.Time
	finished       bool
	errResult      *bq.ErrorProto
	stats          *bq.JobStatistics // set when finished
	runningPolls   int
	dest           sqlref.TableName // query: the table the results went to
	etag           int

	// Injected faults (Faults): an error to fail with instead of running, a wait before running.
	fault *bq.ErrorProto
	delay time.Duration
}

// outcome is what running a job's work produced.
type outcome struct {
	err   *bq.ErrorProto
	stats *bq.JobStatistics
}

func fail(reason, format string, args ...any) outcome {
	return outcome{err: &bq.ErrorProto{Reason: reason, Message: fmt.Sprintf(format, args...)}}
}

// checkDestination applies a query or load job's create and write dispositions to its
// destination as BigQuery does, before any work: it reports whether the table exists, or the
// outcome refusing the job.
func (s *Server) checkDestination(dest sqlref.TableName, write, create, location string) (exists bool, refused *outcome) {
	refuse := func(o outcome) (bool, *outcome) { return false, &o }
	existing, err := s.engine.Table(s.ctx, dest)
	exists = err == nil
	if err != nil && !errors.Is(err, warehouse.ErrNotFound) {
		return refuse(fail("internalError", "bqfake: %v", err))
	}
	if !exists && create == "CREATE_NEVER" {
		return refuse(fail("notFound", "Not found: Table %s was not found in location %s", tableID(dest), location))
	}
	if exists && write == "WRITE_EMPTY" && existing.Rows > 0 {
		return refuse(fail("duplicate", "Already Exists: Table %s", tableID(dest)))
	}
	return exists, nil
}

func (s *Server) insertJob(w http.ResponseWriter, r *http.Request, project string, body []byte) {
	var in bq.Job
	if err := json.Unmarshal(body, &in); err != nil {
		writeError(w, http.StatusBadRequest, "invalid", "Invalid JSON payload received: "+err.Error())
		return
	}
	if in.Configuration == nil {
		writeError(w, http.StatusBadRequest, "invalid", "Required parameter is missing: configuration")
		return
	}
	kind, msg := jobKind(in.Configuration)
	if msg != "" {
		writeError(w, http.StatusBadRequest, "invalid", msg)
		return
	}
	ref := bq.JobReference{ProjectId: project}
	if in.JobReference != nil {
		ref.JobId, ref.Location = in.JobReference.JobId, in.JobReference.Location
		if in.JobReference.ProjectId != "" && in.JobReference.ProjectId != project {
			writeError(w, http.StatusBadRequest, "invalid", "Job project "+in.JobReference.ProjectId+" does not match the request's project "+project)
			return
		}
	}
	if ref.Location == "" {
		ref.Location = s.location
	}
	if in.Configuration.DryRun {
		if kind != "query" {
			writeError(w, http.StatusBadRequest, "invalid", "Dry run is supported for query jobs only in bqfake")
			return
		}
		s.dryRun(w, ref, in.Configuration)
		return
	}
	if ref.JobId == "" {
		ref.JobId = s.newJobID()
	}
	if !validJobID(ref.JobId) {
		writeError(w, http.StatusBadRequest, "invalid", "Invalid job ID \""+ref.JobId+"\". Job IDs must be alphanumeric (plus underscores and dashes) and must be at most 1024 characters long.")
		return
	}

	j, created, lost := s.createJob(ref, in.Configuration, kind)
	if !created {
		msg := "Already Exists: Job " + project + ":" + j.ref.Location + "." + ref.JobId
		writeError(w, http.StatusConflict, "duplicate", msg)
		return
	}
	if lost {
		writeError(w, http.StatusServiceUnavailable, "backendError", "bqfake: scripted loss of the jobs.insert response")
		return
	}
	s.mu.Lock()
	res := s.resourceLocked(j, j.finished)
	s.mu.Unlock()
	writeJSON(w, res)
}

// createJob registers a job and starts its work, or returns the existing job with its id.
func (s *Server) createJob(ref bq.JobReference, config *bq.JobConfiguration, kind string) (j *job, created, lostResponse bool) {
	key := jobKey{project: ref.ProjectId, id: ref.JobId}
	s.mu.Lock()
	defer s.mu.Unlock()
	if existing, ok := s.jobs[key]; ok {
		return existing, false, false
	}
	now := s.now()
	j = &job{ref: ref, config: config, kind: kind, created: now, done: make(chan struct{})}
	sql := ""
	if config.Query != nil {
		sql = config.Query.Query
	}
	sc := s.matchScriptLocked(ref.JobId, sql)
	if sc != nil {
		j.runningPolls = sc.RunningPolls
		lostResponse = sc.LoseInsertResponse
	}
	lost, failReason, delay := s.jobFaultsLocked(ref.JobId)
	lostResponse = lostResponse || lost
	if failReason != "" {
		j.fault = &bq.ErrorProto{Reason: failReason, Message: "bqfake: injected job failure: " + failReason}
	}
	j.delay = delay
	s.jobs[key] = j
	s.wg.Add(1)
	go s.run(j, sc)
	return j, true, lostResponse
}

func (s *Server) newJobID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return fmt.Sprintf("job_bqfake_%d_%d", s.now().UnixNano(), s.seq)
}

func validJobID(id string) bool {
	if id == "" || len(id) > 1024 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// jobKind names the one configuration a job has, or says what is wrong with it.
func jobKind(c *bq.JobConfiguration) (kind, problem string) {
	n := 0
	if c.Query != nil {
		kind, n = "query", n+1
	}
	if c.Load != nil {
		kind, n = "load", n+1
	}
	if c.Extract != nil {
		kind, n = "extract", n+1
	}
	if c.Copy != nil {
		return "", "bqfake does not implement copy jobs"
	}
	if n != 1 {
		return "", "A job configuration must have exactly one of query, load, extract or copy"
	}
	switch kind {
	case "query":
		if c.Query.Query == "" {
			return "", "Required parameter is missing: query"
		}
	case "load":
		l := c.Load
		if l.DestinationTable == nil || l.DestinationTable.DatasetId == "" || l.DestinationTable.TableId == "" {
			return "", "Required parameter is missing: destinationTable"
		}
		if len(l.SourceUris) == 0 {
			return "", "Required parameter is missing: sourceUris"
		}
		for _, u := range l.SourceUris {
			if !strings.HasPrefix(u, "gs://") {
				return "", "Source URI must be a Google Cloud Storage location: " + u
			}
		}
		switch l.SourceFormat {
		case "", "CSV", "NEWLINE_DELIMITED_JSON", "PARQUET", "AVRO", "ORC":
		default:
			return "", "Invalid source format " + l.SourceFormat
		}
	case "extract":
		e := c.Extract
		if e.SourceTable == nil || e.SourceTable.DatasetId == "" || e.SourceTable.TableId == "" {
			return "", "Required parameter is missing: sourceTable"
		}
		uris := e.DestinationUris
		if e.DestinationUri != "" {
			uris = append(uris, e.DestinationUri)
		}
		if len(uris) == 0 {
			return "", "Required parameter is missing: destinationUris"
		}
		for _, u := range uris {
			if !strings.HasPrefix(u, "gs://") {
				return "", "Destination URI must be a Google Cloud Storage location: " + u
			}
		}
		switch e.DestinationFormat {
		case "", "CSV", "NEWLINE_DELIMITED_JSON", "AVRO", "PARQUET":
		default:
			return "", "Invalid destination format " + e.DestinationFormat
		}
		switch e.Compression {
		case "", "NONE", "GZIP", "DEFLATE", "SNAPPY", "ZSTD":
		default:
			return "", "Invalid compression " + e.Compression
		}
	}
	return kind, ""
}

// run does a job's work and records its outcome.
func (s *Server) run(j *job, sc *Script) {
	defer s.wg.Done()
	if j.delay > 0 {
		t := time.NewTimer(j.delay)
		select {
		case <-t.C:
		case <-s.ctx.Done():
		}
		t.Stop()
	}
	s.mu.Lock()
	j.started = s.now()
	s.mu.Unlock()

	var out outcome
	switch {
	case sc != nil && sc.Fail != nil:
		out.err = sc.Fail.proto()
	case j.fault != nil:
		out.err = j.fault
	case j.kind == "query":
		out = s.runQuery(j)
	case j.kind == "load":
		out = s.runLoad(j)
	case j.kind == "extract":
		out = s.runExtract(j)
	}
	if out.err == nil && sc != nil && sc.Stats != nil {
		applyStats(out.stats, sc.Stats)
	}

	s.mu.Lock()
	j.ended = s.now()
	// A job that ran took time; BigQuery never reports an end time equal to the start.
	if !j.ended.After(j.started) {
		j.ended = j.started.Add(time.Millisecond)
	}
	j.errResult = out.err
	j.stats = out.stats
	if j.stats == nil {
		j.stats = &bq.JobStatistics{}
	}
	j.finished = true
	s.mu.Unlock()
	close(j.done)
}

func applyStats(st *bq.JobStatistics, sc *Stats) {
	if st == nil {
		return
	}
	switch {
	case st.Query != nil:
		st.TotalBytesProcessed, st.TotalSlotMs = sc.BytesProcessed, sc.SlotMillis
		q := st.Query
		q.TotalBytesProcessed, q.TotalBytesBilled, q.TotalSlotMs, q.CacheHit = sc.BytesProcessed, sc.BytesBilled, sc.SlotMillis, sc.CacheHit
		if sc.Rows != 0 && len(q.QueryPlan) > 0 {
			q.QueryPlan[len(q.QueryPlan)-1].RecordsWritten = sc.Rows
		}
	case st.Load != nil:
		st.Load.OutputRows, st.Load.InputFileBytes = sc.Rows, sc.BytesProcessed
		st.TotalSlotMs = sc.SlotMillis
	case st.Extract != nil:
		st.Extract.InputBytes = sc.BytesProcessed
		st.TotalSlotMs = sc.SlotMillis
	}
}

// markExecuted counts one run of a job's work.
func (s *Server) markExecuted(j *job) {
	s.mu.Lock()
	s.executions[j.ref.JobId]++
	s.mu.Unlock()
}

// queryDefaults resolves partial table paths as BigQuery does: the default dataset's project,
// else the job's project.
func queryDefaults(project string, q *bq.JobConfigurationQuery) sqlref.Options {
	o := sqlref.Options{DefaultProject: project}
	if q.DefaultDataset != nil {
		if q.DefaultDataset.ProjectId != "" {
			o.DefaultProject = q.DefaultDataset.ProjectId
		}
		o.DefaultDataset = q.DefaultDataset.DatasetId
	}
	return o
}

// analyse checks a query as BigQuery does before running it: GoogleSQL, parseable, a query
// (bqfake runs no DML, DDL or scripts) whose tables exist. It returns the tables read.
func (s *Server) analyse(ctx context.Context, project, location string, q *bq.JobConfigurationQuery) ([]sqlref.TableName, *bq.ErrorProto) {
	if q.UseLegacySql == nil || *q.UseLegacySql {
		// useLegacySql defaults to true in the REST API; the Go client always sends false.
		return nil, &bq.ErrorProto{Reason: "invalidQuery", Location: "query", Message: "bqfake runs GoogleSQL only: set useLegacySql to false"}
	}
	res, err := sqlref.Extract(q.Query, queryDefaults(project, q))
	if err != nil {
		return nil, &bq.ErrorProto{Reason: "invalidQuery", Location: "query", Message: "Syntax error: " + err.Error()}
	}
	if len(res.Writes) > 0 {
		return nil, &bq.ErrorProto{Reason: "invalidQuery", Location: "query",
			Message: "bqfake runs queries only, not DML, DDL or scripts (the SQL writes " + res.Writes[0].String() + ")"}
	}
	for _, t := range res.Reads {
		if t.IsWildcard() {
			continue
		}
		if t.Dataset == "" {
			return nil, &bq.ErrorProto{Reason: "invalidQuery", Location: "query",
				Message: "Table \"" + t.Table + "\" must be qualified with a dataset (e.g. dataset.table)."}
		}
		if _, err := s.engine.Table(ctx, t); err != nil {
			if errors.Is(err, warehouse.ErrNotFound) {
				return nil, &bq.ErrorProto{Reason: "notFound", Message: "Not found: Table " + tableID(t) + " was not found in location " + location}
			}
			return nil, &bq.ErrorProto{Reason: "internalError", Message: "bqfake: " + err.Error()}
		}
	}
	return res.Reads, nil
}

// tableID renders a table as BigQuery's messages do: project:dataset.table.
func tableID(t sqlref.TableName) string {
	return t.Project + ":" + t.Dataset + "." + t.Table
}

func tableRefs(names []sqlref.TableName) []*bq.TableReference {
	out := make([]*bq.TableReference, 0, len(names))
	for _, n := range names {
		out = append(out, &bq.TableReference{ProjectId: n.Project, DatasetId: n.Dataset, TableId: n.Table})
	}
	return out
}

func (s *Server) runQuery(j *job) outcome {
	ctx := s.ctx
	q := j.config.Query
	project := j.ref.ProjectId
	reads, perr := s.analyse(ctx, project, j.ref.Location, q)
	if perr != nil {
		return outcome{err: perr}
	}

	dest := anonymousTable(project, j.ref.JobId)
	if d := q.DestinationTable; d != nil {
		dest = sqlref.TableName{Project: d.ProjectId, Dataset: d.DatasetId, Table: d.TableId}
		if dest.Project == "" {
			dest.Project = project
		}
	}
	write, create := q.WriteDisposition, q.CreateDisposition
	if write == "" {
		write = "WRITE_EMPTY"
	}
	if create == "" {
		create = "CREATE_IF_NEEDED"
	}
	exists, refused := s.checkDestination(dest, write, create, j.ref.Location)
	if refused != nil {
		return *refused
	}
	disp := spec.DispositionTruncate
	if write == "WRITE_APPEND" {
		disp = spec.DispositionAppend
	}

	s.markExecuted(j)
	st, err := s.engine.Query(ctx, &warehouse.QueryJob{
		// The engine keeps its own job log keyed by id; BigQuery ids are unique per project only.
		JobID:          project + ":" + j.ref.JobId,
		SQL:            q.Query,
		Destination:    dest,
		Disposition:    disp,
		Labels:         j.config.Labels,
		DefaultProject: queryDefaults(project, q).DefaultProject,
		DefaultDataset: queryDefaults(project, q).DefaultDataset,
	})
	if err != nil {
		var je *warehouse.JobError
		if errors.As(err, &je) {
			e := &bq.ErrorProto{Reason: je.Reason, Message: je.Message}
			if je.Reason == "invalidQuery" {
				e.Location = "query"
			}
			return outcome{err: e}
		}
		return fail("backendError", "bqfake: the engine failed: %v", err)
	}
	s.noteTableWritten(dest, j, !exists || disp == spec.DispositionTruncate)

	var schema *bq.TableSchema
	if tb, err := s.engine.Table(ctx, dest); err == nil {
		schema = restSchema(tb.Columns)
	}
	s.mu.Lock()
	j.dest = dest
	s.mu.Unlock()
	return outcome{stats: &bq.JobStatistics{
		TotalBytesProcessed: st.BytesProcessed,
		TotalSlotMs:         st.SlotMillis,
		Query: &bq.JobStatistics2{
			TotalBytesProcessed:         st.BytesProcessed,
			TotalBytesBilled:            st.BytesBilled,
			TotalBytesProcessedAccuracy: "PRECISE",
			TotalSlotMs:                 st.SlotMillis,
			BillingTier:                 1,
			CacheHit:                    st.CacheHit,
			StatementType:               "SELECT",
			ReferencedTables:            tableRefs(reads),
			Schema:                      schema,
			QueryPlan: []*bq.ExplainQueryStage{{
				Id: 0, Name: "S00: Output", Status: "COMPLETE",
				RecordsRead: st.Rows, RecordsWritten: st.Rows,
			}},
		},
	}}
}

// anonymousTable is where a query without a destination writes, as BigQuery's anonymous
// (cached) result tables.
func anonymousTable(project, jobID string) sqlref.TableName {
	return sqlref.TableName{Project: project, Dataset: "_bqfake_anonymous", Table: "anon_" + strings.ToLower(strings.ReplaceAll(jobID, "-", "_"))}
}

func (s *Server) runLoad(j *job) outcome {
	l := j.config.Load
	dest := sqlref.TableName{Project: l.DestinationTable.ProjectId, Dataset: l.DestinationTable.DatasetId, Table: l.DestinationTable.TableId}
	if dest.Project == "" {
		dest.Project = j.ref.ProjectId
	}
	if s.storage != nil {
		return s.loadData(j, dest)
	}
	s.markExecuted(j)
	s.noteTableWritten(dest, j, l.WriteDisposition != "WRITE_APPEND")
	return outcome{stats: &bq.JobStatistics{Load: &bq.JobStatistics3{InputFiles: int64(len(l.SourceUris))}}}
}

func (s *Server) runExtract(j *job) outcome {
	e := j.config.Extract
	src := sqlref.TableName{Project: e.SourceTable.ProjectId, Dataset: e.SourceTable.DatasetId, Table: e.SourceTable.TableId}
	if src.Project == "" {
		src.Project = j.ref.ProjectId
	}
	tb, err := s.engine.Table(s.ctx, src)
	if errors.Is(err, warehouse.ErrNotFound) {
		return fail("notFound", "Not found: Table %s was not found in location %s", tableID(src), j.ref.Location)
	}
	if err != nil {
		return fail("internalError", "bqfake: %v", err)
	}
	s.markExecuted(j)
	uris := append([]string(nil), e.DestinationUris...)
	if e.DestinationUri != "" {
		uris = append(uris, e.DestinationUri)
	}
	counts := make([]int64, len(uris))
	for i := range counts {
		counts[i] = 1
	}
	if s.storage != nil {
		var perr *bq.ErrorProto
		if counts, perr = s.extractData(j, src, uris); perr != nil {
			return outcome{err: perr}
		}
	}
	return outcome{stats: &bq.JobStatistics{Extract: &bq.JobStatistics4{DestinationUriFileCounts: counts, InputBytes: tb.Bytes}}}
}

// resourceLocked renders a job as jobs.get answers. done says whether to report it DONE (it may
// have finished but still owe scripted RUNNING polls). s.mu is held.
func (s *Server) resourceLocked(j *job, done bool) *bq.Job {
	j.etag++
	config := j.config
	if j.kind == "query" && config.Query.DestinationTable == nil && j.dest.Table != "" {
		// BigQuery reports the anonymous table a query without a destination wrote.
		c := *config
		q := *config.Query
		q.DestinationTable = &bq.TableReference{ProjectId: j.dest.Project, DatasetId: j.dest.Dataset, TableId: j.dest.Table}
		c.Query = &q
		config = &c
	}
	out := &bq.Job{
		Kind:          "bigquery#job",
		Etag:          strconv.Itoa(j.etag),
		Id:            j.ref.ProjectId + ":" + j.ref.Location + "." + j.ref.JobId,
		SelfLink:      "/projects/" + j.ref.ProjectId + "/jobs/" + j.ref.JobId + "?location=" + j.ref.Location,
		UserEmail:     "bqfake@example.com",
		JobReference:  &bq.JobReference{ProjectId: j.ref.ProjectId, JobId: j.ref.JobId, Location: j.ref.Location},
		Configuration: config,
		Status:        &bq.JobStatus{State: "RUNNING"},
		Statistics:    &bq.JobStatistics{CreationTime: j.created.UnixMilli()},
	}
	if !j.started.IsZero() {
		out.Statistics.StartTime = j.started.UnixMilli()
	}
	if !done {
		return out
	}
	st := *j.stats
	st.CreationTime, st.StartTime, st.EndTime = j.created.UnixMilli(), j.started.UnixMilli(), j.ended.UnixMilli()
	out.Statistics = &st
	out.Status = &bq.JobStatus{State: "DONE"}
	if j.errResult != nil {
		out.Status.ErrorResult = j.errResult
		out.Status.Errors = []*bq.ErrorProto{j.errResult}
	}
	return out
}

// pollLocked counts one status poll of j and says whether it may be reported DONE. s.mu is held.
// Scripted RUNNING polls count whether or not the work has finished, so a job scripted with N
// answers RUNNING to at least the first N polls.
func pollLocked(j *job) bool {
	if j.runningPolls > 0 {
		j.runningPolls--
		return false
	}
	return j.finished
}

func (s *Server) lookup(w http.ResponseWriter, r *http.Request, project, jobID string) *job {
	s.mu.Lock()
	j, ok := s.jobs[jobKey{project: project, id: jobID}]
	s.mu.Unlock()
	loc := r.URL.Query().Get("location")
	if !ok || (loc != "" && !strings.EqualFold(loc, j.ref.Location)) {
		where := s.location
		if ok {
			where = loc
		}
		writeError(w, http.StatusNotFound, "notFound", "Not found: Job "+project+":"+where+"."+jobID)
		return nil
	}
	return j
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request, project, jobID string) {
	j := s.lookup(w, r, project, jobID)
	if j == nil {
		return
	}
	s.mu.Lock()
	res := s.resourceLocked(j, pollLocked(j))
	s.mu.Unlock()
	writeJSON(w, res)
}

// wait holds a request until j finishes, timeoutMs passes (BigQuery's default is 10 s, capped
// by MaxWait) or the client goes away. It reports whether j may be reported DONE.
func (s *Server) wait(r *http.Request, j *job, timeoutMs string) bool {
	s.mu.Lock()
	scripted := j.runningPolls > 0
	s.mu.Unlock()
	if !scripted {
		d := s.maxWait
		if ms, err := strconv.ParseInt(timeoutMs, 10, 64); err == nil && ms >= 0 && time.Duration(ms)*time.Millisecond < d {
			d = time.Duration(ms) * time.Millisecond
		}
		t := time.NewTimer(d)
		select {
		case <-j.done:
		case <-t.C:
		case <-r.Context().Done():
		case <-s.ctx.Done():
		}
		t.Stop()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return pollLocked(j)
}

func (s *Server) getQueryResults(w http.ResponseWriter, r *http.Request, project, jobID string) {
	j := s.lookup(w, r, project, jobID)
	if j == nil {
		return
	}
	if j.kind != "query" {
		writeError(w, http.StatusBadRequest, "invalid", "Job "+jobID+" is not a query job")
		return
	}
	done := s.wait(r, j, r.URL.Query().Get("timeoutMs"))
	ref := &bq.JobReference{ProjectId: j.ref.ProjectId, JobId: j.ref.JobId, Location: j.ref.Location}
	if !done {
		writeJSON(w, &bq.GetQueryResultsResponse{Kind: "bigquery#getQueryResultsResponse", JobReference: ref})
		return
	}
	s.mu.Lock()
	errResult, stats, dest := j.errResult, j.stats, j.dest
	s.mu.Unlock()
	if errResult != nil {
		// getQueryResults turns a failed job into an HTTP error with the job's reason.
		writeErrorProtos(w, HTTPCode(errResult.Reason), errResult.Message, []*bq.ErrorProto{errResult})
		return
	}
	page, perr := s.readPage(r.Context(), dest, r.URL.Query().Get("maxResults"), r.URL.Query().Get("startIndex"),
		r.URL.Query().Get("pageToken"), r.URL.Query().Get("formatOptions.useInt64Timestamp") == "true")
	if perr != nil {
		writeErrorProtos(w, HTTPCode(perr.Reason), perr.Message, []*bq.ErrorProto{perr})
		return
	}
	writeJSON(w, &bq.GetQueryResultsResponse{
		Kind:                "bigquery#getQueryResultsResponse",
		JobReference:        ref,
		JobComplete:         true,
		Schema:              page.schema,
		Rows:                page.rows,
		TotalRows:           page.total,
		PageToken:           page.token,
		TotalBytesProcessed: stats.TotalBytesProcessed,
		CacheHit:            stats.Query != nil && stats.Query.CacheHit,
		Etag:                "1",
	})
}

func (s *Server) dryRun(w http.ResponseWriter, ref bq.JobReference, config *bq.JobConfiguration) {
	q := config.Query
	s.mu.Lock()
	sc := s.matchScriptLocked(ref.JobId, q.Query)
	s.mu.Unlock()
	if sc != nil && sc.Fail != nil {
		e := sc.Fail.proto()
		writeErrorProtos(w, HTTPCode(e.Reason), e.Message, []*bq.ErrorProto{e})
		return
	}
	ctx := s.ctx
	reads, perr := s.analyse(ctx, ref.ProjectId, ref.Location, q)
	if perr != nil {
		// A dry run reports what would fail the job as the HTTP error of jobs.insert.
		writeErrorProtos(w, HTTPCode(perr.Reason), perr.Message, []*bq.ErrorProto{perr})
		return
	}
	// sqlref finds tables, it does not check grammar: let the engine plan the query (LIMIT 0
	// reads nothing) to refuse what BigQuery would refuse.
	probe := "SELECT * FROM (\n" + strings.TrimRight(strings.TrimSpace(q.Query), ";") + "\n) LIMIT 0"
	if _, err := s.engine.Read(ctx, probe, queryDefaults(ref.ProjectId, q), 0); err != nil {
		writeError(w, http.StatusBadRequest, "invalidQuery", "bqfake: the query does not run: "+err.Error())
		return
	}
	var bytes int64
	for _, t := range reads {
		if t.IsWildcard() {
			continue
		}
		if tb, err := s.engine.Table(ctx, t); err == nil {
			bytes += tb.Bytes
		}
	}
	if sc != nil && sc.Stats != nil {
		bytes = sc.Stats.BytesProcessed
	}
	now := s.now().UnixMilli()
	// Dry-run jobs are not stored and get no id, only the project and location.
	writeJSON(w, &bq.Job{
		Kind:          "bigquery#job",
		JobReference:  &bq.JobReference{ProjectId: ref.ProjectId, Location: ref.Location},
		Configuration: config,
		Status:        &bq.JobStatus{State: "DONE"},
		Statistics: &bq.JobStatistics{
			CreationTime:        now,
			TotalBytesProcessed: bytes,
			Query: &bq.JobStatistics2{
				TotalBytesProcessed:         bytes,
				TotalBytesProcessedAccuracy: "PRECISE",
				ReferencedTables:            tableRefs(reads),
				StatementType:               "SELECT",
			},
		},
	})
}

// query answers jobs.query: it creates a query job (id generated; a repeated requestId gets the
// same job), waits up to timeoutMs and returns the first page of results.
func (s *Server) query(w http.ResponseWriter, r *http.Request, project string, body []byte) {
	var in bq.QueryRequest
	if err := json.Unmarshal(body, &in); err != nil {
		writeError(w, http.StatusBadRequest, "invalid", "Invalid JSON payload received: "+err.Error())
		return
	}
	if in.Query == "" {
		writeError(w, http.StatusBadRequest, "invalid", "Required parameter is missing: query")
		return
	}
	config := &bq.JobConfiguration{
		DryRun: in.DryRun,
		Labels: in.Labels,
		Query: &bq.JobConfigurationQuery{
			Query: in.Query, UseLegacySql: in.UseLegacySql, DefaultDataset: in.DefaultDataset,
			UseQueryCache: in.UseQueryCache, MaximumBytesBilled: in.MaximumBytesBilled,
		},
	}
	ref := bq.JobReference{ProjectId: project, Location: in.Location}
	if ref.Location == "" {
		ref.Location = s.location
	}
	if in.DryRun {
		s.dryRun(w, ref, config)
		return
	}
	s.mu.Lock()
	key, seen := s.requestIDs[in.RequestId]
	s.mu.Unlock()
	var j *job
	if seen && in.RequestId != "" {
		s.mu.Lock()
		j = s.jobs[key]
		s.mu.Unlock()
	} else {
		ref.JobId = s.newJobID()
		j, _, _ = s.createJob(ref, config, "query")
		if in.RequestId != "" {
			s.mu.Lock()
			s.requestIDs[in.RequestId] = jobKey{project: project, id: ref.JobId}
			s.mu.Unlock()
		}
	}
	timeout := "10000"
	if in.TimeoutMs > 0 {
		timeout = strconv.FormatInt(in.TimeoutMs, 10)
	}
	done := s.wait(r, j, timeout)
	jref := &bq.JobReference{ProjectId: j.ref.ProjectId, JobId: j.ref.JobId, Location: j.ref.Location}
	if !done {
		writeJSON(w, &bq.QueryResponse{Kind: "bigquery#queryResponse", JobReference: jref, Location: j.ref.Location})
		return
	}
	s.mu.Lock()
	errResult, stats, dest := j.errResult, j.stats, j.dest
	s.mu.Unlock()
	if errResult != nil {
		writeErrorProtos(w, HTTPCode(errResult.Reason), errResult.Message, []*bq.ErrorProto{errResult})
		return
	}
	maxResults := ""
	if in.MaxResults > 0 {
		maxResults = strconv.FormatInt(in.MaxResults, 10)
	}
	useInt64 := in.FormatOptions != nil && in.FormatOptions.UseInt64Timestamp
	page, perr := s.readPage(r.Context(), dest, maxResults, "", "", useInt64)
	if perr != nil {
		writeErrorProtos(w, HTTPCode(perr.Reason), perr.Message, []*bq.ErrorProto{perr})
		return
	}
	resp := &bq.QueryResponse{
		Kind:                "bigquery#queryResponse",
		JobReference:        jref,
		Location:            j.ref.Location,
		JobComplete:         true,
		Schema:              page.schema,
		Rows:                page.rows,
		TotalRows:           page.total,
		PageToken:           page.token,
		TotalBytesProcessed: stats.TotalBytesProcessed,
		StatementType:       "SELECT",
	}
	if stats.Query != nil {
		resp.CacheHit, resp.TotalBytesBilled, resp.TotalSlotMs = stats.Query.CacheHit, stats.Query.TotalBytesBilled, stats.Query.TotalSlotMs
	}
	writeJSON(w, resp)
}
