package run

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Task asks a worker to run one attempt of one node. It is a hint: the worker re-reads the
// node and acts only if it is still ready with this attempt.
type Task struct {
	RunID   string `json:"run_id"`
	Node    string `json:"node"`
	Attempt int    `json:"attempt"`
}

// Completion tells the scheduler that a worker recorded the outcome of an attempt. It is a
// hint too: the scheduler re-reads the node.
type Completion struct {
	RunID   string    `json:"run_id"`
	Node    string    `json:"node"`
	Attempt int       `json:"attempt"`
	State   NodeState `json:"state"`
	// Propagated says the worker already applied the outcome downstream (store.NodeFinish).
	Propagated bool `json:"propagated,omitempty"`
	// RunDone says that, when the worker propagated, no node of the run was left unfinished.
	RunDone bool `json:"run_done,omitempty"`
	// Dispatched says the worker dispatched (or took itself) what the outcome unlocked and
	// passed its place on, so the scheduler need not make a dispatch pass for it.
	Dispatched bool `json:"dispatched,omitempty"`
}

// ErrBadMessage marks a message that can never be processed (malformed, or missing fields);
// receivers ack it after logging, or let it go to the dead-letter topic.
var ErrBadMessage = errors.New("bad message")

// EncodeTask encodes a task message body.
func EncodeTask(t Task) []byte {
	b, _ := json.Marshal(t) // a struct of strings and ints always marshals
	return b
}

// DecodeTask decodes and validates a task message body.
func DecodeTask(b []byte) (Task, error) {
	var t Task
	if err := json.Unmarshal(b, &t); err != nil {
		return t, fmt.Errorf("%w: decoding task: %v", ErrBadMessage, err)
	}
	if t.RunID == "" || t.Node == "" || t.Attempt < 1 {
		return t, fmt.Errorf("%w: task needs run_id, node and attempt >= 1, got %q %q %d", ErrBadMessage, t.RunID, t.Node, t.Attempt)
	}
	return t, nil
}

// EncodeCompletion encodes a completion message body.
func EncodeCompletion(c Completion) []byte {
	b, _ := json.Marshal(c)
	return b
}

// DecodeCompletion decodes and validates a completion message body.
func DecodeCompletion(b []byte) (Completion, error) {
	var c Completion
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%w: decoding completion: %v", ErrBadMessage, err)
	}
	if c.RunID == "" || c.Node == "" || c.Attempt < 1 {
		return c, fmt.Errorf("%w: completion needs run_id, node and attempt >= 1, got %q %q %d", ErrBadMessage, c.RunID, c.Node, c.Attempt)
	}
	return c, nil
}
