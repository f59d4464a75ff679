// Package sqlitestore is the embedded store.Store: one SQLite file, opened through the pure Go
// driver modernc.org/sqlite, so `maestro dev` needs no server and no cgo.
//
// Writes go through one connection and start with BEGIN IMMEDIATE, so concurrent writers in
// this process queue in Go instead of failing with SQLITE_BUSY; reads use a separate pool and
// run beside writes thanks to WAL mode. Every state move is a conditional UPDATE whose row
// count says whether the compare-and-set won.
package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	// The pure Go SQLite driver registers itself as "sqlite".
	_ "modernc.org/sqlite"

	"github.com/maestro-sql/maestro/internal/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is a store.Store kept in one SQLite file. It is safe for concurrent use.
type Store struct {
	path string
	// writeDB holds exactly one connection, writeConn, taken for the store's lifetime and used
	// by the writer goroutine only: SQLite allows one writer at a time, and queueing writes in
	// Go is cheaper and fairer than busy-waiting inside SQLite. Its statements stay prepared.
	writeDB    *sql.DB
	writeConn  *sql.Conn
	writeStmts map[string]*sql.Stmt // used by the writer goroutine only
	read       *sql.DB

	pendMu  sync.Mutex
	pending []*writeReq // writes waiting for the next batch
	closed  bool        // guarded by pendMu
	// wake tells the writer goroutine that writes are pending; quit stops it.
	wake       chan struct{}
	quit       chan struct{}
	writerDone chan struct{}

	mu        sync.Mutex
	readStmts map[string]*sql.Stmt

	// live holds the running runs (live.go); writeLive writes their changes behind them, at
	// most every writeEvery, until liveQuit is closed, and reports on liveDone.
	live       *live
	writeEvery time.Duration
	liveQuit   chan struct{}
	liveDone   chan error
	closeOnce  sync.Once
	closeErr   error
	// journalBuf is the live writer's encoding buffer, reused from write to write.
	journalBuf []byte
	tables     *tableCache
	// lock keeps a second process (or Store) off the file: it would not see live's state.
	lock *os.File
}

// writeEvery is how often, at most, the changes of running runs are written: a node that moves
// several times within it is written once, and a crash loses at most about this much.
const writeEvery = 5 * time.Millisecond

var _ store.Store = (*Store)(nil)

// ErrInUse: another process, or another Store in this one, has the file open.
var ErrInUse = errors.New("the store is in use")

// Open opens (creating if needed) the SQLite store at path and brings its schema up to date.
// Path is a file name; the directory must exist.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" || strings.ContainsRune(path, '?') || strings.HasPrefix(path, ":memory:") ||
		strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("error opening sqlite store %q: the path must be a plain file name", path)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("error opening sqlite store %q: it is a directory", path)
	}
	if _, err := os.Stat(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("error opening sqlite store %q: its directory: %w", path, err)
	}
	lock, err := lockFile(path + ".lock")
	if err != nil {
		return nil, fmt.Errorf("error opening sqlite store %q: %w", path, err)
	}
	opened := false
	defer func() {
		if !opened {
			_ = lock.Close()
		}
	}()
	// synchronous=NORMAL in WAL mode syncs at checkpoints, not at every commit: a power cut
	// can lose the last commits but never corrupts the file. Checkpointing every 8000 pages
	// (about 32 MB of WAL) instead of 1000 writes each hot page back less often.
	const pragmas = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_pragma=wal_autocheckpoint(8000)"
	// temp_store(MEMORY) keeps the sub-journals of the savepoints that separate the writes of a
	// batch, and the statement journals, in memory instead of temporary files: they only ever
	// undo a write inside its transaction, so a crash loses nothing they held, and as files they
	// cost a write system call for each page a write first touches.
	write, err := sql.Open("sqlite", path+"?"+pragmas+"&_pragma=temp_store(MEMORY)")
	if err != nil {
		return nil, fmt.Errorf("error opening sqlite store %q: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	conn, err := write.Conn(ctx)
	if err != nil {
		_ = write.Close()
		return nil, fmt.Errorf("error opening sqlite store %q: %w", path, err)
	}
	read, err := sql.Open("sqlite", path+"?"+pragmas+"&_pragma=query_only(1)")
	if err != nil {
		_ = conn.Close()
		_ = write.Close()
		return nil, fmt.Errorf("error opening sqlite store %q: %w", path, err)
	}
	read.SetMaxOpenConns(4)
	read.SetMaxIdleConns(4)
	s := &Store{path: path, writeDB: write, writeConn: conn,
		writeStmts: map[string]*sql.Stmt{}, read: read, readStmts: map[string]*sql.Stmt{},
		wake: make(chan struct{}, 1), quit: make(chan struct{}), writerDone: make(chan struct{}),
		tables: newTableCache(), live: newLive(), writeEvery: writeEvery, liveQuit: make(chan struct{}), liveDone: make(chan error, 1)}
	go s.writer()
	go s.writeLive(s.liveQuit, s.liveDone)
	opened = true
	s.lock = lock
	if err := s.migrate(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("error opening sqlite store %q: %w", path, err)
	}
	if err := read.PingContext(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("error opening sqlite store %q: %w", path, err)
	}
	if err := s.loadLive(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("error opening sqlite store %q: %w", path, err)
	}
	return s, nil
}

// Close writes what running runs changed and releases the connections. The file stays.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Store) close() error {
	// The live runs' last changes go through the write connection: write them first, and
	// refuse any move from now on so that this last write holds them all.
	s.live.mu.Lock()
	s.live.closed = true
	s.live.mu.Unlock()
	close(s.liveQuit)
	liveErr := <-s.liveDone
	s.pendMu.Lock()
	s.closed = true
	s.pendMu.Unlock()
	close(s.quit)
	<-s.writerDone
	for _, st := range s.writeStmts {
		_ = st.Close()
	}
	s.writeStmts = map[string]*sql.Stmt{}
	s.mu.Lock()
	for _, st := range s.readStmts {
		_ = st.Close()
	}
	s.readStmts = map[string]*sql.Stmt{}
	s.mu.Unlock()
	return errors.Join(liveErr, s.read.Close(), s.writeConn.Close(), s.writeDB.Close(), s.lock.Close())
}

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("error reading migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("error reading migrations: %q is not named NNNN_name.sql", e.Name())
		}
		b, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("error reading migration %q: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	if len(ms) == 0 {
		return nil, errors.New("error reading migrations: there are none")
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("error reading migrations: %q and %q share a version", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// migrate applies, in order, each embedded migration not yet recorded in schema_migrations,
// each in its own transaction together with its record, so a failed one leaves no trace.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	if _, err := s.writeConn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("error creating schema_migrations: %w", err)
	}
	var newest int
	if err := s.writeConn.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).
		Scan(&newest); err != nil {
		return fmt.Errorf("error reading schema_migrations: %w", err)
	}
	if known := ms[len(ms)-1].version; newest > known {
		return fmt.Errorf("the file has schema version %d, newer than this program's %d: use a newer Maestro",
			newest, known)
	}
	for _, m := range ms {
		err := s.tx(ctx, func(tx *tx) error {
			var n int
			if err := tx.queryRow(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`,
				m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			// Not prepared: a migration runs once and may hold many statements.
			if _, err := s.writeConn.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, time.Now().UnixNano())
			return err
		})
		if err != nil {
			return fmt.Errorf("error applying migration %s: %w", m.name, err)
		}
	}
	return nil
}

// readStmt returns a prepared statement of the read pool for query, preparing it once.
func (s *Store) readStmt(ctx context.Context, query string) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.readStmts[query]; ok {
		return st, nil
	}
	st, err := s.read.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.readStmts[query] = st
	return st, nil
}

// tx is a write transaction on the store's write connection.
type tx struct {
	ctx context.Context
	s   *Store
}

// writeReq is one write waiting for the write connection.
type writeReq struct {
	ctx context.Context
	fn  func(*tx) error
	// alone: fn is a single statement; SQLite makes a statement atomic by itself, so it needs
	// no savepoint inside a batch and no transaction when it runs by itself.
	alone bool
	// rerun: fn may run again after its transaction rolled back (it resets whatever it
	// returns), so a batch may run it without a savepoint (see runBatch).
	rerun bool
	done  chan error
	// state: 0 waiting, 1 taken by a batch, 2 abandoned by its caller (context done).
	state atomic.Int32
}

// tx runs fn in a write transaction: fn's writes commit together, or not at all if it returns
// an error.
//
// Writes are group-committed. Every write joins a queue; whichever caller gets the write
// connection runs everything queued so far in ONE SQLite transaction, each write inside its
// own savepoint so that one write's error rolls back only that write. A commit costs about as
// much as ten small statements here, and the scheduling path makes several writes per node,
// so under load sharing commits is what lets the store keep up with thousands of nodes a
// second; with no concurrency a batch is one write and nothing changes.
func (s *Store) tx(ctx context.Context, fn func(*tx) error) error {
	return s.write(ctx, &writeReq{fn: fn})
}

// txRerun is tx for an fn that can run again from the start after a rollback: it resets
// everything it hands back to its caller before its first statement. Such writes skip the
// savepoint that tx costs inside a batch (see runBatch).
func (s *Store) txRerun(ctx context.Context, fn func(*tx) error) error {
	return s.write(ctx, &writeReq{fn: fn, rerun: true})
}

// single runs fn, whose compare-and-set is one conditional statement (anything it runs after
// that statement only diagnoses why it changed nothing). Alone it runs without BEGIN and
// COMMIT: SQLite's own statement transaction is the whole compare-and-set.
func (s *Store) single(ctx context.Context, fn func(*tx) error) error {
	return s.write(ctx, &writeReq{fn: fn, alone: true})
}

// errClosed is what writes get once the store is closed.
var errClosed = errors.New("the store is closed")

func (s *Store) write(ctx context.Context, req *writeReq) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req.ctx, req.done = ctx, make(chan error, 1)
	s.pendMu.Lock()
	if s.closed {
		s.pendMu.Unlock()
		return errClosed
	}
	s.pending = append(s.pending, req)
	s.pendMu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default: // the writer was told already
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		if req.state.CompareAndSwap(0, 2) {
			return ctx.Err()
		}
		// A batch took it already: its outcome is decided there.
		return <-req.done
	}
}

// writer owns the write connection: it runs the queued writes batch after batch. Writes that
// arrive while a batch runs form the next one, so batches grow exactly as fast as the load.
func (s *Store) writer() {
	defer close(s.writerDone)
	for {
		select {
		case <-s.wake:
			for s.runPending() {
			}
		case <-s.quit:
			s.pendMu.Lock()
			left := s.pending
			s.pending = nil
			s.pendMu.Unlock()
			for _, r := range left {
				if r.state.CompareAndSwap(0, 1) {
					r.done <- errClosed
				}
			}
			return
		}
	}
}

// maxBatch bounds the writes of one transaction, so one commit never waits on too many.
const maxBatch = 256

// takePending takes the queued writes that their callers still wait for.
func (s *Store) takePending(dst []*writeReq) []*writeReq {
	s.pendMu.Lock()
	queued := s.pending
	s.pending = nil
	s.pendMu.Unlock()
	for _, r := range queued {
		if r.state.CompareAndSwap(0, 1) {
			dst = append(dst, r)
		}
	}
	return dst
}

// runPending runs every queued write in one transaction; writes queued while it runs join the
// same transaction, up to maxBatch, so the busier the store the fewer commits per write. It
// reports whether there was anything to run. Only the writer goroutine calls it.
func (s *Store) runPending() bool {
	batch := s.takePending(nil)
	if len(batch) == 0 {
		return false
	}
	// Ending the transaction must not be cut short by a caller's context, or the connection
	// would stay inside it.
	end := &tx{ctx: context.Background(), s: s}
	if len(batch) == 1 && batch[0].alone {
		r := batch[0]
		r.done <- r.fn(&tx{ctx: stmtContext(r.ctx), s: s})
		return true
	}
	if _, err := end.exec("BEGIN IMMEDIATE"); err != nil {
		for _, r := range batch {
			r.done <- err
		}
		return true
	}
	batch, errs, failed := s.runBatch(end, batch, true)
	if failed {
		// A write that ran without a savepoint failed: undo the whole batch and run it again,
		// this time with savepoints. Every write it ran before was alone or rerunnable, and
		// the rollback returns the database to where they first found it.
		_, err := end.exec("ROLLBACK")
		if err == nil {
			_, err = end.exec("BEGIN IMMEDIATE")
		}
		if err != nil {
			for _, r := range batch {
				r.done <- err
			}
			return true
		}
		batch, errs, _ = s.runBatch(end, batch, false)
	}
	if _, err := end.exec("COMMIT"); err != nil {
		_, _ = end.exec("ROLLBACK")
		for _, r := range batch {
			r.done <- err
		}
		return true
	}
	for i, r := range batch {
		r.done <- errs[i]
	}
	return true
}

// runBatch runs the writes of batch inside the open transaction, each that is not alone inside
// its own savepoint, and takes the writes queued meanwhile into the batch, up to maxBatch. It
// returns the batch and each write's error.
//
// With optimistic, rerunnable writes skip their savepoint (SAVEPOINT and RELEASE cost two
// statements, and pages copied to the sub-journal, for a write that almost never fails) as
// long as the batch holds only rerunnable and alone writes. If one of them fails, runBatch
// stops and reports failed: the caller rolls back and runs the batch again without optimism.
// The first write of another kind ends the optimism for the rest of the batch, since it could
// not run twice; from then on every write has its savepoint, so no failure needs a rerun.
func (s *Store) runBatch(end *tx, batch []*writeReq, optimistic bool) (_ []*writeReq, errs []error, failed bool) {
	errs = make([]error, 0, len(batch))
	for i := 0; i < len(batch); i++ {
		r := batch[i]
		if !r.alone && !r.rerun {
			optimistic = false
		}
		t := &tx{ctx: stmtContext(r.ctx), s: s}
		var err error
		switch {
		case r.alone:
			// One statement: SQLite undoes a failed statement by itself.
			err = r.fn(t)
		case optimistic:
			if err = r.fn(t); err != nil {
				return batch, nil, true
			}
		default:
			if _, err = end.exec("SAVEPOINT w"); err == nil {
				if err = r.fn(t); err != nil {
					if _, rerr := end.exec("ROLLBACK TO w"); rerr != nil {
						err = errors.Join(err, rerr)
					}
				}
				if _, rerr := end.exec("RELEASE w"); rerr != nil {
					err = errors.Join(err, rerr)
				}
			}
		}
		errs = append(errs, err)
		if i == len(batch)-1 && len(batch) < maxBatch {
			batch = s.takePending(batch)
		}
	}
	return batch, errs, false
}

// stmtContext is the context for the statements of a write: the caller's values without its
// cancellation. A write statement takes microseconds, and with a cancellable context
// database/sql starts a goroutine per query to watch it, which costs more than the statement
// on the scheduling path. The caller's context is still honoured while waiting for the write
// lock, and a write never stops half-way.
func stmtContext(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// stmt returns a prepared statement of the write connection; only the writer goroutine calls it.
func (t *tx) stmt(query string) (*sql.Stmt, error) {
	if st, ok := t.s.writeStmts[query]; ok {
		return st, nil
	}
	st, err := t.s.writeConn.PrepareContext(t.ctx, query)
	if err != nil {
		return nil, err
	}
	t.s.writeStmts[query] = st
	return st, nil
}

func (t *tx) exec(query string, args ...any) (int64, error) {
	st, err := t.stmt(query)
	if err != nil {
		return 0, err
	}
	res, err := st.ExecContext(t.ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (t *tx) query(query string, args ...any) (*sql.Rows, error) {
	st, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(t.ctx, args...)
}

// queryRow runs a query expected to return at most one row; Scan gives sql.ErrNoRows if none.
func (t *tx) queryRow(query string, args ...any) *sql.Row {
	st, err := t.stmt(query)
	if err != nil {
		// A Row cannot carry an error of our own; run the query unprepared so Scan reports it.
		return t.s.writeConn.QueryRowContext(t.ctx, query, args...)
	}
	return st.QueryRowContext(t.ctx, args...)
}

func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := s.readStmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := s.readStmt(ctx, query)
	if err != nil {
		return s.read.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// wrap describes err with what was being done, mapping sql.ErrNoRows to store.ErrNotFound and
// letting context errors through as they are.
func wrap(ctx context.Context, err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// nanos stores a time as unix nanoseconds, the zero time as 0.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNanos is the inverse of nanos; times come back in UTC.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
