package bqfake

import (
	"strings"

	bq "google.golang.org/api/bigquery/v2"
)

// Script changes what the server does with the jobs it matches, so tests can see how a client
// copes with outcomes a local engine never produces. A job matches when every matcher given
// (JobID, SQLContains) matches; a script with no matcher matches every job. The first matching
// script, in the order added, applies.
type Script struct {
	// JobID matches the job with this id.
	JobID string
	// SQLContains matches query jobs (and dry runs) whose SQL contains it.
	SQLContains string

	// Fail makes the job finish DONE with this error, without running its work.
	Fail *Failure
	// Stats replaces the job's statistics once it has run.
	Stats *Stats
	// RunningPolls keeps the job RUNNING for that many polls (jobs.get and jobs.getQueryResults
	// calls) after its work is done.
	RunningPolls int
	// LoseInsertResponse creates the job but answers its jobs.insert with 503 backendError, as
	// when the response is lost on the way back: a client that retries the insert gets 409.
	LoseInsertResponse bool

	// Times is how many jobs the script applies to. Defaults to every matching job.
	Times int
}

// Failure is the ErrorProto a scripted job fails with (status.errorResult).
type Failure struct {
	// Reason is BigQuery's error reason: rateLimitExceeded, backendError, internalError,
	// invalidQuery, notFound, accessDenied, ...
	Reason string
	// Message defaults to a sentence naming the reason.
	Message string
	// Location is where the error occurred (for invalidQuery, "query"); optional.
	Location string
}

func (f *Failure) proto() *bq.ErrorProto {
	msg := f.Message
	if msg == "" {
		msg = "bqfake: scripted failure: " + f.Reason
	}
	return &bq.ErrorProto{Reason: f.Reason, Message: msg, Location: f.Location}
}

// Stats are scripted job statistics. For a query job, BytesProcessed, BytesBilled, SlotMillis and
// CacheHit replace what the engine measured, and Rows (when not 0) replaces the rows written; for
// a load job, Rows is the rows loaded and BytesProcessed the input bytes; for an extract job,
// BytesProcessed is the bytes read.
type Stats struct {
	BytesProcessed int64
	BytesBilled    int64
	SlotMillis     int64
	CacheHit       bool
	Rows           int64
}

type scriptState struct {
	Script
	used int
}

// Script adds a script.
func (s *Server) Script(sc Script) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scripts = append(s.scripts, &scriptState{Script: sc})
}

// matchScriptLocked returns the script for a job and counts its use. s.mu is held.
func (s *Server) matchScriptLocked(jobID, sql string) *Script {
	for _, sc := range s.scripts {
		if sc.Times > 0 && sc.used >= sc.Times {
			continue
		}
		if sc.JobID != "" && sc.JobID != jobID {
			continue
		}
		if sc.SQLContains != "" && !strings.Contains(sql, sc.SQLContains) {
			continue
		}
		sc.used++
		out := sc.Script
		return &out
	}
	return nil
}
