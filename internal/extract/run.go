package extract

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/maestro-sql/maestro/internal/blob"
)

// Source is a database that can stream a query's result. Implementations: Postgres, MySQL, SQLite.
type Source interface {
	// Dialect is the SQL dialect of the source, for quoting identifiers and bind parameters.
	Dialect() Dialect
	// Query runs sql with args bound to its parameters and returns its rows.
	Query(ctx context.Context, sql string, args ...any) (Rows, error)
}

// Rows is a query result being read. It is not safe for concurrent use.
type Rows interface {
	// Columns describes the result's columns.
	Columns() []Column
	// Next appends rows to b until it is full or the result ends. It returns io.EOF, and no
	// rows, once the result is exhausted.
	Next(ctx context.Context, b *Batch) error
	// Close releases the result; it is safe to call more than once.
	Close() error
}

// Sink is where Run writes its shards.
type Sink struct {
	// Bucket receives the files.
	Bucket blob.Bucket
	// Prefix is prepended to each shard's name: keys are Prefix + "part-00000.parquet", ….
	// Include a trailing slash to make it a folder.
	Prefix string
	// ShardRows is the most rows per file. Defaults to DefaultShardRows.
	ShardRows int64
	// RowGroupRows is the rows per Parquet row group. Defaults to DefaultRowGroupRows.
	RowGroupRows int
}

// DefaultShardRows is the most rows Run writes to one file unless Sink.ShardRows says otherwise.
const DefaultShardRows = 10_000_000

// Result is what Run did.
type Result struct {
	// Keys are the objects written, in order. A result with no rows still has one (empty) file,
	// so that a load job sees the schema.
	Keys []string
	// Rows is how many rows were read from the source (and written).
	Rows int64
	// Bytes is the total size of the files.
	Bytes int64
	// Columns is the schema of the files.
	Columns []Column
	// Watermark is the greatest value of Query.Watermark among the rows read (int64 or
	// time.Time), or, when no row was read, Query.After unchanged.
	Watermark any
}

const batchRows = 4096

// Run streams the result of q from src into Parquet files in sink. Reading the source and
// encoding Parquet run on separate goroutines, overlapped, with two batches in flight: memory
// is bounded by one row group plus two batches, whatever the table's size.
func Run(ctx context.Context, src Source, q Query, sink Sink) (*Result, error) {
	if sink.ShardRows <= 0 {
		sink.ShardRows = DefaultShardRows
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	rows, err := src.Query(ctx, q.SQL, q.Args...)
	if err != nil {
		return nil, fmt.Errorf("error running the import query: %w", err)
	}
	defer rows.Close()
	cols := rows.Columns()
	if _, err := Schema(cols); err != nil {
		return nil, err
	}
	wm, err := newWatermark(cols, q)
	if err != nil {
		return nil, err
	}

	free := make(chan *Batch, 2)
	full := make(chan *Batch, 2)
	free <- NewBatch(batchRows)
	free <- NewBatch(batchRows)
	readErr := make(chan error, 1)
	go func() {
		defer close(full)
		for {
			var b *Batch
			select {
			case b = <-free:
			case <-ctx.Done():
				readErr <- context.Cause(ctx)
				return
			}
			b.Reset()
			if err := rows.Next(ctx, b); err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				readErr <- err
				return
			}
			full <- b
		}
	}()

	res := &Result{Columns: cols}
	var shard *shardWriter
	writeErr := func() error {
		for b := range full {
			rs := b.Rows
			for len(rs) > 0 {
				if shard == nil {
					key := fmt.Sprintf("%spart-%05d.parquet", sink.Prefix, len(res.Keys))
					if shard, err = openShard(ctx, sink, key, cols); err != nil {
						return err
					}
					res.Keys = append(res.Keys, key)
				}
				n := int(min(int64(len(rs)), sink.ShardRows-shard.w.Rows()))
				wm.observe(rs[:n])
				if err := shard.w.WriteRows(rs[:n]); err != nil {
					return err
				}
				rs = rs[n:]
				res.Rows += int64(n)
				if shard.w.Rows() == sink.ShardRows {
					if err := shard.close(); err != nil {
						return err
					}
					res.Bytes += shard.w.Bytes()
					shard = nil
				}
			}
			free <- b
		}
		return nil
	}()
	if writeErr != nil {
		cancel(writeErr)
		for range full { // let the reader finish
		}
		<-readErr
		if shard != nil {
			shard.abort(writeErr)
		}
		return nil, writeErr
	}
	if err := <-readErr; err != nil {
		if shard != nil {
			shard.abort(err)
		}
		return nil, fmt.Errorf("error reading the import query's rows: %w", err)
	}
	if shard == nil && len(res.Keys) == 0 {
		key := sink.Prefix + "part-00000.parquet"
		if shard, err = openShard(ctx, sink, key, cols); err != nil {
			return nil, err
		}
		res.Keys = append(res.Keys, key)
	}
	if shard != nil {
		if err := shard.close(); err != nil {
			return nil, err
		}
		res.Bytes += shard.w.Bytes()
	}
	res.Watermark = wm.result(q.After)
	return res, nil
}

// shardWriter streams one Parquet file into a bucket object through a pipe.
type shardWriter struct {
	key  string
	pw   *io.PipeWriter
	w    *Writer
	done chan error
}

func openShard(ctx context.Context, sink Sink, key string, cols []Column) (*shardWriter, error) {
	pr, pw := io.Pipe()
	w, err := NewWriter(pw, cols, sink.RowGroupRows)
	if err != nil {
		return nil, err
	}
	s := &shardWriter{key: key, pw: pw, w: w, done: make(chan error, 1)}
	go func() {
		err := sink.Bucket.Write(ctx, key, pr)
		// Unblocks the writer if the bucket gave up before reading everything.
		pr.CloseWithError(errors.Join(err, errors.New("bucket write ended")))
		s.done <- err
	}()
	return s, nil
}

func (s *shardWriter) close() error {
	if err := s.w.Close(); err != nil {
		s.abort(err)
		return fmt.Errorf("error writing %q: %w", s.key, err)
	}
	_ = s.pw.Close()
	if err := <-s.done; err != nil {
		return fmt.Errorf("error storing %q: %w", s.key, err)
	}
	return nil
}

// abort fails the object's upload, so the bucket keeps no partial file.
func (s *shardWriter) abort(cause error) {
	_ = s.pw.CloseWithError(cause)
	<-s.done
}

// watermark tracks the greatest value of the watermark column.
type watermark struct {
	col  int
	kind Kind
	seen bool
	max  int64
}

func newWatermark(cols []Column, q Query) (*watermark, error) {
	w := &watermark{col: -1}
	if q.Watermark == "" {
		return w, nil
	}
	for i, c := range cols {
		if c.Name == q.Watermark {
			switch c.Kind {
			case KindInt64, KindTimestamp, KindTimestampTZ:
				w.col, w.kind = i, c.Kind
				return w, nil
			}
			return nil, fmt.Errorf("watermark column %q is %s (%s); it must be an integer or a timestamp", c.Name, c.Kind, c.SourceType)
		}
	}
	return nil, fmt.Errorf("watermark column %q is not in the query's result", q.Watermark)
}

func (w *watermark) observe(rows []parquet.Row) {
	if w.col < 0 {
		return
	}
	for _, r := range rows {
		v := r[w.col]
		if v.IsNull() {
			continue
		}
		if x := v.Int64(); !w.seen || x > w.max {
			w.seen, w.max = true, x
		}
	}
}

func (w *watermark) result(after any) any {
	if !w.seen {
		return after
	}
	if w.kind == KindInt64 {
		return w.max
	}
	return time.UnixMicro(w.max).UTC()
}
