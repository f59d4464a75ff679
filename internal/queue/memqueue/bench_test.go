package memqueue_test

import (
	"context"
	"encoding/binary"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/maestro-sql/maestro/internal/queue"
	"github.com/maestro-sql/maestro/internal/queue/memqueue"
)

// latencyRecorder records publish-to-handler latencies carried in the message data.
type latencyRecorder struct {
	mu   sync.Mutex
	lats []time.Duration
	wg   sync.WaitGroup
}

func (r *latencyRecorder) handler(_ context.Context, m *queue.Message) error {
	sent := int64(binary.LittleEndian.Uint64(m.Data))
	lat := time.Duration(time.Now().UnixNano() - sent)
	r.mu.Lock()
	r.lats = append(r.lats, lat)
	r.mu.Unlock()
	r.wg.Done()
	return nil
}

func (r *latencyRecorder) report(b *testing.B) {
	r.mu.Lock()
	defer r.mu.Unlock()
	slices.Sort(r.lats)
	q := func(p float64) float64 {
		return float64(r.lats[int(p*float64(len(r.lats)-1))].Microseconds())
	}
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
	b.ReportMetric(float64(r.lats[len(r.lats)-1].Microseconds()), "max-µs")
}

func stamp() *queue.Message {
	return &queue.Message{Data: binary.LittleEndian.AppendUint64(nil, uint64(time.Now().UnixNano()))}
}

func setupBench(b *testing.B) (*memqueue.Queue, queue.Topic, *latencyRecorder) {
	q := memqueue.New(nil)
	b.Cleanup(func() { _ = q.Close() })
	sub, err := q.CreateSubscription("s", queue.SubscriptionConfig{Topic: "t", MaxOutstanding: 16})
	if err != nil {
		b.Fatal(err)
	}
	r := &latencyRecorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = sub.Receive(ctx, r.handler)
	}()
	b.Cleanup(func() { cancel(); <-done })
	return q, q.Topic("t"), r
}

// BenchmarkThroughput publishes as fast as one publisher can and waits for every handler.
func BenchmarkThroughput(b *testing.B) {
	_, topic, r := setupBench(b)
	ctx := context.Background()
	start := time.Now()
	for b.Loop() {
		r.wg.Add(1)
		if err := topic.Publish(ctx, stamp()); err != nil {
			b.Fatal(err)
		}
	}
	r.wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkLatencyAt10kPerSecond publishes 10 messages every millisecond (10,000 per second, the
// scheduler's target rate) and reports publish-to-handler latency percentiles.
func BenchmarkLatencyAt10kPerSecond(b *testing.B) {
	_, topic, r := setupBench(b)
	ctx := context.Background()
	const burst = 10
	start := time.Now()
	n := 0
	for b.Loop() {
		if n%burst == 0 {
			// Pacing against the start time keeps the average rate exact despite late wake-ups.
			time.Sleep(time.Until(start.Add(time.Duration(n/burst) * time.Millisecond)))
		}
		r.wg.Add(1)
		if err := topic.Publish(ctx, stamp()); err != nil {
			b.Fatal(err)
		}
		n++
	}
	r.wg.Wait()
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "msgs/s")
	r.report(b)
}
