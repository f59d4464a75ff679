package sqlitestore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/maestro-sql/maestro/internal/run"
)

// The journal of a live run (migration 0010's run_journal): each write of the run's changes is
// one row holding every node it changed, whole, in the encoding below; RunCreate writes the
// first, with every node. Replaying a run's rows in order rebuilds its nodes. When the run is
// over its nodes are written to the nodes table once and its journal is deleted (compact).
//
// One row a write instead of one UPDATE a node: an UPDATE of a node row costs about 23 µs of
// the writer's CPU, and the writer shares two cores with the goroutines that start nodes.

// journalVersion starts every entry; an entry of another version is refused, not guessed at.
const journalVersion = 1

// encodeNodes appends the journal entry of nodes to b.
func encodeNodes(b []byte, nodes []run.Node) []byte {
	b = append(b, journalVersion)
	b = binary.AppendUvarint(b, uint64(len(nodes)))
	for i := range nodes {
		n := &nodes[i]
		b = appendString(b, n.Name)
		b = appendString(b, n.Kind)
		b = appendString(b, string(n.State))
		for _, v := range []int64{int64(n.Attempt), int64(n.MaxAttempts), int64(n.PendingUpstream), int64(n.Depth),
			nanos(n.NotBefore), nanos(n.DispatchedAt), nanos(n.LeaseExpiresAt), nanos(n.StartedAt), nanos(n.FinishedAt),
			n.Stats.BytesProcessed, n.Stats.BytesBilled, n.Stats.SlotMillis, n.Stats.Rows, n.Stats.DurationMillis} {
			b = binary.AppendVarint(b, v)
		}
		var flags byte
		if n.Propagated {
			flags |= 1
		}
		if n.Stats.CacheHit {
			flags |= 2
		}
		if n.Upstream != nil {
			flags |= 4
		}
		if n.Downstream != nil {
			flags |= 8
		}
		b = append(b, flags)
		b = appendString(b, n.Lease)
		b = appendString(b, n.JobID)
		b = appendString(b, n.Error)
		b = appendStrings(b, n.Upstream)
		b = appendStrings(b, n.Downstream)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

// errJournal: a journal entry is not one this program wrote.
var errJournal = errors.New("malformed journal entry")

// journalReader reads an entry, remembering the first error.
type journalReader struct {
	b   []byte
	err error
}

func (r *journalReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", errJournal, what)
	}
}

func (r *journalReader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *journalReader) varint(what string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *journalReader) int(what string) int {
	v := r.varint(what)
	if v < math.MinInt32 || v > math.MaxInt32 {
		r.fail(what + " out of range")
		return 0
	}
	return int(v)
}

func (r *journalReader) string(what string) string {
	n := r.uvarint(what)
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.fail(what + " longer than the entry")
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *journalReader) strings(present bool, what string) []string {
	n := r.uvarint(what)
	if r.err != nil {
		return nil
	}
	// Every string takes at least a byte: a count beyond the bytes left is a lie.
	if n > uint64(len(r.b)) {
		r.fail(what + " count beyond the entry")
		return nil
	}
	if !present {
		if n != 0 {
			r.fail(what + " absent but not empty")
		}
		return nil
	}
	out := make([]string, 0, n)
	for range n {
		out = append(out, r.string(what))
	}
	return out
}

// decodeNodes decodes a journal entry; nodes get runID.
func decodeNodes(runID string, b []byte) ([]run.Node, error) {
	if len(b) == 0 || b[0] != journalVersion {
		return nil, fmt.Errorf("%w: not version %d", errJournal, journalVersion)
	}
	r := &journalReader{b: b[1:]}
	count := r.uvarint("node count")
	if count > uint64(len(r.b)) {
		r.fail("node count beyond the entry")
	}
	var nodes []run.Node
	for i := uint64(0); i < count && r.err == nil; i++ {
		n := run.Node{RunID: runID}
		n.Name = r.string("name")
		n.Kind = r.string("kind")
		n.State = run.NodeState(r.string("state"))
		n.Attempt, n.MaxAttempts = r.int("attempt"), r.int("max attempts")
		n.PendingUpstream, n.Depth = r.int("pending upstream"), r.int("depth")
		n.NotBefore, n.DispatchedAt = fromNanos(r.varint("not before")), fromNanos(r.varint("dispatched at"))
		n.LeaseExpiresAt, n.StartedAt = fromNanos(r.varint("lease expiry")), fromNanos(r.varint("started at"))
		n.FinishedAt = fromNanos(r.varint("finished at"))
		n.Stats.BytesProcessed, n.Stats.BytesBilled = r.varint("bytes processed"), r.varint("bytes billed")
		n.Stats.SlotMillis, n.Stats.Rows, n.Stats.DurationMillis = r.varint("slot ms"), r.varint("rows"), r.varint("duration")
		if r.err != nil {
			break
		}
		if len(r.b) == 0 {
			r.fail("flags")
			break
		}
		flags := r.b[0]
		r.b = r.b[1:]
		if flags&^15 != 0 {
			r.fail("unknown flags")
			break
		}
		n.Propagated, n.Stats.CacheHit = flags&1 != 0, flags&2 != 0
		n.Lease, n.JobID, n.Error = r.string("lease"), r.string("job id"), r.string("error")
		n.Upstream = r.strings(flags&4 != 0, "upstream")
		n.Downstream = r.strings(flags&8 != 0, "downstream")
		if r.err == nil && n.Name == "" {
			r.fail("a node without a name")
		}
		nodes = append(nodes, n)
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("bytes after the last node")
	}
	if r.err != nil {
		return nil, r.err
	}
	return nodes, nil
}
