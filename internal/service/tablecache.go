package service

import (
	"context"
	"sync"
	"time"

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
}

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
		c.recs, c.at = recs, now
	}
	c.mu.Unlock()
	return recs, nil
}

// tablesChanged drops the cached tables after a write through this API.
func (a *api) tablesChanged() {
	c := &a.tables
	c.mu.Lock()
	c.gen++
	c.recs = nil
	c.mu.Unlock()
}
