package extract

import (
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// DefaultRowGroupRows is how many rows a Writer buffers before it writes them out as a row group.
// Memory is proportional to it times the row width; 64Ki rows keeps a typical row group at a few
// megabytes while still compressing well.
const DefaultRowGroupRows = 64 * 1024

// Writer streams rows into one zstd-compressed Parquet file. Rows are buffered only up to one row
// group, so memory stays flat however many rows are written. A Writer is not safe for
// concurrent use.
type Writer struct {
	pw           *parquet.Writer
	out          *countingWriter
	rowGroupRows int
	inGroup      int
	rows         int64
}

// NewWriter starts a Parquet file with the columns' schema on w. rowGroupRows bounds the rows
// buffered in memory; 0 means DefaultRowGroupRows.
func NewWriter(w io.Writer, cols []Column, rowGroupRows int) (*Writer, error) {
	schema, err := Schema(cols)
	if err != nil {
		return nil, fmt.Errorf("error building the Parquet schema: %w", err)
	}
	if rowGroupRows <= 0 {
		rowGroupRows = DefaultRowGroupRows
	}
	out := &countingWriter{w: w}
	pw := parquet.NewWriter(out, schema,
		parquet.Compression(&zstd.Codec{Level: zstd.SpeedFastest}),
		parquet.CreatedBy("maestro", "", ""),
		// Pages are cut by size; the row group bound is ours (Flush below).
		parquet.MaxRowsPerRowGroup(int64(rowGroupRows)),
	)
	return &Writer{pw: pw, out: out, rowGroupRows: rowGroupRows}, nil
}

// WriteRows appends rows to the file.
func (w *Writer) WriteRows(rows []parquet.Row) error {
	for len(rows) > 0 {
		n := min(len(rows), w.rowGroupRows-w.inGroup)
		if _, err := w.pw.WriteRows(rows[:n]); err != nil {
			return fmt.Errorf("error writing rows to Parquet: %w", err)
		}
		rows = rows[n:]
		w.inGroup += n
		w.rows += int64(n)
		if w.inGroup == w.rowGroupRows {
			if err := w.pw.Flush(); err != nil {
				return fmt.Errorf("error writing a Parquet row group: %w", err)
			}
			w.inGroup = 0
		}
	}
	return nil
}

// Rows is how many rows were written.
func (w *Writer) Rows() int64 { return w.rows }

// Close writes the last row group and the footer; the file is complete once it returns nil.
// It does not close the underlying io.Writer.
func (w *Writer) Close() error {
	if err := w.pw.Close(); err != nil {
		return fmt.Errorf("error finishing the Parquet file: %w", err)
	}
	return nil
}

// Bytes is how many bytes were written to the underlying io.Writer so far.
func (w *Writer) Bytes() int64 { return w.out.n }

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
