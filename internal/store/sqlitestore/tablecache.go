package sqlitestore

import (
	"reflect"
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
	return deepCopy(rec), c.gen
}

// keep caches a record read at generation gen, unless a write happened since.
func (c *tableCache) keep(rec *store.TableRecord, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		c.recs[rec.Table.Name] = deepCopy(rec)
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
		c.recs[rec.Table.Name] = deepCopy(rec)
	}
}

// forget drops a table written just now.
func (c *tableCache) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.recs, name)
}

// deepCopy copies v and everything it points to, so that the cache and its callers never share
// a slice, map or pointer. Unexported fields (time.Time's) are copied as they are.
func deepCopy[T any](v *T) *T {
	out := new(T)
	copyValue(reflect.ValueOf(out).Elem(), reflect.ValueOf(v).Elem())
	return out
}

func copyValue(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		p := reflect.New(src.Type().Elem())
		copyValue(p.Elem(), src.Elem())
		dst.Set(p)
	case reflect.Slice:
		if src.IsNil() {
			return
		}
		s := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		for i := range src.Len() {
			copyValue(s.Index(i), src.Index(i))
		}
		dst.Set(s)
	case reflect.Map:
		if src.IsNil() {
			return
		}
		m := reflect.MakeMapWithSize(src.Type(), src.Len())
		for it := src.MapRange(); it.Next(); {
			v := reflect.New(src.Type().Elem()).Elem()
			copyValue(v, it.Value())
			m.SetMapIndex(it.Key(), v)
		}
		dst.Set(m)
	case reflect.Struct:
		dst.Set(src)
		for i := range src.NumField() {
			if dst.Field(i).CanSet() {
				copyValue(dst.Field(i), src.Field(i))
			}
		}
	case reflect.Array:
		for i := range src.Len() {
			copyValue(dst.Index(i), src.Index(i))
		}
	case reflect.Interface:
		if src.IsNil() {
			return
		}
		v := reflect.New(src.Elem().Type()).Elem()
		copyValue(v, src.Elem())
		dst.Set(v)
	default:
		dst.Set(src)
	}
}
