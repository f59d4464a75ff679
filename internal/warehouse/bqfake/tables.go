package bqfake

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	bq "google.golang.org/api/bigquery/v2"

	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/warehouse"
)

// tableMeta is what BigQuery keeps about a table that the engine does not: the partitioning
// and clustering the job that created it asked for, and when it was created.
type tableMeta struct {
	created           time.Time
	timePartitioning  *bq.TimePartitioning
	rangePartitioning *bq.RangePartitioning
	clustering        *bq.Clustering
}

// noteTableWritten records the table options of a job that created or replaced dest.
func (s *Server) noteTableWritten(dest sqlref.TableName, j *job, replaced bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.tables[dest]
	if ok && !replaced {
		return
	}
	if !ok {
		m = &tableMeta{created: s.now()}
		s.tables[dest] = m
	}
	switch {
	case j.config.Query != nil:
		q := j.config.Query
		m.timePartitioning, m.rangePartitioning, m.clustering = q.TimePartitioning, q.RangePartitioning, q.Clustering
	case j.config.Load != nil:
		l := j.config.Load
		m.timePartitioning, m.rangePartitioning, m.clustering = l.TimePartitioning, l.RangePartitioning, l.Clustering
	}
}

func (s *Server) getTable(w http.ResponseWriter, r *http.Request, name sqlref.TableName) {
	tb, err := s.engine.Table(r.Context(), name)
	if errors.Is(err, warehouse.ErrNotFound) {
		writeError(w, http.StatusNotFound, "notFound", "Not found: Table "+tableID(name))
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internalError", "bqfake: "+err.Error())
		return
	}
	s.mu.Lock()
	meta := s.tables[name]
	s.mu.Unlock()
	modified := tb.Modified
	if modified.IsZero() {
		modified = s.now()
	}
	created := modified
	out := &bq.Table{
		Kind:             "bigquery#table",
		Etag:             strconv.FormatInt(modified.UnixNano(), 36),
		Id:               tableID(name),
		SelfLink:         "/projects/" + name.Project + "/datasets/" + name.Dataset + "/tables/" + name.Table,
		TableReference:   &bq.TableReference{ProjectId: name.Project, DatasetId: name.Dataset, TableId: name.Table},
		Schema:           restSchema(tb.Columns),
		NumRows:          uint64(tb.Rows),
		NumBytes:         tb.Bytes,
		LastModifiedTime: uint64(modified.UnixMilli()),
		Type:             "TABLE",
		Location:         s.location,
	}
	if meta != nil {
		created = meta.created
		out.TimePartitioning, out.RangePartitioning, out.Clustering = meta.timePartitioning, meta.rangePartitioning, meta.clustering
	}
	out.CreationTime = created.UnixMilli()
	writeJSON(w, out)
}

// restSchema renders GoogleSQL column types as the REST API's schema does: legacy type names
// (INTEGER, FLOAT, BOOLEAN) and arrays as REPEATED fields. STRUCT columns are reported as JSON:
// the engine does not describe their fields.
func restSchema(cols []warehouse.Column) *bq.TableSchema {
	out := &bq.TableSchema{}
	for _, c := range cols {
		t, mode := strings.ToUpper(c.Type), "NULLABLE"
		if strings.HasPrefix(t, "ARRAY<") && strings.HasSuffix(t, ">") {
			t, mode = strings.TrimSuffix(strings.TrimPrefix(t, "ARRAY<"), ">"), "REPEATED"
		}
		out.Fields = append(out.Fields, &bq.TableFieldSchema{Name: c.Name, Type: legacyType(t), Mode: mode})
	}
	return out
}

func legacyType(t string) string {
	switch t {
	case "INT64":
		return "INTEGER"
	case "FLOAT64":
		return "FLOAT"
	case "BOOL":
		return "BOOLEAN"
	case "STRUCT", "INTERVAL":
		return "JSON"
	}
	return t
}

type page struct {
	schema *bq.TableSchema
	rows   []*bq.TableRow
	total  uint64
	token  string
}

// readPage reads rows of a query's result table. maxResults "0" returns none (the client waits
// with it); empty means all rows up to a page of 10,000.
func (s *Server) readPage(ctx context.Context, dest sqlref.TableName, maxResults, startIndex, pageToken string, useInt64 bool) (*page, *bq.ErrorProto) {
	tb, err := s.engine.Table(ctx, dest)
	if err != nil {
		return nil, &bq.ErrorProto{Reason: "internalError", Message: "bqfake: reading results: " + err.Error()}
	}
	p := &page{schema: restSchema(tb.Columns), total: uint64(tb.Rows)}
	limit := int64(10000)
	if maxResults != "" {
		if n, err := strconv.ParseInt(maxResults, 10, 64); err == nil && n >= 0 && n < limit {
			limit = n
		}
	}
	var offset int64
	if startIndex != "" {
		offset, _ = strconv.ParseInt(startIndex, 10, 64)
	}
	if pageToken != "" {
		offset, _ = strconv.ParseInt(pageToken, 10, 64)
	}
	if limit == 0 || offset >= tb.Rows {
		return p, nil
	}
	sql := fmt.Sprintf("SELECT * FROM `%s.%s.%s` LIMIT %d OFFSET %d", dest.Project, dest.Dataset, dest.Table, limit, offset)
	rows, err := s.engine.Read(ctx, sql, sqlref.Options{DefaultProject: dest.Project}, int(limit))
	if err != nil {
		return nil, &bq.ErrorProto{Reason: "internalError", Message: "bqfake: reading results: " + err.Error()}
	}
	for _, vals := range rows.Values {
		row := &bq.TableRow{}
		for i, v := range vals {
			typ := "STRING"
			if i < len(tb.Columns) {
				typ = strings.ToUpper(tb.Columns[i].Type)
			}
			row.F = append(row.F, &bq.TableCell{V: cell(v, typ, useInt64)})
		}
		p.rows = append(p.rows, row)
	}
	if next := offset + int64(len(rows.Values)); next < tb.Rows {
		p.token = strconv.FormatInt(next, 10)
	}
	return p, nil
}

// cell renders one value as the REST API's row format does: every scalar as a string, arrays
// as a list of {"v": ...} cells, NULL as null.
func cell(v any, typ string, useInt64 bool) any {
	if v == nil {
		return nil
	}
	if strings.HasPrefix(typ, "ARRAY<") {
		elem := strings.TrimSuffix(strings.TrimPrefix(typ, "ARRAY<"), ">")
		list, ok := v.([]any)
		if !ok {
			return fmt.Sprint(v)
		}
		out := make([]any, 0, len(list))
		for _, e := range list {
			out = append(out, map[string]any{"v": cell(e, elem, useInt64)})
		}
		return out
	}
	switch x := v.(type) {
	case time.Time:
		switch typ {
		case "DATE":
			return x.UTC().Format("2006-01-02")
		case "TIME":
			return x.UTC().Format("15:04:05.999999")
		case "DATETIME":
			return x.UTC().Format("2006-01-02T15:04:05.999999")
		}
		if useInt64 {
			return strconv.FormatInt(x.UnixMicro(), 10)
		}
		us := x.UnixMicro()
		return fmt.Sprintf("%d.%06d", us/1e6, us%1e6)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case bool:
		return strconv.FormatBool(x)
	case []byte:
		if typ == "BYTES" {
			return base64.StdEncoding.EncodeToString(x)
		}
		return string(x)
	case string:
		return x
	case *big.Int:
		return x.String()
	case fmt.Stringer:
		return x.String()
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return fmt.Sprint(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
