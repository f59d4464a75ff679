package run

import (
	"errors"
	"testing"
)

// Messages come off a queue anyone with publish rights can write to: whatever the bytes, a
// decoder answers a valid message or ErrBadMessage, never panics, and a message it accepts
// survives a round trip unchanged.
func FuzzDecodeTask(f *testing.F) {
	f.Add(EncodeTask(Task{RunID: "r1", Node: "fin.revenue", Attempt: 1}))
	f.Add([]byte(`{"run_id":"r","node":"n","attempt":0}`))
	f.Add([]byte(`{"run_id":"r","node":"n","attempt":1e400}`))
	f.Add([]byte(`{"run_id":"\ud800","node":"n","attempt":2}`))
	f.Add([]byte(`[[[[[[[[[[[[]]]]]]]]]]]]`))
	f.Add([]byte("\xff\xfe"))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		task, err := DecodeTask(b)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("DecodeTask(%q): error %v is not ErrBadMessage", b, err)
			}
			return
		}
		if task.RunID == "" || task.Node == "" || task.Attempt < 1 {
			t.Fatalf("DecodeTask(%q) accepted an invalid task %+v", b, task)
		}
		again, err := DecodeTask(EncodeTask(task))
		if err != nil || again != task {
			t.Fatalf("task %+v does not survive a round trip: %+v, %v", task, again, err)
		}
	})
}

func FuzzDecodeCompletion(f *testing.F) {
	f.Add(EncodeCompletion(Completion{RunID: "r1", Node: "fin.revenue", Attempt: 2, State: NodeSucceeded, Propagated: true, RunDone: true, Dispatched: true}))
	f.Add([]byte(`{"run_id":"r","node":"n","attempt":1,"state":7}`))
	f.Add([]byte(`{"run_id":"r","node":"n","attempt":-1,"state":"failed"}`))
	f.Add([]byte(`{"run_id":"r","node":"n","attempt":1,"propagated":"yes"}`))
	f.Add([]byte(`{"run_id":"r","node":"n","attempt":1}trailing`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCompletion(b)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("DecodeCompletion(%q): error %v is not ErrBadMessage", b, err)
			}
			return
		}
		if c.RunID == "" || c.Node == "" || c.Attempt < 1 {
			t.Fatalf("DecodeCompletion(%q) accepted an invalid completion %+v", b, c)
		}
		again, err := DecodeCompletion(EncodeCompletion(c))
		if err != nil || again != c {
			t.Fatalf("completion %+v does not survive a round trip: %+v, %v", c, again, err)
		}
	})
}
