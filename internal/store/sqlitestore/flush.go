package sqlitestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/maestro-sql/maestro/internal/run"
)

// Writing live runs behind their moves (see live.go and journal.go).

const (
	journalInsert = `INSERT INTO run_journal (run_id, seq, entry) VALUES (?, ?, ?)`
	journalTrim   = `DELETE FROM run_journal WHERE run_id = ? AND seq < ?`
	journalDelete = `DELETE FROM run_journal WHERE run_id = ?`
	runWrite      = `UPDATE runs SET state = ?, finished_at = ?, stats = ?, counts = ? WHERE id = ?`
	// nodeCompact writes a node of a run that is over, once.
	nodeCompact = `INSERT OR REPLACE INTO nodes (` + nodeColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

// entry is one journal row to write: nodes of one run.
type entry struct {
	runID string
	seq   int64
	nodes []run.Node
	// checkpoint: nodes are all of the run's, and the entries before this one can go.
	checkpoint bool
}

// snapshot is what one write takes from the live runs.
type snapshot struct {
	entries []entry
	runs    []run.Run
	// upTo is the number of changes the snapshot holds.
	upTo uint64
	// taken are the live entries written, to mark dirty again if the write fails.
	takenNodes []*liveNode
	takenRuns  []*liveRun
}

// take moves everything that changed into a snapshot: an entry for each run with changed
// nodes. A run whose journal holds four times its nodes gets a checkpoint instead, an entry
// with all of its nodes that replaces the earlier ones, so a long run's journal stays bounded
// (a heartbeat changes a node every few seconds). Callers hold l.mu.
func (l *live) take() *snapshot {
	s := &snapshot{upTo: l.changes, takenNodes: l.dirtyNodes, takenRuns: l.dirtyRuns}
	// The copies go to each run's scratch slice, reused from write to write: only the live
	// writer takes, and it is done with the previous snapshot by then.
	var order []*liveRun
	for _, ln := range l.dirtyNodes {
		lr := ln.r
		if !lr.taking {
			lr.taking = true
			lr.scratch = lr.scratch[:0]
			order = append(order, lr)
		}
		lr.scratch = append(lr.scratch, ln.Node)
		ln.dirty = false
		lr.dirtyNodes--
	}
	for _, lr := range order {
		lr.taking = false
		e := entry{runID: lr.ID, seq: lr.seq, nodes: lr.scratch}
		lr.seq++
		lr.journalled += len(e.nodes)
		if lr.journalled > 4*len(lr.byName)+64 {
			e.nodes, e.checkpoint = lr.values(), true
			lr.journalled = len(e.nodes)
		}
		s.entries = append(s.entries, e)
	}
	s.runs = make([]run.Run, len(l.dirtyRuns))
	for i, lr := range l.dirtyRuns {
		s.runs[i] = lr.Run
		lr.dirty = false
	}
	l.dirtyNodes, l.dirtyRuns = nil, nil
	return s
}

// untake marks a failed snapshot's entries dirty again, unless they changed since (then they
// are dirty already, with newer values). The sequence numbers it used stay unused.
func (l *live) untake(s *snapshot) {
	for _, ln := range s.takenNodes {
		if !ln.dirty {
			ln.dirty = true
			ln.r.dirtyNodes++
			l.dirtyNodes = append(l.dirtyNodes, ln)
		}
	}
	for _, lr := range s.takenRuns {
		if !lr.dirty {
			lr.dirty = true
			l.dirtyRuns = append(l.dirtyRuns, lr)
		}
	}
}

// wroteOut records how a write ended and wakes whoever waits for it. Callers hold l.mu.
func (l *live) wroteOut(s *snapshot, err error) {
	if err != nil {
		l.untake(s)
		l.writeErr = err
	} else {
		l.written, l.writeErr = s.upTo, nil
	}
	close(l.wrote)
	l.wrote = make(chan struct{})
}

// writeSnapshot writes a snapshot in one transaction. Encoding happens before, outside it.
func (s *Store) writeSnapshot(ctx context.Context, snap *snapshot) error {
	if len(snap.entries) == 0 && len(snap.runs) == 0 {
		return nil
	}
	// One buffer, reused from write to write (only the live writer writes snapshots), holds
	// every entry; the driver copies a blob when it binds it.
	buf := s.journalBuf[:0]
	ends := make([]int, len(snap.entries))
	for i, e := range snap.entries {
		buf = encodeNodes(buf, e.nodes)
		ends[i] = len(buf)
	}
	s.journalBuf = buf
	blob := func(i int) []byte {
		if i == 0 {
			return buf[:ends[0]]
		}
		return buf[ends[i-1]:ends[i]]
	}
	type runRow struct{ stats, counts []byte }
	rows := make([]runRow, len(snap.runs))
	for i := range snap.runs {
		r := &snap.runs[i]
		var err error
		if rows[i].stats, err = json.Marshal(r.Stats); err != nil {
			return fmt.Errorf("error encoding run %q: %w", r.ID, err)
		}
		if rows[i].counts, err = json.Marshal(r.Counts); err != nil {
			return fmt.Errorf("error encoding run %q: %w", r.ID, err)
		}
	}
	return s.txRerun(ctx, func(t *tx) error {
		for i, e := range snap.entries {
			if _, err := t.exec(journalInsert, e.runID, e.seq, blob(i)); err != nil {
				return fmt.Errorf("error journalling run %q: %w", e.runID, err)
			}
			if e.checkpoint {
				if _, err := t.exec(journalTrim, e.runID, e.seq); err != nil {
					return fmt.Errorf("error trimming the journal of run %q: %w", e.runID, err)
				}
			}
		}
		for i := range snap.runs {
			r := &snap.runs[i]
			if _, err := t.exec(runWrite, string(r.State), nanos(r.FinishedAt), string(rows[i].stats),
				string(rows[i].counts), r.ID); err != nil {
				return fmt.Errorf("error writing run %q: %w", r.ID, err)
			}
		}
		return nil
	})
}

// compact writes the nodes of runs that are over to the nodes table and deletes their
// journals, then lets them leave memory. Only the live writer calls it, between writes, so no
// journal entry of such a run is written meanwhile; a change made meanwhile is journalled by
// the next write, after the delete, and keeps the run in memory until it is compacted again.
func (s *Store) compact(ctx context.Context) error {
	l := s.live
	l.mu.Lock()
	runs := l.compactable()
	copies := make([][]run.Node, len(runs))
	for i, lr := range runs {
		copies[i] = lr.values()
	}
	l.mu.Unlock()
	var errs []error
	for i, lr := range runs {
		if err := s.writeNodes(ctx, lr.ID, copies[i]); err != nil {
			errs = append(errs, err)
			continue
		}
		l.mu.Lock()
		l.evict(lr)
		l.mu.Unlock()
	}
	return errors.Join(errs...)
}

// writeNodes writes a run's nodes to the nodes table and deletes its journal, in one
// transaction.
func (s *Store) writeNodes(ctx context.Context, runID string, nodes []run.Node) error {
	type lists struct{ up, down []byte }
	encoded := make([]lists, len(nodes))
	for i := range nodes {
		var err error
		if encoded[i].up, err = json.Marshal(nodes[i].Upstream); err != nil {
			return err
		}
		if encoded[i].down, err = json.Marshal(nodes[i].Downstream); err != nil {
			return err
		}
	}
	err := s.tx(ctx, func(t *tx) error {
		for i := range nodes {
			n := &nodes[i]
			if _, err := t.exec(nodeCompact, runID, n.Name, n.Kind, string(n.State), n.Attempt, n.MaxAttempts,
				string(encoded[i].up), string(encoded[i].down), n.PendingUpstream, nanos(n.NotBefore),
				nanos(n.DispatchedAt), n.Lease, nanos(n.LeaseExpiresAt), boolInt(n.Propagated), n.JobID,
				n.Stats.BytesProcessed, n.Stats.BytesBilled, n.Stats.SlotMillis, n.Stats.Rows,
				boolInt(n.Stats.CacheHit), n.Stats.DurationMillis, n.Error, nanos(n.StartedAt),
				nanos(n.FinishedAt), n.Depth); err != nil {
				return fmt.Errorf("error writing node %q: %w", n.Name, err)
			}
		}
		_, err := t.exec(journalDelete, runID)
		return err
	})
	if err != nil {
		return fmt.Errorf("error writing the nodes of run %q: %w", runID, err)
	}
	return nil
}

// writeLive is the goroutine that writes the live runs' changes: whatever changed since its
// last write, in one transaction, at most every s.writeEvery, and then compacts the runs that
// are over. Waiting between writes lets a node that moves several times in that window be
// written once; a crash loses at most that window and one write. Once quit is closed it writes
// everything left and returns.
func (s *Store) writeLive(quit <-chan struct{}, done chan<- error) {
	l := s.live
	ctx := context.Background()
	var last time.Time
	backoff := 10 * time.Millisecond
	for {
		stopping := false
		select {
		case <-l.wake:
		case <-quit:
			stopping = true
		}
		if wait := s.writeEvery - time.Since(last); wait > 0 && !stopping {
			select {
			case <-time.After(wait):
			case <-quit:
				stopping = true
			}
		}
		last = time.Now()
		l.mu.Lock()
		snap := l.take()
		l.mu.Unlock()
		err := s.writeSnapshot(ctx, snap)
		l.mu.Lock()
		l.wroteOut(snap, err)
		l.mu.Unlock()
		if err == nil {
			// A run that cannot be compacted now stays in memory and journalled; the next
			// write tries again.
			err = s.compact(ctx)
		}
		l.mu.Lock()
		more := len(l.dirtyNodes) > 0 || len(l.dirtyRuns) > 0
		l.mu.Unlock()
		switch {
		case err != nil && stopping:
			done <- fmt.Errorf("error writing the last changes of running runs: %w", err)
			return
		case err != nil:
			// Sync reports a failed write to whoever waits; the changes stay in memory, and
			// in the next write.
			select {
			case <-time.After(backoff):
			case <-quit:
			}
			backoff = min(2*backoff, 5*time.Second)
			l.kick()
			continue
		case stopping && !more:
			done <- nil
			return
		}
		backoff = 10 * time.Millisecond
		if more {
			l.kick()
		}
	}
}

// Sync returns once every change made to running runs before the call is in the file, or
// with the error of the write that failed to put it there (a later write retries it).
func (s *Store) Sync(ctx context.Context) error {
	l := s.live
	l.mu.Lock()
	target := l.changes
	for l.written < target {
		wrote := l.wrote
		l.mu.Unlock()
		l.kick()
		select {
		case <-wrote:
		case <-ctx.Done():
			return ctx.Err()
		}
		l.mu.Lock()
		if err := l.writeErr; err != nil && l.written < target {
			l.mu.Unlock()
			return fmt.Errorf("error writing running runs: %w", err)
		}
	}
	l.mu.Unlock()
	return nil
}

// journalled is a run rebuilt from the file: its nodes table rows with its journal replayed.
type journalled struct {
	nodes []*run.Node
	// seq is the next entry's sequence number; records the node records replayed.
	seq     int64
	records int
}

// replay rebuilds a run's nodes from the nodes table and its journal.
func (s *Store) replay(ctx context.Context, runID string) (*journalled, error) {
	base, err := s.nodeListSQL(ctx, runID)
	if err != nil {
		return nil, err
	}
	byName := make(map[string]*run.Node, len(base))
	for _, n := range base {
		byName[n.Name] = n
	}
	rows, err := s.query(ctx, `SELECT seq, entry FROM run_journal WHERE run_id = ? ORDER BY seq`, runID)
	if err != nil {
		return nil, fmt.Errorf("error reading the journal of run %q: %w", runID, err)
	}
	defer rows.Close()
	j := &journalled{}
	for rows.Next() {
		var (
			seq  int64
			blob []byte
		)
		if err := rows.Scan(&seq, &blob); err != nil {
			return nil, fmt.Errorf("error reading the journal of run %q: %w", runID, err)
		}
		nodes, err := decodeNodes(runID, blob)
		if err != nil {
			return nil, fmt.Errorf("error reading entry %d of the journal of run %q: %w", seq, runID, err)
		}
		for i := range nodes {
			byName[nodes[i].Name] = &nodes[i]
		}
		j.seq, j.records = seq+1, j.records+len(nodes)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("error reading the journal of run %q: %w", runID, err)
	}
	for _, n := range byName {
		j.nodes = append(j.nodes, n)
	}
	sort.Slice(j.nodes, func(a, b int) bool { return j.nodes[a].Name < j.nodes[b].Name })
	return j, nil
}

// loadLive makes the runs the file says are running live again, after a restart or a crash,
// and compacts the runs that ended with their journal not yet compacted.
func (s *Store) loadLive(ctx context.Context) error {
	rows, err := s.query(ctx, `SELECT `+runColumns+` FROM runs WHERE state = 'running'
		OR id IN (SELECT DISTINCT run_id FROM run_journal)`)
	if err != nil {
		return fmt.Errorf("error loading running runs: %w", err)
	}
	runs, err := collect(ctx, rows, scanRun, "error loading running runs")
	if err != nil {
		return err
	}
	for _, r := range runs {
		j, err := s.replay(ctx, r.ID)
		if err != nil {
			return err
		}
		if r.State != run.RunRunning {
			nodes := make([]run.Node, len(j.nodes))
			for i, n := range j.nodes {
				nodes[i] = *n
			}
			if err := s.writeNodes(ctx, r.ID, nodes); err != nil {
				return err
			}
			continue
		}
		s.live.mu.Lock()
		s.live.add(r, j.nodes, j.seq, j.records)
		s.live.mu.Unlock()
	}
	return nil
}

// createJournalled stores a running run and its nodes as its first journal entry: one row
// instead of a row per node.
func (t *tx) createJournalled(r *run.Run, nodes []*run.Node) error {
	copies := make([]run.Node, len(nodes))
	for i, n := range nodes {
		if n.Name == "" {
			return errors.New("a node has no name")
		}
		copies[i] = *n
	}
	_, err := t.exec(journalInsert, r.ID, 0, encodeNodes(nil, copies))
	return err
}
