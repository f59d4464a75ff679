package service

import (
	"context"
	"sync"
	"time"

	"github.com/maestro-sql/maestro/internal/dag"
	"github.com/maestro-sql/maestro/internal/store"
)

// listCacheTTL bounds how stale GET /tables may be about changes made elsewhere (another API
// instance, a project sync): reading and decoding every definition is three quarters of a
// listing's cost, and lists are what dashboards poll. Changes made through this API show at
// once; a single table (GET /tables/{name}) is always read fresh.
const listCacheTTL = time.Second

// tableCache holds the decoded stored tables for listings. Its slices are shared between
// requests and never modified.
type tableCache struct {
	mu   sync.Mutex
	recs []*store.TableRecord
	at   time.Time
	// gen counts invalidations, so that a read that began before a write does not store what
	// it read after the write invalidated the cache.
	gen uint64
	// pages holds encoded listing answers of recs, by query string: encoding a page of 1,000
	// definitions costs more than sending it, and pollers ask the same pages over and over.
	// It is emptied whenever recs is replaced.
	pages map[string][]byte
}

// maxCachedPages bounds pages; past it the cache starts over.
const maxCachedPages = 256

// tablesForList returns the stored tables, at most listCacheTTL old.
func (a *api) tablesForList(ctx context.Context) ([]*store.TableRecord, error) {
	c := &a.tables
	now := a.cfg.Now()
	c.mu.Lock()
	if c.recs != nil && now.Sub(c.at) < listCacheTTL && !now.Before(c.at) {
		recs := c.recs
		c.mu.Unlock()
		return recs, nil
	}
	gen := c.gen
	c.mu.Unlock()
	recs, err := a.st.TableList(ctx)
	if err != nil {
		return nil, err
	}
	if recs == nil {
		recs = []*store.TableRecord{}
	}
	c.mu.Lock()
	if c.gen == gen {
		c.recs, c.at, c.pages = recs, now, nil
	}
	c.mu.Unlock()
	return recs, nil
}

// cachedPage returns the encoded answer to query if it was made from recs, the tables
// tablesForList returned.
func (a *api) cachedPage(recs []*store.TableRecord, query string) ([]byte, bool) {
	c := &a.tables
	c.mu.Lock()
	defer c.mu.Unlock()
	if !sameRecs(c.recs, recs) {
		return nil, false
	}
	b, ok := c.pages[query]
	return b, ok
}

// keepPage keeps the encoded answer to query, made from recs, unless the cache moved on.
func (a *api) keepPage(recs []*store.TableRecord, query string, b []byte) {
	c := &a.tables
	c.mu.Lock()
	defer c.mu.Unlock()
	if !sameRecs(c.recs, recs) {
		return
	}
	if c.pages == nil || len(c.pages) >= maxCachedPages {
		c.pages = map[string][]byte{}
	}
	c.pages[query] = b
}

// sameRecs reports whether a and b are the same cached slice (not merely equal ones).
func sameRecs(a, b []*store.TableRecord) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// tablesChanged drops the cached tables after a write through this API.
func (a *api) tablesChanged() {
	c := &a.tables
	c.mu.Lock()
	c.gen++
	c.recs, c.pages = nil, nil
	c.mu.Unlock()
}

// graphCache holds the dependency graph of the stored tables for the web UI's graph page,
// with the version (tablesVersion) of the tables it was built from.
type graphCache struct {
	mu  sync.Mutex
	key [32]byte
	g   *dag.Graph
}
