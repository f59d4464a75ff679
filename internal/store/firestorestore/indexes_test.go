package firestorestore

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"cloud.google.com/go/firestore"
	"github.com/stretchr/testify/require"
)

// indexFile is deploy/firestore/firestore.indexes.json, in the Firebase CLI's format.
type indexFile struct {
	Indexes []struct {
		CollectionGroup string       `json:"collectionGroup"`
		QueryScope      string       `json:"queryScope"`
		Fields          []indexField `json:"fields"`
	} `json:"indexes"`
	FieldOverrides []struct {
		CollectionGroup string `json:"collectionGroup"`
		FieldPath       string `json:"fieldPath"`
		Indexes         []struct {
			Order       string `json:"order"`
			ArrayConfig string `json:"arrayConfig"`
			QueryScope  string `json:"queryScope"`
		} `json:"indexes"`
	} `json:"fieldOverrides"`
}

type indexField struct {
	FieldPath   string `json:"fieldPath"`
	Order       string `json:"order"`
	ArrayConfig string `json:"arrayConfig"`
}

const indexPath = "../../../deploy/firestore/firestore.indexes.json"

// indexNeed is the index one query shape needs, following Firestore's rules: equality
// filters ("==", "in") first in any order, then the orders, each range-filtered field ordered
// first; a query on one field at most is served by that field's single-field index.
type indexNeed struct {
	query  string
	group  string
	scope  queryScope
	eq     []string     // sorted
	orders []indexField // after the equality fields
}

func (n indexNeed) single() bool { return len(n.eq)+len(n.orders) <= 1 }

func (n indexNeed) String() string {
	return fmt.Sprintf("%s on %s (%s): equality %v, then %v", n.query, n.group, n.scope, n.eq, n.orders)
}

func needOf(t *testing.T, q queryShape) indexNeed {
	t.Helper()
	n := indexNeed{query: q.name, group: q.group, scope: q.scope}
	var ranges []string
	for _, f := range q.filters {
		switch f.op {
		case "==", "in":
			if !slices.Contains(n.eq, f.field) {
				n.eq = append(n.eq, f.field)
			}
		case "<", "<=", ">", ">=":
			if !slices.Contains(ranges, f.field) {
				ranges = append(ranges, f.field)
			}
		default:
			t.Fatalf("query %s: operator %q is not modelled by this test", q.name, f.op)
		}
	}
	slices.Sort(n.eq)
	require.LessOrEqual(t, len(ranges), 1, "query %s: range filters on several fields", q.name)
	for i, o := range q.orders {
		if o.field == firestore.DocumentID {
			// Every index ends with the document name, in the direction of its last field.
			require.Equal(t, len(q.orders)-1, i, "query %s: the document id must be the last order", q.name)
			if i > 0 {
				require.Equal(t, q.orders[i-1].desc, o.desc, "query %s: the document id must follow the last order's direction", q.name)
			}
			continue
		}
		order := "ASCENDING"
		if o.desc {
			order = "DESCENDING"
		}
		n.orders = append(n.orders, indexField{FieldPath: o.field, Order: order})
	}
	if len(ranges) == 1 {
		require.NotEmpty(t, n.orders, "query %s: a range filter needs its field ordered first", q.name)
		require.Equal(t, ranges[0], n.orders[0].FieldPath, "query %s: Firestore wants the range field ordered first", q.name)
	}
	return n
}

// TestIndexesMatchQueries checks deploy/firestore/firestore.indexes.json against the query
// shapes of queries.go: every query that needs a composite index (or a single-field index the
// database does not make by itself: collection group scope) has it declared, and every
// declared index serves some query. The emulator accepts queries without their index; the
// real database refuses them, so this test stands in for it.
func TestIndexesMatchQueries(t *testing.T) {
	raw, err := os.ReadFile(indexPath)
	require.NoError(t, err)
	var file indexFile
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&file), "the index file must be in the Firebase CLI's format")

	usedIndex := make([]bool, len(file.Indexes))
	type overrideKey struct{ group, field, order, scope string }
	overridden := map[[2]string]bool{}
	usedOverride := map[overrideKey]bool{}
	for _, o := range file.FieldOverrides {
		overridden[[2]string{o.CollectionGroup, o.FieldPath}] = true
		for _, ix := range o.Indexes {
			require.NotEmpty(t, ix.Order, "override %s.%s: only ordered indexes are modelled", o.CollectionGroup, o.FieldPath)
			usedOverride[overrideKey{o.CollectionGroup, o.FieldPath, ix.Order, ix.QueryScope}] = false
		}
	}

	for _, q := range queries {
		n := needOf(t, q)
		fields := append(slices.Clone(n.eq), fieldPaths(n.orders)...)
		for _, f := range fields {
			require.False(t, overridden[[2]string{n.group, f}] && !hasOverrideIndexes(file, n.group, f),
				"query %s filters or orders on %s.%s, which the index file exempts from indexing", q.name, n.group, f)
		}
		if n.single() {
			if len(fields) == 0 {
				continue
			}
			order := "ASCENDING"
			if len(n.orders) == 1 {
				order = n.orders[0].Order
			}
			key := overrideKey{n.group, fields[0], order, string(n.scope)}
			if overridden[[2]string{n.group, fields[0]}] {
				_, ok := usedOverride[key]
				require.True(t, ok, "%v: the field override of %s.%s lacks %s %s", n, n.group, fields[0], order, n.scope)
				usedOverride[key] = true
				continue
			}
			require.Equal(t, scopeCollection, n.scope,
				"%v: Firestore makes single-field indexes for collections only; declare a field override", n)
			continue
		}
		found := false
		for i, ix := range file.Indexes {
			if ix.CollectionGroup == n.group && ix.QueryScope == string(n.scope) && serves(ix.Fields, n) {
				usedIndex[i], found = true, true
			}
		}
		require.True(t, found, "%v: no composite index declared for it", n)
	}
	for i, used := range usedIndex {
		require.True(t, used, "index %d (%s %s %v) serves no query of the store", i,
			file.Indexes[i].CollectionGroup, file.Indexes[i].QueryScope, file.Indexes[i].Fields)
	}
	for key, used := range usedOverride {
		require.True(t, used, "field override index %+v serves no query of the store", key)
	}
}

func hasOverrideIndexes(file indexFile, group, field string) bool {
	for _, o := range file.FieldOverrides {
		if o.CollectionGroup == group && o.FieldPath == field {
			return len(o.Indexes) > 0
		}
	}
	return false
}

func fieldPaths(fs []indexField) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, f.FieldPath)
	}
	return out
}

// serves reports whether a composite index with fields serves need exactly: the equality
// fields first (ascending, any order), then the orders.
func serves(fields []indexField, n indexNeed) bool {
	if len(fields) != len(n.eq)+len(n.orders) {
		return false
	}
	var eq []string
	for _, f := range fields[:len(n.eq)] {
		if f.Order != "ASCENDING" || f.ArrayConfig != "" {
			return false
		}
		eq = append(eq, f.FieldPath)
	}
	slices.Sort(eq)
	if !slices.Equal(eq, n.eq) {
		return false
	}
	return slices.Equal(fields[len(n.eq):], n.orders)
}

// TestQueriesAreBuiltFromShapes keeps TestIndexesMatchQueries honest: outside queries.go the
// package builds no filter or order by hand.
func TestQueriesAreBuiltFromShapes(t *testing.T) {
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	// A cursor (StartAfter a snapshot the same query returned) needs no index of its own.
	handMade := regexp.MustCompile(`\.(Where|WherePath|WhereEntity|OrderBy|OrderByPath)\(`)
	for _, f := range files {
		if f == "queries.go" || strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		for i, line := range strings.Split(string(src), "\n") {
			require.False(t, handMade.MatchString(line), "%s:%d builds a query by hand; add a shape to queries.go: %s", f, i+1, line)
		}
	}
	src, err := os.ReadFile("queries.go")
	require.NoError(t, err)
	require.Equal(t, strings.Count(string(src), "queryShape{name:"), len(queries),
		"every shape in queries.go must be listed in queries, or its index is not checked")
	names := map[string]bool{}
	for _, q := range queries {
		require.False(t, names[q.name], "two shapes are named %s", q.name)
		names[q.name] = true
	}
}
