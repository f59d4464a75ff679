package sqlitestore

import (
	"sync"

	"github.com/maestro-sql/maestro/internal/store"
)

// tableCache keeps the current revision of tables, decoded: a worker reads its table's
// definition for every node it runs, and a SQLite read with a JSON decode costs more than the
// rest of a no-op node's life. Only this process writes the file (lockFile), and every write
// of a definition goes through TablePut or TableDelete, which forget the table.
type tableCache struct {
	mu   sync.Mutex
	recs map[string]*store.TableRecord
	// gen counts writes: a read that raced a write does not keep what it read.
	gen uint64
}

func newTableCache() *tableCache { return &tableCache{recs: map[string]*store.TableRecord{}} }

// get returns a copy of the cached record, and the generation to keep a fresh read under.
func (c *tableCache) get(name string) (*store.TableRecord, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, ok := c.recs[name]
	if !ok {
		return nil, c.gen
	}
	return copyRecord(rec), c.gen
}

// keep caches a record read at generation gen, unless a write happened since.
func (c *tableCache) keep(rec *store.TableRecord, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		c.recs[rec.Table.Name] = copyRecord(rec)
	}
}

// keepAll caches records listed at generation gen, unless a write happened since.
func (c *tableCache) keepAll(recs []*store.TableRecord, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	for _, rec := range recs {
		c.recs[rec.Table.Name] = copyRecord(rec)
	}
}

// forget drops a table written just now.
func (c *tableCache) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.recs, name)
}

// copyRecord returns a record that shares nothing with rec (see spec.Table.Clone).
func copyRecord(rec *store.TableRecord) *store.TableRecord {
	c := *rec
	c.Table = rec.Table.Clone()
	return &c
}
