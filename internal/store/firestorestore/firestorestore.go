// Package firestorestore is the production store.Store on Cloud Firestore (native mode),
// through cloud.google.com/go/firestore. It passes storetest.Run against the official
// Firestore emulator.
//
// Every state move is a compare-and-set: read the documents, check the expected state,
// attempt and lease, and commit the new documents in one transaction, each on the condition
// that it is unchanged since it was read (its update time); if one changed, read again (see
// Store.optimistically). Nothing is written once per node completion on a shared document: run progress is counted
// from the node documents, and the run document is written when the run starts, finishes or is
// cancelled. Moves that touch more documents than one transaction may write (RunCreate,
// RunCancel, propagating a node with a large fan-out) are split into idempotent steps, ordered
// so that a crash between two steps leaves nothing visible half-done, and the sweeper's repair
// (or simply calling the same method again) completes them. README.md describes the data
// model, the queries and their indexes.
package firestorestore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/maestro-sql/maestro/internal/store"
)

// maxWrites bounds the writes of one transaction: Firestore's limit for a commit.
const maxWrites = 500

// MaxAttemptsDefault is how often a move is tried while it keeps meeting contention: a
// conditional commit that finds a document changed, or a transaction Firestore aborts. Each
// attempt after the first waits a random pause of up to 5 ms, doubling to 500 ms.
const MaxAttemptsDefault = 30

// Store is a store.Store kept in Firestore. It is safe for concurrent use.
type Store struct {
	client      *firestore.Client
	ownsClient  bool
	maxAttempts int

	// Collection ids, each with the configured prefix.
	tablesID, revisionsID, schedulesID, connectionsID, usersID, runsID, runIDsID, nodesID string
	deliveriesID                                                                          string
	notifyThreadsID                                                                       string
	tokensID                                                                              string
	noncesID, mutesID, triggersID                                                         string

	downstream downstreamCache
}

var _ store.Store = (*Store)(nil)

// Option configures Open.
type Option func(*config)

type config struct {
	prefix        string
	maxAttempts   int
	clientOptions []option.ClientOption
	client        *firestore.Client
}

// WithCollectionPrefix puts every collection id (top-level collections and subcollections, so
// collection group queries too) behind prefix, so that one database, or one emulator, holds
// several independent stores. The indexes in deploy/firestore are declared for the empty
// prefix. Defaults to "".
func WithCollectionPrefix(prefix string) Option {
	return func(c *config) { c.prefix = prefix }
}

// WithMaxAttempts sets how often a move is tried while it meets contention. Defaults to
// MaxAttemptsDefault.
func WithMaxAttempts(n int) Option {
	return func(c *config) { c.maxAttempts = n }
}

// WithClientOptions passes options (credentials, endpoint) to the Firestore client that Open
// creates. The client honours FIRESTORE_EMULATOR_HOST by itself. Defaults to none.
func WithClientOptions(opts ...option.ClientOption) Option {
	return func(c *config) { c.clientOptions = append(c.clientOptions, opts...) }
}

// WithClient makes the store use a client the caller owns: Open ignores projectID and the
// client options, and Close leaves the client open. Defaults to a client of Open's own.
func WithClient(client *firestore.Client) Option {
	return func(c *config) { c.client = client }
}

// Open returns a store on the default database of projectID.
func Open(ctx context.Context, projectID string, opts ...Option) (*Store, error) {
	cfg := config{maxAttempts: MaxAttemptsDefault}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.maxAttempts < 1 {
		return nil, fmt.Errorf("error opening firestore store: WithMaxAttempts(%d): it must be at least 1", cfg.maxAttempts)
	}
	if strings.Contains(cfg.prefix, "/") {
		return nil, fmt.Errorf("error opening firestore store: the collection prefix %q contains a slash", cfg.prefix)
	}
	s := &Store{client: cfg.client, maxAttempts: cfg.maxAttempts}
	if s.client == nil {
		if projectID == "" {
			return nil, errors.New("error opening firestore store: the project id is empty")
		}
		client, err := firestore.NewClient(ctx, projectID, cfg.clientOptions...)
		if err != nil {
			return nil, fmt.Errorf("error opening firestore store of project %q: %w", projectID, err)
		}
		s.client, s.ownsClient = client, true
	}
	p := cfg.prefix
	s.tablesID, s.revisionsID, s.schedulesID = p+collTables, p+collRevisions, p+collSchedules
	s.connectionsID, s.usersID = p+collConnections, p+collUsers
	s.runsID, s.runIDsID, s.nodesID = p+collRuns, p+collRunIDs, p+collNodes
	s.deliveriesID = p + collDeliveries
	s.notifyThreadsID = p + collNotifyThreads
	s.tokensID = p + collTokens
	s.noncesID, s.mutesID, s.triggersID = p+collNonces, p+collMutes, p+collTriggers
	return s, nil
}

// Close closes the Firestore client, unless it came from WithClient.
func (s *Store) Close() error {
	if !s.ownsClient {
		return nil
	}
	if err := s.client.Close(); err != nil {
		return fmt.Errorf("error closing the firestore client: %w", err)
	}
	return nil
}

// Collection ids without the prefix; the index declarations use these.
const (
	collTables      = "tables"
	collRevisions   = "revisions"
	collSchedules   = "schedules"
	collConnections = "connections"
	collUsers       = "users"
	collRuns        = "runs"
	collRunIDs      = "runIds"
	collNodes       = "nodes"
	collDeliveries  = "deliveries"
	collTokens      = "tokens"
)

func (s *Store) runRef(id string) *firestore.DocumentRef {
	return s.client.Collection(s.runsID).Doc(docID(id))
}

func (s *Store) nodesOf(runID string) *firestore.CollectionRef {
	return s.runRef(runID).Collection(s.nodesID)
}

func (s *Store) nodeRef(runID, name string) *firestore.DocumentRef {
	return s.nodesOf(runID).Doc(docID(name))
}

// tx runs fn in a read-write transaction, tried up to maxAttempts times while Firestore aborts
// it for contention. fn may run more than once: it must reset whatever it hands back before its
// first read.
//
// The retries are this loop's rather than the client's: the client waits between attempts as
// gax's default backoff does, starting at a second, while the transactions here are a few
// milliseconds long and sit on the path from one node's completion to the next one's start.
func (s *Store) tx(ctx context.Context, fn func(ctx context.Context, tx *firestore.Transaction) error) error {
	pause := retryPauseMin
	for attempt := 1; ; attempt++ {
		err := s.client.RunTransaction(ctx, fn, firestore.MaxAttempts(1))
		if status.Code(err) != codes.Aborted || attempt >= s.maxAttempts {
			return err
		}
		// Full jitter, so that transactions that collided do not collide again.
		t := time.NewTimer(time.Duration(rand.Int64N(int64(pause)) + 1))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		pause = min(2*pause, retryPauseMax)
	}
}

// casWrite is a whole document to write if it is unchanged since it was read.
type casWrite struct {
	ref    *firestore.DocumentRef
	readAt time.Time // the update time of the document as read
	doc    any       // a struct with firestore tags
}

func (s *Store) casNode(runID string, d *nodeDoc) casWrite {
	return casWrite{ref: s.nodeRef(runID, d.Name), readAt: d.readAt, doc: d.derive()}
}

// errContention: an optimistic write kept finding its documents changed.
var errContention = errors.New("the documents kept changing")

// optimistically runs attempt, which reads without a transaction and returns what to write,
// and commits those writes in one transaction, each on the condition that its document has not
// changed since attempt read it. If one has, it runs attempt again, up to maxAttempts times.
// Nothing is written when attempt returns an error or no writes.
//
// This is how the moves that write several nodes that other moves write too (propagating a
// completion into a join, stamping dispatched nodes) are made: a transaction that reads holds
// locks on what it read until it commits, and two such transactions that read one document and
// both write it wait on each other until Firestore aborts one (the emulator only after a lock
// timeout of seconds). Conditional writes hold no lock between the read and the commit; the
// loser of a race learns it at commit time and reads again.
func (s *Store) optimistically(ctx context.Context, attempt func() ([]casWrite, error)) error {
	pause := retryPauseMin
	for i := 1; ; i++ {
		writes, err := attempt()
		if err != nil || len(writes) == 0 {
			return err
		}
		// A batch is one Commit request, applied atomically; a transaction with no reads would
		// cost a BeginTransaction round trip more on every move, for nothing the preconditions
		// do not already give. (The Go client marks WriteBatch deprecated in favour of the
		// BulkWriter, which is not atomic, and of transactions.)
		batch := s.client.Batch() //nolint:staticcheck // see above
		for _, w := range writes {
			batch.Update(w.ref, fieldUpdates(w.doc), firestore.LastUpdateTime(w.readAt))
		}
		_, err = batch.Commit(ctx)
		switch status.Code(err) {
		case codes.OK:
			return nil
		case codes.FailedPrecondition, codes.Aborted:
		default:
			return err
		}
		if i >= s.maxAttempts {
			return fmt.Errorf("%w after %d attempts", errContention, i)
		}
		t := time.NewTimer(time.Duration(rand.Int64N(int64(pause)) + 1))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		pause = min(2*pause, retryPauseMax)
	}
}

// fieldUpdates lists every stored field of doc, a struct with firestore tags, to write it whole
// with Update (Set takes no precondition).
func fieldUpdates(doc any) []firestore.Update {
	v := reflect.Indirect(reflect.ValueOf(doc))
	t := v.Type()
	out := make([]firestore.Update, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("firestore"), ",")
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		out = append(out, firestore.Update{FieldPath: firestore.FieldPath{name}, Value: v.Field(i).Interface()})
	}
	return out
}

// The pause before a transaction's next attempt grows from retryPauseMin to retryPauseMax.
const (
	retryPauseMin = 5 * time.Millisecond
	retryPauseMax = 500 * time.Millisecond
)

// docID turns a name into a document id. Names may hold characters an id may not (a slash),
// and a few ids are reserved (".", "..", "__x__"); escaping '%' first keeps the mapping
// one-to-one. Every document also stores its name in a field, so ids are never decoded.
func docID(name string) string {
	if !strings.ContainsAny(name, "%/") && name != "." && name != ".." &&
		!(strings.HasPrefix(name, "__") && strings.HasSuffix(name, "__")) && name != "" {
		return name
	}
	id := strings.ReplaceAll(name, "%", "%25")
	id = strings.ReplaceAll(id, "/", "%2F")
	// "%!" never comes out of the escaping above, since an escaped '%' is followed by hex digits.
	return "%!" + id
}

// getDoc reads and decodes one document; what (a format with args) names it in errors, and a
// missing document is store.ErrNotFound.
func getDoc[D any](ctx context.Context, ref *firestore.DocumentRef, what string, args ...any) (*D, error) {
	snap, err := ref.Get(ctx)
	if err != nil {
		return nil, wrap(ctx, err, "error loading "+what, args...)
	}
	var d D
	if err := snap.DataTo(&d); err != nil {
		return nil, fmt.Errorf("error decoding %s: %w", fmt.Sprintf(what, args...), err)
	}
	return &d, nil
}

// wrap describes err with what was being done, mapping Firestore's codes to the store's
// sentinels and letting context errors through as they are.
func wrap(ctx context.Context, err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	switch status.Code(err) {
	case codes.NotFound:
		if !errors.Is(err, store.ErrNotFound) {
			err = fmt.Errorf("%w: %v", store.ErrNotFound, err)
		}
	case codes.AlreadyExists:
		err = fmt.Errorf("%w: %v", store.ErrConflict, err)
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// notFound is the error of a read that found no document.
func notFound(what string) error {
	return fmt.Errorf("%s does not exist: %w", what, store.ErrNotFound)
}

// conflict is the error of a compare-and-set that lost.
func conflict(why string) error {
	return fmt.Errorf("%s: %w", why, store.ErrConflict)
}

// utc normalises a time read back from Firestore: UTC, and the zero time exactly.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// micro is a time as Firestore keeps it: microseconds, UTC.
func micro(t time.Time) time.Time {
	return utc(t.Truncate(time.Microsecond))
}

// chunks splits n items into consecutive ranges of at most size.
func chunks(n, size int) [][2]int {
	var out [][2]int
	for lo := 0; lo < n; lo += size {
		out = append(out, [2]int{lo, min(lo+size, n)})
	}
	return out
}
