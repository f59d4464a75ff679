package bqfake

import (
	"encoding/binary"
	"hash/fnv"
	"net/http"
	"sort"
	"strconv"
	"time"
)

// Faults make the server misbehave as BigQuery sometimes does, at rates chosen by the caller and
// decided from Seed: whether a call or a job is hit depends only on the seed and on the call
// (method, path and how many such calls came before) or the job id, so a seed replays the same
// faults for the same ids. The zero Faults injects nothing.
type Faults struct {
	// Seed decides which calls and jobs are hit.
	Seed int64
	// TransientErrors is the fraction of jobs.insert, jobs.get and jobs.getQueryResults calls
	// answered, before anything is done, with an error a client retries: 500 backendError, 503
	// backendError or 403 rateLimitExceeded.
	TransientErrors float64
	// LostInserts is the fraction of jobs.insert calls that create the job and then answer 503,
	// as when the response is lost on its way back: the client's retry gets 409 duplicate.
	LostInserts float64
	// JobFailures is the fraction of jobs that finish DONE with a retryable error
	// (rateLimitExceeded or backendError) without running their work.
	JobFailures float64
	// SlowJobs is the fraction of jobs that stay RUNNING for SlowJobDelay before their work
	// starts.
	SlowJobs     float64
	SlowJobDelay time.Duration
}

// FaultCounts counts the faults injected so far.
type FaultCounts struct {
	TransientErrors int
	LostInserts     int
	JobFailures     int
	SlowJobs        int
}

// Total is the number of faults of every kind.
func (c FaultCounts) Total() int {
	return c.TransientErrors + c.LostInserts + c.JobFailures + c.SlowJobs
}

// InjectFaults sets the faults injected from now on, replacing any set before.
func (s *Server) InjectFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	s.callCounts = map[string]int{}
}

// FaultCounts returns how many faults were injected so far.
func (s *Server) FaultCounts() FaultCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faultCounts
}

// roll is a number in [0, 1) that depends only on seed and key.
func roll(seed int64, key string) float64 {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(seed))
	h.Write(b[:])
	h.Write([]byte(key))
	// FNV barely moves its high bits for a change in the last byte; a splitmix64 finish spreads
	// every input bit over the whole result.
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11) / float64(1<<53)
}

// transientFault answers a call with a transient error when the faults say so, and reports
// whether it did.
func (s *Server) transientFault(w http.ResponseWriter, r *http.Request, path string) bool {
	s.mu.Lock()
	f := s.faults
	if f.TransientErrors <= 0 {
		s.mu.Unlock()
		return false
	}
	call := r.Method + " " + path
	s.callCounts[call]++
	key := call + "#" + strconv.Itoa(s.callCounts[call])
	hit := roll(f.Seed, "transient:"+key) < f.TransientErrors
	if hit {
		s.faultCounts.TransientErrors++
	}
	s.mu.Unlock()
	if !hit {
		return false
	}
	switch int(roll(f.Seed, "kind:"+key) * 3) {
	case 0:
		writeError(w, http.StatusInternalServerError, "backendError", "bqfake: injected transient error")
	case 1:
		writeError(w, http.StatusServiceUnavailable, "backendError", "bqfake: injected transient error")
	default:
		writeError(w, http.StatusForbidden, "rateLimitExceeded", "bqfake: injected rate limit: Exceeded rate limits: too many api requests per user per method")
	}
	return true
}

// jobFaultsLocked decides a new job's faults: whether its insert response is lost, whether it
// fails without running (the reason), and how long it waits before its work. s.mu is held.
func (s *Server) jobFaultsLocked(jobID string) (lost bool, failReason string, delay time.Duration) {
	f := s.faults
	if f.LostInserts > 0 && roll(f.Seed, "lost:"+jobID) < f.LostInserts {
		lost = true
		s.faultCounts.LostInserts++
	}
	if f.JobFailures > 0 && roll(f.Seed, "fail:"+jobID) < f.JobFailures {
		failReason = "rateLimitExceeded"
		if roll(f.Seed, "failkind:"+jobID) < 0.5 {
			failReason = "backendError"
		}
		s.faultCounts.JobFailures++
	}
	if f.SlowJobs > 0 && f.SlowJobDelay > 0 && roll(f.Seed, "slow:"+jobID) < f.SlowJobs {
		delay = f.SlowJobDelay
		s.faultCounts.SlowJobs++
	}
	return lost, failReason, delay
}

// JobRecord is one job of the server's job log: what was submitted under an id and what became
// of it.
type JobRecord struct {
	Project, ID, Kind string
	// Labels are the job's labels (Maestro's name the run and table).
	Labels map[string]string
	// Created is when jobs.insert (or jobs.query) created the job; Started when its work began
	// (zero if it never did); Ended when it finished (zero while running).
	Created, Started, Ended time.Time
	// Executions is how many times the job's work ran: 1 for a job that ran, however often its
	// id was submitted; 0 for one that failed before running.
	Executions int
	// ErrorReason is the reason of a failed job; empty for a job that succeeded or runs.
	ErrorReason string
}

// Succeeded reports whether the job finished without error.
func (r JobRecord) Succeeded() bool { return !r.Ended.IsZero() && r.ErrorReason == "" }

// Jobs returns the job log, in order of creation.
func (s *Server) Jobs() []JobRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]JobRecord, 0, len(s.jobs))
	for _, j := range s.jobs {
		rec := JobRecord{Project: j.ref.ProjectId, ID: j.ref.JobId, Kind: j.kind, Labels: j.config.Labels,
			Created: j.created, Started: j.started, Executions: s.executions[j.ref.JobId]}
		if j.finished {
			rec.Ended = j.ended
			if j.errResult != nil {
				rec.ErrorReason = j.errResult.Reason
			}
		}
		out = append(out, rec)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Created.Before(out[b].Created) })
	return out
}
