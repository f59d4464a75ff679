package memqueue

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/maestro-sql/maestro/internal/queue"
)

// entryState is where an entry is: queued for delivery, leased to a handler, or waiting out a
// backoff or an injected delay.
type entryState int

const (
	stateReady entryState = iota
	stateLeased
	stateWaiting
	stateDone
)

// entry is one message as held by one subscription.
type entry struct {
	id    string
	data  []byte
	attrs map[string]string

	deliveries int
	// token changes whenever a lease ends, so that the outcome of a handler whose lease was lost
	// (expired and handed to someone else) is ignored.
	token uint64
	state entryState
	// due is when the lease expires (leased) or the wait ends (waiting).
	due   time.Time
	index int // position in subscription.timed, -1 when absent
}

type subscription struct {
	q    *Queue
	name string
	cfg  queue.SubscriptionConfig

	mu     sync.Mutex
	ready  fifo
	timed  timedHeap
	wake   chan struct{} // closed and replaced when ready gains entries
	waits  int           // receivers blocked on wake; avoids replacing wake when nobody listens
	timer  *time.Timer
	armAt  time.Time // when timer fires; zero when not armed
	closed bool
}

// delivery is one lease handed to a handler.
type delivery struct {
	e     *entry
	token uint64
	msg   *queue.Message
}

// enqueue adds a freshly published entry. s.q.mu is held by the caller (lock order q.mu, s.mu).
func (s *subscription) enqueue(e *entry, f fate, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	switch {
	case f.delay > 0:
		e.state = stateWaiting
		e.due = now.Add(f.delay)
		heap.Push(&s.timed, e)
		s.armLocked(now)
	case f.reorder:
		s.ready.insert(e, int(f.position*float64(s.ready.len())))
		s.wakeLocked()
	default:
		s.ready.push(e)
		s.wakeLocked()
	}
}

func (s *subscription) wakeLocked() {
	if s.waits > 0 {
		close(s.wake)
		s.wake = make(chan struct{})
		s.waits = 0
	}
}

func (s *subscription) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
	}
	close(s.wake)
	s.wake = make(chan struct{})
	s.waits = 0
}

// receive runs handlers until ctx is done or the queue closes.
func (s *subscription) receive(ctx context.Context, h queue.Handler) error {
	slots := make(chan struct{}, s.cfg.MaxOutstanding)
	var wg sync.WaitGroup
	var err error
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			err = ctx.Err()
			break
		}
		d, nextErr := s.next(ctx)
		if nextErr != nil {
			err = nextErr
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			herr := h(ctx, d.msg)
			s.finish(d, herr, ctx.Err() != nil)
		}()
	}
	wg.Wait()
	if errors.Is(err, ErrClosed) {
		return fmt.Errorf("error receiving from subscription %q: %w", s.name, ErrClosed)
	}
	return err
}

// next leases the next ready entry, waiting for one.
func (s *subscription) next(ctx context.Context) (delivery, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return delivery{}, ErrClosed
		}
		if e := s.ready.pop(); e != nil {
			now := time.Now()
			e.deliveries++
			e.state = stateLeased
			// While the handler runs the lease is extended automatically, so it lasts until the
			// extension limit, or one ack deadline if that is longer.
			e.due = now.Add(max(s.cfg.AckDeadline, s.cfg.MaxExtension))
			heap.Push(&s.timed, e)
			s.armLocked(now)
			d := delivery{e: e, token: e.token, msg: &queue.Message{
				ID: e.id, Data: cloneBytes(e.data), Attributes: cloneAttrs(e.attrs), DeliveryAttempt: e.deliveries,
			}}
			s.mu.Unlock()
			return d, nil
		}
		w := s.wake
		s.waits++
		s.mu.Unlock()
		select {
		case <-w:
		case <-ctx.Done():
			return delivery{}, ctx.Err()
		}
	}
}

// finish applies a handler's outcome. stopping says the receiver's context was done, in which case
// an error is not a nack: the receiver is going away and stops extending the lease, which then
// expires one ack deadline later, as a crashed Pub/Sub subscriber's would.
func (s *subscription) finish(d delivery, herr error, stopping bool) {
	var dead *entry
	s.mu.Lock()
	e := d.e
	if s.closed || e.token != d.token || e.state != stateLeased {
		s.mu.Unlock()
		return
	}
	now := time.Now()
	switch {
	case herr == nil:
		heap.Remove(&s.timed, e.index)
		e.state = stateDone
	case stopping:
		if due := now.Add(s.cfg.AckDeadline); due.Before(e.due) {
			e.due = due
			heap.Fix(&s.timed, e.index)
			s.armLocked(now)
		}
	default:
		heap.Remove(&s.timed, e.index)
		e.token++
		switch {
		case s.cfg.MaxDeliveries > 0 && e.deliveries >= s.cfg.MaxDeliveries:
			e.state = stateDone
			dead = e
		case s.cfg.MinBackoff > 0:
			e.state = stateWaiting
			e.due = now.Add(s.cfg.MinBackoff)
			heap.Push(&s.timed, e)
			s.armLocked(now)
		default:
			e.state = stateReady
			s.ready.push(e)
			s.wakeLocked()
		}
	}
	s.mu.Unlock()
	if dead != nil {
		s.deadLetter([]*entry{dead})
	}
}

// deadLetter forwards entries to the dead-letter topic. s.mu must not be held.
func (s *subscription) deadLetter(es []*entry) {
	for _, e := range es {
		// An error means the queue closed, and then the message is lost like any other.
		_, _ = s.q.publish(s.cfg.DeadLetterTopic, &queue.Message{Data: e.data, Attributes: e.attrs})
	}
}

// armLocked makes sure the timer fires by the earliest due time.
func (s *subscription) armLocked(now time.Time) {
	if len(s.timed) == 0 || s.closed {
		return
	}
	at := s.timed[0].due
	if !s.armAt.IsZero() && !at.Before(s.armAt) {
		return
	}
	s.armAt = at
	if s.timer == nil {
		s.timer = time.AfterFunc(at.Sub(now), s.onTimer)
		return
	}
	s.timer.Reset(at.Sub(now))
}

// onTimer ends expired leases and waits.
func (s *subscription) onTimer() {
	var dead []*entry
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.armAt = time.Time{}
	now := time.Now()
	woke := false
	for len(s.timed) > 0 && !s.timed[0].due.After(now) {
		e := heap.Pop(&s.timed).(*entry)
		if e.state == stateLeased {
			e.token++
			if s.cfg.MaxDeliveries > 0 && e.deliveries >= s.cfg.MaxDeliveries {
				e.state = stateDone
				dead = append(dead, e)
				continue
			}
		}
		e.state = stateReady
		s.ready.push(e)
		woke = true
	}
	if woke {
		s.wakeLocked()
	}
	s.armLocked(now)
	s.mu.Unlock()
	if len(dead) > 0 {
		s.deadLetter(dead)
	}
}

// fifo is a queue of ready entries.
type fifo struct {
	items []*entry
	head  int
}

func (f *fifo) len() int { return len(f.items) - f.head }

func (f *fifo) push(e *entry) { f.items = append(f.items, e) }

// insert puts e at position i (0 = next out).
func (f *fifo) insert(e *entry, i int) {
	i = min(max(i, 0), f.len()) + f.head
	f.items = append(f.items, nil)
	copy(f.items[i+1:], f.items[i:])
	f.items[i] = e
}

func (f *fifo) pop() *entry {
	if f.head == len(f.items) {
		return nil
	}
	e := f.items[f.head]
	f.items[f.head] = nil
	f.head++
	if f.head == len(f.items) {
		f.items, f.head = f.items[:0], 0
	} else if f.head >= 1024 && f.head*2 >= len(f.items) {
		n := copy(f.items, f.items[f.head:])
		clear(f.items[n:])
		f.items, f.head = f.items[:n], 0
	}
	return e
}

// timedHeap orders leased and waiting entries by due time.
type timedHeap []*entry

func (h timedHeap) Len() int           { return len(h) }
func (h timedHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h timedHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *timedHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *timedHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.index = -1
	*h = old[:len(old)-1]
	return e
}
