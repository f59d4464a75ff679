package extract

import "github.com/parquet-go/parquet-go"

// Batch is a reusable block of rows passed from a Source to a Writer. Byte values point into
// the batch's own buffer, because drivers reuse their buffers from one row to the next; they
// stay valid until the batch is reset.
type Batch struct {
	// Rows holds one parquet.Row per source row, values in column order with levels set.
	Rows []parquet.Row
	buf  []byte
}

// NewBatch makes a batch that holds up to size rows.
func NewBatch(size int) *Batch {
	return &Batch{Rows: make([]parquet.Row, 0, size)}
}

// Full reports whether the batch holds as many rows as it was made for.
func (b *Batch) Full() bool { return len(b.Rows) == cap(b.Rows) }

// Reset empties the batch, keeping its memory for the next rows.
func (b *Batch) Reset() {
	b.Rows = b.Rows[:0]
	b.buf = b.buf[:0]
}

// newRow appends an empty row, reusing the memory of the row that was there before a Reset.
func (b *Batch) newRow(width int) parquet.Row {
	n := len(b.Rows)
	b.Rows = b.Rows[:n+1]
	r := b.Rows[n]
	if cap(r) < width {
		r = make(parquet.Row, 0, width)
	}
	return r[:0]
}

// setRow stores the finished row built from newRow.
func (b *Batch) setRow(r parquet.Row) { b.Rows[len(b.Rows)-1] = r }

// bytes copies p into the batch's buffer. When the buffer grows, slices handed out before keep
// pointing at the old array, which stays alive while they do.
func (b *Batch) bytes(p []byte) []byte {
	start := len(b.buf)
	b.buf = append(b.buf, p...)
	return b.buf[start:len(b.buf):len(b.buf)]
}
